"""What the next lifecycle run would do: when the periodic task fires next, and which resources a
run at that instant would flag, restore and remove, with its charges.

The forecast is the lifecycle's own dry run (the same SQL as a real run), kept inside a
transaction that is rolled back whole, so it leaves nothing behind: not even the `LifecycleRun`
row a dry run records. It takes the lifecycle lock and locks accounts batch by batch like a real
run, for as long as one (seconds at the largest scale measured).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from pricing.enums import PaymentType

from ..models import (
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleTrigger,
    RemovalReason,
    Resource,
    StatusChangeReason,
)
from ..services.lifecycle import lifecycle_run
from .lifecycle import lifecycle_periodic_task, lifecycle_settings_get

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
    the rows asked for (soonest deadline first); the `*_total` counts are all of them.
    `skipped`: another run held the lifecycle lock, so nothing was forecast."""

    at: datetime
    skipped: bool = False
    accounts: int = 0
    resources: int = 0
    charges: int = 0
    credits_charged: int = 0
    credits_short: int = 0
    expired_credits: int = 0
    errors: int = 0
    error_messages: str = ""
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


class _Rollback(Exception):
    def __init__(self, run: LifecycleRun):
        super().__init__()
        self.run = run


def lifecycle_forecast(*, at: datetime, rows_limit: int | None = None) -> LifecycleForecast:
    """What a lifecycle run as of `at` would do, if nothing changes until then: its counts and
    the resources it would flag, restore and remove (at most `rows_limit` of each).

    A dry run (allowed at any instant, time travel or not) in a transaction rolled back at the
    end: the database is left exactly as it was.
    """
    grace = timedelta(hours=lifecycle_settings_get().grace_hours)
    try:
        with transaction.atomic():
            raise _Rollback(lifecycle_run(at=at, dry_run=True, trigger=LifecycleTrigger.FORECAST))
    except _Rollback as rollback:
        run = rollback.run
    forecast = LifecycleForecast(at=at, skipped=run.status == LifecycleRunStatus.SKIPPED)
    if forecast.skipped:
        return forecast
    for name in ("accounts", "resources", "charges", "credits_charged", "credits_short",
                 "expired_credits", "errors", "error_messages"):
        setattr(forecast, name, getattr(run, name))
    counts = run.counts
    forecast.flagged_total = len(counts.flagged_ids)
    forecast.restored_total = len(counts.restored_ids)
    forecast.removed_total = len(counts.removed_ids)
    flagged_deadline = at + grace  # what the run writes into `delete_after`
    forecast.flagged = [
        ForecastRow(resource=resource, reason=_flag_reason(resource), deadline=flagged_deadline)
        for resource in _resources(counts.flagged_ids, rows_limit)]
    forecast.restored = [
        ForecastRow(resource=resource, reason=resource.removal_reason,
                    deadline=resource.delete_after)
        for resource in _resources(counts.restored_ids, rows_limit)]
    # A resource flagged by this very run (grace 0) is removed by it too, at its new deadline.
    forecast.removed = [
        ForecastRow(resource=resource, reason=StatusChangeReason.GRACE_EXPIRED,
                    deadline=resource.delete_after or flagged_deadline)
        for resource in _resources(counts.removed_ids, rows_limit)]
    return forecast


def _flag_reason(resource: Resource) -> str:
    if resource.payment_type == PaymentType.HOLD:
        return RemovalReason.BALANCE_INSUFFICIENT
    return RemovalReason.CREDIT_INSUFFICIENT


def _resources(ids: list[int], limit: int | None) -> list[Resource]:
    if not ids:
        return []
    resources = (Resource.objects.filter(pk__in=ids).select_related("owner")
                 .order_by("delete_after", "owner__address", "created_at", "id"))
    return list(resources if limit is None else resources[:limit])
