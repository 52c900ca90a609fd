"""Credits admin, a module per task: accounts, ledger, resources, desk, lifecycle, runs, keys."""
from . import accounts, desk, keys, ledger, lifecycle, resources, runs  # noqa: F401
