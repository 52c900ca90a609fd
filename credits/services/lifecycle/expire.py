"""Step 1, once per run (not per batch): write off the credits of the lots whose expiry has
passed, before any batch drains them."""
from __future__ import annotations

from datetime import datetime

from ..ledger import lots_expire
from .batch import RunCounts


def expire(*, now: datetime) -> RunCounts:
    """The ledger's expiry as of `now`, in its own committed batches (`lots_expire`)."""
    return RunCounts(expired_credits=lots_expire(at=now))
