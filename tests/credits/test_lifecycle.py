"""The lifecycle run: metering, fund-or-flag, grace, restore, removal — time is moved, never
waited for (every service takes the instant it acts at)."""
from datetime import timedelta

import pytest
from django.core.management import call_command

from credits.models import (
    Charge,
    LedgerEntry,
    LifecycleRun,
    LifecycleRunStatus,
    Resource,
    ResourceStatus,
    ResourceStatusChange,
)
from credits.selectors.ledger import account_balance, ledger_drifts
from credits.selectors.resources import resources_charged_hours
from credits.services.ledger import expense_create, grant_create
from credits.services.lifecycle import LifecycleRefused, lifecycle_run
from credits.services.resources import resource_forget, resource_register
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0
from tests.credits.lifecycle_faults import batches_hooked
from tests.pricing.contents import instance_content

HOUR = timedelta(hours=1)
# PRICING.md E1 paid by credit: 3.958333333333333333 credits/s.
E1_PER_HOUR = 14250  # 3.958333333333333333 × 3600 = 14249.9999999999999988, rounded half-up
E1_PER_DAY = 342000  # one day is 341999.99999999999997…, so 342000 credits fund it


@pytest.fixture(autouse=True)
def _time_travel_allowed(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True


def grant(address, amount, at, expires_at=None, reference=None):
    return grant_create(address=address, amount=amount, expires_at=expires_at,
                        reference=reference or f"grant-{address}-{at.isoformat()}-{amount}",
                        actor="test", at=at)


_counter = iter(range(1, 10**9))


def register(at, address=ADDRESS, **overrides):
    content = instance_content(payment="credit", **overrides)
    content["address"] = address
    item_hash = f"{next(_counter):064x}"
    return resource_register(item_hash=item_hash, message_type="INSTANCE", content=content,
                             actor="test", at=at).resource


def run(at, **kwargs):
    return lifecycle_run(at=at, **kwargs)


def status_of(resource):
    resource.refresh_from_db()
    return resource.status


def test_a_resource_unfunded_at_t_is_restored_when_topped_up_before_the_deadline(db):
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)
    # after one hour it was charged 14250 and no longer has one day ahead of it
    flagged_run = run(T0 + HOUR)
    assert status_of(vm) == ResourceStatus.REMOVING
    assert flagged_run.flagged == 1
    assert vm.delete_after == T0 + HOUR + timedelta(hours=24)
    assert vm.removal_reason == "credit_insufficient"

    grant(ADDRESS, 10 * E1_PER_DAY, T0 + HOUR + timedelta(hours=23, minutes=59))
    restored_run = run(T0 + HOUR + timedelta(hours=23, minutes=59, seconds=30))

    assert status_of(vm) == ResourceStatus.PROCESSED
    assert restored_run.restored == 1
    assert vm.delete_after is None and vm.removing_since is None
    run(T0 + HOUR + timedelta(hours=48))
    assert status_of(vm) == ResourceStatus.PROCESSED
    assert list(vm.status_changes.order_by("at", "id").values_list("from_status", "to_status")) \
        == [("", "processed"), ("processed", "removing"), ("removing", "processed")]


def test_a_resource_not_topped_up_is_removed_by_the_first_run_after_the_grace(db):
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)
    run(T0 + HOUR)
    deadline = T0 + HOUR + timedelta(hours=24)

    run(deadline - timedelta(seconds=1))
    assert status_of(vm) == ResourceStatus.REMOVING

    removal = run(deadline + timedelta(minutes=5))
    assert status_of(vm) == ResourceStatus.REMOVED
    assert removal.removed == 1
    assert vm.ended_at == deadline

    # removed is final: a top-up and more runs never bring it back
    grant(ADDRESS, 100 * E1_PER_DAY, deadline + timedelta(hours=1))
    run(deadline + timedelta(hours=2))
    assert status_of(vm) == ResourceStatus.REMOVED


def test_a_top_up_after_the_deadline_does_not_save_the_resource(db):
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)
    run(T0 + HOUR)
    grant(ADDRESS, 100 * E1_PER_DAY, T0 + HOUR + timedelta(hours=24, minutes=1))

    run(T0 + HOUR + timedelta(hours=24, minutes=2))

    assert status_of(vm) == ResourceStatus.REMOVED


def test_an_account_whose_credits_only_expire_is_flagged_by_the_next_run(db):
    grant(ADDRESS, 100 * E1_PER_DAY, T0, expires_at=T0 + timedelta(hours=5))
    vm = register(T0)
    run(T0 + 4 * HOUR)
    assert status_of(vm) == ResourceStatus.PROCESSED
    entries_before = LedgerEntry.objects.filter(kind="grant").count()

    run(T0 + 5 * HOUR)  # no new grant, no new expense: the lot simply expired

    assert status_of(vm) == ResourceStatus.REMOVING
    assert LedgerEntry.objects.filter(kind="grant").count() == entries_before


def test_the_oldest_resources_are_funded_first_and_exactly_the_unfunded_tail_is_flagged(db):
    # given four VMs, then credits for one day of exactly two of them after the first hour
    grant(ADDRESS, 4 * E1_PER_DAY, T0)
    vms = [register(T0 + timedelta(seconds=i)) for i in range(4)]
    expense_create(address=ADDRESS, amount=2 * E1_PER_DAY - 4 * E1_PER_HOUR, reference="spent",
                   actor="test", at=T0 + timedelta(seconds=5))

    run(T0 + HOUR + timedelta(seconds=10))

    assert [status_of(vm) for vm in vms] == [ResourceStatus.PROCESSED, ResourceStatus.PROCESSED,
                                             ResourceStatus.REMOVING, ResourceStatus.REMOVING]


def test_each_resource_hour_is_charged_once_when_the_run_is_late_early_or_repeated(db):
    grant(ADDRESS, 100 * E1_PER_DAY, T0)
    vm = register(T0)
    balance0 = account_balance(account=vm.owner, at=T0)

    run(T0 + timedelta(minutes=59))  # early: no whole hour yet
    assert Charge.objects.filter(resource=vm).count() == 0
    run(T0 + 5 * HOUR + timedelta(minutes=30))  # late: catches up five hours
    run(T0 + 5 * HOUR + timedelta(minutes=31))  # twice: nothing new

    charges = Charge.objects.filter(resource=vm).order_by("hour_index")
    assert [c.hour_index for c in charges] == [0, 1, 2, 3, 4]
    assert {c.amount_requested for c in charges} == {E1_PER_HOUR}
    assert {c.amount_drained for c in charges} == {E1_PER_HOUR}
    assert account_balance(account=vm.owner, at=T0 + 6 * HOUR) == balance0 - 5 * E1_PER_HOUR
    assert resources_charged_hours([vm.pk]) == {vm.pk: 5}
    assert ledger_drifts() == []


def test_a_removing_resource_is_charged_until_its_deadline_and_not_after(db):
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)
    run(T0 + HOUR)  # charged hour 0, flagged; deadline T0 + 25 h
    grant(ADDRESS, 30 * E1_PER_HOUR // 2, T0 + 2 * HOUR)  # some credit, not a day

    run(T0 + 30 * HOUR)

    vm.refresh_from_db()
    assert vm.status == ResourceStatus.REMOVED
    # hours 0..24 end by the deadline (created + 25 h); none after it
    assert Charge.objects.filter(resource=vm).count() == 25
    assert Charge.objects.filter(resource=vm, hour_index__gte=25).count() == 0


def test_charges_stop_when_a_resource_is_forgotten(db):
    grant(ADDRESS, 100 * E1_PER_DAY, T0)
    vm = register(T0)
    run(T0 + 2 * HOUR)
    resource_forget(item_hash=vm.item_hash, actor="test", at=T0 + 2 * HOUR + timedelta(minutes=5))

    run(T0 + 10 * HOUR)

    assert Charge.objects.filter(resource=vm).count() == 2


def test_a_shortfall_is_recorded_on_the_expense_and_the_newest_hours(db):
    # given one day of credit at registration, then all but one hour and 200 spent elsewhere
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)
    expense_create(address=ADDRESS, amount=E1_PER_DAY - E1_PER_HOUR - 200, reference="outside",
                   actor="test", at=T0 + timedelta(minutes=1))

    run(T0 + 2 * HOUR)

    charges = list(Charge.objects.filter(resource=vm).order_by("hour_index"))
    assert [(c.amount_requested, c.amount_drained) for c in charges] == [
        (E1_PER_HOUR, E1_PER_HOUR), (E1_PER_HOUR, 200)]
    entry = charges[0].entry
    assert (entry.amount_requested, -entry.amount, entry.shortfall) == (
        2 * E1_PER_HOUR, E1_PER_HOUR + 200, E1_PER_HOUR - 200)
    assert ledger_drifts() == []


def test_a_second_run_right_after_changes_nothing(db):
    grant(ADDRESS, E1_PER_DAY, T0)
    grant(OTHER_ADDRESS, 10 * E1_PER_DAY, T0)
    register(T0)
    register(T0, address=OTHER_ADDRESS)
    run(T0 + 3 * HOUR)
    snapshot = (list(Resource.objects.values_list("id", "status", "delete_after").order_by("id")),
                resources_charged_hours(Resource.objects.values_list("pk", flat=True)),
                LedgerEntry.objects.count(), Charge.objects.count(),
                ResourceStatusChange.objects.count())

    second = run(T0 + 3 * HOUR + timedelta(seconds=1))

    assert (second.charges, second.flagged, second.restored, second.removed) == (0, 0, 0, 0)
    assert snapshot == (list(Resource.objects.values_list("id", "status", "delete_after")
                             .order_by("id")),
                        resources_charged_hours(Resource.objects.values_list("pk", flat=True)),
                        LedgerEntry.objects.count(), Charge.objects.count(),
                        ResourceStatusChange.objects.count())


def test_a_dry_run_reports_what_would_change_and_changes_nothing(db):
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)
    entries = LedgerEntry.objects.count()

    forecast = run(T0 + 26 * HOUR, dry_run=True)

    assert forecast.dry_run and forecast.charges == 26 and forecast.flagged == 1
    assert status_of(vm) == ResourceStatus.PROCESSED
    assert LedgerEntry.objects.count() == entries
    assert Charge.objects.count() == 0


def test_acting_at_another_instant_is_refused_unless_time_travel_is_allowed(db, settings):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = False
    with pytest.raises(LifecycleRefused):
        run(T0)
    assert run(T0, dry_run=True).dry_run  # a forecast is fine


def test_a_batch_that_fails_is_rolled_back_whole_and_the_next_run_completes_it(db):
    for address in (ADDRESS, OTHER_ADDRESS):
        grant(address, E1_PER_DAY, T0)
        register(T0, address=address)

    def crash_second_batch(index):
        if index == 1:
            raise RuntimeError("injected")

    with batches_hooked(crash_second_batch):
        failed = run(T0 + HOUR, batch_size=1)

    assert failed.status == LifecycleRunStatus.FAILED and failed.errors == 1
    assert "injected" in failed.error_messages
    assert Charge.objects.count() == 1  # the first batch fully, the second not at all
    assert Resource.objects.filter(status=ResourceStatus.REMOVING).count() == 1

    done = run(T0 + HOUR + timedelta(minutes=1), batch_size=1)

    assert done.status == LifecycleRunStatus.SUCCEEDED
    assert Charge.objects.count() == 2
    assert Resource.objects.filter(status=ResourceStatus.REMOVING).count() == 2
    assert ledger_drifts() == []


def test_each_run_is_recorded_with_its_counts(db):
    grant(ADDRESS, E1_PER_DAY, T0)
    register(T0)

    recorded = run(T0 + 2 * HOUR)

    stored = LifecycleRun.objects.get(pk=recorded.pk)
    assert (stored.accounts, stored.resources, stored.charges, stored.credits_charged,
            stored.flagged) == (1, 1, 2, 2 * E1_PER_HOUR, 1)
    assert stored.finished_at >= stored.started_at
    assert stored.status == LifecycleRunStatus.SUCCEEDED


def test_check_ledger_is_clean_after_runs(db, capsys):
    grant(ADDRESS, E1_PER_DAY, T0, expires_at=T0 + 10 * HOUR)
    grant(ADDRESS, E1_PER_DAY, T0, reference="second")
    register(T0)
    run(T0 + 12 * HOUR)

    call_command("check_ledger")

    assert "OK" in capsys.readouterr().out.upper()


@pytest.mark.django_db(transaction=True)
def test_temporary_table_memory_is_raised_before_the_first_temporary_table_or_left_alone():
    """The run gives its temporary tables more memory in a fresh session; in a session that
    already had one, PostgreSQL refuses the change and the run goes on with what it has."""
    from django.db import connection

    from credits.services.lifecycle import run as run_module

    connection.close()  # a fresh session: no temporary table yet
    run_module._temp_buffers_raise()
    with connection.cursor() as cursor:
        cursor.execute("SHOW temp_buffers")
        assert cursor.fetchone()[0] == run_module._TEMP_BUFFERS
    connection.close()
    with connection.cursor() as cursor:
        # Its first row takes the local buffers: 8 MB from here on.
        cursor.execute("CREATE TEMPORARY TABLE scratch AS SELECT 1 AS id")
    run_module._temp_buffers_raise()  # refused, rolled back, not raised
    with connection.cursor() as cursor:
        cursor.execute("SHOW temp_buffers")
        assert cursor.fetchone()[0] == "8MB"
        cursor.execute("SELECT count(*) FROM scratch")  # the session still works
        assert cursor.fetchone()[0] == 1
