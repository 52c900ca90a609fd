"""Concurrency on PostgreSQL with real threads (one connection each): concurrent grants, expenses,
transfers and expiry on the same accounts lose nothing and create nothing, and concurrent replays
of one reference write one entry."""
import random
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum

from credits.errors import IdempotencyConflict, InsufficientCredit
from credits.models import Account, EntryKind, LedgerEntry, Lot
from credits.selectors.ledger import ledger_drifts
from credits.services.ledger import (
    expense_create,
    grant_create,
    lots_expire,
    transfer_create,
)

from .conftest import ADDRESS, OTHER_ADDRESS, T0, THIRD_ADDRESS

# Committed transactions, so each thread sees the others' work. serialized_rollback: a plain
# flush would re-create content types that the next serialized_rollback test restores again.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ADDRESSES = (ADDRESS, OTHER_ADDRESS, THIRD_ADDRESS)
HOUR = timedelta(hours=1)
from tests.threads import in_threads


def total_remaining():
    return Lot.objects.aggregate(total=Sum("remaining"))["total"] or 0


def assert_check_ledger_clean(at):
    out = StringIO()
    call_command("check_ledger", "--at", at.isoformat(), stdout=out, stderr=StringIO())
    assert out.getvalue().startswith("Ledger OK")


def grant(address, amount, reference, *, expires_at=None, at=T0):
    return grant_create(address=address, amount=amount, expires_at=expires_at,
                        reference=reference, actor="thread", at=at)


def test_concurrent_grants_expenses_and_transfers_lose_nothing_and_create_nothing():
    # given three funded accounts, some credits expiring (after the test's instant)
    for number, address in enumerate(ADDRESSES):
        grant(address, 500, f"seed-{number}")
        grant(address, 300, f"seed-exp-{number}", expires_at=T0 + HOUR * (number + 1))
    before = total_remaining()

    def worker(seed):
        rng = random.Random(seed)
        granted = drained = 0
        refused = []
        for step in range(15):
            address, other = rng.sample(ADDRESSES, 2)
            operation = rng.choice(["grant", "expense", "transfer", "transfer"])
            reference = f"w{seed}-{step}"
            if operation == "grant":
                amount = rng.randint(1, 100)
                grant(address, amount, reference,
                      expires_at=rng.choice([None, T0 + 2 * HOUR]))
                granted += amount
            elif operation == "expense":
                result = expense_create(address=address, amount=rng.randint(1, 150),
                                        reference=reference, actor="thread", at=T0)
                drained += -result.entry.amount
            else:
                try:
                    transfer_create(sender_address=address, recipient_address=other,
                                    amount=rng.randint(1, 400),
                                    expires_at=rng.choice([None, T0 + 3 * HOUR]),
                                    reference=reference, actor="thread", at=T0)
                except InsufficientCredit as exc:
                    refused.append(exc)
        return granted, drained, refused

    # when twelve threads move credits between the same three accounts at once
    results = in_threads(*[lambda seed=seed: worker(seed) for seed in range(12)])

    # then no thread failed, and the total moved only by grants and expenses
    assert not [r for r in results if isinstance(r, BaseException)], results
    granted = sum(result[0] for result in results)
    drained = sum(result[1] for result in results)
    assert total_remaining() == before + granted - drained
    assert LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_OUT).count() \
        == LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_IN).count()
    assert not Lot.objects.filter(remaining__lt=0).exists()
    assert ledger_drifts(at=T0) == []
    assert_check_ledger_clean(T0)


def test_concurrent_transfers_from_one_account_never_overdraw_it():
    grant(ADDRESS, 100, "seed")

    results = in_threads(*[
        lambda number=number: transfer_create(
            sender_address=ADDRESS, recipient_address=ADDRESSES[1 + number % 2], amount=15,
            expires_at=None, reference=f"t{number}", actor="thread", at=T0)
        for number in range(10)])

    refused = [r for r in results if isinstance(r, InsufficientCredit)]
    assert len(refused) == 4, results
    assert len(results) - len(refused) == 6
    assert Lot.objects.filter(account__address=ADDRESS).aggregate(
        total=Sum("remaining"))["total"] == 10
    assert total_remaining() == 100
    assert_check_ledger_clean(T0)


def test_concurrent_replays_of_one_grant_to_a_new_address_write_one_account_and_one_entry():
    results = in_threads(*[lambda: grant(THIRD_ADDRESS, 70, "order-1") for _ in range(10)])

    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len({result.entry.pk for result in results}) == 1
    assert sorted(result.replayed for result in results) == [False] + [True] * 9
    assert Account.objects.filter(address=THIRD_ADDRESS).count() == 1
    assert LedgerEntry.objects.count() == 1
    assert total_remaining() == 70


def test_concurrent_replays_of_one_expense_drain_once():
    grant(ADDRESS, 100, "seed")

    results = in_threads(*[
        lambda: expense_create(address=ADDRESS, amount=30, reference="meter-1", actor="thread",
                               at=T0) for _ in range(10)])

    assert len({result.entry.pk for result in results}) == 1
    assert sum(not result.replayed for result in results) == 1
    assert total_remaining() == 70


def test_concurrent_replays_of_one_transfer_move_the_credits_once():
    grant(ADDRESS, 100, "seed")

    results = in_threads(*[
        lambda: transfer_create(sender_address=ADDRESS, recipient_address=OTHER_ADDRESS,
                                amount=60, expires_at=None, reference="gift", actor="thread",
                                at=T0) for _ in range(10)])

    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len({(r.out_entry.pk, r.in_entry.pk) for r in results}) == 1
    assert sum(not result.replayed for result in results) == 1
    assert LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_IN).count() == 1
    assert Lot.objects.filter(account__address=OTHER_ADDRESS).aggregate(
        total=Sum("remaining"))["total"] == 60


def test_one_grant_reference_sent_for_different_addresses_at_once_is_granted_once():
    results = in_threads(*[lambda address=address: grant(address, 10, "same-ref")
                           for address in ADDRESSES for _ in range(3)])

    granted = [r for r in results if not isinstance(r, BaseException)]
    conflicts = [r for r in results if isinstance(r, IdempotencyConflict)]
    assert len(granted) + len(conflicts) == len(results), results
    assert len({result.entry.pk for result in granted}) == 1
    assert LedgerEntry.objects.count() == 1
    assert total_remaining() == 10


def test_expiry_running_while_accounts_spend_loses_and_creates_nothing():
    # given lots expiring at T0 + 1 h, spent (at T0) while the expiry (at T0 + 1 h) runs
    for number, address in enumerate(ADDRESSES):
        for lot in range(5):
            grant(address, 40, f"exp-{number}-{lot}", expires_at=T0 + HOUR)
        grant(address, 100, f"keep-{number}")
    before = total_remaining()

    def spend(address, number):
        return expense_create(address=address, amount=70, reference=f"spend-{address}-{number}",
                              actor="thread", at=T0)

    results = in_threads(
        *[lambda address=address, number=number: spend(address, number)
          for address in ADDRESSES for number in range(3)],
        lambda: lots_expire(at=T0 + HOUR, batch_size=4),
        lambda: lots_expire(at=T0 + HOUR, batch_size=3))

    assert not [r for r in results if isinstance(r, BaseException)], results
    drained = sum(-result.entry.amount for result in results[:-2])
    expired = sum(results[-2:])
    assert total_remaining() == before - drained - expired
    assert LedgerEntry.objects.filter(kind=EntryKind.EXPIRY).count() <= 15
    lots_expire(at=T0 + HOUR)  # whatever was spent after the runs passed is written off now
    assert not Lot.objects.filter(expires_at__lte=T0 + HOUR, remaining__gt=0).exists()
    assert_check_ledger_clean(T0 + HOUR)
