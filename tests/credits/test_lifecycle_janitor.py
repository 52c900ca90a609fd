"""Runs whose process died: the next run marks them failed and says why, closes the sharded run
they leave without a live shard, and never touches a live run, however many look at once.

A run is alive while its database session holds the run's own lock, so a row "left running" by
a dead process is one that nobody's lock covers; the killed processes are real (SIGKILL), and
waiting is only ever for another thread or process, never for the clock.
"""
import importlib
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import connection

from credits.locks import lifecycle_lock
from credits.models import (
    Charge,
    Event,
    EventType,
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleTrigger,
)
from credits.services.lifecycle import lifecycle_run, lifecycle_runs_fail_dead
from credits.services.lifecycle_shards import (
    lifecycle_run_parent_create,
    lifecycle_shard_run,
)
from tests.credits.conftest import T0
from tests.credits.lifecycle_faults import batches_hooked
from tests.credits.test_lifecycle_concurrency import (
    AT,
    HOUR,
    a_run_holding_its_locks,
    in_threads,
    populate_bulk,
    run_lifecycle_killed_mid_way,
)
from tests.credits.test_lifecycle_tasks import build_mixed_accounts

FAILED, RUNNING = LifecycleRunStatus.FAILED, LifecycleRunStatus.RUNNING
# The session of a process that is gone. Only a row's lock says whether its run lives: the
# number is what an operator reads, and the server may give it to another session later.
GONE_PID = 99999
migration = importlib.import_module("credits.migrations.0009_lifecycle_run_liveness")


@pytest.fixture(autouse=True)
def _time_travel_allowed(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True


def left_running(**fields) -> LifecycleRun:
    """A run's row as a process that died leaves it: `running`, its session recorded, and
    nobody holding the run's lock."""
    return LifecycleRun.objects.create(**{"as_of": AT, "trigger": "beat", "status": RUNNING,
                                          "session_pid": GONE_PID, **fields})


def assert_ledger_ok() -> None:
    out = StringIO()
    call_command("check_ledger", stdout=out)
    assert "Ledger OK" in out.getvalue()


# --- killed for real ------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_shard_killed_mid_way_keeps_its_parent_and_the_next_run_fails_both_saying_why():
    # given 3,000 accounts, 6,001 VMs, three hours to charge
    resources = populate_bulk(3000)
    at = T0 + 3 * HOUR + timedelta(minutes=5)

    # when a run in two shards is killed in its first shard
    run_lifecycle_killed_mid_way("--at", at.isoformat(), "--shards", "2")

    # then the shard's row has its parent already, and counts what it committed
    parent = LifecycleRun.objects.get(trigger=LifecycleTrigger.COMMAND)
    shard = LifecycleRun.objects.get(trigger=LifecycleTrigger.SHARD)
    assert (parent.shard_count, parent.status, parent.finished_at) == (2, RUNNING, None)
    assert (shard.parent_id, shard.shard_index, shard.status) == (parent.pk, 0, RUNNING)
    assert 0 < shard.charges == Charge.objects.filter(run_id=shard.pk).count() \
        == Charge.objects.count()

    # when the next run comes
    done = lifecycle_run(at=at + timedelta(minutes=1), wait=True)

    # then the shard is failed and says why, and keeps its charges
    shard.refresh_from_db()
    assert (shard.status, shard.errors, shard.parent_id) == (FAILED, 1, parent.pk)
    assert shard.finished_at is not None
    assert "its process died" in shard.error_messages
    assert f"found by run {done.pk}" in shard.error_messages
    assert Charge.objects.filter(run_id=shard.pk).count() == shard.charges
    # and the parent is closed as failed: its shard 0 died, its shard 1 never ran
    parent.refresh_from_db()
    assert (parent.status, parent.errors) == (FAILED, 2) and parent.finished_at is not None
    assert parent.charges == shard.charges and parent.accounts == shard.accounts
    assert "shard 0: its process died" in parent.error_messages
    assert "shard 1 never ran: the process running its shards died" in parent.error_messages
    # and the next run did the rest, once
    assert done.status == LifecycleRunStatus.SUCCEEDED
    assert Charge.objects.count() == 3 * (resources - 1) + 3
    assert Charge.objects.values("resource_id", "hour_index").distinct().count() \
        == Charge.objects.count()
    assert_ledger_ok()


# --- live runs are left alone ---------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_live_run_in_another_thread_is_not_failed_by_a_shard_that_fails_a_dead_run():
    # given a live run in another thread, busy in its first batch with its locks held, and a
    # run left running by a dead process (since the live run looked)
    build_mixed_accounts(6)
    with a_run_holding_its_locks() as results:
        live_run = LifecycleRun.objects.get(trigger=LifecycleTrigger.MANUAL)
        dead = left_running()

        # when a shard of a sharded run starts meanwhile, and then a janitor alone
        parent = lifecycle_run_parent_create(shard_count=2, trigger=LifecycleTrigger.BEAT)
        shard = lifecycle_shard_run(parent_id=parent.pk, shard_index=0, shard_count=2, at=AT)
        again = lifecycle_runs_fail_dead()

        # then the dead run is failed, by the shard, and the live one untouched
        dead.refresh_from_db()
        assert dead.status == FAILED and f"found by run {shard.pk}" in dead.error_messages
        live_run.refresh_from_db()
        assert (live_run.status, live_run.finished_at, live_run.errors,
                live_run.error_messages) == (RUNNING, None, 0, "")
        assert again == []

    assert (results["run"].status, results["run"].errors) == (LifecycleRunStatus.SUCCEEDED, 0)
    # a parent of Celery shards is no process's: it waits for its shard 1
    parent.refresh_from_db()
    assert (parent.status, parent.finished_at) == (RUNNING, None)


@pytest.mark.django_db(transaction=True)
def test_janitors_at_once_fail_each_dead_run_once_and_close_its_parent_once():
    # given a dead unsharded run, and a sharded run whose two shards died
    parent = lifecycle_run_parent_create(shard_count=2, trigger=LifecycleTrigger.BEAT)
    dead = [left_running(),
            *(left_running(parent=parent, trigger=LifecycleTrigger.SHARD, shard_index=index,
                           shard_count=2) for index in (0, 1))]

    # when three janitors look at once
    results = in_threads(a=lifecycle_runs_fail_dead, b=lifecycle_runs_fail_dead,
                         c=lifecycle_runs_fail_dead)

    # then each dead run is failed by exactly one of them, once
    assert sorted(run_id for found in results.values() for run_id in found) \
        == sorted(run.pk for run in dead)
    for run in LifecycleRun.objects.filter(pk__in=[run.pk for run in dead]):
        assert (run.status, run.errors) == (FAILED, 1)
        assert run.error_messages.count("its process died") == 1
    parent.refresh_from_db()
    assert (parent.status, parent.errors) == (FAILED, 2) and parent.finished_at is not None
    assert parent.error_messages.count("shard 0: its process died") == 1
    assert parent.error_messages.count("shard 1: its process died") == 1


# --- shards and parents ---------------------------------------------------------------------

def test_a_shard_left_running_by_a_dead_worker_is_failed_and_its_parent_closed_as_failed(db):
    # given a sharded run (Celery: no process runs its parent) whose shards 0 and 2 finished
    # and whose shard 1 died in its worker
    build_mixed_accounts(12)
    parent = lifecycle_run_parent_create(shard_count=3, trigger=LifecycleTrigger.BEAT)
    for index in (0, 2):
        lifecycle_shard_run(parent_id=parent.pk, shard_index=index, shard_count=3, at=AT)
    lost = left_running(parent=parent, trigger=LifecycleTrigger.SHARD, shard_index=1, shard_count=3)
    parent.refresh_from_db()
    assert (parent.status, parent.finished_at) == (RUNNING, None)

    # when the next run comes
    done = lifecycle_run(at=AT + HOUR)

    # then
    lost.refresh_from_db()
    assert (lost.status, lost.errors, lost.parent_id) == (FAILED, 1, parent.pk)
    parent.refresh_from_db()
    assert (parent.status, parent.errors) == (FAILED, 1) and parent.finished_at is not None
    assert f"shard 1: its process died, or lost its database connection, before the run " \
           f"finished; found by run {done.pk}" in parent.error_messages
    assert parent.accounts == sum(parent.shards.values_list("accounts", flat=True)) > 0
    # and the dead shard's end is announced, as the parent's is, each once
    finished = Event.objects.filter(type=EventType.LIFECYCLE_RUN_FINISHED)
    assert [(e.payload["run"], e.payload["status"]) for e in finished.filter(
        payload__run__in=[lost.pk, parent.pk]).order_by("id")] == \
        [(lost.pk, FAILED), (parent.pk, FAILED)]


# --- what a run does itself -----------------------------------------------------------------

class WorkerLost(BaseException):
    """Like a worker's shutdown: not an `Exception`, so no batch catches it."""


def test_a_run_stopped_by_an_exception_is_failed_at_once_with_why(db):
    # given three accounts, one per batch
    build_mixed_accounts(3)

    def lost_in_batch_1(index):
        if index == 1:
            raise WorkerLost("worker shutting down")

    # when
    with pytest.raises(WorkerLost), batches_hooked(lost_in_batch_1):
        lifecycle_run(at=AT, batch_size=1)

    # then it is failed, says why and counts batch 0, and no janitor finds it again
    run = LifecycleRun.objects.get()
    assert (run.status, run.errors, run.accounts) == (FAILED, 1, 1)
    assert run.finished_at is not None
    assert "the run stopped: WorkerLost: worker shutting down" in run.error_messages
    assert run.charges == Charge.objects.filter(run_id=run.pk).count() > 0
    assert lifecycle_runs_fail_dead() == []
    assert lifecycle_run(at=AT).status == LifecycleRunStatus.SUCCEEDED
    assert_ledger_ok()


def test_a_dry_run_leaves_dead_runs_to_a_real_run(db):
    dead = left_running()

    lifecycle_run(at=AT, dry_run=True)
    dead.refresh_from_db()
    assert dead.status == RUNNING

    lifecycle_run(at=AT)
    dead.refresh_from_db()
    assert dead.status == FAILED


# --- runs left running before runs recorded their session -----------------------------------

def test_migration_0009_fails_the_runs_left_running_before_it_whose_lock_is_free(db):
    # given rows the code before it left running (no session recorded)
    whole = LifecycleRun.objects.create(as_of=AT, trigger=LifecycleTrigger.BEAT)
    shard = LifecycleRun.objects.create(as_of=AT, trigger=LifecycleTrigger.SHARD, shard_index=1,
                                        shard_count=3)
    busy = LifecycleRun.objects.create(as_of=AT, trigger=LifecycleTrigger.SHARD, shard_index=2,
                                       shard_count=3)
    parent = LifecycleRun.objects.create(as_of=AT, trigger=LifecycleTrigger.BEAT, shard_count=3)

    # when it is applied while a run of shard 2 holds that shard's lock
    with lifecycle_lock("shard-2-of-3") as acquired:
        assert acquired
        migration.fail_runs_left_running(django_apps, SimpleNamespace(connection=connection))

    # then
    assert dict(LifecycleRun.objects.values_list("pk", "status")) == {
        whole.pk: FAILED, shard.pk: FAILED, busy.pk: RUNNING, parent.pk: RUNNING}
    whole.refresh_from_db()
    assert whole.errors == 1 and whole.finished_at is not None
    assert "when migration 0009 was applied" in whole.error_messages
