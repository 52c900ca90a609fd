"""The lifecycle's control panel in the admin: its settings (one row, with history) with the
schedule in words and its periodic task, the next and last runs, "Run now" through Celery with a
page that shows the run once a worker has done it, and the forecast of the next run."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import capfirst
from simple_history.admin import SimpleHistoryAdmin

from ..models import (
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleSettings,
    LifecycleTrigger,
)
from ..selectors.forecast import lifecycle_forecast, lifecycle_next_run_at
from ..selectors.lifecycle import (
    LIFECYCLE_PERIODIC_TASK_NAME,
    lifecycle_periodic_task,
    lifecycle_settings_get,
)
from ..services.lifecycle_settings import lifecycle_settings_ensure
from .display import status_reason_text, when_text
from .forms import LifecycleSettingsForm
from .runs import run_duration_text, run_status_html
from .shared import change_url, changelist_url

logger = logging.getLogger(__name__)

RECENT_RUNS_SHOWN = 5
FORECAST_ROWS_SHOWN = 200
# How far ahead an operator may ask for a forecast: it meters every hour until then for every
# live credit resource (one charge per resource and hour, in memory), so it is kept short.
FORECAST_MAX_AHEAD = timedelta(hours=48)
FORECAST_MAX_AHEAD_TEXT = "48 hours"
# After this long with no run recorded, the result page says a worker may not be running.
PICKUP_EXPECTED_SECONDS = 30


# --- the schedule and waits in words, a run as JSON ----------------------------------------------

def schedule_in_words(task) -> str:
    """"every hour at minute 0, UTC (cron 0 * * * *)", "every 2 hours", "once, at …"."""
    if task.crontab is not None:
        crontab = task.crontab
        zone = str(crontab.timezone)
        cron = " ".join((crontab.minute, crontab.hour, crontab.day_of_month,
                         crontab.month_of_year, crontab.day_of_week))
        if crontab.minute.isdigit() and cron.endswith(" * * * *"):
            words = f"every hour at minute {int(crontab.minute)}"
        else:
            words = crontab.human_readable.removesuffix(f" {zone}")
            words = words[:1].lower() + words[1:]
        return f"{words}, {zone} (cron {cron})"
    if task.interval is not None:
        return str(task.interval)
    if task.clocked is not None:
        return f"once, at {when_text(task.clocked.clocked_time)}"
    if task.solar is not None:
        return f"at {task.solar}"
    return "no schedule"


def _in_words(delta: timedelta) -> str:
    """"in 12 min", "in 3 h 5 min", "now"."""
    minutes = int(delta.total_seconds() // 60)
    if minutes <= 0:
        return "now"
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "",
             f"{minutes} min" if minutes else ""]
    return "in " + " ".join(part for part in parts if part)


def _run_json(run: LifecycleRun) -> dict:
    return {
        "id": run.pk,
        "url": change_url(run),
        "trigger": run.trigger,
        "status": run.status,
        "status_display": run.get_status_display(),
        "done": run.finished_at is not None,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "as_of": run.as_of.isoformat(),
        **{name: getattr(run, name) for name in LifecycleRun.COUNT_FIELDS},
    }


# --- the control panel ---------------------------------------------------------------------------

@admin.register(LifecycleSettings)
class LifecycleSettingsAdmin(SimpleHistoryAdmin):
    """One row: the list opens it, nothing adds or deletes it, every change is in its history
    (who, when, what), and the schedule is the django-celery-beat periodic task's. Its page is
    the control panel: the schedule, "Run now" and the forecast around the form."""

    form = LifecycleSettingsForm
    fieldsets = (("Settings", {"fields": ("grace_hours", "metering_enabled",
                                          "funding_horizon_hours", "updated_at")}),)
    readonly_fields = ("updated_at",)
    history_list_display = ("grace_hours", "metering_enabled", "funding_horizon_hours")

    def has_add_permission(self, request):
        # The row is created from the defaults when its page is first opened
        # (`lifecycle_settings_ensure`).
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):
        # A viewer's form has no editable field, and `LifecycleSettingsForm` sets the help of
        # each of them: it would fail (KeyError). The page shows the values read-only instead.
        if not self.has_change_permission(request, obj):
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        custom = [
            path("run-now/", view(self.run_now_view), name="%s_%s_run_now" % info),
            path("run-now/result/", view(self.run_now_result_view),
                 name="%s_%s_run_now_result" % info),
            path("run-now/result.json", view(self.run_now_status_view),
                 name="%s_%s_run_now_status" % info),
            path("forecast/", view(self.forecast_view), name="%s_%s_forecast" % info),
        ]
        return custom + super().get_urls()

    def _url(self, name: str) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}")

    def _controls_url(self) -> str:
        return change_url(lifecycle_settings_get())

    # the control panel

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return redirect(change_url(lifecycle_settings_ensure()))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**self._controls_context(request), **(extra_context or {})}
        lifecycle_settings_ensure()  # the row exists before its page is asked for
        return super().change_view(request, object_id, form_url, extra_context)

    def _controls_context(self, request) -> dict:
        now = timezone.now()
        task = lifecycle_periodic_task()
        next_run = lifecycle_next_run_at(after=now)
        runs = list(LifecycleRun.objects.filter(parent__isnull=True)
                    .order_by("-started_at", "-id")[:RECENT_RUNS_SHOWN])
        last_beat_run = (LifecycleRun.objects
                         .filter(parent__isnull=True, trigger=LifecycleTrigger.BEAT)
                         .order_by("-started_at", "-id").first())
        return {
            "title": "Lifecycle controls",
            "task": task,
            "task_name": LIFECYCLE_PERIODIC_TASK_NAME,
            "task_url": (reverse("admin:django_celery_beat_periodictask_change",
                                 args=[task.pk]) if task else None),
            "schedule_words": schedule_in_words(task) if task else "",
            "task_last_run_at": when_text(task.last_run_at) if task else "",
            "next_run": next_run,
            "next_run_at": when_text(next_run.at),
            "next_run_in": _in_words(next_run.at - now),
            "last_beat_run": last_beat_run,
            "last_beat_run_at": when_text(last_beat_run.started_at) if last_beat_run else "",
            "recent_runs": [{"run": run, "url": change_url(run),
                             "started_at": when_text(run.started_at),
                             "status": run_status_html(run),
                             "duration": run_duration_text(run.started_at, run.finished_at)}
                            for run in runs],
            "runs_url": changelist_url(LifecycleRun),
            "can_run_now": self.has_change_permission(request),
            "run_now_url": self._url("run_now"),
            "forecast_url": self._url("forecast"),
        }

    # run now

    def run_now_view(self, request):
        """Queue a run through Celery (a worker picks it up), then show its result page."""
        from celery.result import EagerResult

        from ..tasks import lifecycle_run_now_task

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        queued_at = timezone.now()
        try:
            result = lifecycle_run_now_task.delay()
        except Exception as exc:  # the broker is down, or an eager run raised
            logger.exception("run now: the lifecycle run could not be queued")
            self.message_user(request, f"The run could not be queued: {exc}", messages.ERROR)
            return redirect(self._controls_url())
        if isinstance(result, EagerResult) and result.failed():
            self.message_user(request, f"The run failed: {result.result}", messages.ERROR)
            return redirect(self._controls_url())
        self.log_change(request, lifecycle_settings_ensure(),
                        "Queued a lifecycle run (run now).")
        query = urlencode({"since": queued_at.isoformat(), "task": result.id})
        return redirect(f"{self._url('run_now_result')}?{query}")

    @staticmethod
    def _run_after(since: datetime) -> LifecycleRun | None:
        """The first run asked for with "run now" that started at or after `since` (the click):
        runs are started in the order they were queued."""
        return (LifecycleRun.objects.filter(trigger=LifecycleTrigger.RUN_NOW, parent__isnull=True,
                                            started_at__gte=since)
                .order_by("started_at", "id").first())

    @staticmethod
    def _since(request) -> datetime | None:
        value = _parse_datetime(request.GET.get("since", "").replace(" ", "+"))
        return value if value is not None and timezone.is_aware(value) else None

    @staticmethod
    def _waiting_message(run: LifecycleRun | None, since: datetime, now: datetime) -> str:
        if run is None:
            waited = int((now - since).total_seconds())
            text = f"Queued {waited} s ago; waiting for a Celery worker to start it."
            if waited >= PICKUP_EXPECTED_SECONDS:
                text += (" No worker seems to have picked it up: is one running "
                         "(celery -A credits_project worker)?")
            return text
        if run.finished_at is None:
            return f"Running since {when_text(run.started_at)} (run {run.pk})."
        return f"Run {run.pk}: {run.get_status_display()}."

    def run_now_status_view(self, request):
        """JSON for the result page's polling: whether the run has been done, and its counts."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        since = self._since(request)
        if since is None:
            return JsonResponse({"error": "since: an ISO 8601 instant with its offset"},
                                status=400)
        run = self._run_after(since)
        return JsonResponse({
            "found": run is not None,
            "done": run is not None and run.finished_at is not None,
            "message": self._waiting_message(run, since, timezone.now()),
            "run": _run_json(run) if run is not None else None,
        })

    def run_now_result_view(self, request):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        since = self._since(request)
        if since is None:
            return HttpResponseBadRequest("since: an ISO 8601 instant with its offset")
        run = self._run_after(since)
        done = run is not None and run.finished_at is not None
        counts = []
        if run is not None:
            counts = [(capfirst(run._meta.get_field(name).verbose_name),
                       f"{getattr(run, name):,}")
                      for name in LifecycleRun.COUNT_FIELDS]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Run now: result" if done else "Run now: waiting for the run",
            "since": when_text(since),
            "task_id": request.GET.get("task", ""),
            "run": run,
            "done": done,
            "failed": done and run.status == LifecycleRunStatus.FAILED,
            "status_html": run_status_html(run) if run is not None else "",
            "duration": run_duration_text(run.started_at, run.finished_at) if done else "",
            "counts": counts,
            "run_url": change_url(run) if run is not None else "",
            "message": self._waiting_message(run, since, timezone.now()),
            "status_url": self._url("run_now_status") + "?" + urlencode(
                {"since": since.isoformat()}),
            "controls_url": self._controls_url(),
            "runs_url": changelist_url(LifecycleRun),
        }
        return TemplateResponse(request, "admin/credits/lifecyclerun/run_now_result.html",
                                context)

    # forecast

    def forecast_view(self, request):
        """What the next scheduled run (or a run at `?at=`) would flag, restore and remove."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        now = timezone.now()
        next_run = lifecycle_next_run_at(after=now)
        at, chosen = next_run.at, False
        if request.GET.get("at"):
            asked = _parse_instant(request.GET["at"])
            if asked is None or not now < asked <= now + FORECAST_MAX_AHEAD:
                self.message_user(
                    request, "A forecast instant is a date and time (UTC) after now and within "
                             f"{FORECAST_MAX_AHEAD_TEXT}; showing the next scheduled run instead.",
                    messages.ERROR)
            else:
                at, chosen = asked, True
        forecast = lifecycle_forecast(at=at, rows_limit=FORECAST_ROWS_SHOWN)
        tables = [
            ("flagged", "Would be flagged for deletion", forecast.flagged_total,
             "Live resources their owner cannot fund for the funding horizon: they go to "
             "“removing”, with this deadline.", _forecast_rows(forecast.flagged)),
            ("restored", "Would be restored", forecast.restored_total,
             "Pending deletions their owner funds again: back to “processed”; the deadline "
             "they escape.", _forecast_rows(forecast.restored)),
            ("removed", "Would be removed", forecast.removed_total,
             "Pending deletions whose grace is over by then: removed for good.",
             _forecast_rows(forecast.removed)),
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Forecast of the next lifecycle run",
            "forecast": forecast,
            "at": when_text(at),
            "at_input": timezone.localtime(at).strftime("%Y-%m-%dT%H:%M"),
            "at_in": _in_words(at - now),
            "chosen": chosen,
            "next_run": next_run,
            "task": lifecycle_periodic_task(),
            "tables": tables,
            "rows_shown": FORECAST_ROWS_SHOWN,
            "max_ahead": FORECAST_MAX_AHEAD_TEXT,
            "controls_url": self._controls_url(),
            "forecast_url": self._url("forecast"),
            "metering_enabled": lifecycle_settings_get().metering_enabled,
        }
        return TemplateResponse(request, "admin/credits/forecast.html", context)


def _parse_instant(text: str) -> datetime | None:
    """An ISO instant; without an offset it is in the site's time zone (a datetime-local input)."""
    value = _parse_datetime(text.strip().replace(" ", "T", 1))
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _parse_datetime(text: str) -> datetime | None:
    try:
        return parse_datetime(text)
    except ValueError:  # well formed, but not a date (a 13th month)
        return None


def _forecast_rows(rows) -> list[dict]:
    return [{"resource": row.resource, "resource_url": change_url(row.resource),
             "owner": row.resource.owner.address, "owner_url": change_url(row.resource.owner),
             "type": row.resource.get_type_display(),
             "payment_type": row.resource.get_payment_type_display(),
             "reason": status_reason_text(row.reason),
             "deadline": when_text(row.deadline) if row.deadline else "-"} for row in rows]
