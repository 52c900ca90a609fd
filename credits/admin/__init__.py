"""Credits admin, a module per task: accounts, ledger, resources, desk, lifecycle, runs, keys,
and the pricing versions' admin with the recalculation of resources (pricing)."""
from . import accounts, desk, keys, ledger, lifecycle, pricing, resources, runs  # noqa: F401
