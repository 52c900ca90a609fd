"""Lifecycle controls in the admin: the schedule in words, "Run now" (queued through Celery, its
result shown once done), the forecast of the next run (exactly what a real run at that instant
then does, and nothing changed meanwhile), who may do what; and the resources on an account's page.

Celery runs eagerly where a run must happen; the clock is frozen (time-machine) where an instant
matters, and staff log in inside the frozen clock so their session is valid then.
"""
import json
import threading
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from credits.models import (
    Account,
    LedgerEntry,
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleSettings,
    LifecycleTrigger,
    RemovalReason,
    Resource,
    ResourceStatus,
    ResourceStatusChange,
    StatusChangeReason,
)
from credits.selectors.forecast import lifecycle_forecast, lifecycle_next_run_at
from credits.selectors.lifecycle import LIFECYCLE_PERIODIC_TASK_NAME
from credits.services.ledger import grant_create
from credits.services.lifecycle import lifecycle_run
from pricing.enums import PaymentType
from tests.credits.conftest import T0

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
# 0.01 credits per second: 36 credits an hour, 864 for the default 24 h funding horizon.
RATE = "0.01"
PER_HOUR = 36
PER_DAY = 864
CONTROLS = reverse("admin:credits_lifecyclesettings_change", args=[1])
RUN_NOW = reverse("admin:credits_lifecyclesettings_run_now")
RESULT = reverse("admin:credits_lifecyclesettings_run_now_result")
STATUS = reverse("admin:credits_lifecyclesettings_run_now_status")
FORECAST = reverse("admin:credits_lifecyclesettings_forecast")



@pytest.fixture
def at_t0_minus_20_min():
    """The clock frozen 20 minutes before T0 (00:00 UTC): the hourly task fires next at T0."""
    with time_machine.travel(T0 - timedelta(minutes=20), tick=False):
        yield T0 - timedelta(minutes=20)


@pytest.fixture
def staff(admin_user):
    """A superuser's client, logged in at the (possibly frozen) current instant."""
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def operator(django_user_model):
    """`operator(*codenames)`: a staff client with only those permissions."""
    def make(*codenames):
        user = django_user_model.objects.create_user(username=f"op-{'-'.join(codenames)}",
                                                     password="unused", is_staff=True)
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        client = Client()
        client.force_login(user)
        return client
    return make


@pytest.fixture
def seeded(ledger_resource_factory):
    """Four accounts as of T0, one per outcome of a run at T0:

    - `flagged`: 900 credits, a resource started 3 h 10 min before: the run charges 3 h
      (108), leaving 792 < 864, so it is flagged (without the metering it would be funded);
    - `restored`: pending deletion (deadline T0 + 10 h), its owner has plenty of credits now;
    - `removed`: pending deletion whose deadline passed an hour before T0, owner penniless;
    - `kept`: funded for days: nothing happens to it.
    """
    owners = {name: Account.objects.create(address=f"0x{number:040x}")
              for number, name in enumerate(("flagged", "restored", "removed", "kept"), start=1)}
    for name, amount in (("flagged", 900), ("restored", 10 * PER_DAY), ("kept", 10 * PER_DAY)):
        grant_create(address=owners[name].address, amount=amount, expires_at=None,
                     reference=f"seed-{name}", actor="test", at=T0 - 4 * HOUR)
    started = T0 - 3 * HOUR - timedelta(minutes=10)
    resources = {
        "flagged": ledger_resource_factory(owners["flagged"], cost_credit_per_second=RATE,
                                           created_at=started),
        "kept": ledger_resource_factory(owners["kept"], cost_credit_per_second=RATE,
                                        created_at=started),
    }
    for name, deadline in (("restored", T0 + 10 * HOUR), ("removed", T0 - HOUR)):
        resources[name] = ledger_resource_factory(
            owners[name], cost_credit_per_second=RATE, created_at=deadline - 30 * HOUR,
            charged_hours=6, status=ResourceStatus.REMOVING,
            removal_reason=RemovalReason.CREDIT_INSUFFICIENT,
            removing_since=deadline - 24 * HOUR, delete_after=deadline)
    return resources


def _snapshot():
    """Everything a run may change, to show that a forecast changed none of it."""
    return (list(Resource.objects.order_by("pk").values_list(
                "pk", "status", "delete_after", "meter__charged_hours")),
            LedgerEntry.objects.count(), ResourceStatusChange.objects.count(),
            LifecycleRun.objects.count())


# --- the forecast ---------------------------------------------------------------------------

def test_the_forecast_lists_exactly_what_a_real_run_at_that_instant_then_does(settings, seeded):
    # given
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    before = _snapshot()

    # when
    forecast = lifecycle_forecast(at=T0)

    # then it changed nothing, not even a run row
    assert _snapshot() == before
    assert forecast.flagged_ids == [seeded["flagged"].pk]
    assert forecast.restored_ids == [seeded["restored"].pk]
    assert forecast.removed_ids == [seeded["removed"].pk]
    # hours charged: 3 + 3 (flagged, kept), 20 - 6 (restored), 30 - 6 up to its deadline
    # (removed, whose owner has nothing: all short)
    assert (forecast.charges, forecast.credits_charged, forecast.credits_short) \
        == (44, 20 * PER_HOUR, 24 * PER_HOUR)

    # and a real run at the same instant does the same
    run = lifecycle_run(at=T0)
    assert run.counts.flagged_ids == forecast.flagged_ids
    assert run.counts.restored_ids == forecast.restored_ids
    assert run.counts.removed_ids == forecast.removed_ids
    assert (run.charges, run.credits_charged, run.credits_short, run.accounts, run.resources) \
        == (forecast.charges, forecast.credits_charged, forecast.credits_short,
            forecast.accounts, forecast.resources)
    assert {name: Resource.objects.get(pk=resource.pk).status
            for name, resource in seeded.items()} == {
        "flagged": ResourceStatus.REMOVING, "restored": ResourceStatus.PROCESSED,
        "removed": ResourceStatus.REMOVED, "kept": ResourceStatus.PROCESSED}


def test_the_forecast_rows_give_reason_and_deadline(seeded, settings):
    settings.LIFECYCLE_GRACE_HOURS = 24

    forecast = lifecycle_forecast(at=T0)

    (flagged,), (restored,), (removed,) = forecast.flagged, forecast.restored, forecast.removed
    assert (flagged.reason, flagged.deadline) == (RemovalReason.CREDIT_INSUFFICIENT,
                                                  T0 + 24 * HOUR)
    assert (restored.reason, restored.deadline) == (RemovalReason.CREDIT_INSUFFICIENT,
                                                    T0 + 10 * HOUR)
    assert (removed.reason, removed.deadline) == (StatusChangeReason.GRACE_EXPIRED, T0 - HOUR)
    assert flagged.resource.owner.address == seeded["flagged"].owner.address


def test_the_forecast_shows_at_most_the_rows_asked_for_and_counts_them_all(
        ledger_resource_factory):
    poor = Account.objects.create(address=f"0x{7:040x}")
    resources = [ledger_resource_factory(poor, cost_credit_per_second=RATE, created_at=T0)
                 for _ in range(3)]

    forecast = lifecycle_forecast(at=T0 + timedelta(minutes=5), rows_limit=2)

    assert forecast.flagged_total == 3
    assert forecast.flagged_ids == [resources[0].pk, resources[1].pk]


def test_a_forecast_reads_only_and_takes_no_lock(seeded):
    with CaptureQueriesContext(connection) as captured:
        forecast = lifecycle_forecast(at=T0)

    assert forecast.flagged_total == 1
    statements = [query["sql"].upper().lstrip() for query in captured.captured_queries]
    # Only reads (a server-side cursor is declared for the owners' list).
    assert all(sql.startswith(("SELECT", "DECLARE")) for sql in statements), \
        [sql[:60] for sql in statements if not sql.startswith(("SELECT", "DECLARE"))]
    assert not [sql for sql in statements
                if "FOR UPDATE" in sql or "FOR SHARE" in sql or "PG_ADVISORY" in sql]


def test_a_forecast_goes_on_while_a_run_holds_the_lifecycle_lock(seeded):
    from credits.locks import lifecycle_lock

    held, release = threading.Event(), threading.Event()

    def run_in_progress():  # another session, as a worker's run would be
        try:
            with lifecycle_lock("all") as acquired:
                assert acquired
                held.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=run_in_progress)
    thread.start()
    try:
        assert held.wait(30)
        forecast = lifecycle_forecast(at=T0)
    finally:
        release.set()
        thread.join(30)

    assert (forecast.flagged_ids, forecast.removed_ids) \
        == ([seeded["flagged"].pk], [seeded["removed"].pk])


# --- the next scheduled instant ---------------------------------------------------------------

def test_the_next_run_of_the_hourly_crontab_is_the_next_minute_zero():
    # the data migration's task: every hour at minute 0, UTC
    assert lifecycle_next_run_at(after=T0 + timedelta(minutes=20)).at == T0 + HOUR
    assert lifecycle_next_run_at(after=T0).at == T0 + HOUR  # strictly after
    assert lifecycle_next_run_at(after=T0 - timedelta(seconds=1)).source == "crontab"


def test_the_next_run_follows_a_retimed_crontab_in_its_time_zone():
    task = PeriodicTask.objects.get(name=LIFECYCLE_PERIODIC_TASK_NAME)
    task.crontab = CrontabSchedule.objects.create(minute="30", hour="9", day_of_week="1",
                                                  timezone="Europe/Paris")
    task.save()

    # T0 is a Tuesday; the next Monday 09:30 in Paris (winter, UTC+1) is 08:30 UTC
    assert lifecycle_next_run_at(after=T0).at == T0 + timedelta(days=6, hours=8, minutes=30)


def test_the_next_run_of_an_interval_is_one_interval_after_the_last_one():
    task = PeriodicTask.objects.get(name=LIFECYCLE_PERIODIC_TASK_NAME)
    task.crontab = None
    task.interval = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.HOURS)
    task.last_run_at = T0
    task.save()

    assert lifecycle_next_run_at(after=T0 + HOUR).at == T0 + 2 * HOUR
    # overdue: at once
    assert lifecycle_next_run_at(after=T0 + 5 * HOUR).at == T0 + 5 * HOUR


def test_without_a_periodic_task_the_forecast_looks_one_hour_ahead():
    PeriodicTask.objects.filter(name=LIFECYCLE_PERIODIC_TASK_NAME).delete()

    next_run = lifecycle_next_run_at(after=T0)

    assert (next_run.at, next_run.source, next_run.enabled) == (T0 + HOUR, "fallback", False)


# --- the controls page ----------------------------------------------------------------------

def test_the_replaced_admins_pass_the_admin_checks():
    from django.contrib import admin

    for model in (LifecycleSettings, Account):
        assert admin.site._registry[model].check() == []


def test_the_controls_page_shows_the_schedule_in_words_and_links_to_its_periodic_task(
        at_t0_minus_20_min, staff):
    task = PeriodicTask.objects.get(name=LIFECYCLE_PERIODIC_TASK_NAME)

    page = staff.get(CONTROLS).content.decode()

    assert "Lifecycle controls" in page
    assert "every hour at minute 0, UTC (cron 0 * * * *)" in page
    assert reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]) in page
    assert "enabled" in page
    assert "(in 20 min)" in page
    assert f'action="{RUN_NOW}"' in page and FORECAST in page
    assert 'name="grace_hours"' in page  # the settings form is still there


def test_the_controls_page_says_when_the_periodic_task_is_disabled(admin_client):
    PeriodicTask.objects.filter(name=LIFECYCLE_PERIODIC_TASK_NAME).update(enabled=False)

    page = admin_client.get(CONTROLS).content.decode()

    assert "disabled: no scheduled run happens" in page


def test_the_settings_can_still_be_saved_from_the_controls_page(admin_client):
    admin_client.get(CONTROLS)

    response = admin_client.post(CONTROLS, {"grace_hours": "48", "metering_enabled": "on",
                                            "funding_horizon_hours": "24"})

    assert response.status_code == 302
    assert admin_client.get(CONTROLS).context["adminform"].form.instance.grace_hours == 48


# --- run now --------------------------------------------------------------------------------

def test_run_now_queues_a_run_and_its_page_shows_the_result(
        at_t0_minus_20_min, staff, celery_eager, seeded, settings):
    # given the clock 20 min before T0: the flagged account has 900 credits, 3 h charged
    # at T0 - 20 min would leave 792 (< 864 for a day)

    # when
    response = staff.post(RUN_NOW)

    # then a run was recorded by the task, and the result page shows it
    assert response.status_code == 302
    run = LifecycleRun.objects.get(trigger=LifecycleTrigger.RUN_NOW)
    assert (run.status, run.dry_run, run.flagged, run.restored) \
        == (LifecycleRunStatus.SUCCEEDED, False, 1, 1)
    page = staff.get(response["Location"])
    text = page.content.decode()
    assert page.context["done"] and page.context["run"] == run
    assert f"Run {run.pk}:" in text and "Succeeded" in text
    assert ("Flagged", "1") in page.context["counts"]
    status = json.loads(staff.get(STATUS, {"since": parse_qs(
        urlsplit(response["Location"]).query)["since"][0]}).content)
    assert status["done"] and status["run"]["id"] == run.pk
    assert (status["run"]["flagged"], status["run"]["restored"]) == (1, 1)
    # who asked is in the admin's log of the settings row
    assert LogEntry.objects.get().get_change_message() == "Queued a lifecycle run (run now)."


def test_run_now_only_queues_the_task_and_the_page_waits_for_a_worker(
        at_t0_minus_20_min, staff, seeded, monkeypatch):
    from credits.tasks import lifecycle_run_now_task

    queued = []

    class Sent:
        id = "task-1"

    monkeypatch.setattr(lifecycle_run_now_task, "delay", lambda: queued.append(1) or Sent())

    response = staff.post(RUN_NOW)

    # queued, not run
    assert queued == [1]
    assert not LifecycleRun.objects.exists()
    since = parse_qs(urlsplit(response["Location"]).query)["since"][0]
    waiting = staff.get(response["Location"])
    assert not waiting.context["done"]
    assert "waiting for a Celery worker" in waiting.content.decode()
    assert json.loads(staff.get(STATUS, {"since": since}).content) \
        == {"found": False, "done": False, "run": None,
            "message": "Queued 0 s ago; waiting for a Celery worker to start it."}

    # when a worker runs the task, the polled status has the run and the page its counts
    lifecycle_run_now_task()
    status = json.loads(staff.get(STATUS, {"since": since}).content)
    assert status["done"] and status["run"]["flagged"] == 1
    assert staff.get(response["Location"]).context["done"]


def test_a_run_started_before_the_click_is_not_taken_for_its_result(staff):
    LifecycleRun.objects.create(as_of=T0, started_at=T0, finished_at=T0,
                                trigger=LifecycleTrigger.RUN_NOW,
                                status=LifecycleRunStatus.SUCCEEDED)

    status = json.loads(staff.get(STATUS, {"since": (T0 + HOUR).isoformat()}).content)

    assert status["found"] is False


def test_run_now_is_refused_on_get_and_without_the_csrf_token(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    assert client.get(RUN_NOW).status_code == 405
    assert client.post(RUN_NOW).status_code == 403
    assert not LifecycleRun.objects.exists()


def test_staff_without_the_change_permission_cannot_run_now(operator, monkeypatch):
    from credits.tasks import lifecycle_run_now_task

    queued = []
    monkeypatch.setattr(lifecycle_run_now_task, "delay", lambda: queued.append(1))
    viewer = operator("view_lifecyclesettings")

    page = viewer.get(CONTROLS)
    response = viewer.post(RUN_NOW)

    assert page.status_code == 200
    assert "every hour at minute 0" in page.content.decode()
    assert 'value="Run now"' not in page.content.decode()
    assert response.status_code == 403
    assert queued == []


def test_staff_with_the_change_permission_can_run_now(operator, celery_eager):
    changer = operator("view_lifecyclesettings", "change_lifecyclesettings")

    response = changer.post(RUN_NOW)

    assert response.status_code == 302
    assert LifecycleRun.objects.filter(trigger=LifecycleTrigger.RUN_NOW).count() == 1


def test_staff_without_any_lifecycle_permission_sees_neither_forecast_nor_results(operator):
    nobody = operator("view_account")

    assert nobody.get(FORECAST).status_code == 403
    assert nobody.get(RESULT, {"since": T0.isoformat()}).status_code == 403
    assert nobody.get(STATUS, {"since": T0.isoformat()}).status_code == 403


def test_a_result_page_without_an_instant_is_a_bad_request(staff):
    assert staff.get(RESULT, {"since": "yesterday"}).status_code == 400
    assert staff.get(RESULT, {"since": "2030-13-01T00:00:00+00:00"}).status_code == 400
    assert staff.get(RESULT, {"since": "2030-01-01T00:00:00"}).status_code == 400  # no offset
    assert staff.get(STATUS).status_code == 400


# --- the forecast page ----------------------------------------------------------------------

def test_the_forecast_page_lists_what_the_next_scheduled_run_would_do(
        at_t0_minus_20_min, staff, seeded):
    before = _snapshot()

    response = staff.get(FORECAST)

    page = response.content.decode()
    forecast = response.context["forecast"]
    assert forecast.at == T0  # the next minute 0
    assert _snapshot() == before
    flagged = page.split('id="forecast-flagged"', 1)[1].split("</section>", 1)[0]
    restored = page.split('id="forecast-restored"', 1)[1].split("</section>", 1)[0]
    removed = page.split('id="forecast-removed"', 1)[1].split("</section>", 1)[0]
    assert seeded["flagged"].item_hash in flagged
    assert seeded["flagged"].owner.address in flagged
    assert reverse("admin:credits_resource_change", args=[seeded["flagged"].pk]) in flagged
    assert "Credit insufficient" in flagged
    assert seeded["restored"].item_hash in restored
    assert seeded["removed"].item_hash in removed and "Grace over" in removed
    assert seeded["kept"].item_hash not in page
    assert "the next scheduled run" in page


def test_the_forecast_page_takes_another_instant(at_t0_minus_20_min, staff, seeded):
    response = staff.get(FORECAST, {"at": "2030-01-01T12:00"})

    assert response.context["forecast"].at == T0 + 12 * HOUR
    assert response.context["chosen"]


@pytest.mark.parametrize("asked", ["2029-12-31T10:00", "2030-01-03T00:00", "2030-02-30T00:00",
                                   "soon"])
def test_the_forecast_page_refuses_an_instant_past_too_far_or_not_one(at_t0_minus_20_min, staff,
                                                                      asked):
    response = staff.get(FORECAST, {"at": asked})

    assert response.context["forecast"].at == T0  # the next scheduled run instead
    assert "A forecast instant is a date and time" in response.content.decode()


def test_a_viewer_may_see_the_forecast(at_t0_minus_20_min, operator, seeded):
    viewer = operator("view_lifecyclesettings")

    response = viewer.get(FORECAST)

    assert response.status_code == 200
    assert response.context["forecast"].flagged_ids == [seeded["flagged"].pk]


# --- accounts -------------------------------------------------------------------------------

def test_the_account_page_lists_its_resources_pending_deletions_first(admin_client, seeded,
                                                                     ledger_resource_factory):
    owner = seeded["restored"].owner
    running = ledger_resource_factory(owner, cost_credit_per_second=RATE)
    gone = ledger_resource_factory(owner, status=ResourceStatus.REMOVED,
                                   payment_type=PaymentType.HOLD, cost_hold=Decimal(1))

    page = admin_client.get(reverse("admin:credits_account_change",
                                    args=[owner.pk])).content.decode()

    table = page.split("account-resources", 1)[1].split("</table>", 1)[0]
    positions = [table.index(resource.item_hash)
                 for resource in (seeded["restored"], running, gone)]
    assert positions == sorted(positions)
    assert ">36<" in table  # credits charged per hour at 0.01 credit per second
    assert f"{reverse('admin:credits_resource_changelist')}?owner__id__exact={owner.pk}" in page
