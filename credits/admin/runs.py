"""Lifecycle runs in the admin: what each run (or shard of a sharded run) did, newest first, with
the status changes it made; failures stand out. The ledger checks likewise. Read-only: runs and
checks write them."""
from __future__ import annotations

from datetime import datetime

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ..models import LedgerCheckpoint, LifecycleRun, LifecycleRunStatus, ResourceStatusChange
from .display import number_text, short_html, status_reason_text
from .resources import changes_made_by_run
from .shared import ReadOnlyAdminMixin, change_url, changelist_url

RUN_STATUS_CHANGES_SHOWN = 50
_STATUS_STYLE = {
    LifecycleRunStatus.FAILED: ("✖", "color:#ba2121;font-weight:bold"),
    LifecycleRunStatus.RUNNING: ("…", "color:#b36b00;font-weight:bold"),
    LifecycleRunStatus.SKIPPED: ("–", "color:#777"),
    LifecycleRunStatus.SUCCEEDED: ("✔", "color:#2a7d2a"),
}


def run_status_html(run: LifecycleRun, *, note: str = ""):
    """A run's status with its mark, coloured ("✖ Failed" in red), `note` after it."""
    mark, style = _STATUS_STYLE.get(run.status, ("", ""))
    return format_html('<span style="{}">{} {}</span>', style, mark,
                       run.get_status_display() + note)


def run_duration_text(started_at: datetime, finished_at: datetime | None) -> str:
    if finished_at is None:
        return "-"
    seconds = (finished_at - started_at).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s"


class RunKindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("whole", "whole runs"), ("shard", "shards of a sharded run")]

    def queryset(self, request, queryset):
        if self.value() == "whole":
            return queryset.filter(parent__isnull=True)
        if self.value() == "shard":
            return queryset.filter(parent__isnull=False)
        return queryset


@admin.register(LifecycleRun)
class LifecycleRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What each run (or shard) did, newest first; failures stand out."""

    # The instant evaluated (as_of) is the start but for time-travelling dry runs: on the page.
    list_display = ("started_at", "trigger", "status_shown", "accounts_shown", "resources_shown",
                    "charges_shown", "credits_charged_shown", "moves_shown", "errors_shown",
                    "duration", "shard")
    list_display_links = ("started_at",)
    # Only the triggers some run was recorded with (the choices would list every trigger).
    list_filter = ("status", ("trigger", admin.AllValuesFieldListFilter), "dry_run", RunKindFilter)
    date_hierarchy = "started_at"
    list_select_related = ("parent",)
    list_per_page = 50
    show_full_result_count = False
    ordering = ("-started_at", "-id")
    fields = ("status_shown", "started_at", "finished_at", "duration", "as_of", "trigger",
              "dry_run", "shard", "shards_shown", "accounts", "resources", "charges",
              "credits_charged", "credits_short", "expired_credits", "flagged", "restored",
              "removed", "errors", "error_messages_shown", "status_changes_shown")
    readonly_fields = fields

    @admin.display(description="status", ordering="status")
    def status_shown(self, obj):
        return run_status_html(obj, note=" (dry run)" if obj.dry_run else "")

    @admin.display(description="credits charged", ordering="credits_charged")
    def credits_charged_shown(self, obj):
        if obj.credits_short:
            return format_html('{} <span style="color:#ba2121">({} short)</span>',
                               f"{obj.credits_charged:,}", f"{obj.credits_short:,}")
        return f"{obj.credits_charged:,}"

    @admin.display(description="accounts", ordering="accounts")
    def accounts_shown(self, obj):
        return number_text(obj.accounts)

    @admin.display(description="resources", ordering="resources")
    def resources_shown(self, obj):
        return number_text(obj.resources)

    @admin.display(description="charges", ordering="charges")
    def charges_shown(self, obj):
        return number_text(obj.charges)

    @admin.display(description="flagged / restored / removed")
    def moves_shown(self, obj):
        return f"{obj.flagged:,} / {obj.restored:,} / {obj.removed:,}"

    @admin.display(description="errors", ordering="errors")
    def errors_shown(self, obj):
        if obj.errors:
            return format_html('<strong style="color:#ba2121">{}</strong>', obj.errors)
        return "0"

    @admin.display(description="duration")
    def duration(self, obj):
        return run_duration_text(obj.started_at, obj.finished_at)

    @admin.display(description="shard")
    def shard(self, obj):
        if obj.parent_id is not None:
            return format_html('<a href="{}">{} of {}, run {}</a>', change_url(obj.parent),
                               (obj.shard_index or 0) + 1, obj.shard_count, obj.parent_id)
        if obj.shard_count > 1:
            return f"{obj.shard_count} shards"
        return "-"

    @admin.display(description="shards")
    def shards_shown(self, obj):
        shards = list(obj.shards.order_by("shard_index", "pk"))
        if not shards:
            return "-"
        return format_html_join(
            mark_safe("<br>"), '<a href="{}">shard {}</a>: {}, {} flagged, {} restored, '
                                 '{} removed, {} errors',
            ((change_url(shard), shard.shard_index, shard.get_status_display(), shard.flagged,
              shard.restored, shard.removed, shard.errors) for shard in shards))

    @admin.display(description="error messages")
    def error_messages_shown(self, obj):
        if not obj.error_messages:
            return "none"
        return format_html('<pre style="white-space:pre-wrap;color:#ba2121">{}</pre>',
                           obj.error_messages)

    @admin.display(description="status changes made")
    def status_changes_shown(self, obj):
        changes = (ResourceStatusChange.objects.filter(changes_made_by_run(obj.pk))
                   .select_related("resource").order_by("at", "id"))
        total = changes.count()
        if not total:
            return "none"
        rows = format_html_join(
            "", "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((change_url(change.resource), short_html(change.resource.item_hash),
              change.get_from_status_display() or "-", change.get_to_status_display(),
              status_reason_text(change.reason))
             for change in changes[:RUN_STATUS_CHANGES_SHOWN]))
        more = (f" (the first {RUN_STATUS_CHANGES_SHOWN} are shown above)"
                if total > RUN_STATUS_CHANGES_SHOWN else "")
        return format_html(
            "<table><thead><tr><th>resource</th><th>from</th><th>to</th><th>why</th></tr>"
            "</thead><tbody>{}</tbody></table><p><a href='{}'>All {} status changes of this "
            "run</a>{}</p>", rows, changelist_url(ResourceStatusChange, run=obj.pk), total,
            more)


@admin.register(LedgerCheckpoint)
class LedgerCheckpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The ledger checks (`check_ledger`, the periodic "ledger check" and "ledger audit"),
    newest first; a check that found drifts stands out, with its drifts on its page."""

    list_display = ("started_at", "mode", "drifts_shown", "entries_read_shown", "duration",
                    "at")
    list_display_links = ("started_at",)
    list_filter = ("mode",)
    date_hierarchy = "started_at"
    list_per_page = 50
    show_full_result_count = False
    ordering = ("-id",)
    fields = ("mode", "at", "started_at", "finished_at", "duration", "drifts_shown",
              "entries_read_shown", "entry_id", "drain_id", "lot_id", "seen_entry_id",
              "seen_drain_id", "seen_lot_id", "drifts_listed")
    readonly_fields = fields

    @admin.display(description="drifts", ordering="drift_count")
    def drifts_shown(self, obj):
        if obj.drift_count:
            return format_html('<strong style="color:#ba2121">✖ {}</strong>', obj.drift_count)
        return mark_safe('<span style="color:#2a7d2a">✔ none</span>')

    @admin.display(description="entries read", ordering="entries_read")
    def entries_read_shown(self, obj):
        return number_text(obj.entries_read)

    @admin.display(description="duration")
    def duration(self, obj):
        return run_duration_text(obj.started_at, obj.finished_at)

    @admin.display(description="drifts found")
    def drifts_listed(self, obj):
        if not obj.drifts:
            return "-"
        more = obj.drift_count - obj.drifts.count("\n") - 1
        return format_html("<pre>{}</pre>{}", obj.drifts,
                           f"… and {more:,} more (run check_ledger to see them all)"
                           if more > 0 else "")
