"""Registering and forgetting resources.

Registration prices the content with the version in force, then, in one transaction holding the
lock on the owner's account row, checks the one-day rule (credit) or the hold rule and stores the
resource, its cost rows and its first status change; two registrations for one account are thus
checked one after the other and can never both pass on the same credit.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal
from typing import Any

from aleph_message.exceptions import UnknownHashError
from aleph_message.models.item_hash import ItemType
from django.db import IntegrityError, transaction
from django.utils import timezone

from pricing.costs import MIB_BYTES, floor18, format_amount
from pricing.enums import MessageType, PaymentType
from pricing.selectors import payment_type_acceptance

from ..errors import (
    InsufficientBalance,
    InsufficientCredit,
    InvalidInput,
    NotFound,
    PaymentTypeNotAccepted,
    ResourceConflict,
)
from ..events import resource_registered, resource_transition
from ..funding import charged_hours
from ..locks import account_lock, resource_lock
from ..models import (
    LIVE_STATUSES,
    Account,
    CostRow,
    Resource,
    ResourceMeter,
    ResourceStatus,
    StatusChangeReason,
)
from ..selectors.resources import (
    ContentRefused,
    PricedContent,
    Requirement,
    content_owner_address,
    content_price,
    credit_min_runtime_days,
    requirement_for,
)

_EXACT = Context(prec=60)


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    resource: Resource
    created: bool  # False: an identical registration was made before (a replay)


def _stored_content(content: dict) -> dict:
    """The content as JSON stores it: the parser reads JSON numbers with a fraction as Decimal;
    they are kept as JSON numbers (floats, like the network's `time`). A number JSON cannot hold
    (infinite after conversion) is refused."""

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        if isinstance(value, list):
            return [convert(item) for item in value]
        if isinstance(value, Decimal):
            as_float = float(value)
            if not math.isfinite(as_float):
                raise ContentRefused(f"The number {value} is out of range.",
                                     errors=[{"loc": "", "msg": "number out of range",
                                              "type": "number_out_of_range"}])
            return as_float
        return value

    return json.loads(json.dumps(convert(content)))


def _require_item_hash(item_hash: Any) -> None:
    try:
        if not isinstance(item_hash, str) or len(item_hash) > 128:
            raise UnknownHashError(item_hash)
        ItemType.from_hash(item_hash)
    except UnknownHashError:
        raise InvalidInput("item_hash must be 64 lowercase hex digits or an IPFS CID.",
                           field="item_hash") from None


def _store_size_mib(message_type: str, priced: PricedContent) -> Decimal | None:
    if message_type != MessageType.STORE or priced.parsed.size is None:
        return None
    return floor18(_EXACT.divide(Decimal(priced.parsed.size), MIB_BYTES))


def _refuse(requirement: Requirement) -> None:
    if requirement.affordable:
        return
    if requirement.payment_type == PaymentType.CREDIT:
        days = credit_min_runtime_days()
        raise InsufficientCredit(
            f"The account's credits do not cover {days} day(s) of its credit-paid resources "
            f"with this one: {format_amount(requirement.required)} credits needed, "
            f"{int(requirement.available)} available.",
            required_credits=format_amount(requirement.required),
            account_credits=str(int(requirement.available)),
            min_runtime_days=str(days),
        )
    raise InsufficientBalance(
        f"The token balance does not cover the hold costs of the account's resources with this "
        f"one: {format_amount(requirement.required)} tokens needed, "
        f"{format_amount(requirement.available)} held.",
        required_balance=format_amount(requirement.required),
        account_balance=format_amount(requirement.available),
    )


def _refuse_payment_type(priced: PricedContent, at: datetime) -> None:
    """The pricing version's payment rules (the network's cut-offs) at the registration instant."""
    acceptance = payment_type_acceptance(version=priced.version,
                                         product_type=priced.breakdown.product_type,
                                         payment_type=priced.breakdown.payment_type, at=at)
    if not acceptance.accepted:
        raise PaymentTypeNotAccepted(acceptance.refusal)


def _replay_or_conflict(existing: Resource, *, owner_address: str, message_type: str,
                        content: dict) -> RegistrationResult:
    if (existing.owner.address == owner_address and existing.type == message_type
            and existing.content == content):
        return RegistrationResult(resource=existing, created=False)
    raise ResourceConflict(
        f"A different resource is already registered with item hash {existing.item_hash}.",
        item_hash=existing.item_hash)


def _insert(*, item_hash: str, message_type: str, content: dict, priced: PricedContent,
            account: Account, actor: str, at: datetime) -> Resource:
    breakdown = priced.breakdown
    resource = Resource.objects.create(
        item_hash=item_hash,
        type=message_type,
        content=content,
        owner=account,
        product_type=breakdown.product_type,
        payment_type=breakdown.payment_type,
        payment_chain=priced.payment_chain,
        status=ResourceStatus.PROCESSED,
        pricing_version=priced.version,
        cost_hold=breakdown.hold_total,
        cost_stream_per_second=breakdown.stream_per_second,
        cost_credit_per_second=breakdown.credit_per_second,
        size_mib=_store_size_mib(message_type, priced),
        created_at=at,
    )
    CostRow.objects.bulk_create([
        CostRow(resource=resource, position=position, type=row.type, name=row.name, ref=row.ref,
                cost_hold=row.cost_hold, cost_stream_per_second=row.cost_stream_per_second,
                cost_credit_per_second=row.cost_credit_per_second, size_mib=row.size_mib,
                pricing_version=priced.version)
        for position, row in enumerate(breakdown.rows)
    ])
    if (breakdown.payment_type == PaymentType.CREDIT
            and charged_hours(meter=None, metered_until=account.metered_until, created_at=at)):
        # Registered as of an instant its account was already metered past: the watermark
        # would say hours were charged that never were.
        ResourceMeter.objects.create(resource=resource, charged_hours=0)
    resource_registered(resource=resource, actor=actor, at=at)
    return resource


def resource_register(*, item_hash: str, message_type: str, content: dict, actor: str,
                      at: datetime | None = None) -> RegistrationResult:
    """Register a resource, or answer an identical earlier registration (created=False).

    Raises ContentRefused / CannotPrice / PaymentTypeNotAccepted (422: a payment rule of the
    version refuses the payment type at `at`), PricingUnavailable (503), ResourceConflict (409:
    the item hash is taken by another owner, type or content), InsufficientCredit or
    InsufficientBalance (402: nothing is stored).
    """
    at = at or timezone.now()
    _require_item_hash(item_hash)
    priced = content_price(message_type=message_type, content=content, item_hash=item_hash,
                           estimate=False)
    stored_content = _stored_content(content)
    owner_address = content_owner_address(priced.parsed)
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                account, _ = Account.objects.get_or_create(address=owner_address)
                account = account_lock(account.pk)
                existing = (Resource.objects.select_related("owner")
                            .filter(item_hash=item_hash).first())
                if existing is not None:
                    return _replay_or_conflict(existing, owner_address=owner_address,
                                               message_type=message_type,
                                               content=stored_content)
                _refuse_payment_type(priced, at)
                _refuse(requirement_for(account=account, breakdown=priced.breakdown,
                                        payment_chain=priced.payment_chain, at=at))
                resource = _insert(item_hash=item_hash, message_type=message_type,
                                   content=stored_content, priced=priced, account=account,
                                   actor=actor, at=at)
                return RegistrationResult(resource=resource, created=True)
        except IntegrityError:
            # Another owner's registration of the same item hash committed first (it held
            # another account's lock): answer as a replay or a conflict.
            if attempt == 2 or not Resource.objects.filter(item_hash=item_hash).exists():
                raise
    raise AssertionError("unreachable")


def resource_forget(*, item_hash: str, actor: str, at: datetime | None = None) -> Resource:
    """The owner deleted the resource: `forgotten` (final), no longer billed or counted.

    Forgetting a forgotten resource changes nothing; a removed one is a ResourceConflict (409).
    Who may forget is the caller's business (the API checks the owner's key).
    """
    at = at or timezone.now()
    resource_id = (Resource.objects.filter(item_hash=item_hash)
                   .values_list("pk", flat=True).first())
    if resource_id is None:
        raise NotFound(f"No resource has item hash {item_hash}.", item_hash=item_hash)
    with transaction.atomic():
        resource = resource_lock(resource_id)
        if resource.status == ResourceStatus.FORGOTTEN:
            return resource
        if resource.status not in LIVE_STATUSES:
            raise ResourceConflict(
                f"The resource is {resource.status}; only a processed or removing resource can "
                f"be forgotten.", item_hash=item_hash, status=resource.status)
        # Refused only if it changed meanwhile: cannot happen under the row lock, but never
        # write a wrong audit row.
        if not resource_transition(resource=resource, from_status=resource.status,
                                   to_status=ResourceStatus.FORGOTTEN,
                                   reason=StatusChangeReason.FORGOTTEN_BY_OWNER, actor=actor,
                                   at=at, changes={"ended_at": at}):
            raise ResourceConflict("The resource changed status meanwhile; retry.",
                                   item_hash=item_hash)
        resource.refresh_from_db()
    return resource
