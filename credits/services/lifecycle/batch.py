"""What a step of the run receives (`Batch`) and what it returns (`RunCounts`)."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

from ...id_arrays import IdArray


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch of a run, as its steps see it: the accounts, the instant the run evaluates,
    and the run that the charges and audit rows name."""

    index: int  # its place in the run, from 0
    account_ids: tuple[int, ...]
    now: datetime
    run_id: int | None  # None for a dry run, which has no row
    actor: str  # who the ledger entries and audit rows say acted: the run
    # The accounts as one SQL parameter, built once for all the batch's statements.
    accounts: IdArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "accounts", IdArray(self.account_ids))

    @property
    def params(self) -> dict:
        """The SQL parameters every step uses; `accounts`, `batch_lo` and `batch_hi` are
        `sql.in_batch`'s."""
        return {"now": self.now, "run": self.run_id, "actor": self.actor,
                "accounts": self.accounts,
                "batch_lo": min(self.account_ids), "batch_hi": max(self.account_ids)}


@dataclass
class RunCounts:
    accounts: int = 0
    resources: int = 0
    charges: int = 0
    credits_charged: int = 0
    credits_short: int = 0
    flagged: int = 0
    restored: int = 0
    removed: int = 0
    errors: int = 0
    expired_credits: int = 0
    runway_alerts: int = 0  # `account.runway_low` events written
    credits_expiring: int = 0  # `account.credits_expiring` events written
    seconds_expire: float = 0.0
    seconds_meter: float = 0.0
    seconds_fund_or_flag: float = 0.0
    seconds_finalise: float = 0.0
    seconds_alerts: float = 0.0
    flagged_ids: list[int] = field(default_factory=list)
    restored_ids: list[int] = field(default_factory=list)
    removed_ids: list[int] = field(default_factory=list)

    def add(self, other: RunCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
