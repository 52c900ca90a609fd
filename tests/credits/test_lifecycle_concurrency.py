"""Safe to run twice, and to crash: concurrent lifecycle runs on PostgreSQL with real threads
(each closes its connection), a crash injected in a batch, and a `manage.py run_lifecycle`
process killed with SIGKILL in the middle of its work (the next run marks it failed; more on
runs whose process died in test_lifecycle_janitor.py).

The runs act at fixed instants (LIFECYCLE_ALLOW_TIME_TRAVEL, as in tests); waiting is bounded
and only ever for another thread or process, never for the clock.
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from credits.models import (
    Account,
    Charge,
    LedgerEntry,
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleTrigger,
    Lot,
    Resource,
    ResourceStatus,
)
from credits.selectors.ledger import ledger_drifts
from credits.selectors.resources import resources_charged_hours
from credits.services.lifecycle import lifecycle_run
from credits.services.lifecycle_shards import lifecycle_run_sharded_here
from tests.credits.conftest import T0
from tests.credits.lifecycle_faults import batches_hooked
from tests.credits.test_lifecycle_tasks import (
    E1_PER_DAY,
    build_mixed_accounts,
    grant,
    register,
)
from tests.database import subprocess_database_url

HOUR = timedelta(hours=1)
AT = T0 + HOUR + timedelta(minutes=5)
MANAGE_PY = Path(__file__).resolve().parents[2] / "manage.py"


@pytest.fixture(autouse=True)
def _time_travel_allowed(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True


def in_threads(**targets) -> dict:
    """Run each `name=callable` in its own thread, started together; their results by name.
    Each thread closes its database connection; an exception in one is raised here."""
    barrier = threading.Barrier(len(targets))
    results, errors = {}, {}

    def work(name, target):
        try:
            barrier.wait(timeout=30)
            results[name] = target()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors[name] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=item) for item in targets.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a run never finished"
    if errors:
        raise next(iter(errors.values()))
    return results


def lifecycle_run_holding_the_lock(*, holding: threading.Event, release: threading.Event,
                                   **kwargs):
    """A run that, in its first batch (with the lock held), signals and waits for `release`."""
    def hook(index):
        if index == 0:
            holding.set()
            assert release.wait(60), "never released"
    with batches_hooked(hook, this_thread_only=True):
        return lifecycle_run(batch_size=1, **kwargs)


@contextmanager
def a_run_holding_its_locks():
    """A lifecycle run in another thread, stopped in its first batch with its locks held for
    as long as the block runs; the dict it yields gets the run (`"run"`) once it finished."""
    holding, release = threading.Event(), threading.Event()
    results = {}

    def work():
        try:
            results["run"] = lifecycle_run_holding_the_lock(at=AT, holding=holding,
                                                            release=release)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    try:
        assert holding.wait(30), "the run never reached its first batch"
        yield results
    finally:
        release.set()
        thread.join(60)


def one_run_outcome() -> LifecycleRun:
    """What one run at AT would do (a dry run: nothing changes)."""
    return lifecycle_run(at=AT, dry_run=True)


def assert_done_once(expected: LifecycleRun) -> None:
    """The data equal one run's result: every resource-hour charged once, statuses moved once."""
    assert Charge.objects.count() == expected.charges
    assert Charge.objects.values("resource_id", "hour_index").distinct().count() \
        == expected.charges
    assert Resource.objects.filter(status=ResourceStatus.REMOVING).count() == expected.flagged
    assert sum(Charge.objects.values_list("amount_drained", flat=True)) \
        == expected.credits_charged
    assert ledger_drifts(at=AT) == []


# --- two runs at once -----------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_run_started_while_another_works_is_recorded_as_skipped():
    # given
    build_mixed_accounts(6)
    expected = one_run_outcome()

    with a_run_holding_its_locks() as first:
        # when a second run starts while the first holds the lock
        second = in_threads(second=lambda: lifecycle_run(at=AT))["second"]

    # then
    assert second.status == LifecycleRunStatus.SKIPPED and second.finished_at is not None
    assert LifecycleRun.objects.get(pk=second.pk).status == LifecycleRunStatus.SKIPPED
    assert first["run"].status == LifecycleRunStatus.SUCCEEDED
    assert_done_once(expected)


@pytest.mark.django_db(transaction=True)
def test_with_wait_the_second_run_waits_for_the_first_then_changes_nothing():
    build_mixed_accounts(6)
    expected = one_run_outcome()
    holding, release = threading.Event(), threading.Event()

    def second_waits_then_releases_the_first():
        assert holding.wait(30)
        waiter = threading.Thread(target=_release_when_someone_waits, args=(release,))
        waiter.start()
        try:
            return lifecycle_run(at=AT, wait=True)
        finally:
            release.set()
            waiter.join(30)

    results = in_threads(
        first=lambda: lifecycle_run_holding_the_lock(at=AT, holding=holding, release=release),
        second=second_waits_then_releases_the_first)

    first, second = results["first"], results["second"]
    assert first.status == second.status == LifecycleRunStatus.SUCCEEDED
    assert second.finished_at > first.finished_at
    assert (first.charges, first.flagged) == (expected.charges, expected.flagged)
    assert (second.charges, second.flagged, second.restored, second.removed) == (0, 0, 0, 0)
    assert_done_once(expected)


def _release_when_someone_waits(release: threading.Event) -> None:
    """Release the first run once a session is seen waiting for an advisory lock (bounded)."""
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not release.is_set():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())")
                if cursor.fetchone()[0]:
                    break
            release.wait(0.02)
        release.set()
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_two_runs_started_at_once_charge_and_flag_once():
    build_mixed_accounts(12)
    expected = one_run_outcome()

    results = in_threads(a=lambda: lifecycle_run(at=AT), b=lambda: lifecycle_run(at=AT))

    # one ran; the other skipped, or (if it came after the first) ran and found nothing to do
    runs = sorted(results.values(), key=lambda run: run.charges)
    assert runs[1].status == LifecycleRunStatus.SUCCEEDED and runs[1].charges \
        == expected.charges
    assert runs[0].status == LifecycleRunStatus.SKIPPED or (runs[0].charges, runs[0].flagged) \
        == (0, 0)
    assert_done_once(expected)


@pytest.mark.django_db(transaction=True)
def test_two_sharded_runs_at_once_charge_and_flag_once():
    build_mixed_accounts(12)
    expected = one_run_outcome()

    def sharded():
        return lifecycle_run_sharded_here(shard_count=3, trigger=LifecycleTrigger.MANUAL, at=AT)

    results = in_threads(a=sharded, b=sharded)

    assert sum(run.charges for run in results.values()) == expected.charges
    assert sum(run.flagged for run in results.values()) == expected.flagged
    assert all(run.finished_at is not None for run in results.values())
    assert_done_once(expected)


@pytest.mark.django_db(transaction=True)
def test_an_unsharded_and_a_sharded_run_at_once_charge_and_flag_once():
    # their locks differ ("all", "shard-i-of-3"): the account locks keep them apart
    build_mixed_accounts(12)
    expected = one_run_outcome()

    in_threads(whole=lambda: lifecycle_run(at=AT, batch_size=1),
               sharded=lambda: lifecycle_run_sharded_here(
                   shard_count=3, trigger=LifecycleTrigger.MANUAL, at=AT, batch_size=1))

    assert_done_once(expected)


# --- crashes --------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_crash_in_batch_1_of_3_leaves_whole_batches_and_the_next_run_completes_it():
    # given three accounts, one per batch
    build_mixed_accounts(3)
    expected = one_run_outcome()

    def crash_in_batch_1(index):
        if index == 1:
            raise RuntimeError("worker lost")

    # when
    with batches_hooked(crash_in_batch_1):
        crashed = lifecycle_run(at=AT, batch_size=1)

    # then batches 0 and 2 are done, batch 1 not at all
    assert (crashed.status, crashed.errors) == (LifecycleRunStatus.FAILED, 1)
    assert "batch 1" in crashed.error_messages and "worker lost" in crashed.error_messages
    owners = sorted(set(Resource.objects.values_list("owner_id", flat=True)))
    charged = set(Charge.objects.values_list("resource__owner_id", flat=True))
    assert charged == {owners[0], owners[2]}
    assert not Account.objects.get(pk=owners[1]).resources.filter(
        meter__charged_hours__gt=0).exists()

    # when the next run comes
    done = lifecycle_run(at=AT + timedelta(minutes=1), batch_size=1)

    # then
    assert done.status == LifecycleRunStatus.SUCCEEDED and done.errors == 0
    assert_done_once(expected)
    out = StringIO()
    call_command("check_ledger", stdout=out)
    assert "Ledger OK" in out.getvalue()


def populate_bulk(accounts: int) -> int:
    """`accounts` accounts with two credit VMs each, written in bulk; one in three has one day
    of credit for its two VMs (so it is flagged). Returns the number of resources."""
    grant("0x" + "1" * 40, E1_PER_DAY, T0, reference="template")
    template = register(T0, "0x" + "1" * 40, tag="e")
    owners = Account.objects.bulk_create(
        [Account(address=f"0x{0xB0000000 + number:040x}") for number in range(accounts)])
    grants = LedgerEntry.objects.bulk_create([
        LedgerEntry(account=owner, kind="grant", amount=E1_PER_DAY * (1 if number % 3 else 3),
                    idempotency_key=f"killed-run:{owner.pk}", effective_at=T0)
        for number, owner in enumerate(owners)])
    Lot.objects.bulk_create([Lot(account=entry.account, entry=entry, amount=entry.amount,
                                 remaining=entry.amount, created_at=T0) for entry in grants])
    copied = ["type", "content", "product_type", "payment_type", "payment_chain",
              "pricing_version_id", "cost_hold", "cost_stream_per_second",
              "cost_credit_per_second"]
    Resource.objects.bulk_create([
        Resource(item_hash=f"{owner.pk:032x}{vm:032x}", owner=owner, created_at=T0,
                 **{name: getattr(template, name) for name in copied})
        for owner in owners for vm in range(2)], batch_size=5000)
    return 2 * accounts + 1


def _other_sessions() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid, state, wait_event_type, wait_event, backend_start, "
                       "left(query, 200) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                       "AND backend_type = 'client backend'")  # not autovacuum
        return cursor.fetchall()


def run_lifecycle_killed_mid_way(*arguments: str) -> None:
    """Start `manage.py run_lifecycle *arguments` (20 accounts a batch), SIGKILL it once it has
    committed some charges, and wait (bounded) until its database session has gone away."""
    env = {**os.environ, "DATABASE_URL": subprocess_database_url(),
           "LIFECYCLE_ALLOW_TIME_TRAVEL": "1", "LIFECYCLE_BATCH_ACCOUNTS": "20",
           "DJANGO_SETTINGS_MODULE": "credits_project.settings"}
    connection.close()  # nothing of ours in the way of the subprocess

    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            # --skip-checks: what is tested is the run, not the rest of the project's checks
            [sys.executable, str(MANAGE_PY), "run_lifecycle", "--skip-checks", *arguments],
            env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not Charge.objects.exists() and process.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(30)
        output.seek(0)
        printed = output.read().decode(errors="replace")
    assert process.returncode == -signal.SIGKILL, f"the run ended before the kill:\n{printed}"

    # Its server process notices the closed connection only when it next talks to it.
    deadline = time.monotonic() + 30
    while _other_sessions() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _other_sessions() == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_killed_mid_way_leaves_whole_batches_and_the_next_run_fails_it_and_completes_it():
    # given 3,000 accounts, 6,001 VMs, three hours to charge, 20 accounts per batch
    resources = populate_bulk(3000)
    at = T0 + 3 * HOUR + timedelta(minutes=5)

    # when it has committed some batches, it is killed
    run_lifecycle_killed_mid_way("--at", at.isoformat())

    # then what it did is whole batches: every account charged for all three hours of both
    # VMs, or not at all, and the charged ones come first; its row counts them
    killed = LifecycleRun.objects.get(trigger=LifecycleTrigger.COMMAND)
    assert killed.finished_at is None and killed.status == LifecycleRunStatus.RUNNING
    charged_per_owner = {}
    hours_of = resources_charged_hours(Resource.objects.values_list("pk", flat=True))
    for resource_id, owner_id in Resource.objects.values_list("pk", "owner_id"):
        charged_per_owner.setdefault(owner_id, []).append(hours_of[resource_id])
    charged = [owner for owner, hours in sorted(charged_per_owner.items()) if any(hours)]
    assert 0 < len(charged) < len(charged_per_owner), "the kill did not land mid-run"
    assert all(set(charged_per_owner[owner]) == {3} for owner in charged)
    assert charged == sorted(charged_per_owner)[:len(charged)]
    charged_by_the_killed_run = 3 * sum(len(charged_per_owner[owner]) for owner in charged)
    assert Charge.objects.count() == charged_by_the_killed_run
    assert (killed.accounts, killed.charges) == (len(charged), charged_by_the_killed_run)

    # when the next run comes
    done = lifecycle_run(at=at + timedelta(minutes=1), wait=True)

    # then it completes the work, once
    assert done.status == LifecycleRunStatus.SUCCEEDED and done.errors == 0
    assert Charge.objects.count() == 3 * (resources - 1) + 3  # the template VM: 3 hours too
    assert Charge.objects.values("resource_id", "hour_index").distinct().count() \
        == Charge.objects.count()
    # both VMs of the 2,000 accounts with one day of credit, and the template VM
    assert Resource.objects.filter(status=ResourceStatus.REMOVING).count() == 2 * 2000 + 1
    # and the killed run is failed, says why, and keeps the charges it committed
    killed.refresh_from_db()
    assert (killed.status, killed.errors) == (LifecycleRunStatus.FAILED, 1)
    assert killed.finished_at is not None
    assert "its process died" in killed.error_messages
    assert f"found by run {done.pk}" in killed.error_messages
    assert Charge.objects.filter(run_id=killed.pk).count() == killed.charges \
        == charged_by_the_killed_run
    assert Charge.objects.filter(run_id=done.pk).count() == done.charges
    out = StringIO()
    call_command("check_ledger", stdout=out)
    assert "Ledger OK" in out.getvalue()
