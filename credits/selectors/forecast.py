"""What the next lifecycle run would do: when the periodic task fires next, and which resources a
run at that instant would flag, restore and remove, with its charges.

The forecast reads, batch of accounts by batch, what a run reads (live resources, their meters,
spendable lots, token balances) and applies the funding rule to it (`credits.funding.account_run`,
the rule the run's SQL is held against by a property test). It writes nothing and locks nothing:
a run that starts meanwhile is never skipped or kept waiting because of it.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from pricing.costs import HOUR_SECONDS
from pricing.fields import exact_sum

from ..funding import (
    REMOVAL_REASON_BY_PAYMENT,
    LotState,
    ResourceState,
    account_run,
    charged_hours,
)
from ..models import (
    LIVE_STATUSES,
    Lot,
    Resource,
    StatusChangeReason,
    TokenBalance,
)
from .lifecycle import lifecycle_periodic_task, lifecycle_settings_get
from .resources import live_owner_batches

# With no periodic task (or one with no upcoming instant), the forecast looks one hour ahead.
FALLBACK_AHEAD = timedelta(hours=1)


# --- the next scheduled instant -------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NextRun:
    """When the periodic task fires next (`at`), and from what: `crontab`, `interval`,
    `clocked`, or `fallback` (no periodic task, or none of its schedules has a next instant:
    `after` + 1 h). `enabled` is False when the task is disabled (it would not fire)."""

    at: datetime
    source: str
    enabled: bool


def lifecycle_next_run_at(*, after: datetime | None = None) -> NextRun:
    """The first instant strictly after `after` (default now) at which the periodic task
    "credit lifecycle" fires, computed from its schedule as celery beat does."""
    after = after or timezone.now()
    task = lifecycle_periodic_task()
    if task is None:
        return NextRun(at=after + FALLBACK_AHEAD, source="fallback", enabled=False)
    start = max(after, task.start_time) if task.start_time else after
    if task.crontab is not None:
        crontab = task.crontab.schedule  # tz-aware: its minutes and hours are the crontab's zone
        last, ahead, _ = crontab.remaining_delta(start.astimezone(task.crontab.timezone))
        return NextRun(at=(last + ahead).astimezone(after.tzinfo), source="crontab",
                       enabled=task.enabled)
    if task.interval is not None:
        every = timedelta(**{task.interval.period: task.interval.every})
        # Beat sends it `every` after its last run; never run, or overdue: at once.
        due = task.last_run_at + every if task.last_run_at else start
        return NextRun(at=max(due, start), source="interval", enabled=task.enabled)
    if task.clocked is not None and task.clocked.clocked_time > start:
        return NextRun(at=task.clocked.clocked_time, source="clocked", enabled=task.enabled)
    return NextRun(at=after + FALLBACK_AHEAD, source="fallback", enabled=task.enabled)


# --- the forecast ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ForecastRow:
    """A resource the run would move: `reason` is why (a `RemovalReason` for a flag, the reason
    it was flagged for a restore, `grace_expired` for a removal) and `deadline` its
    `delete_after` (the new one for a flag, the one it escapes for a restore, the one that
    passed for a removal)."""

    resource: Resource
    reason: str
    deadline: datetime | None


@dataclass(slots=True)
class LifecycleForecast:
    """A run as of `at`, as it would go now. `flagged`, `restored` and `removed` hold at most
    the rows asked for (soonest deadline first); the `*_total` counts are all of them."""

    at: datetime
    accounts: int = 0
    resources: int = 0
    charges: int = 0
    credits_charged: int = 0
    credits_short: int = 0
    expired_credits: int = 0
    flagged_total: int = 0
    restored_total: int = 0
    removed_total: int = 0
    flagged: list[ForecastRow] = field(default_factory=list)
    restored: list[ForecastRow] = field(default_factory=list)
    removed: list[ForecastRow] = field(default_factory=list)

    @property
    def flagged_ids(self) -> list[int]:
        return [row.resource.pk for row in self.flagged]

    @property
    def restored_ids(self) -> list[int]:
        return [row.resource.pk for row in self.restored]

    @property
    def removed_ids(self) -> list[int]:
        return [row.resource.pk for row in self.removed]


def lifecycle_forecast(*, at: datetime, rows_limit: int | None = None) -> LifecycleForecast:
    """What a lifecycle run as of `at` would do, if nothing changes until then: its counts and
    the resources it would flag, restore and remove (at most `rows_limit` of each).

    Reads only, in batches of `LIFECYCLE_BATCH_ACCOUNTS` accounts (five queries each), so its
    memory stays flat; it takes no lock and writes nothing.
    """
    lifecycle = lifecycle_settings_get()
    grace = timedelta(hours=lifecycle.grace_hours)
    forecast = LifecycleForecast(at=at)
    # The run first writes off what is left in lots expired at `at`.
    forecast.expired_credits = int(exact_sum(
        Lot.objects.filter(expires_at__lte=at, remaining__gt=0), "remaining"))
    flagged: list[int] = []
    restored: list[int] = []
    removed: list[int] = []
    for account_ids in live_owner_batches(batch_accounts=settings.LIFECYCLE_BATCH_ACCOUNTS):
        resources, lots, tokens = _batch_states(account_ids, at=at)
        forecast.accounts += len(account_ids)
        for account_id in account_ids:
            outcome = account_run(
                lots=lots[account_id], resources=resources[account_id],
                tokens_available=tokens[account_id], at=at, grace=grace,
                horizon_seconds=lifecycle.funding_horizon_hours * HOUR_SECONDS,
                metering=lifecycle.metering_enabled)
            forecast.resources += len(resources[account_id])
            forecast.charges += len(outcome.charges)
            forecast.credits_charged += outcome.drained
            forecast.credits_short += outcome.credits_short
            flagged += outcome.flagged
            restored += outcome.restored
            removed += outcome.removed
    forecast.flagged_total = len(flagged)
    forecast.restored_total = len(restored)
    forecast.removed_total = len(removed)
    flagged_deadline = at + grace  # what the run writes into `delete_after`
    forecast.flagged = [
        ForecastRow(resource=resource, reason=REMOVAL_REASON_BY_PAYMENT[resource.payment_type],
                    deadline=flagged_deadline)
        for resource in _resources(flagged, rows_limit)]
    forecast.restored = [
        ForecastRow(resource=resource, reason=resource.removal_reason,
                    deadline=resource.delete_after)
        for resource in _resources(restored, rows_limit)]
    # A resource flagged by this very run (grace 0) is removed by it too, at its new deadline.
    forecast.removed = [
        ForecastRow(resource=resource, reason=StatusChangeReason.GRACE_EXPIRED,
                    deadline=resource.delete_after or flagged_deadline)
        for resource in _resources(removed, rows_limit)]
    return forecast


def _batch_states(account_ids: list[int], *, at: datetime):
    """What a run reads for these accounts: live resources with their meters, lots spendable at
    `at` and token balances, by account id."""
    resources = defaultdict(list)
    for (resource_id, owner_id, status, payment_type, payment_chain, created_at, delete_after,
         credit_per_second, hold, meter, metered_until) in (
            Resource.objects.filter(owner_id__in=account_ids, status__in=LIVE_STATUSES)
            .values_list("id", "owner_id", "status", "payment_type", "payment_chain",
                         "created_at", "delete_after", "cost_credit_per_second", "cost_hold",
                         "meter__charged_hours", "owner__metered_until")):
        resources[owner_id].append(ResourceState(
            id=resource_id, status=status, payment_type=payment_type,
            payment_chain=payment_chain, created_at=created_at, delete_after=delete_after,
            cost_credit_per_second=credit_per_second, cost_hold=hold,
            charged_hours=charged_hours(meter=meter, metered_until=metered_until,
                                        created_at=created_at)))
    lots = defaultdict(list)
    for lot_id, account_id, remaining, expires_at, created_at in (
            Lot.objects.spendable(at).filter(account_id__in=account_ids)
            .values_list("id", "account_id", "remaining", "expires_at", "created_at")):
        lots[account_id].append(LotState(id=lot_id, remaining=remaining,
                                         expires_at=expires_at, created_at=created_at))
    tokens = defaultdict(dict)
    for account_id, chain, balance in (TokenBalance.objects.filter(account_id__in=account_ids)
                                       .values_list("account_id", "chain", "balance")):
        tokens[account_id][chain] = balance
    return resources, lots, tokens


def _resources(ids: list[int], limit: int | None) -> list[Resource]:
    if not ids:
        return []
    resources = (Resource.objects.filter(pk__in=ids).select_related("owner")
                 .order_by("delete_after", "owner__address", "created_at", "id"))
    return list(resources if limit is None else resources[:limit])
