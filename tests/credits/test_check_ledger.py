"""`manage.py check_ledger`: silent success on a consistent ledger, every drift reported and a
non-zero exit otherwise. Drifts are made with raw SQL on lots (which are not append-only) or with
triggers switched off for one statement."""
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from credits.models import Account, LedgerEntry, Lot
from credits.services.ledger import (
    adjustment_create,
    expense_create,
    grant_create,
    lots_expire,
    transfer_create,
)

from .conftest import ADDRESS, OTHER_ADDRESS, T0

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def ledger():
    """A ledger with every kind of movement."""
    grant_create(address=ADDRESS, amount=100, expires_at=T0 + DAY, reference="g1", actor="t",
                 at=T0)
    grant_create(address=ADDRESS, amount=50, expires_at=None, reference="g2", actor="t", at=T0)
    expense_create(address=ADDRESS, amount=30, reference="e1", actor="t", at=T0)
    transfer_create(sender_address=ADDRESS, recipient_address=OTHER_ADDRESS, amount=90,
                    expires_at=None, reference="t1", actor="t", at=T0)
    adjustment_create(address=OTHER_ADDRESS, amount=-5, reason="fix", actor="staff", at=T0)
    expense_create(address=OTHER_ADDRESS, amount=500, reference="e2", actor="t", at=T0)


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("check_ledger", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def failing(*args):
    err = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("check_ledger", *args, stdout=StringIO(), stderr=err)
    return str(failure.value), err.getvalue()


def sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def behind_the_triggers_back(statement, params=()):
    """Run one statement with the append-only triggers off (the tables' owner may do that, a
    superuser is not needed): they forbid it, and the check must still see what it did."""
    tables = ("credits_ledgerentry", "credits_lotdrain")
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred FK checks may be pending for ALTER TABLE
    for table in tables:
        sql(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
    try:
        sql(statement, params)
    finally:
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        for table in tables:
            sql(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
        sql("SET CONSTRAINTS ALL DEFERRED")


def test_a_consistent_ledger_passes_with_a_one_line_summary(ledger):
    out, err = run("--at", "2030-01-01T00:00:00Z")

    assert err == ""
    assert out.count("\n") == 1
    assert out.startswith("Ledger OK at 2030-01-01T00:00:00+00:00: 2 accounts, 7 entries")


def test_an_empty_ledger_passes(db):
    out, _ = run()

    assert out.startswith("Ledger OK")


def test_credits_past_expiry_not_yet_written_off_are_not_a_drift(ledger):
    run("--at", (T0 + 2 * DAY).isoformat())
    lots_expire(at=T0 + 2 * DAY)
    run("--at", (T0 + 2 * DAY).isoformat())


def test_credits_added_to_a_lot_behind_the_ledgers_back_are_reported(ledger):
    lot = Lot.objects.filter(account__address=ADDRESS, remaining__gt=0).first()
    sql("UPDATE credits_lot SET remaining = remaining + 5 WHERE id = %s", [lot.pk])

    message, err = failing("--at", "2030-01-01T00:00:00Z")

    assert "drift" in message
    assert f"DRIFT {ADDRESS}: balance at 2030-01-01T00:00:00+00:00" in err
    assert f"lot {lot.pk}: drained" in err
    assert "expected 0, found 5" not in err  # the lot line gives the real numbers
    balance_line = next(line for line in err.splitlines() if "balance at" in line)
    assert balance_line.endswith("expected 30, found 35")


def test_a_lot_drained_behind_the_ledgers_back_is_reported(ledger):
    lot = Lot.objects.filter(account__address=OTHER_ADDRESS, remaining__gt=0).first()
    if lot is None:  # the big expense emptied it: give the recipient something to lose
        grant_create(address=OTHER_ADDRESS, amount=10, expires_at=None, reference="g3",
                     actor="t", at=T0)
        lot = Lot.objects.get(account__address=OTHER_ADDRESS, remaining=10)
    sql("UPDATE credits_lot SET remaining = remaining - 1 WHERE id = %s", [lot.pk])

    _, err = failing()

    assert f"DRIFT {OTHER_ADDRESS}: balance" in err
    assert f"lot {lot.pk}: drained" in err


def test_a_lot_without_ledger_entry_amount_is_reported(ledger):
    grant = LedgerEntry.objects.get(reference="g2")
    sql("UPDATE credits_lot SET amount = amount + 7, remaining = remaining + 7 "
        "WHERE entry_id = %s", [grant.pk])

    _, err = failing()

    assert f"grant entry {grant.pk}: lots opened vs amount: expected 50, found 57" in err


def test_a_ledger_entry_changed_with_the_trigger_off_is_reported(ledger):
    expense = LedgerEntry.objects.get(reference="e1")
    behind_the_triggers_back("UPDATE credits_ledgerentry SET amount = amount - 3, "
                             "amount_requested = 33 WHERE id = %s", [expense.pk])

    _, err = failing()

    assert f"expense entry {expense.pk}: pieces drained vs amount: expected 33, found 30" in err
    assert f"DRIFT {ADDRESS}: balance" in err


def test_a_transfer_whose_recipient_side_was_changed_is_reported(ledger):
    received = LedgerEntry.objects.get(kind="transfer_in")
    behind_the_triggers_back("UPDATE credits_ledgerentry SET amount = amount + 1 WHERE id = %s",
                             [received.pk])

    _, err = failing()

    assert "transfer 't1': credited to the recipient vs sent: expected 90, found 91" in err
    assert "(all accounts): all transfers: received vs sent: expected 90, found 91" in err


def test_an_invalid_instant_is_refused(db):
    for value in ("yesterday", "2030-01-01T00:00:00"):
        with pytest.raises(CommandError, match="--at"):
            call_command("check_ledger", "--at", value, stdout=StringIO())


def test_the_summary_counts_accounts(ledger):
    out, _ = run()

    assert f"{Account.objects.count()} accounts" in out


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_check_reads_one_snapshot_outside_any_transaction():
    grant_create(address=ADDRESS, amount=10, expires_at=None, reference="g", actor="t", at=T0)

    out, _ = run()

    assert out.startswith("Ledger OK") and "1 accounts, 1 entries, 1 lots, 10 credits" in out
