"""The quick start's lifecycle is the production lifecycle.

The quick start's own configuration (no DATABASE_URL: the embedded PostgreSQL, started on demand
in a var folder of its own; the filesystem broker), driven the way a user drives it: `manage.py`
commands in separate processes with the clock moved (`run_lifecycle --at`), a real Celery
worker on the filesystem broker, and `check_ledger` at the end.

The story, for one E1 instance paid by credit (PRICING.md: 3.958333333333333333 credits/s,
14 250 credits per hour once rounded, 342 000 for the one-day rule), registered at T0 with
400 000 credits:
    T0+3h10  meters hours 0–2      3 × 14 250 = 42 750   balance 357 250 ≥ 342 000: funded
    T0+5h10  meters hours 3–4      2 × 14 250 = 28 500   balance 328 750: flagged, deadline T0+29h10
    T0+6h    top-up of 100 000                            balance 428 750
    T0+7h10  meters hours 5–6      2 × 14 250 = 28 500   balance 400 250: restored
    T0+12h10 meters hours 7–11     5 × 14 250 = 71 250   balance 329 000: flagged, deadline T0+36h10
    T0+30h   meters hours 12–29   18 × 14 250 = 256 500  balance 72 500 (still in its grace)
    T0+36h20 meters hours 30–35 (up to the deadline)  6 × 14 250 = 85 500 asked, 72 500
             drained, 13 000 short; removed, ended at the deadline
36 hours metered, 500 000 credits charged: every credit granted, none twice.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from credits_project.localdb import LocalServer

BASE_DIR = Path(__file__).resolve().parents[2]
T0 = datetime(2030, 1, 1, tzinfo=UTC)
ADDRESS = "0x9319Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba"
ITEM_HASH = "e1" * 32

pytestmark = pytest.mark.slow

_SETUP = f"""
from datetime import datetime
from credits.services.ledger import grant_create
from credits.services.resources import resource_register
from tests.pricing.contents import instance_content
T0 = datetime.fromisoformat({T0.isoformat()!r})
grant_create(address={ADDRESS!r}, amount=400_000, expires_at=None, reference="qs-first",
             actor="test", at=T0)
content = instance_content(payment="credit")
content["address"] = {ADDRESS!r}
resource = resource_register(item_hash={ITEM_HASH!r}, message_type="INSTANCE", content=content,
                             actor="test", at=T0).resource
print(resource.cost_credit_per_second)
"""

_TOP_UP = f"""
from datetime import datetime, timedelta
from credits.services.ledger import grant_create
grant_create(address={ADDRESS!r}, amount=100_000, expires_at=None, reference="qs-top-up",
             actor="test", at=datetime.fromisoformat({T0.isoformat()!r}) + timedelta(hours=6))
"""

_STATE = f"""
import json
from django.db.models import Sum
from credits.models import Account, Charge, LedgerEntry, LifecycleRun, LifecycleTrigger, Resource
from credits.selectors.ledger import account_balance
resource = Resource.objects.get(item_hash={ITEM_HASH!r})
charges = Charge.objects.filter(resource=resource)
print(json.dumps({{
    "status": resource.status,
    "ended_at": resource.ended_at.isoformat(),
    "hours": sorted(charges.values_list("hour_index", flat=True)),
    "requested": charges.aggregate(total=Sum("amount_requested"))["total"],
    "drained": charges.aggregate(total=Sum("amount_drained"))["total"],
    "balance": str(account_balance(account=Account.objects.get(address={ADDRESS!r}))),
    "changes": list(resource.status_changes.order_by("at", "id")
                    .values_list("to_status", "reason")),
    "worker_runs": list(LifecycleRun.objects.filter(trigger=LifecycleTrigger.RUN_NOW)
                        .values_list("status", flat=True)),
}}))
"""

_RUN_LINE = re.compile(r"(\d+) charges, (\d+) credits charged, (\d+) credits short, (\d+) flagged, "
                       r"(\d+) restored, (\d+) removed")


@pytest.fixture
def quick_start_env():
    """The quick start's environment, with its var folder in a temporary place."""
    with tempfile.TemporaryDirectory(prefix="credits-quickstart-") as var:
        os.chmod(var, 0o755)
        env = {key: value for key, value in os.environ.items()
               if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")}
        env.update(CREDITS_VAR_DIR=var, DEBUG="1", LIFECYCLE_ALLOW_TIME_TRAVEL="1",
                   DJANGO_SETTINGS_MODULE="credits_project.settings", LOG_LEVEL="WARNING")
        server = LocalServer(Path(var) / "postgres")
        try:
            yield env, server
        finally:
            server.stop()


def manage(env, *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def shell(env, code: str) -> str:
    return manage(env, "shell", "-v", "0", "-c", code)


def lifecycle_at(env, offset: timedelta) -> tuple[int, ...]:
    printed = manage(env, "run_lifecycle", "--at", (T0 + offset).isoformat())
    return tuple(int(number) for number in _RUN_LINE.search(printed).groups())


def test_the_quick_start_configuration_meters_flags_restores_and_removes_to_the_credit(
        quick_start_env):
    env, server = quick_start_env
    hours = lambda h, m=0: timedelta(hours=h, minutes=m)  # noqa: E731
    # The quick start holds the server while it runs; commands meanwhile reuse it.
    holder = subprocess.Popen([sys.executable, "-m", "credits_project.localdb", "serve"],
                              cwd=BASE_DIR, env=env, stderr=subprocess.PIPE, text=True)
    worker = None
    try:
        assert "ready" in holder.stderr.readline()
        postmaster = server.server_pid()
        manage(env, "migrate", "--noinput", "-v", "0")
        assert shell(env, _SETUP).strip() == "3.958333333333333333"

        #                                charges, charged, short, flagged, restored, removed
        assert lifecycle_at(env, hours(3, 10)) == (3, 42_750, 0, 0, 0, 0)
        assert lifecycle_at(env, hours(5, 10)) == (2, 28_500, 0, 1, 0, 0)
        shell(env, _TOP_UP)
        assert lifecycle_at(env, hours(7, 10)) == (2, 28_500, 0, 0, 1, 0)
        assert lifecycle_at(env, hours(12, 10)) == (5, 71_250, 0, 1, 0, 0)
        assert lifecycle_at(env, hours(30)) == (18, 256_500, 0, 0, 0, 0)
        assert lifecycle_at(env, hours(36, 20)) == (6, 72_500, 13_000, 0, 0, 1)
        checked = manage(env, "check_ledger", "--at", (T0 + hours(37)).isoformat())
        assert "Ledger OK" in checked and "0 credits spendable" in checked

        # A run now, through the filesystem broker to a real worker on the same server.
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "credits_project", "worker", "--pool", "solo",
             "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip",
             "--without-mingle"], cwd=BASE_DIR, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shell(env, "from credits.tasks import lifecycle_run_now_task; "
                   "lifecycle_run_now_task.delay()")
        state = _wait_for_worker_run(env)

        assert state["status"] == "removed"
        assert state["ended_at"] == (T0 + hours(36, 10)).isoformat()
        assert state["hours"] == list(range(36))
        assert state["requested"] == 36 * 14_250
        assert state["drained"] == 500_000  # every credit granted, none twice
        assert state["balance"] == "0"
        assert state["changes"] == [["processed", "registered"],
                                    ["removing", "credit_insufficient"], ["processed", "funded"],
                                    ["removing", "credit_insufficient"],
                                    ["removed", "grace_expired"]]
        assert state["worker_runs"] == ["succeeded"]
        assert server.server_pid() == postmaster  # one server for every process
    finally:
        if worker is not None:
            _stop(worker)
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(60) == 0
    # The quick start's Ctrl-C: the holder was the last user, so the server is stopped.
    assert server.server_pid() is None


def _wait_for_worker_run(env) -> dict:
    deadline = time.monotonic() + 90
    while True:
        state = json.loads(shell(env, _STATE))
        if state["worker_runs"] and "running" not in state["worker_runs"]:
            return state
        assert time.monotonic() < deadline, f"the worker recorded no finished run: {state}"
        time.sleep(0.5)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
