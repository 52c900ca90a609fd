"""Issue 14: the ledger check from a checkpoint. An incremental check reads only what was
appended since the last check, finds the same drifts as the full audit (one of each kind is
planted here after a checkpoint), keeps its totals exact while other transactions commit out of
id order, and runs as a periodic task."""
import importlib
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps as django_apps
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from credits.models import (
    Charge,
    LedgerCheckAccount,
    LedgerCheckLot,
    LedgerCheckMode,
    LedgerCheckpoint,
    LedgerEntry,
    Lot,
)
from credits.selectors.ledger import ledger_drifts
from credits.services.ledger import expense_create, grant_create, transfer_create
from credits.services.ledger_check import LedgerCheckBusy, ledger_check
from credits.tasks import ledger_check_task
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0
from tests.credits.test_lifecycle import (  # noqa: F401 (the autouse fixture)
    E1_PER_DAY,
    HOUR,
    _time_travel_allowed,
    grant,
    register,
    run,
)

pytestmark = pytest.mark.django_db(transaction=True)

INCREMENTAL = LedgerCheckMode.INCREMENTAL
FULL = LedgerCheckMode.FULL
THIRD_ADDRESS = "0x" + "3" * 40


def sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def behind_the_triggers_back(statement, params=()):
    """One statement with the append-only triggers off (the tables' owner may do that)."""
    tables = ("credits_ledgerentry", "credits_lotdrain", "credits_charge")
    with transaction.atomic():
        for table in tables:
            sql(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        sql(statement, params)
        sql("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred check may be pending for ALTER
        for table in tables:
            sql(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")


def history(start, hours):
    """Two accounts with grants, a transfer, an expense, and a VM metered hour by hour."""
    grant(ADDRESS, 10 * E1_PER_DAY, start)
    grant(OTHER_ADDRESS, 100, start, expires_at=start + 30 * 24 * HOUR)
    transfer_create(sender_address=ADDRESS, recipient_address=OTHER_ADDRESS, amount=7,
                    expires_at=None, reference=f"t-{start.isoformat()}", actor="t", at=start)
    expense_create(address=OTHER_ADDRESS, amount=3, reference=f"e-{start.isoformat()}",
                   actor="t", at=start)
    register(start)
    for hour in range(1, hours + 1):
        run(start + hour * HOUR)


def checkpoints(times=2):
    """Checks until the totals cover everything so far (the first check's rows become final at
    the second)."""
    for _ in range(times):
        checkpoint, drifts = ledger_check(mode=INCREMENTAL, at=T0 + 100 * HOUR)
        assert drifts == []
    return checkpoint


def same_drifts(at):
    """The incremental check's drifts, after asserting they are the full audit's."""
    _checkpoint, found = ledger_check(mode=INCREMENTAL, at=at)
    full = ledger_drifts(at=at)
    assert sorted(map(str, found)) == sorted(map(str, full))
    return [str(drift) for drift in found]


def totals_are_the_ledgers(checkpoint):
    """The totals a checkpoint left equal the sums of the rows up to its ids."""
    by_account = dict(sql("SELECT account_id, sum(amount) FROM credits_ledgerentry "
                          "WHERE id <= %s GROUP BY account_id", [checkpoint.entry_id]))
    by_lot = dict(sql("SELECT lot_id, sum(amount) FROM credits_lotdrain WHERE id <= %s "
                      "GROUP BY lot_id", [checkpoint.drain_id]))
    assert dict(LedgerCheckAccount.objects.values_list("account_id", "total")) == by_account
    assert dict(LedgerCheckLot.objects.values_list("lot_id", "drained")) == by_lot


# --- the checkpoint ----------------------------------------------------------------------------

def test_an_incremental_check_reads_only_what_was_appended_since_the_last_check():
    history(T0, 3)
    first, _ = ledger_check(mode=INCREMENTAL, at=T0 + 3 * HOUR)
    assert first.entries_read == LedgerEntry.objects.count()  # nothing to start from
    second = checkpoints(1)
    assert second.entry_id == first.seen_entry_id > 0  # the first check's rows are final now
    totals_are_the_ledgers(second)

    run(T0 + 4 * HOUR)
    appended = LedgerEntry.objects.filter(id__gt=second.seen_entry_id).count()
    third, drifts = ledger_check(mode=INCREMENTAL, at=T0 + 4 * HOUR)

    assert drifts == []
    assert 0 < appended == third.entries_read < LedgerEntry.objects.count() / 2
    totals_are_the_ledgers(third)
    assert (third.transfers_sent, third.transfers_received, third.transfers_out,
            third.transfers_in) == (-7, 7, 1, 1)


def test_totals_stay_exact_over_many_runs_and_a_full_audit_makes_them_again():
    history(T0, 2)
    for hour in range(3, 9):
        run(T0 + hour * HOUR)
        checkpoint, drifts = ledger_check(mode=INCREMENTAL, at=T0 + hour * HOUR)
        assert drifts == []
        totals_are_the_ledgers(checkpoint)
    LedgerCheckAccount.objects.update(total=0)  # spoilt: only the full audit does not use them

    audit, drifts = ledger_check(mode=FULL, at=T0 + 8 * HOUR)

    assert drifts == []
    totals_are_the_ledgers(audit)
    assert ledger_check(mode=INCREMENTAL, at=T0 + 8 * HOUR)[1] == []


def test_a_row_committed_after_a_higher_id_is_added_once_it_is_committed():
    """A transaction that drew an entry id, then committed after a check saw a higher one: the
    totals must not skip it (a later check would report a drift) nor count it twice."""
    history(T0, 1)
    checkpoints()
    drawn, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_grant():
        try:
            with transaction.atomic():
                grant_create(address=THIRD_ADDRESS, amount=41, expires_at=None,
                             reference="slow", actor="t", at=T0)
                drawn.set()
                release.wait(30)
        finally:
            connections.close_all()
            done.set()

    worker = threading.Thread(target=slow_grant)
    worker.start()
    assert drawn.wait(30)
    grant(ADDRESS, 5, T0 + HOUR, reference="fast")  # a higher id, committed first
    for _ in range(3):  # the slow one is still running: the totals must wait for it
        checkpoint, drifts = ledger_check(mode=INCREMENTAL, at=T0 + HOUR)
        assert drifts == []
        assert checkpoint.entry_id < LedgerEntry.objects.get(reference="fast").pk
    release.set()
    assert done.wait(30)
    worker.join()

    for _ in range(3):
        checkpoint, drifts = ledger_check(mode=INCREMENTAL, at=T0 + HOUR)
        assert drifts == []
    assert checkpoint.entry_id >= LedgerEntry.objects.get(reference="fast").pk
    totals_are_the_ledgers(checkpoint)


def test_a_second_check_while_one_runs_is_refused():
    history(T0, 1)
    held, release = threading.Event(), threading.Event()

    def hold_the_lock():
        try:
            with transaction.atomic():
                from credits.locks import ledger_check_lock_try
                assert ledger_check_lock_try()
                held.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert held.wait(30)
        with pytest.raises(LedgerCheckBusy):
            ledger_check(mode=INCREMENTAL)
        with pytest.raises(CommandError, match="Another ledger check is running"):
            call_command("check_ledger", "--incremental", stdout=StringIO(),
                         stderr=StringIO())
    finally:
        release.set()
        holder.join()
    assert not LedgerCheckpoint.objects.exists()


# --- every kind of drift, planted after a checkpoint -------------------------------------------

def new_expense(amount=2, reference="x"):
    return expense_create(address=ADDRESS, amount=amount, reference=reference, actor="t",
                          at=T0 + 3 * HOUR).entry


def plant_lot_credited_behind_the_ledgers_back():
    lot = Lot.objects.filter(account__address=ADDRESS, remaining__gt=0).order_by("pk").first()
    sql("UPDATE credits_lot SET remaining = remaining + 5 WHERE id = %s", [lot.pk])
    return [f"lot {lot.pk}: drained", f"{ADDRESS}: balance at"]


def plant_drain_without_its_lot():
    entry = new_expense()
    lot = Lot.objects.filter(account__address=ADDRESS, remaining__gt=0).order_by("pk").first()
    sql("INSERT INTO credits_lotdrain (entry_id, lot_id, amount) VALUES (%s, %s, 1)",
        [entry.pk, lot.pk])
    return [f"lot {lot.pk}: drained", f"expense entry {entry.pk}: pieces drained vs amount"]


def plant_lot_of_another_account():
    entry = grant_create(address=ADDRESS, amount=9, expires_at=None, reference="crossed",
                         actor="t", at=T0).entry
    sql("UPDATE credits_lot SET account_id = (SELECT id FROM credits_account WHERE address = %s)"
        " WHERE entry_id = %s", [OTHER_ADDRESS, entry.pk])
    lot = Lot.objects.get(entry=entry)
    return [f"lot {lot.pk} belongs to another account than its entry"]


def plant_lot_larger_than_its_grant():
    entry = grant_create(address=ADDRESS, amount=9, expires_at=None, reference="bigger",
                         actor="t", at=T0).entry
    sql("UPDATE credits_lot SET amount = amount + 7, remaining = remaining + 7 "
        "WHERE entry_id = %s", [entry.pk])
    return [f"grant entry {entry.pk}: lots opened vs amount: expected 9, found 16"]


def plant_drain_from_another_accounts_lot():
    entry = new_expense()
    lot = Lot.objects.filter(account__address=OTHER_ADDRESS).order_by("pk").first()
    (drain,), = sql("INSERT INTO credits_lotdrain (entry_id, lot_id, amount) VALUES (%s, %s, 1) "
                    "RETURNING id", [entry.pk, lot.pk])
    return [f"drain {drain} of entry {entry.pk} takes from another account's lot {lot.pk}"]


def plant_transfer_received_wrong():
    transfer_create(sender_address=ADDRESS, recipient_address=OTHER_ADDRESS, amount=4,
                    expires_at=None, reference="t-wrong", actor="t", at=T0 + 3 * HOUR)
    received = LedgerEntry.objects.get(kind="transfer_in", idempotency_key__contains="t-wrong")
    behind_the_triggers_back("UPDATE credits_ledgerentry SET amount = amount + 1 "
                             "WHERE id = %s", [received.pk])
    return ["transfer 't-wrong': credited to the recipient vs sent: expected 4, found 5",
            "all transfers: received vs sent"]


def plant_transfer_without_its_other_side():
    transfer_create(sender_address=ADDRESS, recipient_address=OTHER_ADDRESS, amount=4,
                    expires_at=None, reference="t-half", actor="t", at=T0 + 3 * HOUR)
    received = LedgerEntry.objects.get(kind="transfer_in", idempotency_key__contains="t-half")
    behind_the_triggers_back("DELETE FROM credits_lot WHERE entry_id = %s; "
                             "DELETE FROM credits_ledgerentry WHERE id = %s",
                             [received.pk, received.pk])
    return ["transfer entries: ins vs outs: expected 2, found 1",
            "transfer 't-half': credited to the recipient vs sent: expected 4, found 0"]


def metering_entry_of_the_last_run():
    run(T0 + 3 * HOUR)
    return LedgerEntry.objects.filter(reason="metering").order_by("-pk").first()


def plant_charge_of_a_run_that_does_not_exist():
    entry = metering_entry_of_the_last_run()
    charge = Charge.objects.filter(entry=entry).first()
    behind_the_triggers_back("UPDATE credits_charge SET run_id = 999999 WHERE hour = %s AND "
                             "resource_id = %s", [charge.hour, charge.resource_id])
    return [f"charge of resource {charge.resource_id} hour {charge.hour_index}: its run does "
            f"not exist"]


def plant_charge_missing_from_its_metering_entry():
    entry = metering_entry_of_the_last_run()
    charge = Charge.objects.filter(entry=entry).first()
    behind_the_triggers_back("DELETE FROM credits_charge WHERE hour = %s AND resource_id = %s",
                             [charge.hour, charge.resource_id])
    return [f"metering entry {entry.pk}: its charges (drained, requested)"]


PLANTS = [plant_lot_credited_behind_the_ledgers_back, plant_drain_without_its_lot,
          plant_lot_of_another_account, plant_lot_larger_than_its_grant,
          plant_drain_from_another_accounts_lot, plant_transfer_received_wrong,
          plant_transfer_without_its_other_side, plant_charge_of_a_run_that_does_not_exist,
          plant_charge_missing_from_its_metering_entry]


@pytest.mark.parametrize("plant", PLANTS, ids=[plant.__name__[6:] for plant in PLANTS])
def test_a_drift_planted_after_a_checkpoint_is_found_as_by_the_full_audit(plant):
    history(T0, 2)
    checkpoints()
    expected = plant()

    found = same_drifts(T0 + 3 * HOUR)

    for part in expected:
        assert any(part in drift for drift in found), (part, found)


def test_a_drift_is_reported_again_until_it_is_mended():
    history(T0, 2)
    checkpoints()
    expected = plant_lot_credited_behind_the_ledgers_back()
    for _ in range(3):
        found = same_drifts(T0 + 3 * HOUR)
        assert all(any(part in drift for drift in found) for part in expected)
    sql("UPDATE credits_lot SET remaining = remaining - 5 WHERE id = "
        "(SELECT min(id) FROM credits_lot WHERE remaining > 0 AND account_id = "
        "(SELECT id FROM credits_account WHERE address = %s))", [ADDRESS])
    assert same_drifts(T0 + 3 * HOUR) == []


def test_an_old_entry_changed_behind_the_triggers_is_found_by_the_full_audit_only():
    """What the incremental check takes on trust: the rows before its checkpoint, which the
    append-only triggers guard. The weekly full audit finds a change made with them off."""
    history(T0, 2)
    checkpoints()
    old = LedgerEntry.objects.filter(kind="expense", reason="").order_by("pk").first()
    behind_the_triggers_back("UPDATE credits_ledgerentry SET amount = amount - 1, "
                             "amount_requested = amount_requested + 1 WHERE id = %s", [old.pk])

    assert ledger_check(mode=INCREMENTAL, at=T0 + 3 * HOUR)[1] == []
    audit = [str(drift) for drift in ledger_check(mode=FULL, at=T0 + 3 * HOUR)[1]]
    assert any(f"expense entry {old.pk}: pieces drained" in drift for drift in audit)


# --- the command and the periodic tasks --------------------------------------------------------

def test_check_ledger_incremental_reports_drifts_and_records_the_check():
    history(T0, 2)
    checkpoints()
    out = StringIO()
    call_command("check_ledger", "--incremental", stdout=out, stderr=StringIO())
    assert "incremental" in out.getvalue()
    assert "Ledger OK" in out.getvalue()
    expected = plant_lot_larger_than_its_grant()
    count = len(ledger_drifts())  # the entry, and its account's balance

    err = StringIO()
    with pytest.raises(CommandError, match=rf"{count} ledger drift\(s\)"):
        call_command("check_ledger", "--incremental", stdout=StringIO(), stderr=err)

    assert expected[0] in err.getvalue()
    latest = LedgerCheckpoint.objects.latest()
    assert (latest.mode, latest.drift_count) == (INCREMENTAL, count)
    assert expected[0] in latest.drifts


def test_the_task_returns_the_drifts_found():
    history(T0, 2)
    assert ledger_check_task.apply(kwargs={"mode": "full"}).get() == 0
    plant_lot_larger_than_its_grant()
    assert ledger_check_task.apply().get() == len(ledger_drifts()) == 2
    assert LedgerCheckpoint.objects.latest().mode == INCREMENTAL


def test_the_periodic_tasks_are_made_once_and_left_as_operators_set_them():
    migration = importlib.import_module("credits.migrations.0014_ledger_checkpoint")
    PeriodicTask.objects.filter(name__in=("ledger check", "ledger audit")).delete()
    migration.create_periodic_tasks(django_apps, None)
    PeriodicTask.objects.filter(name="ledger audit").update(enabled=False)
    migration.create_periodic_tasks(django_apps, None)  # again: idempotent

    check = PeriodicTask.objects.get(name="ledger check")
    audit = PeriodicTask.objects.get(name="ledger audit")
    assert (check.task, check.kwargs, check.enabled) == (
        "credits.tasks.ledger_check_task", '{"mode": "incremental"}', True)
    assert (check.crontab.minute, check.crontab.hour) == ("30", "*")
    assert (audit.kwargs, audit.enabled, audit.crontab.day_of_week) == ('{"mode": "full"}',
                                                                        False, "0")
    migration.delete_periodic_tasks(django_apps, None)
    assert not PeriodicTask.objects.filter(name__in=("ledger check", "ledger audit")).exists()


def test_a_check_at_an_instant_counts_credits_past_expiry_as_pending():
    history(T0, 1)
    checkpoints()
    later = T0 + 31 * 24 * HOUR + timedelta(minutes=1)  # OTHER's grant expired, not written off
    assert same_drifts(later) == []


def test_the_admin_lists_the_checks_and_shows_a_checks_drifts(admin_client):
    history(T0, 1)
    clean, _ = ledger_check(mode=FULL, at=T0 + HOUR)
    expected = plant_lot_larger_than_its_grant()
    drifted, drifts = ledger_check(mode=INCREMENTAL, at=T0 + HOUR)

    listing = admin_client.get(reverse("admin:credits_ledgercheckpoint_changelist"))
    page = admin_client.get(reverse("admin:credits_ledgercheckpoint_change",
                                    args=[drifted.pk]))

    assert listing.status_code == page.status_code == 200
    listed = listing.content.decode()
    assert "✔ none" in listed and f"✖ {len(drifts)}" in listed
    assert expected[0] in page.content.decode()
    assert admin_client.post(reverse("admin:credits_ledgercheckpoint_delete",
                                     args=[clean.pk])).status_code == 403


# --- partitions made by shards starting together ------------------------------------------------

def test_a_month_made_by_another_shard_meanwhile_is_not_made_again():
    """Two shards of a run ensure the same months at once: the second waits for the first's
    lock, then finds the month made (creating it too deadlocked on the parent table)."""
    from datetime import date

    from credits.locks import charge_partitions_lock
    from credits.partitions import charge_partitions, charge_partitions_ensure, partition_name

    month = date(2031, 7, 1)
    held, made, done = threading.Event(), [], threading.Event()

    def other_shard():
        try:
            with transaction.atomic():
                charge_partitions_lock()
                held.set()
                made.extend(charge_partitions_ensure([month]))  # nested: same lock, same txn
                time.sleep(0.5)  # the first shard waits meanwhile
        finally:
            connections.close_all()
            done.set()

    worker = threading.Thread(target=other_shard)
    worker.start()
    assert held.wait(30)
    started = time.monotonic()
    assert charge_partitions_ensure([month]) == []
    waited = time.monotonic() - started
    assert done.wait(30)
    worker.join()

    assert made == [month]
    assert waited >= 0.4  # it waited for the other's lock instead of racing it
    assert month in charge_partitions()
    assert sql("SELECT to_regclass(%s) IS NOT NULL", [partition_name(month)]) == [(True,)]
