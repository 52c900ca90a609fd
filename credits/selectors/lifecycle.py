"""Reading the lifecycle: its settings, runs and the resources pending deletion (with what their
owners lack to keep them). Pure reads: nothing here writes or locks."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from pricing.costs import HOUR_SECONDS
from pricing.enums import PaymentType
from pricing.fields import exact_sum_by

from ..addresses import normalize_address
from ..cursors import cursor_encode
from ..funding import credits_required, credits_to_add, shortfall
from ..models import (
    LIVE_STATUSES,
    LifecycleRun,
    LifecycleSettings,
    Lot,
    Resource,
    TokenBalance,
)

# The periodic task the data migration 0004 creates (django-celery-beat).
LIFECYCLE_PERIODIC_TASK_NAME = "credit lifecycle"
_ZERO = Decimal(0)


# --- settings ----------------------------------------------------------------------------------

def lifecycle_settings_defaults() -> dict:
    return {"grace_hours": settings.LIFECYCLE_GRACE_HOURS,
            "metering_enabled": settings.LIFECYCLE_METERING_ENABLED,
            "funding_horizon_hours": settings.LIFECYCLE_FUNDING_HORIZON_HOURS}


def lifecycle_settings_get() -> LifecycleSettings:
    """The live settings: the single row, or, before staff first open its page
    (`lifecycle_settings_ensure` creates it there), the Django settings' defaults, unsaved."""
    row = LifecycleSettings.objects.filter(pk=1).first()
    return row if row is not None else LifecycleSettings(pk=1, **lifecycle_settings_defaults())


def lifecycle_periodic_task():
    """The django-celery-beat periodic task that schedules the run, or None if it is missing."""
    from django_celery_beat.models import PeriodicTask

    return PeriodicTask.objects.filter(name=LIFECYCLE_PERIODIC_TASK_NAME).first()


# --- runs --------------------------------------------------------------------------------------

def lifecycle_runs_recent(*, limit: int,
                          before: tuple[datetime, int] | None = None) -> list[LifecycleRun]:
    """Up to `limit` runs (and shards of runs), newest first (by start, then id), strictly
    after the position `before` = (started_at, id) of the previous page's last run."""
    runs = LifecycleRun.objects.order_by("-started_at", "-id")
    if before is not None:
        started_at, run_id = before
        runs = runs.filter(Q(started_at__lt=started_at)
                           | Q(started_at=started_at, id__lt=run_id))
    return list(runs[:limit])


def lifecycle_run_cursor(run: LifecycleRun) -> str:
    return cursor_encode(run.started_at, run.pk)


# --- pending deletions -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Shortfall:
    """What an owner lacks to fund all its live resources of one payment type (and chain, for
    hold): `required` − `available`, never below 0. Credits for credit, tokens for hold; a
    stream is not checked (`amount` None)."""

    unit: str | None  # "credits", "tokens" or None (not checked)
    chain: str
    required: Decimal | None
    available: Decimal | None

    @property
    def amount(self) -> Decimal | None:
        if self.required is None or self.available is None:
            return None
        return shortfall(required=self.required, available=self.available)

    @property
    def to_add(self) -> Decimal:
        """What the owner must add to be funded: whole credits (rounded up), or exact tokens;
        0 when funded or not checked."""
        amount = self.amount or _ZERO
        return Decimal(credits_to_add(amount)) if self.unit == "credits" else amount


@dataclass(frozen=True, slots=True)
class PendingDeletionRow:
    """A resource in `removing`, with its countdown (at `at`) and its owner's shortfall."""

    resource: Resource
    shortfall: Shortfall
    at: datetime

    @property
    def owner_address(self) -> str:
        return self.resource.owner.address

    @property
    def seconds_left(self) -> int:
        """Whole seconds until `delete_after`; 0 once it has passed."""
        return max(0, int((self.resource.delete_after - self.at).total_seconds()))

    @property
    def overdue(self) -> bool:
        """The deadline has passed: the next run removes it."""
        return self.resource.delete_after <= self.at


def pending_deletions_queryset(*, reason: str | None = None, payment_type: str | None = None,
                               owner: str | None = None, due_before: datetime | None = None,
                               after: tuple[datetime, int] | None = None) -> QuerySet[Resource]:
    """Resources in `removing`, soonest `delete_after` first (then id), optionally of one
    removal reason, payment type or owner (an address in any case), due strictly before
    `due_before`, and strictly after the position `after` = (delete_after, id)."""
    # Found and ordered through `ResourceGrace` (the resource's own indexes hold neither its
    # status nor its deadline); the trigger that keeps it copies the resource's deadline.
    resources = (Resource.objects.filter(grace__isnull=False)
                 .select_related("owner").order_by("grace__delete_after", "id"))
    if reason is not None:
        resources = resources.filter(removal_reason=reason)
    if payment_type is not None:
        resources = resources.filter(payment_type=payment_type)
    if owner is not None:
        resources = resources.filter(owner__address=normalize_address(owner))
    if due_before is not None:
        resources = resources.filter(grace__delete_after__lt=due_before)
    if after is not None:
        delete_after, resource_id = after
        resources = resources.filter(Q(grace__delete_after__gt=delete_after)
                                     | Q(grace__delete_after=delete_after, id__gt=resource_id))
    return resources


def pending_deletions(*, reason: str | None = None, payment_type: str | None = None,
                      owner: str | None = None, due_before: datetime | None = None,
                      at: datetime | None = None, after: tuple[datetime, int] | None = None,
                      limit: int | None = None) -> list[PendingDeletionRow]:
    """Resources in `removing`, soonest deadline first, each with its countdown and its owner's
    shortfall at `at` (default now); see `pending_deletions_queryset` for the filters.

    A fixed number of queries whatever the number of rows or owners: one for the page, and at
    most four grouped by owner for the shortfalls (`shortfalls_by_resource`).
    """
    at = at or timezone.now()
    resources = pending_deletions_queryset(reason=reason, payment_type=payment_type,
                                           owner=owner, due_before=due_before, after=after)
    page = list(resources if limit is None else resources[:limit])
    shortfalls = shortfalls_by_resource(resources=page, at=at)
    return [PendingDeletionRow(resource=resource, shortfall=shortfalls[resource.pk], at=at)
            for resource in page]


def pending_deletion_cursor(row: PendingDeletionRow) -> str:
    return cursor_encode(row.resource.delete_after, row.resource.pk)


def shortfalls_by_resource(*, resources: Sequence[Resource],
                           at: datetime | None = None) -> dict[int, Shortfall]:
    """The owner's shortfall for each resource's payment type, by resource id.

    Credit: one funding horizon (`LifecycleSettings.funding_horizon_hours`) of the credit cost
    per second of the owner's live (`processed`, `removing`) credit-paid resources, minus the
    credits unexpired at `at` — what the owner must add for the run to fund all of them (the
    funding rule's walk at the owner's newest resource). Hold: the hold costs of the owner's
    live hold-paid resources on the resource's chain, minus the token balance reported there.
    At most four queries, grouped by owner, for any number of resources.
    """
    at = at or timezone.now()
    credit_owners = {r.owner_id for r in resources if r.payment_type == PaymentType.CREDIT}
    hold_owners = {r.owner_id for r in resources if r.payment_type == PaymentType.HOLD}
    rates: dict[int, Decimal] = {}
    balances: dict[int, int] = {}
    holds: dict[tuple[int, str], Decimal] = {}
    tokens: dict[tuple[int, str], Decimal] = {}
    horizon_seconds = 0
    live = Resource.objects.filter(status__in=LIVE_STATUSES)
    if credit_owners:
        horizon_seconds = lifecycle_settings_get().funding_horizon_hours * HOUR_SECONDS
        rates = exact_sum_by(live.filter(owner_id__in=credit_owners,
                                         payment_type=PaymentType.CREDIT),
                             "owner_id", "cost_credit_per_second")
        balances = {account_id: int(total) for account_id, total in exact_sum_by(
            Lot.objects.spendable(at).filter(account_id__in=credit_owners),
            "account_id", "remaining").items()}
    if hold_owners:
        holds = exact_sum_by(live.filter(owner_id__in=hold_owners,
                                         payment_type=PaymentType.HOLD),
                             ("owner_id", "payment_chain"), "cost_hold")
        tokens = {(account_id, chain): Decimal(balance) for account_id, chain, balance in (
            TokenBalance.objects.filter(account_id__in=hold_owners)
            .values_list("account_id", "chain", "balance"))}
    shortfalls: dict[int, Shortfall] = {}
    for resource in resources:
        if resource.payment_type == PaymentType.CREDIT:
            required = credits_required(rates.get(resource.owner_id, _ZERO), horizon_seconds)
            shortfalls[resource.pk] = Shortfall(
                unit="credits", chain="", required=required,
                available=Decimal(balances.get(resource.owner_id, 0)))
        elif resource.payment_type == PaymentType.HOLD:
            key = (resource.owner_id, resource.payment_chain)
            shortfalls[resource.pk] = Shortfall(
                unit="tokens", chain=resource.payment_chain,
                required=holds.get(key, _ZERO), available=tokens.get(key, _ZERO))
        else:
            shortfalls[resource.pk] = Shortfall(unit=None, chain=resource.payment_chain,
                                                required=None, available=None)
    return shortfalls
