"""Step 1, once per run (not per batch): write off the credits of the lots whose expiry has
passed, before any batch drains them; then announce the lots expiring soon
(`account.credits_expiring`), whatever their accounts' resources."""
from __future__ import annotations

from datetime import datetime

from ...events import lots_expiring_announce
from ..ledger import lots_expire
from .batch import RunCounts


def expire(*, now: datetime) -> RunCounts:
    """The ledger's expiry as of `now`, in its own committed batches (`lots_expire`), and the
    notices of the lots expiring within EVENTS_CREDITS_EXPIRING_DAYS (`lots_expiring_announce`,
    committed batches too)."""
    return RunCounts(expired_credits=lots_expire(at=now),
                     credits_expiring=lots_expiring_announce(at=now))
