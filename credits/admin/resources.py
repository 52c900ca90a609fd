"""Resources in the admin: each with its cost rows and status history, and the audit trail of
every status change (who or which run, from, to, why). Read-only: resources change only through
services (registration, the lifecycle, operators' actions)."""
from __future__ import annotations

import json

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Q
from django.utils.html import format_html

from pricing.enums import PaymentType

from ..models import CostRow, LifecycleRun, Resource, ResourceStatusChange
from .display import (
    decimal_html,
    hourly_charge_html,
    short_html,
    status_reason_text,
    when_text,
)
from .shared import (
    AddressSearchMixin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    change_url,
)


def changes_made_by_run(run_id: int) -> Q:
    """The status changes a run made: its own, or its shards' for a sharded run."""
    return Q(run_id=run_id) | Q(run__parent_id=run_id)


class CostRowInline(ReadOnlyInline):
    model = CostRow
    fields = ("position", "type", "name", "ref", "size_shown", "hold_shown", "stream_shown",
              "credit_shown", "pricing_version")

    @admin.display(description="size (MiB)")
    def size_shown(self, obj):
        return decimal_html(obj.size_mib)

    @admin.display(description="hold (tokens)")
    def hold_shown(self, obj):
        return decimal_html(obj.cost_hold)

    @admin.display(description="stream (tokens / s)")
    def stream_shown(self, obj):
        return decimal_html(obj.cost_stream_per_second)

    @admin.display(description="credits / s")
    def credit_shown(self, obj):
        return decimal_html(obj.cost_credit_per_second)


class StatusChangeInline(ReadOnlyInline):
    model = ResourceStatusChange
    fields = ("at", "from_status", "to_status", "reason_shown", "actor")
    verbose_name_plural = "Status history (newest first)"

    @admin.display(description="reason")
    def reason_shown(self, obj):
        return status_reason_text(obj.reason)


@admin.register(Resource)
class ResourceAdmin(AddressSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Resources change only through services (registration, lifecycle, operators' actions)."""

    address_lookup = "owner__address"
    list_display = ("hash_shown", "type", "owner_shown", "status", "payment_type", "product_type",
                    "created_at", "delete_after")
    list_display_links = ("hash_shown",)
    list_filter = ("status", "payment_type", "type", "product_type")
    search_fields = ("item_hash", "owner__address")
    search_help_text = "An item hash or an owner address (any case)."
    list_select_related = ("owner",)
    show_full_result_count = False
    fields = ("item_hash", "type", "owner", "status", "removal_reason", "removing_since",
              "delete_after", "product_type", "payment_type", "payment_chain", "pricing_version",
              "hold_shown", "stream_shown", "credit_shown", "charged_per_hour", "size_shown",
              "created_at",
              "ended_at", "content_shown")
    readonly_fields = fields
    inlines = [CostRowInline, StatusChangeInline]

    @admin.display(description="item hash", ordering="item_hash")
    def hash_shown(self, obj):
        return short_html(obj.item_hash)

    @admin.display(description="owner", ordering="owner__address")
    def owner_shown(self, obj):
        return short_html(obj.owner.address, width_ch=14)

    @admin.display(description="cost hold (tokens)")
    def hold_shown(self, obj):
        return decimal_html(obj.cost_hold)

    @admin.display(description="cost stream (tokens per second)")
    def stream_shown(self, obj):
        return decimal_html(obj.cost_stream_per_second)

    @admin.display(description="cost credit (credits per second)")
    def credit_shown(self, obj):
        return decimal_html(obj.cost_credit_per_second)

    @admin.display(description="size (MiB)")
    def size_shown(self, obj):
        return decimal_html(obj.size_mib)

    @admin.display(description="credits charged per hour")
    def charged_per_hour(self, obj):
        """What metering takes each hour (whole credits), beside the exact per-second rate."""
        if obj.payment_type != PaymentType.CREDIT:
            return "-"
        return hourly_charge_html(obj.cost_credit_per_second)

    @admin.display(description="content")
    def content_shown(self, obj):
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>",
                           json.dumps(obj.content, indent=2, sort_keys=True, default=str))


# --- status changes (audit) ----------------------------------------------------------------------

class StatusChangeRunFilter(admin.SimpleListFilter):
    """`?run=<id>`: the changes of a run (or of its shards); `?run=none`: people's and keys'."""

    title = "lifecycle run"
    parameter_name = "run"
    recent_runs = 20

    def lookups(self, request, model_admin):
        runs = (LifecycleRun.objects.filter(Q(flagged__gt=0) | Q(restored__gt=0)
                                            | Q(removed__gt=0), parent__isnull=True)
                .order_by("-started_at", "-id")[:self.recent_runs])
        choices = [("none", "none (a person or an API key)")]
        choices += [(str(run.pk), f"run {run.pk}, {when_text(run.started_at)}") for run in runs]
        value = self.value()
        if value and value.isdigit() and value not in {key for key, _ in choices}:
            choices.append((value, f"run {value}"))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == "none":
            return queryset.filter(run__isnull=True)
        if not value.isdigit():
            raise IncorrectLookupParameters(f"Not a run: {value!r}")
        return queryset.filter(changes_made_by_run(int(value)))


@admin.register(ResourceStatusChange)
class ResourceStatusChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit trail of every status transition: which resource, from, to, why, who or which
    run, when. Written only by the services."""

    list_display = ("at", "resource_link", "from_status", "to_status", "reason_shown", "actor",
                    "run_link")
    list_display_links = ("at",)
    list_filter = ("to_status", "from_status", StatusChangeRunFilter)
    search_fields = ("=resource__item_hash",)
    search_help_text = "An item hash, or its beginning."
    date_hierarchy = "at"
    list_select_related = ("resource", "run")
    list_per_page = 100
    show_full_result_count = False
    ordering = ("-at", "-id")
    fields = ("at", "resource_link", "from_status", "to_status", "reason_shown", "actor",
              "run_link")
    readonly_fields = fields

    @admin.display(description="reason", ordering="reason")
    def reason_shown(self, obj):
        return status_reason_text(obj.reason)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term:  # an item hash is matched whole or by its start (hashes are long)
            return queryset.filter(resource__item_hash__startswith=term), False
        return queryset, False

    @admin.display(description="resource", ordering="resource__item_hash")
    def resource_link(self, obj):
        return format_html('<a href="{}">{}</a>', change_url(obj.resource),
                           short_html(obj.resource.item_hash))

    @admin.display(description="run")
    def run_link(self, obj):
        if obj.run_id is None:
            return "-"
        return format_html('<a href="{}">run {}</a>', change_url(obj.run), obj.run_id)
