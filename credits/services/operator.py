"""What operators do to a resource pending deletion: restore it once its owner is funded again,
extend its grace, or delete it now. Each is one guarded transition from `removing` with its audit
row (`credits.events`), made while the owner's account and then the resource are locked
(the order the ledger and the lifecycle lock in, so none of them can deadlock with another)."""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from credits_project.errors import DomainError
from pricing.aggregate import format_price, format_price_grouped

from ..errors import InvalidInput, NotFound
from ..events import resource_transition
from ..locks import account_lock, resource_lock
from ..models import Resource, ResourceStatus
from ..selectors.lifecycle import Shortfall, lifecycle_settings_get, shortfalls_by_resource

MAX_GRACE_EXTENSION_HOURS = 720  # 30 days: longer is a decision for the owner's credits
# The audit row's reason holds 255 characters: ours, plus what the service prefixes to it.
OPERATOR_REASON_MAX_CHARS = 180


class NotRemoving(DomainError):
    """The resource is no longer pending deletion: the lifecycle (or another operator) restored
    or removed it meanwhile, or it never was. details: item_hash, status."""

    status_code = 409
    code = "not_removing"


class NotFunded(DomainError):
    """The owner cannot fund its live resources of this payment type now. details: item_hash,
    unit ("credits" or "tokens"), chain, required, available, shortfall (what to add: whole
    credits rounded up, or exact tokens)."""

    status_code = 402
    code = "not_funded"


def _amount_text(value: Decimal) -> str:
    """An exact amount without trailing zeros, with thousands separators."""
    return format_price_grouped(value)


def _plain(value: Decimal) -> str:
    """An exact amount as a plain string without trailing zeros (details of an error)."""
    return format_price(value)


def _not_funded(resource: Resource, shortfall: Shortfall) -> NotFunded:
    to_add = shortfall.to_add
    if shortfall.unit == "credits":
        horizon_hours = lifecycle_settings_get().funding_horizon_hours
        short = f"{to_add:,} credits"
        needs = (f"{_amount_text(shortfall.required)} credits for {horizon_hours} h of its live "
                 f"credit-paid resources")
        has = f"{_amount_text(shortfall.available)} credits"
    else:
        short = f"{_amount_text(to_add)} tokens on {shortfall.chain}"
        needs = (f"{_amount_text(shortfall.required)} tokens on {shortfall.chain} for the hold of "
                 f"its live hold-paid resources there")
        has = f"{_amount_text(shortfall.available)}"
    return NotFunded(
        f"Not funded: the owner {resource.owner.address} is short by {short} (it needs {needs} "
        f"and has {has}).",
        item_hash=resource.item_hash, unit=shortfall.unit, chain=shortfall.chain,
        required=_plain(shortfall.required), available=_plain(shortfall.available),
        shortfall=_plain(to_add))


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _reason(reason, *, required: bool) -> str:
    if not isinstance(reason, str):
        raise InvalidInput("The reason must be text.", field="reason")
    reason = " ".join(reason.split())
    if required and not reason:
        raise InvalidInput("A reason is required.", field="reason")
    if len(reason) > OPERATOR_REASON_MAX_CHARS:
        raise InvalidInput(f"The reason is longer than {OPERATOR_REASON_MAX_CHARS} characters.",
                           field="reason")
    return reason


def _actor(actor) -> str:
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidInput("Who acts must be named (e.g. staff:<username>).", field="actor")
    return actor.strip()[:200]


def _removing_locked(item_hash: str) -> Resource:
    """The resource, locked after its owner's account, if it is still `removing`."""
    row = (Resource.objects.filter(item_hash=item_hash)
           .values_list("pk", "owner_id").first())
    if row is None:
        raise NotFound(f"No resource has item hash {item_hash}.", item_hash=item_hash)
    resource_id, owner_id = row
    owner = account_lock(owner_id)
    resource = resource_lock(resource_id)
    resource.owner = owner
    if resource.status != ResourceStatus.REMOVING:
        raise _not_removing(resource)
    return resource


def _not_removing(resource: Resource) -> NotRemoving:
    return NotRemoving(
        f"{resource.item_hash} is no longer pending deletion: it is {resource.status} now "
        f"(the lifecycle or another operator moved it). Nothing was changed.",
        item_hash=resource.item_hash, status=resource.status)


def _move(resource: Resource, *, to_status: str, reason: str, actor: str, at: datetime,
          **changes) -> Resource:
    """The guarded transition from `removing` and its audit row; refused when someone else
    moved it (cannot happen under the locks, but never write a wrong audit row)."""
    if not resource_transition(resource=resource, from_status=ResourceStatus.REMOVING,
                               to_status=to_status, reason=reason, actor=actor, at=at,
                               changes=changes):
        resource.refresh_from_db(fields=["status"])
        raise _not_removing(resource)
    resource.refresh_from_db()
    return resource


@transaction.atomic
def resource_restore(*, item_hash: str, actor: str, reason: str = "",
                     at: datetime | None = None) -> Resource:
    """Back to `processed`, if the owner is funded now for all its live resources of this
    payment type: credit, its balance covers one funding horizon of their credit cost (the
    lifecycle's rule); hold, its token balance on the chain covers their hold; a stream is not
    checked. The deadline and the removal reason are cleared.

    Raises NotFound (404), NotRemoving (409), NotFunded (402, says by how much), InvalidInput.
    """
    at = at or timezone.now()
    actor = _actor(actor)
    reason = _reason(reason, required=False)
    resource = _removing_locked(item_hash)
    # The account is locked: no grant, expense or registration changes what is read here.
    shortfall = shortfalls_by_resource(resources=[resource], at=at)[resource.pk]
    if shortfall.amount:
        raise _not_funded(resource, shortfall)
    audit = "funded again (operator)" + (f": {reason}" if reason else "")
    return _move(resource, to_status=ResourceStatus.PROCESSED, reason=audit, actor=actor, at=at,
                 removing_since=None, delete_after=None, removal_reason="")


@transaction.atomic
def resource_extend_grace(*, item_hash: str, hours: int, reason: str, actor: str,
                          at: datetime | None = None) -> Resource:
    """Move the deadline `hours` (1 to 720) later; the resource stays `removing`. The audit row
    (removing → removing) names the hours, the new deadline and the reason.

    Raises NotFound (404), NotRemoving (409), InvalidInput (422: hours, reason, or a deadline
    that would still be past).
    """
    at = at or timezone.now()
    actor = _actor(actor)
    if isinstance(hours, bool) or not isinstance(hours, int) \
            or not 1 <= hours <= MAX_GRACE_EXTENSION_HOURS:
        raise InvalidInput(f"hours must be a whole number from 1 to {MAX_GRACE_EXTENSION_HOURS}.",
                           field="hours")
    reason = _reason(reason, required=True)
    resource = _removing_locked(item_hash)
    delete_after = resource.delete_after + timedelta(hours=hours)
    if delete_after <= at:
        missing_hours = math.ceil((at - resource.delete_after).total_seconds() / 3600)
        raise InvalidInput(
            f"{resource.item_hash}: its deadline {_when(resource.delete_after)} is past; "
            f"{hours} h more still ends before now. Extend by more than {missing_hours} h.",
            field="hours")
    audit = f"grace extended by {hours} h to {_when(delete_after)}: {reason}"
    return _move(resource, to_status=ResourceStatus.REMOVING, reason=audit, actor=actor, at=at,
                 delete_after=delete_after)


@transaction.atomic
def resource_delete_now(*, item_hash: str, actor: str, reason: str,
                        at: datetime | None = None) -> Resource:
    """`removed` now (final), without waiting for the deadline; `ended_at` = now.

    Raises NotFound (404), NotRemoving (409), InvalidInput (422: no reason).
    """
    at = at or timezone.now()
    actor = _actor(actor)
    reason = _reason(reason, required=True)
    resource = _removing_locked(item_hash)
    return _move(resource, to_status=ResourceStatus.REMOVED, reason=f"deleted now: {reason}",
                 actor=actor, at=at, ended_at=at)
