"""Credits admin, a module per task: accounts, ledger, resources, desk, lifecycle, runs, keys,
events and webhooks, and the pricing versions' admin with the recalculation of resources
(pricing)."""
from . import (  # noqa: F401
    accounts,
    desk,
    keys,
    ledger,
    lifecycle,
    pricing,
    resources,
    runs,
    webhooks,
)
