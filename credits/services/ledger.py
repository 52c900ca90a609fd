"""Movements of credits: grants, expenses, transfers, staff adjustments and expiry.

Every movement is one append-only `LedgerEntry` with a unique idempotency key. Credits in open a
`Lot`; debits drain lots soonest-expiring first (non-expiring last, then oldest first), never
below zero, with one `LotDrain` per piece, and record what they asked and what they could not
drain (`shortfall`). Each service locks the account row(s) before it reads lots or idempotency
keys, so two movements of one account are serialised and a replay always sees the original.

Unknown addresses: a grant or a transfer creates the recipient's account; an expense or a negative
adjustment for an address with no account creates it and records the whole amount as shortfall
(the debt is on record); a transfer from an address with no account is refused (402) and writes
nothing.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..addresses import address_input
from ..errors import IdempotencyConflict, InsufficientCredit, InvalidInput
from ..events import account_runway_rearm
from ..funding import drain_plan
from ..idempotency import request_fingerprint
from ..locks import account_lock, accounts_lock, lots_due_lock, lots_spendable_lock
from ..models import Account, EntryKind, LedgerEntry, Lot, LotDrain, Resource

# Credits are bigints: keep every amount, and any sum of a few of them, far from 2**63.
MAX_CREDITS = 10**15
MAX_REFERENCE_LENGTH = 200
# Lots expired per transaction by `lots_expire`: each batch is done or not started.
EXPIRY_BATCH_SIZE = 2000


@dataclass(frozen=True)
class LedgerResult:
    """One entry, the lots it opened (credits in) or the pieces it drained (debits)."""

    entry: LedgerEntry
    lots: list[Lot] = field(default_factory=list)
    drains: list[LotDrain] = field(default_factory=list)
    replayed: bool = False


@dataclass(frozen=True)
class TransferResult:
    """Both sides of a transfer: the sender's `transfer_out` with its drains, the recipient's
    `transfer_in` with the lots it opened (one per drained piece)."""

    out_entry: LedgerEntry
    in_entry: LedgerEntry
    drains: list[LotDrain]
    lots: list[Lot]
    replayed: bool = False


# --- validation --------------------------------------------------------------------------------

def _now_or(at: datetime | None) -> datetime:
    if at is None:
        return timezone.now()
    if timezone.is_naive(at):
        raise InvalidInput("`at` must be an aware datetime.")
    return at


def _credits(value, *, field_name: str = "amount", signed: bool = False) -> int:
    # bool is an int in Python: True must not grant one credit.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field_name} must be a whole number of credits.", field=field_name)
    magnitude = abs(value) if signed else value
    if signed and value == 0:
        raise InvalidInput(f"{field_name} must not be zero.", field=field_name)
    if magnitude <= 0:
        raise InvalidInput(f"{field_name} must be a positive number of credits.",
                           field=field_name)
    if magnitude > MAX_CREDITS:
        raise InvalidInput(f"{field_name} must be at most {MAX_CREDITS} credits.",
                           field=field_name, max_credits=str(MAX_CREDITS))
    return value


def _reference(value, *, field_name: str = "reference") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field_name} must be a non-empty string.", field=field_name)
    if len(value) > MAX_REFERENCE_LENGTH:
        raise InvalidInput(f"{field_name} must be at most {MAX_REFERENCE_LENGTH} characters.",
                           field=field_name, max_length=MAX_REFERENCE_LENGTH)
    if any(ord(char) < 32 for char in value):
        raise InvalidInput(f"{field_name} must not contain control characters.",
                           field=field_name)
    return value


def _expiry(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise InvalidInput("expires_at must be an aware datetime (ISO 8601 with a time zone).",
                           field="expires_at")
    return value


def _expiry_in_future(value: datetime | None, *, at: datetime) -> None:
    # Checked after the replay lookup: a replay answers like the first time even once the
    # expiry it asked for has passed.
    if value is not None and value <= at:
        raise InvalidInput("expires_at must be in the future.", field="expires_at",
                           expires_at=value.isoformat(), at=at.isoformat())


def _utc(value: datetime | None) -> datetime | None:
    """One spelling per instant, so the same request fingerprints the same in any time zone."""
    return None if value is None else value.astimezone(dt_timezone.utc)


# --- shared steps ------------------------------------------------------------------------------

def _account_get_or_create(address: str) -> Account:
    # get_or_create inserts inside a savepoint and reads again on a unique violation, so two
    # first grants to one address at once end with one account.
    account, _ = Account.objects.get_or_create(address=address)
    return account


def _replay_or_none(idempotency_key: str, fingerprint: str) -> LedgerEntry | None:
    """The entry already written under this key (same body), None if there is none; a different
    body under the same key is a conflict. Call with the account locked."""
    entry = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if entry is None:
        return None
    if entry.request_hash != fingerprint:
        raise IdempotencyConflict(
            "This reference was already used with a different request.",
            idempotency_key=idempotency_key)
    return entry


def _entry_insert(**fields) -> LedgerEntry:
    """Insert an entry; a key taken meanwhile by another account's request is a conflict (only
    requests for the same account are serialised by the account lock)."""
    try:
        with transaction.atomic():
            return LedgerEntry.objects.create(**fields)
    except IntegrityError as exc:
        if LedgerEntry.objects.filter(idempotency_key=fields["idempotency_key"]).exists():
            raise IdempotencyConflict(
                "This reference was already used with a different request.",
                idempotency_key=fields["idempotency_key"]) from exc
        raise


def _lot_open(*, entry: LedgerEntry, amount: int, expires_at: datetime | None,
              at: datetime) -> Lot:
    return Lot.objects.create(account_id=entry.account_id, entry=entry, amount=amount,
                              remaining=amount, expires_at=expires_at, created_at=at)


def _drain_apply(*, entry: LedgerEntry, pieces: list[tuple[Lot, int]]) -> list[LotDrain]:
    for lot, piece in pieces:
        lot.remaining -= piece
    Lot.objects.bulk_update([lot for lot, _ in pieces], ["remaining"])
    return LotDrain.objects.bulk_create(
        [LotDrain(entry=entry, lot=lot, amount=piece) for lot, piece in pieces])


def _debit(*, account: Account, kind: str, amount: int, at: datetime, idempotency_key: str,
           fingerprint: str, **fields) -> LedgerResult:
    """Drain up to `amount` from the (locked) account's lots and record what was asked, drained
    and missing."""
    pieces = drain_plan(lots_spendable_lock(account.pk, at=at), amount)
    drained = sum(piece for _, piece in pieces)
    entry = _entry_insert(account=account, kind=kind, amount=-drained, amount_requested=amount,
                          shortfall=amount - drained, idempotency_key=idempotency_key,
                          request_hash=fingerprint, effective_at=at, **fields)
    return LedgerResult(entry=entry, drains=_drain_apply(entry=entry, pieces=pieces))


def _credit(*, account: Account, kind: str, amount: int, expires_at: datetime | None,
            at: datetime, idempotency_key: str, fingerprint: str, **fields) -> LedgerResult:
    entry = _entry_insert(account=account, kind=kind, amount=amount, expires_at=expires_at,
                          idempotency_key=idempotency_key, request_hash=fingerprint,
                          effective_at=at, **fields)
    lot = _lot_open(entry=entry, amount=amount, expires_at=expires_at, at=at)
    account_runway_rearm(account=account, at=at)  # a top-up re-arms the runway alerts
    return LedgerResult(entry=entry, lots=[lot])


def _replayed(entry: LedgerEntry) -> LedgerResult:
    return LedgerResult(entry=entry, lots=list(entry.lots.order_by("pk")),
                        drains=list(entry.drains.order_by("pk")), replayed=True)


# --- services ----------------------------------------------------------------------------------

@transaction.atomic
def grant_create(*, address: str, amount: int, expires_at: datetime | None, reference: str,
                 actor: str, at: datetime | None = None, reason: str = "") -> LedgerResult:
    """Credits bought or distributed: opens one lot. Idempotent on `reference`. `reason` (staff
    grants say why) is kept on the entry."""
    at = _now_or(at)
    address = address_input(address)
    amount = _credits(amount)
    reference = _reference(reference)
    expires_at = _expiry(expires_at)
    if not isinstance(reason, str):
        raise InvalidInput("reason must be text.", field="reason")
    reason = reason.strip()
    key = f"grant:{reference}"
    request = {"op": "grant", "address": address, "amount": amount,
               "expires_at": _utc(expires_at), "reference": reference}
    if reason:  # only then: grants recorded before reasons existed replay as they were
        request["reason"] = reason
    fingerprint = request_fingerprint(request)

    account = account_lock(_account_get_or_create(address).pk)
    if (entry := _replay_or_none(key, fingerprint)) is not None:
        return _replayed(entry)
    _expiry_in_future(expires_at, at=at)
    return _credit(account=account, kind=EntryKind.GRANT, amount=amount, expires_at=expires_at,
                   at=at, idempotency_key=key, fingerprint=fingerprint, reference=reference,
                   reason=reason, created_by=actor)


@transaction.atomic
def expense_create(*, address: str, amount: int, reference: str,
                   resource_item_hash: str | None = None, actor: str,
                   at: datetime | None = None) -> LedgerResult:
    """Credits consumed: drains what the lots hold and records the rest as shortfall.
    Idempotent on `reference`."""
    at = _now_or(at)
    address = address_input(address)
    amount = _credits(amount)
    reference = _reference(reference)
    if resource_item_hash is not None and not isinstance(resource_item_hash, str):
        raise InvalidInput("resource must be an item hash.", field="resource")
    key = f"expense:{reference}"
    fingerprint = request_fingerprint({"op": "expense", "address": address, "amount": amount,
                                       "resource": resource_item_hash, "reference": reference})

    account = account_lock(_account_get_or_create(address).pk)
    if (entry := _replay_or_none(key, fingerprint)) is not None:
        return _replayed(entry)
    resource = None
    if resource_item_hash is not None:
        resource = Resource.objects.filter(item_hash=resource_item_hash).first()
        if resource is None or resource.owner_id != account.pk:
            raise InvalidInput(f"No resource {resource_item_hash!r} owned by {address}.",
                               field="resource")
    return _debit(account=account, kind=EntryKind.EXPENSE, amount=amount, at=at,
                  idempotency_key=key, fingerprint=fingerprint, reference=reference,
                  resource=resource, created_by=actor)


@transaction.atomic
def transfer_create(*, sender_address: str, recipient_address: str, amount: int,
                    expires_at: datetime | None, reference: str, actor: str,
                    at: datetime | None = None) -> TransferResult:
    """Move credits, all or nothing. Each drained piece opens a recipient lot expiring at the
    earlier of its source lot's expiry and `expires_at` (None: never), so a transfer can neither
    create credits nor extend their life. Idempotent on (sender, `reference`)."""
    at = _now_or(at)
    sender_address = address_input(sender_address, field="sender")
    recipient_address = address_input(recipient_address, field="to")
    amount = _credits(amount)
    reference = _reference(reference)
    expires_at = _expiry(expires_at)
    if sender_address == recipient_address:
        raise InvalidInput("A transfer to the sender itself is not possible.", field="to")

    sender = Account.objects.filter(address=sender_address).first()
    if sender is None:
        # No account, no credits: refuse before writing anything (not even the recipient).
        raise InsufficientCredit(f"{sender_address} has 0 credits; the transfer needs {amount}.",
                                 required_credits=str(amount), account_credits="0")
    recipient = _account_get_or_create(recipient_address)
    locked = accounts_lock([sender.pk, recipient.pk])

    # Keyed by the sender's account id: each owner chooses its references, and the key stays
    # within its column however long an address is.
    key_out = f"transfer:{sender.pk}:{reference}:out"
    key_in = f"transfer:{sender.pk}:{reference}:in"
    fingerprint = request_fingerprint({"op": "transfer", "from": sender_address,
                                       "to": recipient_address, "amount": amount,
                                       "expires_at": _utc(expires_at), "reference": reference})
    if (out_entry := _replay_or_none(key_out, fingerprint)) is not None:
        in_entry = LedgerEntry.objects.get(idempotency_key=key_in)
        return TransferResult(out_entry=out_entry, in_entry=in_entry,
                              drains=list(out_entry.drains.order_by("pk")),
                              lots=list(in_entry.lots.order_by("pk")), replayed=True)
    _expiry_in_future(expires_at, at=at)

    # The balance checked is the one drained: the same lots, at the same instant.
    pieces = drain_plan(lots_spendable_lock(sender.pk, at=at), amount)
    drained = sum(piece for _, piece in pieces)
    if drained < amount:
        raise InsufficientCredit(
            f"{sender_address} has {drained} credits; the transfer needs {amount}.",
            required_credits=str(amount), account_credits=str(drained))

    out_entry = _entry_insert(account=sender, kind=EntryKind.TRANSFER_OUT, amount=-amount,
                              amount_requested=amount, shortfall=0, idempotency_key=key_out,
                              request_hash=fingerprint, reference=reference,
                              counterparty=recipient, effective_at=at, created_by=actor)
    in_entry = _entry_insert(account=recipient, kind=EntryKind.TRANSFER_IN, amount=amount,
                             expires_at=expires_at, idempotency_key=key_in,
                             request_hash=fingerprint, reference=reference, counterparty=sender,
                             effective_at=at, created_by=actor)
    drains = _drain_apply(entry=out_entry, pieces=pieces)
    lots = Lot.objects.bulk_create([
        Lot(account=recipient, entry=in_entry, amount=piece, remaining=piece,
            expires_at=_earlier(source.expires_at, expires_at), created_at=at)
        for source, piece in pieces])
    account_runway_rearm(account=locked[recipient.pk], at=at)  # a top-up for the recipient
    return TransferResult(out_entry=out_entry, in_entry=in_entry, drains=drains, lots=lots)


def _earlier(first: datetime | None, second: datetime | None) -> datetime | None:
    """The earlier of two expiries, None meaning never."""
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


@transaction.atomic
def adjustment_create(*, address: str, amount: int, reason: str, actor: str,
                      expires_at: datetime | None = None, reference: str | None = None,
                      at: datetime | None = None) -> LedgerResult:
    """A staff correction with a reason: a positive amount opens a lot, a negative one drains like
    an expense (shortfall recorded). Idempotent on `reference` when one is given."""
    at = _now_or(at)
    address = address_input(address)
    amount = _credits(amount, signed=True)
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("An adjustment needs a reason.", field="reason")
    if reference is not None:
        reference = _reference(reference)
    if amount < 0 and expires_at is not None:
        raise InvalidInput("Only a positive adjustment can have an expiry.", field="expires_at")
    expires_at = _expiry(expires_at)
    key = f"adjustment:{reference if reference is not None else uuid.uuid4()}"
    fingerprint = request_fingerprint({"op": "adjustment", "address": address, "amount": amount,
                                       "reason": reason, "expires_at": _utc(expires_at),
                                       "reference": reference})

    account = account_lock(_account_get_or_create(address).pk)
    if (entry := _replay_or_none(key, fingerprint)) is not None:
        return _replayed(entry)
    _expiry_in_future(expires_at, at=at)
    fields = {"reference": reference or "", "reason": reason, "created_by": actor}
    if amount > 0:
        return _credit(account=account, kind=EntryKind.ADJUSTMENT, amount=amount,
                       expires_at=expires_at, at=at, idempotency_key=key,
                       fingerprint=fingerprint, **fields)
    return _debit(account=account, kind=EntryKind.ADJUSTMENT, amount=-amount, at=at,
                  idempotency_key=key, fingerprint=fingerprint, **fields)


def lots_expire(*, at: datetime | None = None, batch_size: int = EXPIRY_BATCH_SIZE) -> int:
    """Write off what is left in lots whose expiry has passed at `at`: one `expiry` entry per
    lot (amount = −remaining, key `expiry:lot:<id>`, effective at the lot's expiry instant, when
    the credits stopped counting) with one drain of the whole remainder. Set-based, in batches
    that are each committed or not at all; idempotent (an expired lot has nothing left).
    Returns the number of credits expired."""
    at = _now_or(at)
    expired = 0
    while True:
        with transaction.atomic():
            candidates = list(Lot.objects.filter(expires_at__lte=at, remaining__gt=0)
                              .order_by("pk").values_list("pk", "account_id")[:batch_size])
            # Accounts first, then lots, as every service does: the entries' foreign keys
            # share-lock the account rows, so taking the lots first could deadlock with a
            # service that holds an account and waits for one of these lots.
            accounts_lock({account_id for _, account_id in candidates})
            batch = lots_due_lock(pks=[pk for pk, _ in candidates], at=at)
            entries = LedgerEntry.objects.bulk_create([
                LedgerEntry(account_id=lot.account_id, kind=EntryKind.EXPIRY,
                            amount=-lot.remaining, idempotency_key=f"expiry:lot:{lot.pk}",
                            effective_at=lot.expires_at, created_by="lots_expire")
                for lot in batch])
            LotDrain.objects.bulk_create([
                LotDrain(entry=entry, lot=lot, amount=lot.remaining)
                for entry, lot in zip(entries, batch, strict=True)])
            Lot.objects.filter(pk__in=[lot.pk for lot in batch]).update(remaining=0)
            expired += sum(lot.remaining for lot in batch)
        if len(candidates) < batch_size:
            return expired
