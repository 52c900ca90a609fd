"""End to end: a real Redis broker, a real Celery worker with embedded beat on the database
scheduler (django-celery-beat), and the periodic task "credit lifecycle" running the lifecycle
against the test database and recording a run.

The task is made to fire every 2 seconds here (the data migration's hourly row is flushed in
transactional tests, so the test writes its own). Waiting is bounded polling of the database,
for the worker and beat, never for the clock of the lifecycle.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from credits.models import (
    Account,
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleTrigger,
    Resource,
    ResourceStatus,
)
from pricing.enums import MessageType, PaymentType, ProductType
from tests.database import subprocess_database_url

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
STARTUP_BUDGET_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as client:
            client.sendall(b"PING\r\n")
            return client.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def _private_redis():
    """A Redis server of this test only, on a free port, without persistence."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server) and "
                    "CELERY_BROKER_URL is not a redis:// URL: no broker for a real worker")
    port = _free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _redis_answers(port):
            assert process.poll() is None, "redis-server exited at start"
            assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture
def redis_url():
    """CELERY_BROKER_URL when it is a Redis URL (scripts/test.sh), else a Redis of our own."""
    configured = os.environ.get("CELERY_BROKER_URL", "")
    if configured.startswith(("redis://", "rediss://")):
        yield configured
        return
    with _private_redis() as url:
        yield url


@pytest.fixture
def private_redis_url():
    """A Redis of our own: the shard tasks go to the default queue, which no one else's worker
    or leftover message may share."""
    with _private_redis() as url:
        yield url


def _stop(process: subprocess.Popen) -> None:
    """Warm shutdown (SIGTERM to the worker), then SIGKILL to its whole process group (the
    embedded beat is a child process)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        pass


@pytest.fixture
def unfunded_vm(default_version):
    """A credit-paid VM that has run for two hours on an account without any credit."""
    owner = Account.objects.create(address="0x" + "e2" * 20)
    return Resource.objects.create(
        item_hash="e2" * 32, type=MessageType.INSTANCE, content={"address": owner.address},
        owner=owner, product_type=ProductType.INSTANCE, payment_type=PaymentType.CREDIT,
        status=ResourceStatus.PROCESSED, pricing_version=default_version,
        cost_hold=Decimal(0), cost_stream_per_second=Decimal(0),
        cost_credit_per_second=Decimal("3.958333333333333333"),
        created_at=timezone.now() - timedelta(hours=2, minutes=5))


def _run_worker_until(condition, *, env: dict, queues: str) -> tuple[float, int, str]:
    """Start a worker with embedded beat (database scheduler), poll `condition()` (bounded),
    stop it. Returns the seconds it took, the worker's exit status and the end of its output."""
    with tempfile.TemporaryDirectory() as workdir, \
            open(Path(workdir) / "worker.log", "w+b") as log:
        started = time.monotonic()
        worker = subprocess.Popen(
            [str(CELERY), "-A", "credits_project", "worker", "--beat",
             "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
             "--schedule", str(Path(workdir) / "beat-schedule"),
             "-l", "info", "--concurrency", "1", "--pool", "solo", "-Q", queues,
             "--hostname", f"e2e-{uuid.uuid4().hex[:8]}@%h", "--without-mingle",
             "--without-gossip"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while time.monotonic() - started < STARTUP_BUDGET_SECONDS:
                if condition() or worker.poll() is not None:
                    break
                time.sleep(0.25)
            elapsed = time.monotonic() - started
        finally:
            _stop(worker)
            log.seek(0)
            output = log.read().decode(errors="replace")[-8000:]
    return elapsed, worker.returncode, output


def _every_two_seconds(queue: str) -> None:
    """The periodic task "credit lifecycle", every 2 seconds, sent to `queue`."""
    every_two_seconds, _ = IntervalSchedule.objects.get_or_create(
        every=2, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.update_or_create(
        name="credit lifecycle",
        defaults={"task": "credits.tasks.lifecycle_run_task", "interval": every_two_seconds,
                  "crontab": None, "queue": queue, "enabled": True})


def _worker_env(broker_url: str, *, shards: int) -> dict:
    env = {**os.environ, "DATABASE_URL": subprocess_database_url(), "CELERY_BROKER_URL": broker_url,
           "DJANGO_SETTINGS_MODULE": "credits_project.settings", "LIFECYCLE_SHARDS": str(shards),
           "CONN_MAX_AGE": "0", "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO"}
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


def _first_beat_run() -> LifecycleRun | None:
    return LifecycleRun.objects.filter(trigger=LifecycleTrigger.BEAT).order_by("pk").first()


@pytest.mark.django_db(transaction=True)
def test_beat_runs_the_periodic_lifecycle_task_on_a_real_worker(redis_url, unfunded_vm):
    # given the periodic task, on a queue of this test only (the broker may be shared)
    queue = f"e2e-lifecycle-{uuid.uuid4().hex[:12]}"
    _every_two_seconds(queue)

    def flagged_by_a_finished_beat_run():
        run = _first_beat_run()
        unfunded_vm.refresh_from_db()
        return run is not None and run.finished_at is not None \
            and unfunded_vm.status == ResourceStatus.REMOVING

    # when a real worker with embedded beat runs
    elapsed, exit_status, output = _run_worker_until(
        flagged_by_a_finished_beat_run, env=_worker_env(redis_url, shards=1), queues=queue)

    # then beat sent the task, the worker ran the lifecycle and recorded the run
    context = f"after {elapsed:.1f} s, worker exit status {exit_status}; its output:\n{output}"
    run = _first_beat_run()
    assert run is not None, f"no lifecycle run with trigger 'beat' {context}"
    assert run.finished_at is not None, f"the run never finished {context}"
    assert run.status == LifecycleRunStatus.SUCCEEDED, f"{run.error_messages} {context}"
    assert (run.accounts, run.resources, run.flagged) == (1, 1, 1), context
    assert (run.charges, run.credits_short) == (2, 2 * 14250), context  # no credit at all
    unfunded_vm.refresh_from_db()
    assert unfunded_vm.status == ResourceStatus.REMOVING, context
    assert unfunded_vm.removal_reason == "credit_insufficient", context
    assert "Task credits.tasks.lifecycle_run_task[" in output, context


@pytest.mark.django_db(transaction=True)
def test_beat_runs_a_sharded_lifecycle_as_a_group_of_shard_tasks(private_redis_url,
                                                                 unfunded_vm):
    # given LIFECYCLE_SHARDS = 3 (the shard tasks go to the default queue, "celery")
    _every_two_seconds("celery")

    def closed_parent():
        parent = _first_beat_run()
        return parent is not None and parent.finished_at is not None

    # when
    elapsed, exit_status, output = _run_worker_until(
        closed_parent, env=_worker_env(private_redis_url, shards=3), queues="celery")

    # then the parent has three shard runs and their sums, closed by the last one
    context = f"after {elapsed:.1f} s, worker exit status {exit_status}; its output:\n{output}"
    parent = _first_beat_run()
    assert parent is not None and parent.finished_at is not None, f"no closed parent {context}"
    shards = list(parent.shards.order_by("shard_index"))
    assert [(shard.shard_index, shard.trigger) for shard in shards] == [
        (index, LifecycleTrigger.SHARD) for index in range(3)], context
    assert (parent.status, parent.shard_count, parent.accounts, parent.flagged) == (
        LifecycleRunStatus.SUCCEEDED, 3, 1, 1), context
    assert parent.finished_at == max(shard.finished_at for shard in shards), context
    unfunded_vm.refresh_from_db()
    assert unfunded_vm.status == ResourceStatus.REMOVING, context
    assert output.count("Task credits.tasks.lifecycle_shard_task[") >= 3, context
