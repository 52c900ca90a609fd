"""`manage.py run_lifecycle`: the lifecycle from a shell or a cron, a dry run that lists what
would change, a forecast as of another instant, and refusals. The clock is moved with
time-machine (a cron runs "now"), never waited for."""
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from credits.locks import lifecycle_lock
from credits.management.commands import run_lifecycle as command_module
from credits.models import LifecycleRun, LifecycleRunStatus, LifecycleTrigger, ResourceStatus
from credits.services.lifecycle import lifecycle_run
from tests.credits.conftest import T0
from tests.credits.lifecycle_faults import batches_hooked
from tests.credits.test_lifecycle_tasks import (
    E1_PER_DAY,
    E1_PER_HOUR,
    address_of,
    grant,
    lifecycle_state,
    register,
)

HOUR = timedelta(hours=1)
FIRST_RUN = T0 + HOUR + timedelta(minutes=5)


@pytest.fixture(autouse=True)
def _pricing(default_version):
    return default_version


def run_command(*args) -> str:
    out = StringIO()
    call_command("run_lifecycle", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def status_of(resource) -> str:
    resource.refresh_from_db()
    return resource.status


@pytest.fixture
def accounts(settings):
    """Four accounts, one VM each, after a first run at T0 + 1 h 5 min:
    `flagged` (one day of credit: flagged, deadline T0 + 25 h 5 min), `topped_up` (flagged,
    then five days of credit), `running_out` (a day and 2.5 hours: funded now, flagged by
    T0 + 3 h), `lasting` (a day and 20 hours: flagged by the next morning)."""
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    credits = {"flagged": E1_PER_DAY, "topped_up": E1_PER_DAY,
               "running_out": E1_PER_DAY + 5 * E1_PER_HOUR // 2,
               "lasting": E1_PER_DAY + 20 * E1_PER_HOUR}
    vms = {}
    for number, (name, amount) in enumerate(credits.items()):
        grant(address_of(number), amount, T0, reference=f"command-{name}")
        vms[name] = register(T0, address_of(number), tag="c")
    lifecycle_run(at=FIRST_RUN)
    grant(address_of(1), 5 * E1_PER_DAY, T0 + 2 * HOUR, reference="command-top-up")
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = False
    assert [status_of(vm) for vm in vms.values()] == ["removing", "removing", "processed",
                                                      "processed"]
    return vms


def test_a_run_prints_its_counts_and_is_recorded(accounts):
    with time_machine.travel(T0 + 3 * HOUR + timedelta(minutes=5), tick=False):
        output = run_command()

    run = LifecycleRun.objects.get(trigger=LifecycleTrigger.COMMAND)
    assert f"Lifecycle run {run.pk} as of 2030-01-01T03:05:00+00:00: 4 accounts, 4 resources, " \
           f"8 charges, {8 * E1_PER_HOUR} credits charged" in output
    assert "1 flagged, 1 restored, 0 removed" in output
    assert (run.status, run.flagged, run.restored) == (LifecycleRunStatus.SUCCEEDED, 1, 1)
    assert status_of(accounts["running_out"]) == ResourceStatus.REMOVING
    assert status_of(accounts["topped_up"]) == ResourceStatus.PROCESSED


def test_a_dry_run_lists_what_would_change_and_changes_nothing(accounts):
    before = lifecycle_state()

    with time_machine.travel(T0 + 3 * HOUR + timedelta(minutes=5), tick=False):
        output = run_command("--dry-run")

    assert lifecycle_state() == before
    assert output.startswith("Dry run (nothing changed)")
    assert "1 flagged, 1 restored, 0 removed" in output
    flagged = accounts["running_out"]
    assert "Would be flagged (processed → removing): 1\n" \
           f"  {flagged.item_hash}  owner {flagged.owner.address}  credit  " \
           "reason credit_insufficient, delete after 2030-01-02T03:05:00+00:00\n" in output
    restored = accounts["topped_up"]
    assert "Would be restored (removing → processed): 1\n" \
           f"  {restored.item_hash}  owner {restored.owner.address}  credit  " \
           "was credit_insufficient, deadline 2030-01-02T01:05:00+00:00\n" in output
    assert "Would be removed (grace over): 0\n" in output
    # a dry run records nothing: no run row, no run id used
    assert not LifecycleRun.objects.filter(trigger=LifecycleTrigger.COMMAND).exists()
    assert LifecycleRun.objects.filter(dry_run=True).count() == 0


def test_at_with_dry_run_forecasts_what_will_be_flagged_or_removed_by_then(accounts):
    # given the hourly run of 3 am (the top-up restores, `running_out` is flagged)
    with time_machine.travel(T0 + 3 * HOUR + timedelta(minutes=5), tick=False):
        run_command()
    before = lifecycle_state()

    # when: what will be flagged or removed by tomorrow noon?
    output = run_command("--dry-run", "--at", "2030-01-02T12:00:00Z")

    # then both flagged VMs are past their deadlines, and `lasting` will have run out
    assert lifecycle_state() == before
    assert "as of 2030-01-02T12:00:00+00:00" in output
    for vm in accounts.values():
        vm.refresh_from_db()
    removed = sorted([accounts["flagged"], accounts["running_out"]],
                     key=lambda vm: vm.owner.address)
    assert "Would be removed (grace over): 2\n" + "".join(
        f"  {vm.item_hash}  owner {vm.owner.address}  credit  reason credit_insufficient, "
        f"deadline {vm.delete_after.isoformat()} passed\n" for vm in removed) in output
    assert "deadline 2030-01-02T01:05:00+00:00 passed" in output
    lasting = accounts["lasting"]
    assert "Would be flagged (processed → removing): 1\n" \
           f"  {lasting.item_hash}  owner {lasting.owner.address}  credit  " \
           "reason credit_insufficient, delete after 2030-01-03T12:00:00+00:00\n" in output
    assert accounts["topped_up"].item_hash not in output


def test_at_without_dry_run_is_refused_and_changes_nothing(accounts):
    before = lifecycle_state()
    runs = LifecycleRun.objects.count()

    with pytest.raises(CommandError, match="Refused: .*only with --dry-run.*"
                                           "LIFECYCLE_ALLOW_TIME_TRAVEL"):
        run_command("--at", "2030-01-02T12:00:00Z")

    assert lifecycle_state() == before
    assert LifecycleRun.objects.count() == runs


def test_a_refusal_exits_non_zero_from_the_shell(accounts, capsys):
    command = command_module.Command()

    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(["manage.py", "run_lifecycle", "--at", "2030-01-02T12:00:00Z"])

    assert exited.value.code == 1
    assert "LIFECYCLE_ALLOW_TIME_TRAVEL" in capsys.readouterr().err


def test_at_without_dry_run_acts_when_time_travel_is_allowed(accounts, settings):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True

    output = run_command("--at", "2030-01-02T12:00:00Z")

    # no run in between: the top-up came, but nothing restored the VM before its deadline
    assert "2 flagged, 0 restored, 2 removed" in output
    assert status_of(accounts["flagged"]) == ResourceStatus.REMOVED
    assert status_of(accounts["lasting"]) == ResourceStatus.REMOVING


@pytest.mark.parametrize("value, message", [
    ("tomorrow noon", "is not an ISO 8601 instant"),
    ("2030-13-45T25:00:00Z", "is not an ISO 8601 instant"),
    ("2030-01-02T12:00:00", "has no time zone"),
])
def test_an_invalid_instant_is_a_clear_error(db, value, message):
    with pytest.raises(CommandError, match=message):
        run_command("--dry-run", "--at", value)
    assert not LifecycleRun.objects.exists()


def test_shards_split_the_run_and_reach_the_same_counts(accounts, settings):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    at = T0 + 3 * HOUR + timedelta(minutes=5)
    whole = run_command("--dry-run", "--at", at.isoformat())

    sharded = run_command("--at", at.isoformat(), "--shards", "3")

    parent = LifecycleRun.objects.get(shard_count=3, parent=None)
    assert parent.shards.count() == 3 and parent.status == LifecycleRunStatus.SUCCEEDED
    assert f"Lifecycle run {parent.pk} as of 2030-01-01T03:05:00+00:00, 3 shards: " in sharded

    def counts(output):
        return output.splitlines()[0].split(": ", 1)[1]

    assert counts(whole) == counts(sharded)


def test_a_dry_run_is_never_sharded(accounts):
    at = T0 + 3 * HOUR + timedelta(minutes=5)
    runs_before = LifecycleRun.objects.count()

    output = run_command("--dry-run", "--at", at.isoformat(), "--shards", "3")

    assert output.startswith("Dry run (nothing changed) as of 2030-01-01T03:05:00+00:00: ")
    assert LifecycleRun.objects.count() == runs_before


def test_shards_must_be_at_least_one(db):
    with pytest.raises(CommandError, match="--shards"):
        run_command("--shards", "0")


def test_a_run_with_failed_batches_exits_with_status_2(accounts, monkeypatch):
    def crash_second_batch(index):
        if index == 1:
            raise RuntimeError("injected crash")
    monkeypatch.setattr(command_module, "lifecycle_run", partial(lifecycle_run, batch_size=1))
    err = StringIO()

    with time_machine.travel(T0 + 3 * HOUR + timedelta(minutes=5), tick=False), \
            batches_hooked(crash_second_batch), pytest.raises(SystemExit) as exited:
        call_command("run_lifecycle", stdout=StringIO(), stderr=err)

    assert exited.value.code == command_module.EXIT_ERRORS == 2
    assert "injected crash" in err.getvalue()


# --- the lock held by another run ----------------------------------------------------------

@contextmanager
def lifecycle_lock_held_elsewhere(*, until_a_run_waits: bool = False):
    """Another session holds the lifecycle lock (a run in progress) until the block ends or,
    with `until_a_run_waits`, until another session is seen waiting for it."""
    held, release, saw_waiter = threading.Event(), threading.Event(), threading.Event()

    def hold():
        try:
            with lifecycle_lock("all") as acquired:
                assert acquired
                held.set()
                deadline = time.monotonic() + 30
                while not release.is_set() and time.monotonic() < deadline:
                    if until_a_run_waits and _someone_waits_for_an_advisory_lock():
                        saw_waiter.set()
                        return
                    release.wait(0.02)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(30), "the helper thread never took the lock"
    try:
        yield saw_waiter
    finally:
        release.set()
        thread.join(30)


def _someone_waits_for_an_advisory_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT "
                       "granted AND database = (SELECT oid FROM pg_database "
                       "WHERE datname = current_database())")
        return cursor.fetchone()[0] > 0


def test_a_run_skipped_because_another_holds_the_lock_says_so_and_exits_0(accounts):
    with lifecycle_lock_held_elsewhere():
        output = run_command()  # returns normally: exit status 0

    assert output.startswith("Skipped: another lifecycle run holds the lock")
    run = LifecycleRun.objects.get(trigger=LifecycleTrigger.COMMAND)
    assert run.status == LifecycleRunStatus.SKIPPED


def test_with_wait_a_run_waits_for_the_lock_then_runs(accounts):
    with lifecycle_lock_held_elsewhere(until_a_run_waits=True) as saw_waiter, \
            time_machine.travel(T0 + 3 * HOUR + timedelta(minutes=5), tick=False):
        output = run_command("--wait")

    assert saw_waiter.is_set()
    assert "1 flagged, 1 restored" in output
    run = LifecycleRun.objects.get(trigger=LifecycleTrigger.COMMAND)
    assert run.status == LifecycleRunStatus.SUCCEEDED
