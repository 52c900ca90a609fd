"""The operators' pending-deletions desk: resources in `removing`, soonest deadline first, with a
live countdown, the owner's shortfall and balance, filters, and three operations behind a
confirmation page — restore (only if the owner is funded now), extend the grace, delete now —
each made by `credits.services.operator` with its audit row (the pages: `desk_operations`).
"""
from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count, Q
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from pricing.enums import PaymentType

from ..addresses import InvalidAddress, normalize_address
from ..models import Account, PendingDeletion
from ..selectors.lifecycle import lifecycle_settings_get, shortfalls_by_resource
from . import desk_operations
from .display import (
    balance_text,
    countdown_html,
    decimal_text,
    minute_html,
    short_text,
    shortfall_text,
)
from .shared import AddressSearchMixin, ReadOnlyAdminMixin, change_url

OWNERS_LISTED_IN_FILTER = 30


# --- filters -------------------------------------------------------------------------------------

class DeadlineWindowFilter(admin.SimpleListFilter):
    """Due within 1, 6 or 24 hours (overdue included: the next run removes those), or overdue."""

    title = "deadline"
    parameter_name = "due"
    windows_hours = {"1h": 1, "6h": 6, "24h": 24}

    def lookups(self, request, model_admin):
        return [("1h", "due within 1 h"), ("6h", "due within 6 h"), ("24h", "due within 24 h"),
                ("overdue", "overdue")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        now = timezone.now()
        if value == "overdue":
            return queryset.filter(grace__delete_after__lte=now)
        if value not in self.windows_hours:
            raise IncorrectLookupParameters(f"Not a deadline window: {value!r}")
        return queryset.filter(
            grace__delete_after__lte=now + timedelta(hours=self.windows_hours[value]))


class OwnerFilter(admin.SimpleListFilter):
    """`?owner=<address>` in any case; lists the owners with the most pending deletions."""

    title = "owner"
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        owners = (Account.objects.filter(graces__isnull=False)
                  .annotate(pending=Count("graces"))
                  .order_by("-pending", "address")[:OWNERS_LISTED_IN_FILTER])
        choices = [(owner.address, f"{short_text(owner.address, head=8, tail=4)} ({owner.pending})")
                   for owner in owners]
        value = self.value()
        if value and value not in {address for address, _ in choices}:
            choices.append((value, short_text(value, head=8, tail=4)))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        try:
            address = normalize_address(value)
        except InvalidAddress as exc:
            raise IncorrectLookupParameters(str(exc)) from exc
        return queryset.filter(Q(owner__address=address) | Q(owner__address__iexact=value))


# --- the desk ------------------------------------------------------------------------------------

class PendingDeletionChangeList(ChangeList):
    """Computes the shortfalls of the page's rows at once (grouped by owner), not row by row."""

    def get_results(self, request):
        super().get_results(request)
        self.now = timezone.now()
        shortfalls = shortfalls_by_resource(resources=self.result_list, at=self.now)
        for resource in self.result_list:
            resource.shortfall = shortfalls.get(resource.pk)
            resource.shown_at = self.now


@admin.register(PendingDeletion)
class PendingDeletionAdmin(AddressSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Resources in `removing`, soonest deadline first, with what their owner lacks and a live
    countdown; operators restore, extend the grace or delete now (actions with a confirmation
    page; needs the "change pending deletion" permission). Nothing else changes them here: the
    lifecycle restores or removes them."""

    address_lookup = "owner__address"
    # What an operator needs first; the removal reason follows from the payment (credit or
    # tokens insufficient: a filter), and since when it is removing is on the resource's page.
    list_display = ("hash_shown", "type", "owner_shown", "payment_shown", "deadline_shown",
                    "countdown", "shortfall_shown", "owner_balance")
    list_display_links = ("hash_shown",)
    list_filter = ("removal_reason", "payment_type", DeadlineWindowFilter, OwnerFilter, "type")
    search_fields = ("item_hash", "owner__address")
    search_help_text = "An item hash or an owner address (any case)."
    list_select_related = ("owner",)
    list_per_page = 100
    show_full_result_count = False
    ordering = ("grace__delete_after", "id")
    sortable_by = ("deadline_shown", "countdown", "owner_shown")
    actions = ["restore_selected", "extend_grace_selected", "delete_now_selected"]
    fields = ("resource_link", "owner_link", "type", "payment_type", "payment_chain",
              "removal_reason", "removing_since", "delete_after", "countdown",
              "shortfall_detail", "owner_balance", "operations", "cost_credit_per_second",
              "cost_hold", "created_at")
    readonly_fields = fields

    class Media:
        css = {"all": ("credits/pending_deletions.css",)}
        js = ("credits/pending_deletions.js",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(grace__isnull=False)

    def get_changelist(self, request, **kwargs):
        return PendingDeletionChangeList

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    def changelist_view(self, request, extra_context=None):
        settings_ = lifecycle_settings_get()
        extra_context = {"title": "Pending deletions", **(extra_context or {}),
                         "funding_horizon_hours": settings_.funding_horizon_hours,
                         "grace_hours": settings_.grace_hours}
        return super().changelist_view(request, extra_context)

    # columns

    @admin.display(description="item hash", ordering="item_hash")
    def hash_shown(self, obj):
        return format_html('<span class="pd-hash" title="{}">{}</span>', obj.item_hash,
                           short_text(obj.item_hash, head=8, tail=4))

    @admin.display(description="owner", ordering="owner__address")
    def owner_shown(self, obj):
        return format_html('<a href="{}" title="{}" class="pd-owner">{}</a>',
                           change_url(obj.owner), obj.owner.address,
                           short_text(obj.owner.address, head=8, tail=4))

    @admin.display(description="payment", ordering="payment_type")
    def payment_shown(self, obj):
        if obj.payment_type == PaymentType.HOLD and obj.payment_chain:
            return f"{obj.get_payment_type_display()} ({obj.payment_chain})"
        return obj.get_payment_type_display()

    @admin.display(description="removing since", ordering="removing_since")
    def since_shown(self, obj):
        return minute_html(obj.removing_since)

    @admin.display(description="deadline", ordering="delete_after")
    def deadline_shown(self, obj):
        return minute_html(obj.delete_after)

    @admin.display(description="deleted in", ordering="delete_after")
    def countdown(self, obj):
        return countdown_html(obj.delete_after, getattr(obj, "shown_at", None) or timezone.now())

    @admin.display(description="shortfall")
    def shortfall_shown(self, obj):
        shortfall = getattr(obj, "shortfall", None)
        text = shortfall_text(shortfall)
        if shortfall is not None and shortfall.amount:
            text = format_html('<span style="color:#ba2121">{}</span>', text)
        return format_html('<span class="pd-nowrap">{}</span>', text)

    @admin.display(description="owner balance")
    def owner_balance(self, obj):
        shortfall = getattr(obj, "shortfall", None)
        if shortfall is None:  # the change page: not computed by the list
            shortfall = shortfalls_by_resource(resources=[obj])[obj.pk]
        return format_html('<span class="pd-nowrap">{}</span>', balance_text(shortfall))

    # the change page

    @admin.display(description="resource")
    def resource_link(self, obj):
        return format_html('<a href="{}">{}</a> (costs and status history)',
                           reverse("admin:credits_resource_change", args=[obj.pk]),
                           obj.item_hash)

    @admin.display(description="owner", ordering="owner__address")
    def owner_link(self, obj):
        return format_html('<a href="{}">{}</a>', change_url(obj.owner), obj.owner.address)

    @admin.display(description="shortfall")
    def shortfall_detail(self, obj):
        shortfall = shortfalls_by_resource(resources=[obj])[obj.pk]
        if shortfall.amount is None:
            return shortfall_text(shortfall)
        unit = "credits" if shortfall.unit == "credits" else f"tokens on {shortfall.chain}"
        needs = (f"one funding horizon ({lifecycle_settings_get().funding_horizon_hours} h) of "
                 f"its live credit-paid resources" if shortfall.unit == "credits"
                 else "the hold costs of its live hold-paid resources on this chain")
        return format_html("{} — the owner needs {} {} ({}) and has {}.",
                           shortfall_text(shortfall), decimal_text(shortfall.required), unit,
                           needs, decimal_text(shortfall.available))

    @admin.display(description="operations")
    def operations(self, obj):
        links = [format_html('<a class="button pd-operate-{}" href="{}?ids={}">{}</a>', name,
                             reverse("admin:credits_pendingdeletion_operate", args=[name]),
                             obj.pk, label)
                 for name, label in (("restore", "Restore…"), ("extend", "Extend grace…"),
                                     ("delete", "Delete now…"))]
        return format_html("{} {} {}", *links)

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if not self.has_operate_permission(request):
            fields = tuple(field for field in fields if field != "operations")
        return fields

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if not self.has_operate_permission(request):
            fields = tuple(field for field in fields if field != "operations")
        return fields

    # actions: each opens the confirmation page of its operation (`desk_operations`)

    @admin.action(description="Restore (owner funded again)…", permissions=["operate"])
    def restore_selected(self, request, queryset):
        return desk_operations.confirm_selected(self, request, queryset, "restore")

    @admin.action(description="Extend grace…", permissions=["operate"])
    def extend_grace_selected(self, request, queryset):
        return desk_operations.confirm_selected(self, request, queryset, "extend")

    @admin.action(description="Delete now…", permissions=["operate"])
    def delete_now_selected(self, request, queryset):
        return desk_operations.confirm_selected(self, request, queryset, "delete")

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [path("operate/<str:operation>/", self.admin_site.admin_view(self.operate_view),
                     name="%s_%s_operate" % info),
                *super().get_urls()]

    def operate_view(self, request, operation: str):
        """GET shows the confirmation page of `operation`, POST does it."""
        return desk_operations.operate_view(self, request, operation)
