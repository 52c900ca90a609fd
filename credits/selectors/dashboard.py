"""The numbers of the admin dashboard, read at one instant in a fixed number of queries (seven,
whatever the data): resources by status and payment type, accounts, credits granted and consumed
in the last 24 hours, the current credit burn, deletions due, the last runs and the credits
consumed per hour over the last week."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncHour

from pricing.costs import HOUR_SECONDS, amount_for_seconds
from pricing.enums import PaymentType
from pricing.fields import exact_sum

from ..models import (
    LIVE_RESOURCE,
    LIVE_STATUSES,
    Account,
    EntryKind,
    LedgerEntry,
    LifecycleRun,
    Resource,
    ResourceGrace,
    ResourceStatus,
)

WINDOW = timedelta(hours=24)
CHART_HOURS = 168
RECENT_RUNS = 5


@dataclass(frozen=True, slots=True)
class StatusRow:
    """Resources of one status: how many per payment type (in `PaymentType` order) and in all."""

    status: str
    label: str
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True, slots=True)
class HourBucket:
    """Credits drained by expenses effective in [start, start + 1 h)."""

    start: datetime
    credits: int


@dataclass(frozen=True, slots=True)
class DashboardSummary:
    now: datetime
    payment_types: tuple[tuple[str, str], ...]  # (value, label), the table's columns
    resources_by_status: tuple[StatusRow, ...]  # every status, in `ResourceStatus` order
    accounts: int
    window_start: datetime  # now − 24 h: the window of `credits_*_24h` is (window_start, now]
    credits_granted_24h: int  # sum of grant entries
    credits_consumed_24h: int  # credits drained by expense entries (−amount)
    credit_burn_per_hour: object  # Decimal: live credit resources' cost per second × 3600
    credit_resources_live: int
    deletions_due_before: datetime  # now + 24 h
    deletions_due_24h: int  # removing, delete_after ≤ now + 24 h (overdue ones included)
    deletions_overdue: int  # removing, delete_after ≤ now (the next run removes them)
    recent_runs: tuple[LifecycleRun, ...]  # newest first; whole runs, not shards or dry runs
    consumed_by_hour: tuple[HourBucket, ...]  # CHART_HOURS buckets, oldest first

    @property
    def resources_by_payment_type(self) -> tuple[int, ...]:
        return tuple(sum(row.counts[i] for row in self.resources_by_status)
                     for i in range(len(self.payment_types)))

    @property
    def resources_total(self) -> int:
        return sum(row.total for row in self.resources_by_status)

    @property
    def chart_start(self) -> datetime:
        return self.consumed_by_hour[0].start

    @property
    def chart_end(self) -> datetime:
        return self.consumed_by_hour[-1].start + timedelta(hours=1)

    @property
    def consumed_in_chart(self) -> int:
        return sum(bucket.credits for bucket in self.consumed_by_hour)


def hour_floor(instant: datetime) -> datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


def chart_window(now: datetime) -> tuple[datetime, datetime]:
    """The chart's CHART_HOURS clock hours: from the hour `CHART_HOURS − 1` hours before the
    current one to the end of the current one (which is still going on)."""
    end = hour_floor(now) + timedelta(hours=1)
    return end - timedelta(hours=CHART_HOURS), end


def dashboard_summary(*, now: datetime) -> DashboardSummary:
    """Every number of the dashboard as of `now` (an aware datetime), in seven queries."""
    window_start = now - WINDOW
    due_before = now + WINDOW

    # 1. Resources by status and payment type.
    counts = {(status, payment): n for status, payment, n in (
        Resource.objects.order_by().values("status", "payment_type")
        .annotate(n=Count("id")).values_list("status", "payment_type", "n"))}
    rows = tuple(StatusRow(status=status.value, label=status.label,
                           counts=tuple(counts.get((status.value, payment.value), 0)
                                        for payment in PaymentType))
                 for status in ResourceStatus)

    # 2. Accounts.
    accounts = Account.objects.count()

    # 3. Credits granted and consumed in (now − 24 h, now].
    in_window = Q(effective_at__gt=window_start, effective_at__lte=now)
    moved = LedgerEntry.objects.filter(in_window, kind__in=(EntryKind.GRANT, EntryKind.EXPENSE)) \
        .aggregate(granted=Sum("amount", filter=Q(kind=EntryKind.GRANT)),
                   spent=Sum("amount", filter=Q(kind=EntryKind.EXPENSE)))

    # 4. The burn: live credit resources' cost per second, summed exactly.
    live_credit = Resource.objects.filter(LIVE_RESOURCE, payment_type=PaymentType.CREDIT)
    per_second = exact_sum(live_credit, "cost_credit_per_second")
    credit_resources_live = sum(counts.get((status, PaymentType.CREDIT.value), 0)
                                for status in LIVE_STATUSES)

    # 5. Deletions due.
    due = ResourceGrace.objects.aggregate(
        due=Count("pk", filter=Q(delete_after__lte=due_before)),
        overdue=Count("pk", filter=Q(delete_after__lte=now)))

    # 6. The last runs (whole runs: a sharded run's parent carries the totals of its shards).
    runs = tuple(LifecycleRun.objects.filter(parent__isnull=True, dry_run=False)
                 .order_by("-started_at", "-id")[:RECENT_RUNS])

    # 7. Credits drained by expenses per clock hour of the chart's window.
    chart_start, chart_end = chart_window(now)
    by_hour = {hour_floor(hour): -int(total) for hour, total in (
        LedgerEntry.objects.filter(kind=EntryKind.EXPENSE, effective_at__gte=chart_start,
                                   effective_at__lt=chart_end, effective_at__lte=now)
        .annotate(hour=TruncHour("effective_at", tzinfo=now.tzinfo)).order_by().values("hour")
        .annotate(total=Sum("amount")).values_list("hour", "total"))}
    buckets = tuple(HourBucket(start=start, credits=by_hour.get(start, 0))
                    for start in (chart_start + timedelta(hours=i) for i in range(CHART_HOURS)))

    return DashboardSummary(
        now=now,
        payment_types=tuple((payment.value, payment.label) for payment in PaymentType),
        resources_by_status=rows,
        accounts=accounts,
        window_start=window_start,
        credits_granted_24h=int(moved["granted"] or 0),
        credits_consumed_24h=-int(moved["spent"] or 0),
        credit_burn_per_hour=amount_for_seconds(per_second, HOUR_SECONDS),
        credit_resources_live=credit_resources_live,
        deletions_due_before=due_before,
        deletions_due_24h=due["due"],
        deletions_overdue=due["overdue"],
        recent_runs=runs,
        consumed_by_hour=buckets,
    )
