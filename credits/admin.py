"""Credits admin: accounts (balance, runway, lots, ledger, staff adjustments), the read-only
ledger, resources with their cost rows and status history, token balances, scoped API keys, and
the lifecycle: its settings (one row, with history), its runs, the resources pending deletion
and the audit of status changes.

Money never moves through a model save here: adjustments go through `adjustment_create`, and
ledger rows, lots, resources and token balances are read-only (services change them).
"""
from __future__ import annotations

import json
import math
from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey as LibraryAPIKey
from simple_history.admin import SimpleHistoryAdmin

from credits_project.errors import DomainError
from pricing.costs import HOUR_SECONDS, amount_for_seconds
from pricing.enums import PaymentType

from .addresses import InvalidAddress, normalize_address
from .admin_forms import ApiKeyCreateForm, CreditAdjustmentForm
from .models import (
    LIVE_STATUSES,
    Account,
    ApiKey,
    CostRow,
    LedgerEntry,
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleSettings,
    Lot,
    LotDrain,
    PendingDeletion,
    Resource,
    ResourceStatus,
    ResourceStatusChange,
    TokenBalance,
)
from .selectors.ledger import account_balance, account_balance_by_expiry, account_runway_hours
from .selectors.lifecycle import (
    LIFECYCLE_PERIODIC_TASK_NAME,
    Shortfall,
    lifecycle_periodic_task,
    lifecycle_settings_defaults,
    lifecycle_settings_get,
    shortfalls_by_resource,
)
from .selectors.resources import account_credit_cost_per_second
from .services.ledger import adjustment_create

RECENT_ENTRIES_SHOWN = 10

# The library's own concrete model is installed only for its abstract base; ours is `ApiKey`.
if admin.site.is_registered(LibraryAPIKey):
    admin.site.unregister(LibraryAPIKey)


def _changelist_url(model, **filters) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    if filters:
        url += "?" + "&".join(f"{key}={value}" for key, value in filters.items())
    return url


def _change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _when(value) -> str:
    """A datetime as the admin shows its own (local time, the site's format)."""
    return "never" if value is None else formats.localize(timezone.localtime(value))


def _credits(value: int | None) -> str:
    return "-" if value is None else f"{value:,} credits"


def _runway(hours) -> str:
    if hours is None:
        return "no running credit cost"
    return f"{hours:,.1f} h (≈ {hours / 24:,.1f} days)"


class ReadOnlyAdminMixin:
    """Rows that only services write: listed and shown, never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


class AddressSearchMixin:
    """Search that finds an EVM address typed in any case.

    A whole EVM address is matched in its checksummed stored form, and case-insensitively too
    (a row written outside the services may not be checksummed); anything else falls back to
    the case-insensitive `search_fields`.
    """

    address_lookup = "address"

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.lower().startswith("0x") and len(term) == 42:
            try:
                address = normalize_address(term)
            except InvalidAddress:
                pass
            else:
                lookup = self.address_lookup
                return queryset.filter(Q(**{lookup: address})
                                       | Q(**{f"{lookup}__iexact": term})), False
        return super().get_search_results(request, queryset, search_term)


# --- accounts -------------------------------------------------------------------------------------

class OpenLotInline(ReadOnlyInline):
    """Lots that still hold spendable credits, in the order they are drained."""

    model = Lot
    fields = ("amount", "remaining", "expires_at", "created_at", "entry")
    readonly_fields = fields
    verbose_name = "open lot"
    verbose_name_plural = "Open lots (credits left, not expired; drained top to bottom)"

    def get_queryset(self, request):
        now = timezone.now()
        return (super().get_queryset(request)
                .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), remaining__gt=0)
                .select_related("entry")
                .order_by(F("expires_at").asc(nulls_last=True), "created_at", "pk"))


class TokenBalanceInline(ReadOnlyInline):
    model = TokenBalance
    fields = ("chain", "balance", "height", "updated_at")
    readonly_fields = fields


@admin.register(Account)
class AccountAdmin(AddressSearchMixin, admin.ModelAdmin):
    """Accounts are created by grants, registrations and keys; their page is read-only, with
    the balance and an "Adjust credits" form that writes an `adjustment` ledger entry."""

    list_display = ("address", "balance", "credit_cost_per_hour", "runway", "created_at")
    search_fields = ("address",)
    search_help_text = "An address, in any case (EVM addresses are matched checksummed)."
    list_per_page = 50
    show_full_result_count = False
    fields = ("address", "created_at", "balance_now", "balance_by_expiry", "credit_cost_per_hour",
              "runway_now", "recent_entries", "resources_link", "api_keys_link")
    readonly_fields = fields
    inlines = [OpenLotInline, TokenBalanceInline]

    def get_queryset(self, request):
        now = timezone.now()
        spendable = (Lot.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now),
                                        account=OuterRef("pk"), remaining__gt=0)
                     .order_by().values("account").annotate(total=Sum("remaining"))
                     .values("total"))
        cost = (Resource.objects.filter(owner=OuterRef("pk"), payment_type=PaymentType.CREDIT,
                                        status__in=LIVE_STATUSES)
                .order_by().values("owner").annotate(total=Sum("cost_credit_per_second"))
                .values("total"))
        return super().get_queryset(request).annotate(
            balance_credits=Coalesce(Subquery(spendable), 0),
            credit_cost_per_second_total=Subquery(cost))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @staticmethod
    def has_adjust_permission(request) -> bool:
        # Adjusting writes a ledger entry: it takes the permission to add ledger entries.
        return request.user.has_perm(f"{LedgerEntry._meta.app_label}.add_ledgerentry")

    # list columns (from the annotations: one query for the page)

    @admin.display(description="balance", ordering="balance_credits")
    def balance(self, obj):
        return _credits(obj.balance_credits)

    @admin.display(description="credit cost per hour", ordering="credit_cost_per_second_total")
    def credit_cost_per_hour(self, obj):
        if hasattr(obj, "credit_cost_per_second_total"):  # the list's annotation
            per_second = obj.credit_cost_per_second_total
        else:
            per_second = account_credit_cost_per_second(account=obj)
        if not per_second:
            return "-"
        return f"{amount_for_seconds(per_second, HOUR_SECONDS):,.2f} credits"

    @admin.display(description="runway")
    def runway(self, obj):
        # Only accounts with billed credit resources have one; it depends on their lots'
        # expiries, so it comes from the selector (a couple of queries for those rows only).
        if not obj.credit_cost_per_second_total:
            return "-"
        return _runway(account_runway_hours(account=obj))

    # change page

    @admin.display(description="balance now")
    def balance_now(self, obj):
        return _credits(account_balance(account=obj))

    @admin.display(description="balance by expiry")
    def balance_by_expiry(self, obj):
        split = account_balance_by_expiry(account=obj)
        if not split:
            return "no credits"
        rows = format_html_join(
            "", "<tr><td>{}</td><td style='text-align:right'>{}</td></tr>",
            ((_when(part["expires_at"]), f"{part['amount']:,}") for part in split))
        return format_html("<table><thead><tr><th>expires at</th><th>credits</th></tr></thead>"
                           "<tbody>{}</tbody></table>", rows)

    @admin.display(description="runway")
    def runway_now(self, obj):
        return _runway(account_runway_hours(account=obj))

    @admin.display(description="ledger")
    def recent_entries(self, obj):
        entries = list(LedgerEntry.objects.filter(account=obj)
                       .order_by("-effective_at", "-id")[:RECENT_ENTRIES_SHOWN])
        link = format_html('<a href="{}">All ledger entries of this account (newest first)</a>',
                           _changelist_url(LedgerEntry, account__id__exact=obj.pk))
        if not entries:
            return format_html("no entries yet · {}", link)
        rows = format_html_join(
            "", "<tr><td><a href='{}'>{}</a></td><td>{}</td><td style='text-align:right'>{}"
                "</td><td>{}</td><td>{}</td></tr>",
            ((_change_url(entry), _when(entry.effective_at), entry.get_kind_display(),
              f"{entry.amount:+,}", entry.reason or entry.reference, entry.created_by)
             for entry in entries))
        return format_html(
            "<table><thead><tr><th>when</th><th>kind</th><th>credits</th><th>reason or "
            "reference</th><th>by</th></tr></thead><tbody>{}</tbody></table><p>{}</p>",
            rows, link)

    @admin.display(description="resources")
    def resources_link(self, obj):
        counts = obj.resources.aggregate(total=Count("pk"),
                                         live=Count("pk", filter=Q(status__in=LIVE_STATUSES)))
        return format_html('<a href="{}">{} resources ({} running)</a>',
                           _changelist_url(Resource, owner__id__exact=obj.pk),
                           counts["total"], counts["live"])

    @admin.display(description="API keys")
    def api_keys_link(self, obj):
        return format_html('<a href="{}">{} owner keys</a>',
                           _changelist_url(ApiKey, account__id__exact=obj.pk),
                           obj.api_keys.count())

    # adjustments

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        custom = [path("<path:object_id>/adjust/", self.admin_site.admin_view(self.adjust_view),
                       name="%s_%s_adjust" % info)]
        return custom + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}),
                         "adjust_available": self.has_adjust_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def adjust_view(self, request, object_id):
        account = self.get_object(request, unquote(object_id))
        if account is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not (self.has_view_permission(request, account) and self.has_adjust_permission(request)):
            raise PermissionDenied
        if request.method == "POST":
            form = CreditAdjustmentForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    result = adjustment_create(
                        address=account.address, amount=data["amount"], reason=data["reason"],
                        actor=f"staff:{request.user.get_username()}",
                        expires_at=data["expires_at"], reference=data["reference"])
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    self.log_change(request, account,
                                    f"Adjusted credits by {data['amount']:+,}: {data['reason']}")
                    self.message_user(request, _adjustment_message(result.entry, account),
                                      messages.SUCCESS)
                    return redirect(_change_url(account))
        else:
            form = CreditAdjustmentForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": account,
            "title": f"Adjust the credits of {account.address}",
            "form": form,
            "balance": _credits(account_balance(account=account)),
        }
        return TemplateResponse(request, "admin/credits/account/adjust.html", context)


def _adjustment_message(entry: LedgerEntry, account: Account) -> str:
    text = f"Adjustment written: {entry.amount:+,} credits."
    if entry.shortfall:
        text += f" {entry.shortfall:,} credits could not be drained (recorded as a shortfall)."
    return f"{text} Balance now: {_credits(account_balance(account=account))}."


# --- ledger --------------------------------------------------------------------------------------

class DrainInline(ReadOnlyInline):
    model = LotDrain
    fields = ("lot", "amount")
    readonly_fields = fields
    verbose_name_plural = "Drained from lots"


class OpenedLotInline(ReadOnlyInline):
    model = Lot
    fields = ("amount", "remaining", "expires_at", "created_at")
    readonly_fields = fields
    verbose_name_plural = "Lot opened"


@admin.register(LedgerEntry)
class LedgerEntryAdmin(AddressSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The append-only ledger, newest first. Filter one account with `?account__id__exact=`."""

    address_lookup = "account__address"
    list_display = ("effective_at", "account", "kind", "amount", "amount_requested", "shortfall",
                    "expires_at", "reference", "reason", "created_by")
    list_filter = ("kind", ("effective_at", admin.DateFieldListFilter))
    search_fields = ("reference", "idempotency_key", "account__address", "reason")
    search_help_text = "An account address (any case), a reference, an idempotency key or a reason."
    list_select_related = ("account",)
    show_full_result_count = False
    fields = ("account", "kind", "amount", "amount_requested", "shortfall", "expires_at",
              "effective_at", "reference", "idempotency_key", "reason", "resource",
              "counterparty", "created_by", "request_hash")
    readonly_fields = fields
    inlines = [OpenedLotInline, DrainInline]


@admin.register(Lot)
class LotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "account", "amount", "remaining", "expires_at", "created_at", "entry")
    list_select_related = ("account", "entry")
    list_filter = (("expires_at", admin.EmptyFieldListFilter),)
    show_full_result_count = False
    ordering = ("-created_at", "-pk")


# --- resources and token balances ---------------------------------------------------------------

class CostRowInline(ReadOnlyInline):
    model = CostRow
    fields = ("position", "type", "name", "ref", "size_mib", "cost_hold",
              "cost_stream_per_second", "cost_credit_per_second", "pricing_version")
    readonly_fields = fields


class StatusChangeInline(ReadOnlyInline):
    model = ResourceStatusChange
    fields = ("at", "from_status", "to_status", "reason", "actor")
    readonly_fields = fields
    verbose_name_plural = "Status history (newest first)"


@admin.register(Resource)
class ResourceAdmin(AddressSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Resources change only through services (registration, lifecycle, operators' actions)."""

    address_lookup = "owner__address"
    list_display = ("item_hash", "type", "owner", "status", "payment_type", "product_type",
                    "created_at", "delete_after")
    list_filter = ("status", "payment_type", "type", "product_type")
    search_fields = ("item_hash", "owner__address")
    search_help_text = "An item hash or an owner address (any case)."
    list_select_related = ("owner",)
    show_full_result_count = False
    fields = ("item_hash", "type", "owner", "status", "removal_reason", "removing_since",
              "delete_after", "product_type", "payment_type", "payment_chain", "pricing_version",
              "cost_hold", "cost_stream_per_second", "cost_credit_per_second", "size_mib",
              "created_at", "ended_at", "content_shown")
    readonly_fields = fields
    inlines = [CostRowInline, StatusChangeInline]

    @admin.display(description="content")
    def content_shown(self, obj):
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>",
                           json.dumps(obj.content, indent=2, sort_keys=True, default=str))


@admin.register(TokenBalance)
class TokenBalanceAdmin(AddressSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    address_lookup = "account__address"
    list_display = ("account", "chain", "balance", "height", "updated_at")
    list_filter = ("chain",)
    search_fields = ("account__address",)
    list_select_related = ("account",)


# --- API keys ------------------------------------------------------------------------------------

@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    """Keys are shown once, at creation (the library's message), and only their hash is kept.
    Scope and account are fixed at creation; a key is revoked, never deleted, so the audit
    trail's `api-key:<prefix>` stays traceable."""

    list_display = ("name", "prefix", "scope", "account", "created", "revoked", "expiry_date",
                    "_has_expired")
    list_filter = ("scope", "revoked", "created", "expiry_date")
    search_fields = ("name", "prefix", "account__address")
    list_select_related = ("account",)
    actions = ["revoke"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "scope", "account_address", "expiry_date")
        return ("name", "prefix", "scope", "account", "created", "expiry_date", "revoked")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (*super().get_readonly_fields(request, obj), "scope", "account", "created")

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            address = form.cleaned_data.get("account_address")
            obj.account = Account.objects.get_or_create(address=address)[0] if address else None
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected API keys (cannot be undone)",
                  permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        for api_key in queryset.filter(revoked=False).order_by("pk"):
            api_key.revoked = True
            api_key.save(update_fields=["revoked"])
            self.log_change(request, api_key, "Revoked.")
            revoked += 1
        self.message_user(request, f"{revoked} API key(s) revoked." if revoked
                          else "The selected keys were already revoked.", messages.SUCCESS)


# --- lifecycle: settings -------------------------------------------------------------------------

MAX_LIFECYCLE_HOURS = 24 * 365


class LifecycleSettingsForm(forms.ModelForm):
    """The three knobs, with the defaults they started from (Django settings) in their help."""

    grace_hours = forms.IntegerField(min_value=0, max_value=MAX_LIFECYCLE_HOURS)
    funding_horizon_hours = forms.IntegerField(min_value=1, max_value=MAX_LIFECYCLE_HOURS)

    class Meta:
        model = LifecycleSettings
        fields = ("grace_hours", "metering_enabled", "funding_horizon_hours")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        defaults = lifecycle_settings_defaults()
        notes = {
            "grace_hours": "Hours a resource flagged for deletion keeps running (and billed) "
                           "before the first run after its deadline removes it. Applies to "
                           "resources flagged from now on; flagged ones keep their deadline. "
                           "0 removes at the next run.",
            "metering_enabled": "Charge credit-paid resources for each whole hour they run. "
                                "Off: no hour is charged; switched on again, metering catches "
                                "up from each resource's last charged hour.",
            "funding_horizon_hours": "Hours of cost an account's credits must cover: "
                                     "registration refuses a credit-paid resource they cannot "
                                     "fund this long, and each run flags the newest resources "
                                     "beyond what they fund.",
        }
        for name, note in notes.items():
            default = defaults[name]
            shown = ("on" if default else "off") if isinstance(default, bool) else f"{default} h"
            self.fields[name].help_text = f"{note} Default (Django settings): {shown}."


@admin.register(LifecycleSettings)
class LifecycleSettingsAdmin(SimpleHistoryAdmin):
    """One row: the list opens it, nothing adds or deletes it, every change is in its history
    (who, when, what), and the schedule is the django-celery-beat periodic task's."""

    form = LifecycleSettingsForm
    fields = ("grace_hours", "metering_enabled", "funding_horizon_hours", "schedule",
              "updated_at")
    readonly_fields = ("schedule", "updated_at")
    history_list_display = ("grace_hours", "metering_enabled", "funding_horizon_hours")

    def has_add_permission(self, request):
        # The row is created from the defaults when first needed (`lifecycle_settings_get`).
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return redirect(_change_url(lifecycle_settings_get()))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        lifecycle_settings_get()  # the row exists before its page is asked for
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="schedule")
    def schedule(self, obj):
        task = lifecycle_periodic_task()
        if task is None:
            return format_html("No periodic task named “{}” (the migrations create it).",
                               LIFECYCLE_PERIODIC_TASK_NAME)
        schedule = task.crontab or task.interval or task.solar or task.clocked
        return format_html(
            '<a href="{}">Periodic task “{}”</a>: {} ({}). Retime or disable the run there.',
            reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]),
            task.name, schedule or "no schedule", "enabled" if task.enabled else "disabled")


# --- lifecycle: runs -----------------------------------------------------------------------------

RUN_STATUS_CHANGES_SHOWN = 50
_STATUS_STYLE = {
    LifecycleRunStatus.FAILED: ("✖", "color:#ba2121;font-weight:bold"),
    LifecycleRunStatus.RUNNING: ("…", "color:#b36b00;font-weight:bold"),
    LifecycleRunStatus.SKIPPED: ("–", "color:#777"),
    LifecycleRunStatus.SUCCEEDED: ("✔", "color:#2a7d2a"),
}


def _duration(started_at: datetime, finished_at: datetime | None) -> str:
    if finished_at is None:
        return "-"
    seconds = (finished_at - started_at).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s"


def _run_changes(run: LifecycleRun) -> Q:
    """The status changes a run made: its own, or its shards' for a sharded run."""
    return Q(run_id=run.pk) | Q(run__parent_id=run.pk)


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

    list_display = ("started_at", "as_of", "trigger", "status_shown", "accounts", "resources",
                    "charges", "credits_charged_shown", "flagged", "restored", "removed",
                    "errors_shown", "duration", "shard")
    list_display_links = ("started_at",)
    list_filter = ("status", "trigger", "dry_run", RunKindFilter)
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
        mark, style = _STATUS_STYLE.get(obj.status, ("", ""))
        text = obj.get_status_display() + (" (dry run)" if obj.dry_run else "")
        return format_html('<span style="{}">{} {}</span>', style, mark, text)

    @admin.display(description="credits charged", ordering="credits_charged")
    def credits_charged_shown(self, obj):
        if obj.credits_short:
            return format_html('{} <span style="color:#ba2121">({} short)</span>',
                               f"{obj.credits_charged:,}", f"{obj.credits_short:,}")
        return f"{obj.credits_charged:,}"

    @admin.display(description="errors", ordering="errors")
    def errors_shown(self, obj):
        if obj.errors:
            return format_html('<strong style="color:#ba2121">{}</strong>', obj.errors)
        return "0"

    @admin.display(description="duration")
    def duration(self, obj):
        return _duration(obj.started_at, obj.finished_at)

    @admin.display(description="shard")
    def shard(self, obj):
        if obj.parent_id is not None:
            return format_html('<a href="{}">{} of {}, run {}</a>', _change_url(obj.parent),
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
            ((_change_url(shard), shard.shard_index, shard.get_status_display(), shard.flagged,
              shard.restored, shard.removed, shard.errors) for shard in shards))

    @admin.display(description="error messages")
    def error_messages_shown(self, obj):
        if not obj.error_messages:
            return "none"
        return format_html('<pre style="white-space:pre-wrap;color:#ba2121">{}</pre>',
                           obj.error_messages)

    @admin.display(description="status changes made")
    def status_changes_shown(self, obj):
        changes = (ResourceStatusChange.objects.filter(_run_changes(obj))
                   .select_related("resource").order_by("at", "id"))
        total = changes.count()
        if not total:
            return "none"
        rows = format_html_join(
            "", "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((_change_url(change.resource), change.resource.item_hash, change.from_status,
              change.to_status, change.reason)
             for change in changes[:RUN_STATUS_CHANGES_SHOWN]))
        more = (f" (the first {RUN_STATUS_CHANGES_SHOWN} are shown above)"
                if total > RUN_STATUS_CHANGES_SHOWN else "")
        return format_html(
            "<table><thead><tr><th>resource</th><th>from</th><th>to</th><th>why</th></tr>"
            "</thead><tbody>{}</tbody></table><p><a href='{}'>All {} status changes of this "
            "run</a>{}</p>", rows, _changelist_url(ResourceStatusChange, run=obj.pk), total,
            more)


# --- lifecycle: status changes (audit) -----------------------------------------------------------

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
        choices += [(str(run.pk), f"run {run.pk}, {_when(run.started_at)}") for run in runs]
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
        return queryset.filter(Q(run_id=int(value)) | Q(run__parent_id=int(value)))


@admin.register(ResourceStatusChange)
class ResourceStatusChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit trail of every status transition: which resource, from, to, why, who or which
    run, when. Written only by the services."""

    list_display = ("at", "resource_link", "from_status", "to_status", "reason", "actor",
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
    fields = ("at", "resource_link", "from_status", "to_status", "reason", "actor", "run_link")
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term:  # an item hash is matched whole or by its start (hashes are long)
            return queryset.filter(resource__item_hash__startswith=term), False
        return queryset, False

    @admin.display(description="resource", ordering="resource__item_hash")
    def resource_link(self, obj):
        return format_html('<a href="{}">{}</a>', _change_url(obj.resource),
                           obj.resource.item_hash)

    @admin.display(description="run")
    def run_link(self, obj):
        if obj.run_id is None:
            return "-"
        return format_html('<a href="{}">run {}</a>', _change_url(obj.run), obj.run_id)


# --- lifecycle: pending deletions ----------------------------------------------------------------

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


def _shortfall_text(shortfall: Shortfall | None) -> str:
    if shortfall is None or shortfall.amount is None:
        return "not checked (stream)"
    if shortfall.amount == 0:
        return "funded"
    if shortfall.unit == "credits":
        # Credits are whole: what must be added is the shortfall rounded up.
        return f"{math.ceil(shortfall.amount):,} credits"
    return f"{_decimal(shortfall.amount)} tokens on {shortfall.chain or '?'}"


def _decimal(value) -> str:
    """An 18-decimal amount without its trailing zeros, with thousands separators."""
    return f"{value.normalize():,f}" if value else "0"


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
    """Resources in `removing`, soonest deadline first: who owns them, why they were flagged,
    how long they have left and what their owner lacks. Read-only: the lifecycle restores or
    removes them."""

    address_lookup = "owner__address"
    list_display = ("item_hash", "owner_link", "type", "payment_type", "removal_reason",
                    "removing_since", "delete_after", "time_left", "shortfall_shown")
    list_filter = ("removal_reason", "payment_type", "type")
    search_fields = ("item_hash", "owner__address")
    search_help_text = "An item hash or an owner address (any case)."
    list_select_related = ("owner",)
    list_per_page = 100
    show_full_result_count = False
    ordering = ("delete_after", "id")
    sortable_by = ("delete_after", "removing_since")
    fields = ("resource_link", "owner_link", "type", "payment_type", "payment_chain",
              "removal_reason", "removing_since", "delete_after", "time_left",
              "shortfall_detail", "cost_credit_per_second", "cost_hold", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=ResourceStatus.REMOVING)

    def get_changelist(self, request, **kwargs):
        return PendingDeletionChangeList

    def changelist_view(self, request, extra_context=None):
        settings_ = lifecycle_settings_get()
        extra_context = {**(extra_context or {}),
                         "funding_horizon_hours": settings_.funding_horizon_hours,
                         "grace_hours": settings_.grace_hours}
        return super().changelist_view(request, extra_context)

    @admin.display(description="resource")
    def resource_link(self, obj):
        return format_html('<a href="{}">{}</a> (costs and status history)',
                           reverse("admin:credits_resource_change", args=[obj.pk]),
                           obj.item_hash)

    @admin.display(description="owner", ordering="owner__address")
    def owner_link(self, obj):
        return format_html('<a href="{}">{}</a>', _change_url(obj.owner), obj.owner.address)

    @admin.display(description="time left")
    def time_left(self, obj):
        text = _time_left(obj.delete_after, getattr(obj, "shown_at", None) or timezone.now())
        if text == "overdue":
            return format_html('<strong style="color:#ba2121">{}</strong>', text)
        return text

    @admin.display(description="shortfall")
    def shortfall_shown(self, obj):
        shortfall = getattr(obj, "shortfall", None)
        text = _shortfall_text(shortfall)
        if shortfall is not None and shortfall.amount:
            return format_html('<span style="color:#ba2121">{}</span>', text)
        return text

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


# The operators' desks live in their own modules; each replaces a registration made above.
from . import admin_desk, admin_lifecycle  # noqa: E402,F401
