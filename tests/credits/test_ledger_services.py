"""Ledger services and selectors: grants, expenses, transfers, adjustments, expiry, balances,
runway and history, on PostgreSQL."""
from datetime import UTC, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from credits.cursors import InvalidCursor, cursor_decode
from credits.errors import IdempotencyConflict, InsufficientCredit, InvalidInput
from credits.models import Account, EntryKind, LedgerEntry, Lot, LotDrain, ResourceStatus
from credits.selectors.ledger import (
    account_balance,
    account_balance_by_expiry,
    account_hold_locked_by_chain,
    account_runway_hours,
    credit_history,
    history_cursor,
    ledger_drifts,
)
from credits.services.ledger import (
    MAX_CREDITS,
    adjustment_create,
    expense_create,
    grant_create,
    lots_expire,
    transfer_create,
)
from pricing.costs import floor18
from pricing.enums import PaymentType

from .conftest import ADDRESS, OTHER_ADDRESS, T0, THIRD_ADDRESS

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MICROSECOND = timedelta(microseconds=1)


def grant(amount, *, address=ADDRESS, expires_at=None, reference=None, at=T0):
    reference = reference or f"grant-{amount}-{expires_at}-{at}-{address}"
    return grant_create(address=address, amount=amount, expires_at=expires_at,
                        reference=reference, actor="test", at=at)


def expense(amount, *, address=ADDRESS, reference=None, at=T0, resource=None):
    return expense_create(address=address, amount=amount, resource_item_hash=resource,
                          reference=reference or f"expense-{amount}-{at}-{address}",
                          actor="test", at=at)


def transfer(amount, *, sender=ADDRESS, recipient=OTHER_ADDRESS, expires_at=None,
             reference="transfer", at=T0):
    return transfer_create(sender_address=sender, recipient_address=recipient, amount=amount,
                           expires_at=expires_at, reference=reference, actor="test", at=at)


def per_second(credits_per_hour):
    return floor18(Decimal(credits_per_hour) / 3600)


def balance(address=ADDRESS, at=T0):
    return account_balance(account=Account.objects.get(address=address), at=at)


def remaining_by_lot(address=ADDRESS):
    return list(Lot.objects.filter(account__address=address).order_by("pk")
                .values_list("remaining", flat=True))


# --- grants ------------------------------------------------------------------------------------

def test_a_grant_opens_a_lot_and_adds_to_the_balance():
    result = grant(100, expires_at=T0 + DAY, reference="purchase-1")

    assert result.replayed is False
    assert result.entry.kind == EntryKind.GRANT
    assert result.entry.amount == 100
    assert result.entry.reference == "purchase-1"
    assert result.entry.effective_at == T0
    assert [(lot.amount, lot.remaining, lot.expires_at) for lot in result.lots] == [
        (100, 100, T0 + DAY)]
    assert balance() == 100


def test_the_first_grant_to_an_address_creates_its_account_checksummed():
    grant(5, address=ADDRESS.lower())

    assert list(Account.objects.values_list("address", flat=True)) == [ADDRESS]


def test_a_replayed_grant_answers_like_the_first_time_and_changes_nothing():
    first = grant(100, reference="purchase-1")

    replay = grant(100, reference="purchase-1")

    assert replay.replayed is True
    assert replay.entry.pk == first.entry.pk
    assert [lot.pk for lot in replay.lots] == [lot.pk for lot in first.lots]
    assert LedgerEntry.objects.count() == 1
    assert balance() == 100


def test_a_replayed_grant_with_the_same_expiry_in_another_time_zone_is_a_replay():
    first = grant(100, reference="purchase-1", expires_at=T0 + DAY)
    same_instant = (T0 + DAY).astimezone(timezone(timedelta(hours=5)))

    replay = grant(100, reference="purchase-1", expires_at=same_instant)

    assert replay.replayed is True and replay.entry.pk == first.entry.pk


def test_a_grant_replayed_after_its_expiry_passed_still_answers_like_the_first_time():
    first = grant(100, reference="purchase-1", expires_at=T0 + HOUR)

    replay = grant(100, reference="purchase-1", expires_at=T0 + HOUR, at=T0 + DAY)

    assert replay.replayed is True and replay.entry.pk == first.entry.pk


def test_a_transfer_replayed_after_its_expiry_passed_still_answers_like_the_first_time():
    grant(10, reference="g")
    first = transfer(5, reference="gift", expires_at=T0 + HOUR)

    replay = transfer(5, reference="gift", expires_at=T0 + HOUR, at=T0 + DAY)

    assert replay.replayed is True and replay.out_entry.pk == first.out_entry.pk


@pytest.mark.parametrize("change", [{"amount": 101}, {"expires_at": T0 + DAY},
                                    {"address": OTHER_ADDRESS}])
def test_a_grant_reusing_a_reference_with_another_body_is_a_conflict(change):
    grant(100, reference="purchase-1")
    arguments = {"amount": 100, "reference": "purchase-1", **change}

    with pytest.raises(IdempotencyConflict):
        grant(**arguments)

    assert LedgerEntry.objects.count() == 1
    assert Account.objects.count() == 1
    assert balance() == 100


@pytest.mark.parametrize("amount", [0, -1, True, 1.0, Decimal("1"), "1", None, MAX_CREDITS + 1])
def test_a_grant_of_anything_but_a_positive_whole_number_of_credits_is_refused(amount):
    with pytest.raises(InvalidInput):
        grant(amount)

    assert not LedgerEntry.objects.exists() and not Account.objects.exists()


def test_the_largest_grant_is_accepted():
    grant(MAX_CREDITS)

    assert balance() == MAX_CREDITS


@pytest.mark.parametrize("reference", ["", "   ", "x" * 201, "a\nb", None, 5])
def test_a_grant_without_a_usable_reference_is_refused(reference):
    with pytest.raises(InvalidInput):
        grant_create(address=ADDRESS, amount=1, expires_at=None, reference=reference,
                     actor="test", at=T0)


@pytest.mark.parametrize("expires_at", [T0, T0 - MICROSECOND, T0.replace(tzinfo=None) + DAY,
                                        "2031-01-01T00:00:00Z"])
def test_a_grant_expiring_now_in_the_past_naive_or_not_a_datetime_is_refused(expires_at):
    with pytest.raises(InvalidInput):
        grant(1, expires_at=expires_at)


@pytest.mark.parametrize("address", ["0x123", "0xZZ19Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba",
                                     "short", "", None, "has space in it 123456789"])
def test_a_grant_to_an_invalid_address_is_refused(address):
    with pytest.raises(InvalidInput):
        grant(1, address=address)


def test_time_defaults_to_the_clock(time_machine):
    time_machine.move_to(T0 + DAY, tick=False)

    result = grant_create(address=ADDRESS, amount=3, expires_at=None, reference="r",
                          actor="test")

    assert result.entry.effective_at == T0 + DAY
    assert result.lots[0].created_at == T0 + DAY


# --- expenses ----------------------------------------------------------------------------------

def test_an_expense_drains_soonest_expiring_first_non_expiring_last_then_oldest_first():
    # given lots created in an order that differs from the drain order
    never_old = grant(10, reference="never-old", at=T0 - 2 * DAY).lots[0]
    late = grant(10, reference="late", expires_at=T0 + 3 * DAY).lots[0]
    never_new = grant(10, reference="never-new", at=T0 - DAY).lots[0]
    soon_new = grant(10, reference="soon-new", expires_at=T0 + DAY).lots[0]
    soon_old = grant(10, reference="soon-old", expires_at=T0 + DAY, at=T0 - DAY).lots[0]

    # when
    result = expense(45)

    # then the pieces follow the drain order, one drain per lot
    assert [(drain.lot_id, drain.amount) for drain in result.drains] == [
        (soon_old.pk, 10), (soon_new.pk, 10), (late.pk, 10), (never_old.pk, 10),
        (never_new.pk, 5)]
    assert balance() == 5


def test_an_expense_larger_than_the_balance_drains_everything_and_records_the_shortfall():
    grant(30, reference="a")
    grant(20, reference="b", expires_at=T0 + DAY)

    result = expense(80)

    entry = result.entry
    assert (entry.kind, entry.amount, entry.amount_requested, entry.shortfall) == (
        EntryKind.EXPENSE, -50, 80, 30)
    assert balance() == 0
    assert remaining_by_lot() == [0, 0]
    assert ledger_drifts(at=T0) == []


def test_an_expense_for_an_address_without_account_creates_it_with_the_whole_shortfall():
    result = expense(7, address=THIRD_ADDRESS)

    assert (result.entry.amount, result.entry.amount_requested, result.entry.shortfall) == (
        0, 7, 7)
    assert result.drains == []
    assert Account.objects.filter(address=THIRD_ADDRESS).exists()
    assert balance(THIRD_ADDRESS) == 0


def test_an_expense_does_not_drain_a_lot_that_expires_at_its_instant():
    grant(10, reference="expiring", expires_at=T0 + HOUR)
    grant(4, reference="forever")

    result = expense(10, at=T0 + HOUR)

    assert (result.entry.amount, result.entry.shortfall) == (-4, 6)
    assert remaining_by_lot() == [10, 0]


def test_a_replayed_expense_answers_like_the_first_time_and_drains_nothing_more():
    grant(100, reference="g")
    first = expense(30, reference="meter-1")

    replay = expense(30, reference="meter-1", at=T0 + HOUR)

    assert replay.replayed is True
    assert replay.entry.pk == first.entry.pk
    assert [drain.pk for drain in replay.drains] == [drain.pk for drain in first.drains]
    assert balance() == 70


def test_an_expense_reusing_a_reference_with_another_amount_is_a_conflict():
    grant(100, reference="g")
    expense(30, reference="meter-1")

    with pytest.raises(IdempotencyConflict):
        expense(31, reference="meter-1")

    assert balance() == 70


def test_an_expense_can_name_a_resource_of_the_account(ledger_resource_factory, account):
    resource = ledger_resource_factory(account)
    grant(10, reference="g")

    result = expense(3, resource=resource.item_hash)

    assert result.entry.resource == resource


def test_an_expense_naming_an_unknown_or_foreign_resource_is_refused(ledger_resource_factory,
                                                                     other_account):
    foreign = ledger_resource_factory(other_account)
    grant(10, reference="g")

    for item_hash in ("f" * 64, foreign.item_hash):
        with pytest.raises(InvalidInput):
            expense(3, resource=item_hash)

    assert balance() == 10


# --- transfers ---------------------------------------------------------------------------------

def test_a_transfer_moves_drained_pieces_keeping_the_earlier_expiry():
    # given a lot expiring soon and one never expiring
    grant(10, reference="soon", expires_at=T0 + DAY)
    grant(10, reference="forever")

    # when 15 are sent with a requested expiry between the two
    result = transfer(15, expires_at=T0 + 2 * DAY)

    # then each piece keeps the earlier of its source expiry and the requested one
    assert sorted((lot.amount, lot.expires_at) for lot in result.lots) == [
        (5, T0 + 2 * DAY), (10, T0 + DAY)]
    assert balance() == 5
    assert balance(OTHER_ADDRESS) == 15
    assert balance(OTHER_ADDRESS, at=T0 + DAY) == 5
    assert ledger_drifts(at=T0) == []


def test_a_transfer_without_requested_expiry_keeps_the_source_expiry():
    grant(10, reference="soon", expires_at=T0 + DAY)
    grant(10, reference="forever")

    result = transfer(20)

    assert sorted((lot.amount, lot.expires_at) for lot in result.lots
                  if lot.expires_at is not None) == [(10, T0 + DAY)]
    assert [lot.amount for lot in result.lots if lot.expires_at is None] == [10]


def test_a_transfer_writes_two_entries_that_name_each_other():
    grant(10, reference="g")

    result = transfer(6, reference="gift")

    out_entry, in_entry = result.out_entry, result.in_entry
    assert (out_entry.kind, out_entry.amount, out_entry.amount_requested, out_entry.shortfall) \
        == (EntryKind.TRANSFER_OUT, -6, 6, 0)
    assert (in_entry.kind, in_entry.amount) == (EntryKind.TRANSFER_IN, 6)
    assert out_entry.counterparty.address == OTHER_ADDRESS
    assert in_entry.counterparty.address == ADDRESS
    assert out_entry.reference == in_entry.reference == "gift"
    assert sum(drain.amount for drain in result.drains) == 6


def test_a_transfer_beyond_the_balance_is_refused_and_writes_nothing():
    grant(10, reference="g")
    entries_before = LedgerEntry.objects.count()

    with pytest.raises(InsufficientCredit) as refusal:
        transfer(11)

    assert refusal.value.status_code == 402
    assert refusal.value.details == {"required_credits": "11", "account_credits": "10"}
    assert LedgerEntry.objects.count() == entries_before
    assert not Account.objects.filter(address=OTHER_ADDRESS).exists()
    assert remaining_by_lot() == [10]


def test_a_transfer_cannot_spend_credits_that_expire_at_its_instant():
    # the network's lesson: a transfer dated when the lots no longer count drains nothing
    grant(10, reference="g", expires_at=T0 + HOUR)

    with pytest.raises(InsufficientCredit):
        transfer(10, at=T0 + HOUR)

    assert not LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_IN).exists()


def test_a_transfer_from_an_address_without_account_is_refused_and_creates_nothing():
    with pytest.raises(InsufficientCredit):
        transfer(1, sender=THIRD_ADDRESS)

    assert not Account.objects.exists()


@pytest.mark.parametrize("amount", [0, -5, 2.5, True])
def test_a_transfer_of_no_positive_whole_amount_is_refused(amount):
    grant(10, reference="g")

    with pytest.raises(InvalidInput):
        transfer(amount)


def test_a_transfer_to_oneself_is_refused_whatever_the_address_case():
    grant(10, reference="g")

    with pytest.raises(InvalidInput):
        transfer(1, recipient=ADDRESS.lower())


def test_a_replayed_transfer_answers_like_the_first_time_even_once_the_credits_are_gone():
    grant(10, reference="g")
    first = transfer(10, reference="gift")

    replay = transfer(10, reference="gift", at=T0 + HOUR)

    assert replay.replayed is True
    assert (replay.out_entry.pk, replay.in_entry.pk) == (first.out_entry.pk, first.in_entry.pk)
    assert [lot.pk for lot in replay.lots] == [lot.pk for lot in first.lots]
    assert LedgerEntry.objects.count() == 3


def test_a_transfer_reusing_a_reference_with_another_body_is_a_conflict():
    grant(10, reference="g")
    transfer(5, reference="gift")

    with pytest.raises(IdempotencyConflict):
        transfer(4, reference="gift")
    with pytest.raises(IdempotencyConflict):
        transfer(5, reference="gift", recipient=THIRD_ADDRESS)

    assert balance() == 5


def test_two_senders_may_use_the_same_reference():
    grant(10, reference="g1")
    grant(10, reference="g2", address=OTHER_ADDRESS)

    transfer(3, reference="same", recipient=THIRD_ADDRESS)
    transfer(4, reference="same", sender=OTHER_ADDRESS, recipient=THIRD_ADDRESS)

    assert balance(THIRD_ADDRESS) == 7


# --- adjustments -------------------------------------------------------------------------------

def test_a_positive_adjustment_opens_a_lot_with_its_reason():
    result = adjustment_create(address=ADDRESS, amount=25, reason="refund of incident 12",
                               actor="staff:alice", expires_at=T0 + DAY, at=T0)

    assert (result.entry.kind, result.entry.amount, result.entry.reason) == (
        EntryKind.ADJUSTMENT, 25, "refund of incident 12")
    assert result.entry.created_by == "staff:alice"
    assert [(lot.amount, lot.expires_at) for lot in result.lots] == [(25, T0 + DAY)]


def test_a_negative_adjustment_drains_like_an_expense_and_records_its_shortfall():
    grant(10, reference="g")

    result = adjustment_create(address=ADDRESS, amount=-15, reason="double grant", actor="staff",
                               at=T0)

    assert (result.entry.amount, result.entry.amount_requested, result.entry.shortfall) == (
        -10, 15, 5)
    assert balance() == 0
    assert ledger_drifts(at=T0) == []


@pytest.mark.parametrize("amount, reason", [(0, "zero"), (5, ""), (5, "   "), (5, None),
                                            (MAX_CREDITS + 1, "big"), (-MAX_CREDITS - 1, "big")])
def test_an_adjustment_needs_a_non_zero_amount_and_a_reason(amount, reason):
    with pytest.raises(InvalidInput):
        adjustment_create(address=ADDRESS, amount=amount, reason=reason, actor="staff", at=T0)


def test_adjustments_without_reference_are_never_replays():
    for _ in range(2):
        adjustment_create(address=ADDRESS, amount=5, reason="goodwill", actor="staff", at=T0)

    assert balance() == 10


def test_an_adjustment_with_a_reference_is_idempotent():
    for _ in range(2):
        adjustment_create(address=ADDRESS, amount=5, reason="goodwill", actor="staff",
                          reference="ticket-9", at=T0)

    assert balance() == 5
    with pytest.raises(IdempotencyConflict):
        adjustment_create(address=ADDRESS, amount=5, reason="other", actor="staff",
                          reference="ticket-9", at=T0)


# --- expiry ------------------------------------------------------------------------------------

def test_a_lot_expiring_at_t_is_spendable_until_just_before_t_and_not_at_t(time_machine):
    grant(10, reference="g", expires_at=T0 + HOUR)
    account = Account.objects.get(address=ADDRESS)

    time_machine.move_to(T0 + HOUR - MICROSECOND, tick=False)
    assert account_balance(account=account) == 10
    time_machine.move_to(T0 + HOUR, tick=False)
    assert account_balance(account=account) == 0

    with pytest.raises(InsufficientCredit):
        transfer_create(sender_address=ADDRESS, recipient_address=OTHER_ADDRESS, amount=1,
                        expires_at=None, reference="late", actor="test")


def test_an_expense_just_before_expiry_still_drains_the_expiring_lot(time_machine):
    grant(10, reference="g", expires_at=T0 + HOUR)
    time_machine.move_to(T0 + HOUR - MICROSECOND, tick=False)

    result = expense_create(address=ADDRESS, amount=10, reference="e", actor="test")

    assert result.entry.shortfall == 0


def test_lots_expire_writes_off_what_is_left_once_and_keeps_the_ledger_consistent():
    # given a half-spent expiring lot, an untouched one, one expiring later, one never expiring
    grant(10, reference="half", expires_at=T0 + HOUR)
    expense(5, reference="spend")
    grant(7, reference="whole", expires_at=T0 + 2 * HOUR)
    grant(8, reference="later", expires_at=T0 + 3 * HOUR)
    grant(9, reference="forever")
    at = T0 + 2 * HOUR
    assert [drift.what for drift in ledger_drifts(at=at)] == []  # pending expiry is accounted

    # when
    expired = lots_expire(at=at)

    # then the lots expiring at or before `at` are written off, one entry each
    assert expired == 12
    expiries = LedgerEntry.objects.filter(kind=EntryKind.EXPIRY).order_by("amount")
    assert [(entry.amount, entry.effective_at) for entry in expiries] == [
        (-7, T0 + 2 * HOUR), (-5, T0 + HOUR)]
    assert remaining_by_lot() == [0, 0, 8, 9]
    assert balance(at=at) == 17
    assert ledger_drifts(at=at) == []
    # and a second run changes nothing
    assert lots_expire(at=at) == 0
    assert LedgerEntry.objects.filter(kind=EntryKind.EXPIRY).count() == 2


def test_lots_expire_works_in_batches():
    for number in range(5):
        grant(number + 1, reference=f"g{number}", expires_at=T0 + HOUR)

    assert lots_expire(at=T0 + HOUR, batch_size=2) == 15
    assert LedgerEntry.objects.filter(kind=EntryKind.EXPIRY).count() == 5
    assert ledger_drifts(at=T0 + HOUR) == []


def test_transferred_expiring_credits_expire_at_their_source_expiry():
    grant(10, reference="g", expires_at=T0 + HOUR)
    transfer(10, reference="gift", expires_at=T0 + DAY)

    assert balance(OTHER_ADDRESS, at=T0 + HOUR - MICROSECOND) == 10
    assert balance(OTHER_ADDRESS, at=T0 + HOUR) == 0
    assert lots_expire(at=T0 + HOUR) == 10
    assert ledger_drifts(at=T0 + HOUR) == []


# --- append-only -------------------------------------------------------------------------------

def test_the_database_refuses_to_change_or_delete_ledger_entries_and_drains():
    grant(10, reference="g")
    expense(3, reference="e")

    for statement in ("UPDATE credits_ledgerentry SET amount = amount + 1",
                      "DELETE FROM credits_ledgerentry",
                      "UPDATE credits_lotdrain SET amount = amount + 1",
                      "DELETE FROM credits_lotdrain"):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), \
                connection.cursor() as cursor:
            cursor.execute(statement)

    assert LedgerEntry.objects.filter(amount=10).exists()


# --- selectors ---------------------------------------------------------------------------------

def test_the_balance_split_by_expiry_is_soonest_first_never_expiring_last():
    grant(1, reference="a", expires_at=T0 + 2 * DAY)
    grant(2, reference="b")
    grant(3, reference="c", expires_at=T0 + DAY)
    grant(4, reference="d", expires_at=T0 + DAY)
    grant(5, reference="e", expires_at=T0 + HOUR)
    account = Account.objects.get(address=ADDRESS)

    assert account_balance_by_expiry(account=account, at=T0 + HOUR) == [
        {"expires_at": T0 + DAY, "amount": 7},
        {"expires_at": T0 + 2 * DAY, "amount": 1},
        {"expires_at": None, "amount": 2}]


def test_the_runway_is_none_when_nothing_is_billed(account):
    grant(100, reference="g")

    assert account_runway_hours(account=account, at=T0) is None


def test_the_runway_is_the_balance_over_the_hourly_cost(account, ledger_resource_factory):
    # 2 credits per hour (two resources, per-second rates floored as the engine does), 100 credits
    ledger_resource_factory(account, cost_credit_per_second=per_second(1))
    ledger_resource_factory(account, cost_credit_per_second=per_second(1))
    ledger_resource_factory(account, cost_credit_per_second="5",
                            status=ResourceStatus.FORGOTTEN)
    grant(100, reference="g")

    assert account_runway_hours(account=account, at=T0) == Decimal("50.00")


def test_the_runway_ignores_credits_that_expire_before_they_can_be_spent(
        account, ledger_resource_factory):
    # 10 credits per hour; 100 expiring in 2 h (only 20 usable), 30 never expiring
    ledger_resource_factory(account, cost_credit_per_second=per_second(10))
    grant(100, reference="soon", expires_at=T0 + 2 * HOUR)
    grant(30, reference="forever")

    assert account_runway_hours(account=account, at=T0) == Decimal("5.00")


def test_the_runway_counts_expiring_credits_spent_before_they_expire(
        account, ledger_resource_factory):
    ledger_resource_factory(account, cost_credit_per_second=per_second(10))
    grant(15, reference="soon", expires_at=T0 + 2 * HOUR)
    grant(20, reference="later", expires_at=T0 + 3 * HOUR)  # only 1.5 h of it usable

    assert account_runway_hours(account=account, at=T0) == Decimal("3.00")


def test_the_runway_is_zero_without_credits(account, ledger_resource_factory):
    ledger_resource_factory(account, cost_credit_per_second="0.001")

    assert account_runway_hours(account=account, at=T0) == Decimal("0.00")


def test_hold_locked_sums_live_hold_resources_per_chain(account, ledger_resource_factory):
    ledger_resource_factory(account, payment_type=PaymentType.HOLD, cost_hold="100.5",
                            payment_chain="ETH")
    ledger_resource_factory(account, payment_type=PaymentType.HOLD, cost_hold="1",
                            payment_chain="ETH", status=ResourceStatus.REMOVING,
                            removing_since=T0, delete_after=T0 + DAY)
    ledger_resource_factory(account, payment_type=PaymentType.HOLD, cost_hold="2",
                            payment_chain="AVAX")
    ledger_resource_factory(account, payment_type=PaymentType.HOLD, cost_hold="50",
                            payment_chain="ETH", status=ResourceStatus.REMOVED)

    assert account_hold_locked_by_chain(account=account) == {"AVAX": Decimal(2),
                                                             "ETH": Decimal("101.5")}


def test_credit_history_is_newest_first_and_filters_by_kind_and_dates(account):
    grant(10, reference="g1", at=T0)
    expense(3, reference="e1", at=T0 + HOUR)
    grant(5, reference="g2", at=T0 + 2 * HOUR)

    everything = credit_history(account=account)
    grants = credit_history(account=account, kinds=[EntryKind.GRANT])
    window = credit_history(account=account, since=T0 + HOUR, until=T0 + 2 * HOUR)

    assert [entry.reference for entry in everything] == ["g2", "e1", "g1"]
    assert [entry.reference for entry in grants] == ["g2", "g1"]
    assert [entry.reference for entry in window] == ["e1"]


def test_credit_history_cursor_continues_after_entries_of_the_same_instant(account):
    for number in range(5):
        grant(1, reference=f"g{number}", at=T0)

    first_page = list(credit_history(account=account)[:2])
    rest = list(credit_history(account=account,
                               after=cursor_decode(history_cursor(first_page[-1]))))

    assert [entry.reference for entry in first_page + rest] == ["g4", "g3", "g2", "g1", "g0"]


@pytest.mark.parametrize("cursor", ["garbage", "", "W10", "WyJ4IiwgMV0", "W" * 201])
def test_a_cursor_that_was_not_given_is_refused(cursor):
    with pytest.raises(InvalidCursor):
        cursor_decode(cursor)


def test_ledger_drifts_is_empty_after_every_kind_of_movement():
    grant(50, reference="g", expires_at=T0 + DAY)
    grant(50, reference="g2")
    expense(20, reference="e")
    transfer(40, reference="t", expires_at=T0 + 2 * DAY)
    adjustment_create(address=OTHER_ADDRESS, amount=-5, reason="fix", actor="staff", at=T0)
    adjustment_create(address=THIRD_ADDRESS, amount=5, reason="fix", actor="staff", at=T0)
    expense(500, reference="big")

    assert ledger_drifts(at=T0) == []
    assert ledger_drifts(at=T0 + 3 * DAY) == []
    lots_expire(at=T0 + 3 * DAY)
    assert ledger_drifts(at=T0 + 3 * DAY) == []


def test_credits_are_stored_in_lots_and_drains_exactly():
    grant(10, reference="g")
    expense(4, reference="e")

    assert list(LotDrain.objects.values_list("amount", flat=True)) == [4]
    assert remaining_by_lot() == [6]
    assert T0.tzinfo is UTC
