"""The lifecycle controls in a real browser: staff finds them from the admin index, reads the
schedule, looks at the forecast (a resource that will be flagged), clicks "Run now" and sees the
run's counts, both when Celery runs the task at once and when the page has to wait for a worker.

Celery is eager in the live server's process (the same process as the test: its app conf is
switched, and put back after).
"""
import re
import uuid
from decimal import Decimal

import pytest
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from credits.models import Account, LifecycleRun, LifecycleTrigger, Resource, ResourceStatus
from credits.selectors.lifecycle import LIFECYCLE_PERIODIC_TASK_NAME
from credits.services.ledger import grant_create
from credits_project.celery import app as celery_app
from pricing.enums import MessageType, PaymentType, ProductType
from tests.e2e.conftest import screenshot

OWNER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
# 0.01 credits per second: 864 credits for the default 24 h funding horizon.
RATE = Decimal("0.01")


@pytest.fixture
def celery_eager():
    saved = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield celery_app
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


@pytest.fixture
def hourly_task(db):
    """The data migration's periodic task (written again if a flush removed it)."""
    crontab = CrontabSchedule.objects.filter(minute="0", hour="*", day_of_week="*",
                                             day_of_month="*", month_of_year="*").first() \
        or CrontabSchedule.objects.create(minute="0", timezone="UTC")
    task, _ = PeriodicTask.objects.get_or_create(
        name=LIFECYCLE_PERIODIC_TASK_NAME,
        defaults={"task": "credits.tasks.lifecycle_run_task", "crontab": crontab,
                  "enabled": True})
    return task


@pytest.fixture
def underfunded(default_version):
    """A credit-paid VM started now whose owner has 100 credits, not one day (864)."""
    account = Account.objects.create(address=OWNER)
    grant_create(address=OWNER, amount=100, expires_at=None, reference=f"e2e-{uuid.uuid4()}",
                 actor="test")
    return Resource.objects.create(
        item_hash=uuid.uuid4().hex * 2, type=MessageType.INSTANCE,
        content={"address": OWNER}, owner=account, product_type=ProductType.INSTANCE,
        payment_type=PaymentType.CREDIT, status=ResourceStatus.PROCESSED,
        pricing_version=default_version, cost_hold=Decimal(0),
        cost_stream_per_second=Decimal(0), cost_credit_per_second=RATE)


def _open_controls(page):
    page.goto(f"{page.base_url}/admin/")
    page.locator("a[href$='/admin/credits/lifecyclesettings/']").first.click()
    page.wait_for_selector("#lifecycle-schedule")


def test_staff_reads_the_schedule_forecasts_the_next_run_and_runs_it_now(
        admin_page, hourly_task, underfunded, celery_eager):
    # the controls, from the admin index
    _open_controls(admin_page)
    assert admin_page.inner_text("h1") == "Lifecycle controls"
    assert admin_page.inner_text("#lifecycle-schedule-words") \
        == "every hour at minute 0, UTC (cron 0 * * * *)"
    task_link = admin_page.locator("#lifecycle-periodic-task")
    assert task_link.get_attribute("href").endswith(
        f"/admin/django_celery_beat/periodictask/{hourly_task.pk}/change/")
    assert re.search(r"\(in \d+ min\)", admin_page.inner_text("#lifecycle-next-run"))

    # the forecast: the next scheduled run would flag the VM
    admin_page.click("#lifecycle-forecast-link")
    flagged = admin_page.locator("#forecast-flagged")
    assert "Would be flagged for deletion (1)" in flagged.inner_text()
    row = flagged.locator("tbody tr")
    assert underfunded.item_hash in row.inner_text()
    assert OWNER in row.inner_text()
    assert "Credit insufficient" in row.inner_text()
    assert "Would be removed (0)" in admin_page.inner_text("#forecast-removed")
    assert not LifecycleRun.objects.exists()  # the forecast left nothing behind

    # run now: queued through Celery (eager here), the result page shows the counts
    _open_controls(admin_page)
    admin_page.click("#lifecycle-run-now input[type=submit]")
    admin_page.wait_for_selector("#run-now-counts")
    run = LifecycleRun.objects.get(trigger=LifecycleTrigger.RUN_NOW)
    assert f"Run {run.pk}: ✔ Succeeded" in admin_page.inner_text("h2")
    counts = admin_page.inner_text("#run-now-counts")
    assert re.search(r"Flagged\s+1", counts) and re.search(r"Removed\s+0", counts)
    underfunded.refresh_from_db()
    assert underfunded.status == ResourceStatus.REMOVING

    # back on the controls, the run is the latest one
    admin_page.click("text=Back to the lifecycle controls")
    assert "run_now" in admin_page.inner_text("#lifecycle-recent-runs")
    screenshot(admin_page, "lifecycle-controls")


def test_the_run_now_page_waits_for_the_worker_then_shows_the_result(
        admin_page, hourly_task, underfunded, monkeypatch):
    from credits.tasks import lifecycle_run_now_task

    queued = []

    class Sent:
        id = "queued-for-a-worker"

    monkeypatch.setattr(lifecycle_run_now_task, "delay", lambda: queued.append(1) or Sent())
    _open_controls(admin_page)

    admin_page.click("#lifecycle-run-now input[type=submit]")

    assert "waiting for a Celery worker" in admin_page.inner_text("#run-now-message")
    assert queued == [1] and not LifecycleRun.objects.exists()

    # a worker runs the task: the page, polling, shows its result without a click
    lifecycle_run_now_task()
    admin_page.wait_for_selector("#run-now-counts", timeout=20_000)
    assert re.search(r"Flagged\s+1", admin_page.inner_text("#run-now-counts"))
