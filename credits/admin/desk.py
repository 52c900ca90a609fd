"""The operators' pending-deletions desk: resources in `removing`, soonest deadline first, with a
live countdown, the owner's shortfall and balance, filters, and three operations behind a
confirmation page — restore (only if the owner is funded now), extend the grace, delete now —
each made by `credits.services.operator` with its audit row.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from credits_project.errors import DomainError
from pricing.enums import PaymentType

from ..addresses import InvalidAddress, normalize_address
from ..models import Account, PendingDeletion, Resource, ResourceStatus
from ..selectors.lifecycle import Shortfall, lifecycle_settings_get, shortfalls_by_resource
from ..services.operator import (
    resource_delete_now,
    resource_extend_grace,
    resource_restore,
)
from .forms import DeleteNowForm, ExtendGraceForm, RestoreForm
from .shared import AddressSearchMixin, ReadOnlyAdminMixin, change_url

# One confirmation page handles at most this many resources (a page of the list).
MAX_RESOURCES_PER_OPERATION = 100
OWNERS_LISTED_IN_FILTER = 30


# --- text ----------------------------------------------------------------------------------------

def _short(text: str, *, head: int = 10, tail: int = 6) -> str:
    return text if len(text) <= head + tail + 1 else f"{text[:head]}…{text[-tail:]}"


def _minute_shown(value):
    """A date and time that may wrap between the two (the desk's columns are narrow)."""
    local = timezone.localtime(value)
    return format_html('<span class="pd-nowrap">{}</span> <span class="pd-nowrap">{}</span>',
                       local.strftime("%Y-%m-%d"), local.strftime("%H:%M"))


def _time_left(delete_after: datetime, now: datetime) -> str:
    """"5 h 12 min", "12 min", "< 1 min", or "overdue" once the deadline has passed."""
    seconds = (delete_after - now).total_seconds()
    if seconds <= 0:
        return "overdue"
    minutes = int(seconds // 60)
    if minutes == 0:
        return "< 1 min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _countdown(delete_after, now):
    """The server's "time left" text, which the desk's script turns into a live countdown."""
    text = _time_left(delete_after, now)
    classes = "pd-countdown"
    if text == "overdue":
        classes += " pd-overdue"
    elif (delete_after - now) < timedelta(hours=1):
        classes += " pd-soon"
    return format_html('<span class="{}" data-deadline="{}" data-now="{}">{}</span>', classes,
                       delete_after.isoformat(), now.isoformat(), text)


def _decimal(value) -> str:
    """An 18-decimal amount without its trailing zeros, with thousands separators."""
    return f"{value.normalize():,f}" if value else "0"


def _shortfall_text(shortfall: Shortfall | None) -> str:
    if shortfall is None or shortfall.amount is None:
        return "not checked (stream)"
    if shortfall.amount == 0:
        return "funded"
    if shortfall.unit == "credits":
        return f"{shortfall.to_add:,} credits"
    return f"{_decimal(shortfall.amount)} tokens on {shortfall.chain or '?'}"


def _balance_text(shortfall: Shortfall | None) -> str:
    if shortfall is None or shortfall.available is None:
        return "-"
    if shortfall.unit == "credits":
        return f"{int(shortfall.available):,} credits"
    return f"{_decimal(shortfall.available)} tokens on {shortfall.chain or '?'}"


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
            return queryset.filter(delete_after__lte=now)
        if value not in self.windows_hours:
            raise IncorrectLookupParameters(f"Not a deadline window: {value!r}")
        return queryset.filter(delete_after__lte=now + timedelta(hours=self.windows_hours[value]))


class OwnerFilter(admin.SimpleListFilter):
    """`?owner=<address>` in any case; lists the owners with the most pending deletions."""

    title = "owner"
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        owners = (Account.objects.filter(resources__status=ResourceStatus.REMOVING)
                  .annotate(pending=Count("resources",
                                          filter=Q(resources__status=ResourceStatus.REMOVING)))
                  .order_by("-pending", "address")[:OWNERS_LISTED_IN_FILTER])
        choices = [(owner.address, f"{_short(owner.address, head=8, tail=4)} ({owner.pending})")
                   for owner in owners]
        value = self.value()
        if value and value not in {address for address, _ in choices}:
            choices.append((value, _short(value, head=8, tail=4)))
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


# --- operations ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Operation:
    name: str
    title: str
    confirm: str  # the submit button, e.g. "Yes, restore"
    refused: str  # the refusal message's start, e.g. "Not restored"
    form: type[forms.Form]
    service: Callable[..., Resource]

    def arguments(self, data: dict) -> dict:
        if self.name == "extend":
            return {"hours": data["hours"], "reason": data["reason"]}
        return {"reason": data["reason"]}

    def success(self, resource: Resource, data: dict) -> str:
        if self.name == "restore":
            return f"Restored {resource.item_hash}: back to processed (its owner is funded)."
        if self.name == "extend":
            deadline = timezone.localtime(resource.delete_after)
            return (f"Extended the grace of {resource.item_hash} by {data['hours']} h: its "
                    f"deadline is now {deadline:%Y-%m-%d %H:%M} {deadline.tzname()}.")
        return f"Deleted {resource.item_hash} now: removed (final)."


OPERATIONS = {
    "restore": Operation("restore", "Restore pending deletions", "Yes, restore",
                         "Not restored", RestoreForm, resource_restore),
    "extend": Operation("extend", "Extend the grace of pending deletions", "Yes, extend",
                        "Not extended", ExtendGraceForm, resource_extend_grace),
    "delete": Operation("delete", "Delete pending deletions now", "Yes, delete now",
                        "Not deleted", DeleteNowForm, resource_delete_now),
}


def _ids(values: list[str]) -> list[int]:
    ids = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part.isdigit():
                ids.append(int(part))
    return list(dict.fromkeys(ids))


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
    list_display = ("hash_shown", "type", "owner_shown", "removal_reason", "payment_shown",
                    "since_shown", "deadline_shown", "countdown", "shortfall_shown",
                    "owner_balance")
    list_display_links = ("hash_shown",)
    list_filter = ("removal_reason", "payment_type", DeadlineWindowFilter, OwnerFilter, "type")
    search_fields = ("item_hash", "owner__address")
    search_help_text = "An item hash or an owner address (any case)."
    list_select_related = ("owner",)
    list_per_page = 100
    show_full_result_count = False
    ordering = ("delete_after", "id")
    sortable_by = ("deadline_shown", "since_shown", "countdown", "owner_shown")
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
        return super().get_queryset(request).filter(status=ResourceStatus.REMOVING)

    def get_changelist(self, request, **kwargs):
        return PendingDeletionChangeList

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    def changelist_view(self, request, extra_context=None):
        settings_ = lifecycle_settings_get()
        # The desk is wide: it gives the admin's navigation sidebar's room to its columns.
        extra_context = {"title": "Pending deletions", "is_nav_sidebar_enabled": False,
                         **(extra_context or {}),
                         "funding_horizon_hours": settings_.funding_horizon_hours,
                         "grace_hours": settings_.grace_hours}
        return super().changelist_view(request, extra_context)

    # columns

    @admin.display(description="item hash", ordering="item_hash")
    def hash_shown(self, obj):
        return format_html('<span class="pd-hash" title="{}">{}</span>', obj.item_hash,
                           _short(obj.item_hash, head=8, tail=4))

    @admin.display(description="owner", ordering="owner__address")
    def owner_shown(self, obj):
        return format_html('<a href="{}" title="{}" class="pd-owner">{}</a>',
                           change_url(obj.owner), obj.owner.address,
                           _short(obj.owner.address, head=8, tail=4))

    @admin.display(description="payment", ordering="payment_type")
    def payment_shown(self, obj):
        if obj.payment_type == PaymentType.HOLD and obj.payment_chain:
            return f"{obj.get_payment_type_display()} ({obj.payment_chain})"
        return obj.get_payment_type_display()

    @admin.display(description="removing since", ordering="removing_since")
    def since_shown(self, obj):
        return _minute_shown(obj.removing_since)

    @admin.display(description="deadline", ordering="delete_after")
    def deadline_shown(self, obj):
        return _minute_shown(obj.delete_after)

    @admin.display(description="deleted in", ordering="delete_after")
    def countdown(self, obj):
        return _countdown(obj.delete_after, getattr(obj, "shown_at", None) or timezone.now())

    @admin.display(description="shortfall")
    def shortfall_shown(self, obj):
        shortfall = getattr(obj, "shortfall", None)
        text = _shortfall_text(shortfall)
        if shortfall is not None and shortfall.amount:
            text = format_html('<span style="color:#ba2121">{}</span>', text)
        return format_html('<span class="pd-nowrap">{}</span>', text)

    @admin.display(description="owner balance")
    def owner_balance(self, obj):
        shortfall = getattr(obj, "shortfall", None)
        if shortfall is None:  # the change page: not computed by the list
            shortfall = shortfalls_by_resource(resources=[obj])[obj.pk]
        return format_html('<span class="pd-nowrap">{}</span>', _balance_text(shortfall))

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
            return _shortfall_text(shortfall)
        unit = "credits" if shortfall.unit == "credits" else f"tokens on {shortfall.chain}"
        needs = (f"one funding horizon ({lifecycle_settings_get().funding_horizon_hours} h) of "
                 f"its live credit-paid resources" if shortfall.unit == "credits"
                 else "the hold costs of its live hold-paid resources on this chain")
        return format_html("{} — the owner needs {} {} ({}) and has {}.",
                           _shortfall_text(shortfall), _decimal(shortfall.required), unit,
                           needs, _decimal(shortfall.available))

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

    # actions: each opens the confirmation page of its operation

    @admin.action(description="Restore (owner funded again)…", permissions=["operate"])
    def restore_selected(self, request, queryset):
        return self._confirm_selected(request, queryset, "restore")

    @admin.action(description="Extend grace…", permissions=["operate"])
    def extend_grace_selected(self, request, queryset):
        return self._confirm_selected(request, queryset, "extend")

    @admin.action(description="Delete now…", permissions=["operate"])
    def delete_now_selected(self, request, queryset):
        return self._confirm_selected(request, queryset, "delete")

    def _confirm_selected(self, request, queryset, operation: str):
        resources = list(queryset.select_related("owner")
                         .order_by("delete_after", "id")[:MAX_RESOURCES_PER_OPERATION + 1])
        if len(resources) > MAX_RESOURCES_PER_OPERATION:
            self.message_user(request, f"Select at most {MAX_RESOURCES_PER_OPERATION} "
                                       f"pending deletions at once.", messages.WARNING)
            return None
        return self._confirmation(request, OPERATIONS[operation], resources,
                                  OPERATIONS[operation].form(),
                                  changelist_filters=request.GET.urlencode())

    # the operation view: GET shows the confirmation page, POST does it

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        custom = [path("operate/<str:operation>/", self.admin_site.admin_view(self.operate_view),
                       name="%s_%s_operate" % info)]
        return custom + super().get_urls()

    def operate_view(self, request, operation: str):
        spec = OPERATIONS.get(operation)
        if spec is None:
            raise Http404(f"No operation {operation!r}.")
        if not self.has_operate_permission(request):
            raise PermissionDenied
        source = request.POST if request.method == "POST" else request.GET
        changelist_filters = source.get("_changelist_filters", "")
        ids = _ids(source.getlist("ids"))[:MAX_RESOURCES_PER_OPERATION]
        resources = list(Resource.objects.filter(pk__in=ids).select_related("owner")
                         .order_by("delete_after", "id"))
        if not resources:
            self.message_user(request, "No pending deletion was selected.", messages.WARNING)
            return HttpResponseRedirect(self._changelist_url(changelist_filters))
        if request.method == "POST":
            form = spec.form(request.POST)
            if form.is_valid():
                self._perform(request, spec, resources, form.cleaned_data)
                return HttpResponseRedirect(self._changelist_url(changelist_filters))
        else:
            form = spec.form()
        return self._confirmation(request, spec, resources, form,
                                  changelist_filters=changelist_filters)

    def _perform(self, request, spec: Operation, resources: list[Resource], data: dict) -> None:
        actor = f"staff:{request.user.get_username()}"
        for resource in resources:
            try:
                done = spec.service(item_hash=resource.item_hash, actor=actor,
                                    **spec.arguments(data))
            except DomainError as exc:
                self.message_user(request, f"{spec.refused} {resource.item_hash}: {exc.message}",
                                  messages.ERROR)
                continue
            # The service wrote the audit row (ResourceStatusChange) in its own transaction.
            self.message_user(request, spec.success(done, data), messages.SUCCESS)

    def _changelist_url(self, changelist_filters: str) -> str:
        url = reverse("admin:credits_pendingdeletion_changelist")
        return f"{url}?{changelist_filters}" if changelist_filters else url

    def _confirmation(self, request, spec: Operation, resources: list[Resource], form,
                      *, changelist_filters: str) -> TemplateResponse:
        now = timezone.now()
        removing = [r for r in resources if r.status == ResourceStatus.REMOVING]
        shortfalls = shortfalls_by_resource(resources=removing, at=now)
        rows = []
        for resource in resources:
            shortfall = shortfalls.get(resource.pk)
            row = {"resource": resource, "pending": resource.status == ResourceStatus.REMOVING,
                   "shortfall": _shortfall_text(shortfall) if shortfall else "-",
                   "balance": _balance_text(shortfall),
                   "countdown": (_countdown(resource.delete_after, now)
                                 if resource.delete_after else "-"),
                   "deadline": (_minute_shown(resource.delete_after)
                                if resource.delete_after else "-"),
                   "short": bool(shortfall is not None and shortfall.amount)}
            if row["short"]:
                row["short_by"] = (f"{shortfall.to_add:,} credits"
                                   if shortfall.unit == "credits" else
                                   f"{_decimal(shortfall.to_add)} tokens on "
                                   f"{shortfall.chain}")
            rows.append(row)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": spec.title,
            "operation": spec,
            "rows": rows,
            "form": form,
            "ids": ",".join(str(resource.pk) for resource in resources),
            "pending_count": len(removing),
            "refused_count": sum(1 for row in rows if row["pending"] and row["short"]),
            "changelist_filters": changelist_filters,
            "changelist_url": self._changelist_url(changelist_filters),
            "funding_horizon_hours": lifecycle_settings_get().funding_horizon_hours,
            "media": self.media,
            "is_nav_sidebar_enabled": False,  # room for whole item hashes and addresses
        }
        return TemplateResponse(request, "admin/credits/pendingdeletion/operate_confirm.html",
                                context)
