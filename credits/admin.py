"""Credits admin: accounts (balance, runway, lots, ledger, staff adjustments), the read-only
ledger, resources with their cost rows and status history, token balances, and scoped API keys.

Money never moves through a model save here: adjustments go through `adjustment_create`, and
ledger rows, lots, resources and token balances are read-only (services change them).
"""
from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey as LibraryAPIKey

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
    Lot,
    LotDrain,
    Resource,
    ResourceStatusChange,
    TokenBalance,
)
from .selectors.ledger import account_balance, account_balance_by_expiry, account_runway_hours
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
