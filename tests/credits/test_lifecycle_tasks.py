"""The lifecycle on Celery: the periodic task, its data migration, and sharded runs (a group of
shard tasks over account-hash ranges) that reach the state of one unsharded run.

Tasks run eagerly (in this process); the end-to-end test with a real worker and beat is
tests/e2e/test_celery_beat.py. Time is moved with time-machine, never waited for.
"""
import importlib
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.apps import apps as django_apps
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from credits.models import (
    Account,
    Charge,
    LedgerEntry,
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleTrigger,
    Lot,
    LotDrain,
    Resource,
    ResourceStatus,
    ResourceStatusChange,
)
from credits.selectors.ledger import ledger_drifts
from credits.services.ledger import expense_create, grant_create
from credits.services.lifecycle import Shard, account_shard, lifecycle_run
from credits.services.lifecycle_shards import lifecycle_run_summarise
from credits.services.resources import resource_register
from credits.services.token_balances import token_balance_set
from credits.tasks import lifecycle_run_now_task, lifecycle_run_task, lifecycle_shard_task
from credits_project.celery import app as celery_app
from tests.credits.conftest import T0
from tests.pricing.contents import instance_content

HOUR = timedelta(hours=1)
E1_PER_HOUR = 14250  # worked example E1 paid by credit, one hour (see test_lifecycle.py)
E1_PER_DAY = 342000
HOLD_PLENTY = Decimal(10**9)
# The accounts register one second apart: each run is late enough to charge every whole hour.
LATE = timedelta(minutes=5)
RUN_TIMES = (T0 + HOUR + LATE, T0 + 4 * HOUR + LATE, T0 + 27 * HOUR + LATE)
migration = importlib.import_module("credits.migrations.0004_lifecycle_periodic_task")



@pytest.fixture(autouse=True)
def _time_travel_allowed(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True


# --- a mixed data set: 30 accounts, credit and hold resources, funded and not ---------------

def address_of(number: int) -> str:
    return f"0x{0xC0FFEE00 + number:040x}"


def register(at, address, *, payment="credit", tag=""):
    content = instance_content(payment=payment)
    content["address"] = address
    item_hash = f"{int(address, 16):040x}{tag:>24}".replace(" ", "0")
    return resource_register(item_hash=item_hash, message_type="INSTANCE", content=content,
                             actor="test", at=at).resource


def grant(address, amount, at, *, expires_at=None, reference):
    grant_create(address=address, amount=amount, expires_at=expires_at, reference=reference,
                 actor="test", at=at)


def build_mixed_accounts(count: int = 30) -> None:
    """Six kinds of account, in turn: (0) rich, two VMs; (1) one day for one VM, so flagged by
    the first run; (2) two VMs and credits for one and a half days of one, so exactly the newer
    is flagged; (3) credits that expire after 3 h; (4) a funded hold VM beside a funded credit
    VM; (5) a hold VM whose token balance drops to zero."""
    for number in range(count):
        address, kind, at = address_of(number), number % 6, T0 + timedelta(seconds=number)
        if kind == 0:
            grant(address, 10 * E1_PER_DAY, at, reference=f"rich-{number}")
            register(at, address, tag="a")
            register(at + timedelta(milliseconds=1), address, tag="b")
        elif kind == 1:
            grant(address, E1_PER_DAY, at, reference=f"one-day-{number}")
            register(at, address, tag="a")
        elif kind == 2:
            grant(address, 3 * E1_PER_DAY, at, reference=f"two-vms-{number}")
            register(at, address, tag="a")
            register(at + timedelta(milliseconds=1), address, tag="b")
            expense_create(address=address, amount=3 * E1_PER_DAY // 2, actor="test",
                           reference=f"spent-{number}", at=at + timedelta(minutes=1))
        elif kind == 3:
            grant(address, 10 * E1_PER_DAY, at, expires_at=T0 + 3 * HOUR,
                  reference=f"expiring-{number}")
            register(at, address, tag="a")
        elif kind == 4:
            token_balance_set(address=address, chain="ETH", balance=HOLD_PLENTY, height=1,
                              actor="test")
            grant(address, 5 * E1_PER_DAY, at, reference=f"hold-and-credit-{number}")
            register(at, address, payment="hold", tag="d")
            register(at + timedelta(milliseconds=1), address, tag="a")
        else:
            token_balance_set(address=address, chain="ETH", balance=HOLD_PLENTY, height=1,
                              actor="test")
            register(at, address, payment="hold", tag="d")
            token_balance_set(address=address, chain="ETH", balance=Decimal(0), height=2,
                              actor="test")


def top_up_some(count: int = 30) -> None:
    """Between the first and second runs: half the flagged one-day accounts get five days of
    credit, half the emptied hold accounts get their tokens back."""
    at = T0 + 2 * HOUR
    for number in range(count):
        address = address_of(number)
        if number % 12 == 1:
            grant(address, 5 * E1_PER_DAY, at, reference=f"top-up-{number}")
        elif number % 12 == 11:
            token_balance_set(address=address, chain="ETH", balance=HOLD_PLENTY, height=3,
                              actor="test")


def lifecycle_state() -> dict:
    """Everything a run changes, without the ids and references that name the run itself."""
    return {
        "resources": sorted(Resource.objects.values_list(
            "item_hash", "status", "removal_reason", "removing_since", "delete_after",
            "meter__charged_hours", "ended_at")),
        "charges": sorted(Charge.objects.values_list(
            "resource__item_hash", "hour_index", "amount_requested", "amount_drained")),
        "entries": sorted(LedgerEntry.objects.values_list(
            "account__address", "kind", "amount", "amount_requested", "shortfall",
            "effective_at")),
        "lots": sorted(Lot.objects.values_list("entry__idempotency_key", "remaining")),
        "drains": sorted(LotDrain.objects.values_list(
            "lot__entry__idempotency_key", "entry__kind", "entry__effective_at", "amount")),
        "audit": sorted(ResourceStatusChange.objects.values_list(
            "resource__item_hash", "from_status", "to_status", "reason", "at")),
    }


def outcome_of(run_at) -> dict:
    """Three runs with top-ups between them, `run_at(instant)` doing each run; the state they
    reach, then rolled back so the same data set can be run again another way."""
    with transaction.atomic():
        run_at(RUN_TIMES[0])
        top_up_some()
        run_at(RUN_TIMES[1])
        run_at(RUN_TIMES[2])
        state = lifecycle_state()
        state["drifts"] = ledger_drifts(at=RUN_TIMES[2])
        transaction.set_rollback(True)
    return state


def service_run(instant):
    lifecycle_run(at=instant)


@pytest.fixture
def task_run(settings, celery_eager, django_capture_on_commit_callbacks):
    """`task_run(instant, shards)`: the periodic task at that instant (the clock moved there),
    with LIFECYCLE_SHARDS = shards; the shard tasks are sent when the parent is committed."""
    def run_at(instant, shards=1):
        settings.LIFECYCLE_SHARDS = shards
        with time_machine.travel(instant, tick=False), \
                django_capture_on_commit_callbacks(execute=True):
            run_id = lifecycle_run_task.delay().get()
        return LifecycleRun.objects.get(pk=run_id)
    return run_at


# --- the tasks ------------------------------------------------------------------------------

def test_the_tasks_are_registered_under_the_names_beat_and_the_admin_use(db):
    assert {"credits.tasks.lifecycle_run_task", "credits.tasks.lifecycle_run_now_task",
            "credits.tasks.lifecycle_shard_task"} <= set(celery_app.tasks)


def test_the_eager_setting_reaches_the_celery_app(celery_eager):
    assert celery_app.conf.task_always_eager and celery_app.conf.task_eager_propagates
    assert lifecycle_run_task.delay().__class__.__name__ == "EagerResult"


def test_the_periodic_task_reaches_the_state_of_calling_the_service(db, task_run):
    # given
    build_mixed_accounts(12)

    # when
    by_task = outcome_of(task_run)
    by_service = outcome_of(service_run)

    # then
    assert by_task == by_service
    assert by_task["drifts"] == []
    assert {status for _, status, *_ in by_task["resources"]} == {
        ResourceStatus.PROCESSED, ResourceStatus.REMOVING, ResourceStatus.REMOVED}


def test_the_periodic_task_records_a_beat_run_with_its_counts(db, task_run):
    build_mixed_accounts(6)

    run = task_run(T0 + HOUR + LATE)

    assert (run.trigger, run.status, run.shard_count, run.parent_id) == (
        LifecycleTrigger.BEAT, LifecycleRunStatus.SUCCEEDED, 1, None)
    assert run.as_of == T0 + HOUR + LATE
    # kinds 1 and 2 flag one credit VM each, kind 5 its hold VM
    assert (run.accounts, run.flagged) == (6, 3)
    assert run.charges == Charge.objects.count() > 0


def test_the_run_now_task_runs_the_lifecycle_with_its_own_trigger(db, celery_eager):
    build_mixed_accounts(2)

    with time_machine.travel(T0 + HOUR + LATE, tick=False):
        run = LifecycleRun.objects.get(pk=lifecycle_run_now_task.delay().get())

    assert (run.trigger, run.status, run.flagged) == (LifecycleTrigger.RUN_NOW,
                                                   LifecycleRunStatus.SUCCEEDED, 1)


# --- sharding -------------------------------------------------------------------------------

def test_a_run_in_three_shards_reaches_the_state_of_one_unsharded_run(db, task_run):
    # given 30 accounts of six kinds, spread over the three shards
    build_mixed_accounts(30)
    owners = Account.objects.filter(resources__isnull=False).distinct().values_list("pk",
                                                                                    flat=True)
    assert sorted(Counter(account_shard(pk, 3) for pk in owners)) == [0, 1, 2]

    # when the same three runs are made once by groups of three shard tasks, once unsharded
    sharded = outcome_of(lambda instant: task_run(instant, shards=3))
    unsharded = outcome_of(lambda instant: task_run(instant, shards=1))

    # then statuses, deadlines, charges, ledger entries, lots, drains and audit rows agree
    assert sharded == unsharded
    assert sharded["drifts"] == []
    moves = Counter((source, target) for _, source, target, *_ in sharded["audit"])
    assert moves[("processed", "removing")] and moves[("removing", "processed")] \
        and moves[("removing", "removed")]
    assert any(reason == "balance_insufficient" for _, _, reason, *_ in sharded["resources"])


def test_each_account_is_handled_by_exactly_one_shard_and_the_parent_adds_them_up(db,
                                                                                  task_run):
    # given
    build_mixed_accounts(30)
    single = lifecycle_run(at=T0 + HOUR + LATE, dry_run=True)  # what one run would do

    # when
    parent = task_run(T0 + HOUR + LATE, shards=3)

    # then one shard task per index, each linked to the parent
    shards = list(parent.shards.order_by("shard_index"))
    assert [(shard.shard_index, shard.shard_count, shard.trigger) for shard in shards] == [
        (index, 3, LifecycleTrigger.SHARD) for index in range(3)]
    assert all(shard.accounts > 0 for shard in shards)
    # every account charged by its own shard's run, and by no other
    runs_by_owner = {}
    for owner_id, run_id in Charge.objects.values_list("resource__owner_id", "run_id"):
        runs_by_owner.setdefault(owner_id, set()).add(run_id)
    shard_run_of = {shard.shard_index: shard.pk for shard in shards}
    assert len(runs_by_owner) == single.accounts - 5  # kind 5 (hold only) is never charged
    assert all(runs == {shard_run_of[account_shard(owner_id, 3)]}
               for owner_id, runs in runs_by_owner.items())
    # the parent: the shards' sums, closed by the last shard
    assert (parent.trigger, parent.status, parent.shard_count) == (
        LifecycleTrigger.BEAT, LifecycleRunStatus.SUCCEEDED, 3)
    assert parent.finished_at == max(shard.finished_at for shard in shards)
    for name in ("accounts", "resources", "charges", "credits_charged", "credits_short",
                 "flagged", "restored", "removed", "errors"):
        assert getattr(parent, name) == sum(getattr(shard, name) for shard in shards) \
            == getattr(single, name), name


def test_a_parent_stays_running_until_its_last_shard_has_finished(db):
    build_mixed_accounts(12)
    parent = LifecycleRun.objects.create(as_of=T0 + HOUR + LATE, trigger=LifecycleTrigger.BEAT,
                                         shard_count=3)

    with time_machine.travel(T0 + HOUR + LATE, tick=False):
        for index in (0, 2):
            lifecycle_shard_task.apply(args=(index, 3, parent.pk))
    parent.refresh_from_db()

    assert parent.status == LifecycleRunStatus.RUNNING and parent.finished_at is None
    assert parent.accounts == sum(parent.shards.values_list("accounts", flat=True)) > 0

    with time_machine.travel(T0 + HOUR + LATE, tick=False):
        lifecycle_shard_task.apply(args=(1, 3, parent.pk))
    parent.refresh_from_db()
    assert parent.status == LifecycleRunStatus.SUCCEEDED and parent.finished_at is not None
    assert parent.accounts == 12


def test_a_late_partial_summary_never_reopens_a_closed_parent(db):
    build_mixed_accounts(6)
    parent = LifecycleRun.objects.create(as_of=T0 + HOUR + LATE, trigger=LifecycleTrigger.BEAT,
                                         shard_count=1)
    shard = lifecycle_run(at=T0 + HOUR + LATE, shard=Shard(index=0, count=1),
                          trigger=LifecycleTrigger.SHARD)
    LifecycleRun.objects.filter(pk=shard.pk).update(parent=parent)
    closed = lifecycle_run_summarise(parent_id=parent.pk)
    assert closed.finished_at is not None

    # a summary that (as if it ran earlier) sees no finished shard changes nothing
    LifecycleRun.objects.filter(pk=shard.pk).update(parent=None)
    again = lifecycle_run_summarise(parent_id=parent.pk)

    assert (again.finished_at, again.accounts, again.status) == (
        closed.finished_at, 6, LifecycleRunStatus.SUCCEEDED)


def test_a_shard_that_finds_its_lock_taken_is_skipped_and_the_parent_says_so(db, monkeypatch):
    from credits.services.lifecycle import run as lifecycle_module

    @contextmanager
    def lock_taken(name, *, wait=False):
        yield False
    monkeypatch.setattr(lifecycle_module, "lifecycle_lock", lock_taken)
    parent = LifecycleRun.objects.create(as_of=T0, trigger=LifecycleTrigger.BEAT, shard_count=2)

    for index in range(2):
        lifecycle_shard_task.apply(args=(index, 2, parent.pk))
    parent.refresh_from_db()

    assert parent.status == LifecycleRunStatus.SKIPPED and parent.finished_at is not None
    assert set(parent.shards.values_list("status", flat=True)) == {LifecycleRunStatus.SKIPPED}


def test_a_sharded_run_sends_its_shards_only_once_the_parent_is_committed(
        db, task_run, settings, django_capture_on_commit_callbacks):
    build_mixed_accounts(3)
    settings.LIFECYCLE_SHARDS = 3

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        parent = LifecycleRun.objects.get(pk=lifecycle_run_task.delay().get())

    assert len(callbacks) == 1
    assert parent.status == LifecycleRunStatus.RUNNING and not parent.shards.exists()


# --- the data migration ---------------------------------------------------------------------

def test_the_migration_creates_the_hourly_periodic_task_once_and_removes_it_on_reverse(db):
    PeriodicTask.objects.filter(name=migration.TASK_NAME).delete()

    migration.create_periodic_task(django_apps, None)
    migration.create_periodic_task(django_apps, None)  # again: idempotent

    task = PeriodicTask.objects.get(name="credit lifecycle")
    assert (task.task, task.enabled, task.interval, task.one_off) == (
        "credits.tasks.lifecycle_run_task", True, None, False)
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week, crontab.day_of_month,
            crontab.month_of_year, str(crontab.timezone)) == ("0", "*", "*", "*", "*", "UTC")

    migration.delete_periodic_task(django_apps, None)
    assert not PeriodicTask.objects.filter(name="credit lifecycle").exists()
    assert not CrontabSchedule.objects.filter(pk=crontab.pk).exists()


def test_migrating_again_keeps_an_operators_retimed_or_disabled_task(db):
    PeriodicTask.objects.filter(name=migration.TASK_NAME).delete()
    migration.create_periodic_task(django_apps, None)
    every_six_hours = CrontabSchedule.objects.create(minute="15", hour="*/6", timezone="UTC")
    PeriodicTask.objects.filter(name="credit lifecycle").update(crontab=every_six_hours,
                                                                enabled=False)

    migration.create_periodic_task(django_apps, None)

    task = PeriodicTask.objects.get(name="credit lifecycle")
    assert (task.crontab_id, task.enabled) == (every_six_hours.pk, False)
