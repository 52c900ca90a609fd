"""Accounts in the admin: the list with balance, credit cost and runway; a new account (with an
optional first grant); the read-only account page (balance by expiry, open lots, token balances,
recent ledger entries, its resources) with the "Grant credits" and "Adjust credits" forms; and the
token balances.

Nothing is written through a model save here: a new account goes through `account_create`, grants
through `grant_create`, adjustments through `adjustment_create`.
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, IntegerField, OuterRef, Q, Subquery, Sum, Value, When
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from credits_project.errors import DomainError
from pricing.costs import HOUR_SECONDS, amount_for_seconds
from pricing.enums import PaymentType

from ..models import (
    LIVE_STATUSES,
    Account,
    ApiKey,
    LedgerEntry,
    Lot,
    Resource,
    ResourceStatus,
    TokenBalance,
)
from ..selectors.ledger import (
    account_balance,
    account_balance_by_expiry,
    account_balance_subquery,
    account_runway_hours,
)
from ..selectors.resources import account_credit_cost_per_second
from ..services.accounts import AccountExists, account_create
from ..services.ledger import LedgerResult, adjustment_create, grant_create
from .display import (
    credits_text,
    decimal_html,
    hourly_charge_html,
    number_text,
    runway_text,
    signed_credits_text,
    when_text,
)
from .forms import AccountCreateForm, CreditAdjustmentForm, CreditGrantForm, account_exists_error
from .shared import (
    AddressSearchMixin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    change_url,
    changelist_url,
)

RECENT_ENTRIES_SHOWN = 10
ACCOUNT_RESOURCES_SHOWN = 20
# The account page lists pending deletions first, then running resources, then the others.
_STATUS_ORDER = Case(When(status=ResourceStatus.REMOVING, then=Value(0)),
                     When(status=ResourceStatus.PROCESSED, then=Value(1)),
                     default=Value(2), output_field=IntegerField())




class OpenLotInline(ReadOnlyInline):
    """Lots that still hold spendable credits, in the order they are drained."""

    model = Lot
    fields = ("amount", "remaining", "expires_at", "created_at", "entry")
    verbose_name = "open lot"
    verbose_name_plural = "Open lots (credits left, not expired; drained top to bottom)"

    def get_queryset(self, request):
        now = timezone.now()
        return (super().get_queryset(request).spendable(now).select_related("entry")
                .in_drain_order())


class TokenBalanceShownMixin:
    @admin.display(description="tokens", ordering="balance")
    def balance_shown(self, obj):
        return decimal_html(obj.balance)

    @admin.display(description="height", ordering="height")
    def height_shown(self, obj):
        return number_text(obj.height)


class TokenBalanceInline(TokenBalanceShownMixin, ReadOnlyInline):
    model = TokenBalance
    fields = ("chain", "balance_shown", "height_shown", "updated_at")


@admin.register(Account)
class AccountAdmin(AddressSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Accounts appear with grants, registrations and keys, or are added here by staff (with an
    optional first grant); their page is read-only, with the balance, the account's resources,
    a "Grant credits" form that writes a `grant` ledger entry and an "Adjust credits" form that
    writes an `adjustment` one."""

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
        cost = (Resource.objects.filter(owner=OuterRef("pk"), payment_type=PaymentType.CREDIT,
                                        status__in=LIVE_STATUSES)
                .order_by().values("owner").annotate(total=Sum("cost_credit_per_second"))
                .values("total"))
        return super().get_queryset(request).annotate(
            balance_credits=account_balance_subquery(),
            credit_cost_per_second_total=Subquery(cost))

    def has_add_permission(self, request):
        # Adding an account is the one write allowed here (through `account_create`).
        return request.user.has_perm(
            f"{self.opts.app_label}.{get_permission_codename('add', self.opts)}")

    @staticmethod
    def has_ledger_write_permission(request) -> bool:
        # Granting and adjusting write a ledger entry: they take the permission to add ledger
        # entries.
        return request.user.has_perm(f"{LedgerEntry._meta.app_label}.add_ledgerentry")

    # list columns (from the annotations: one query for the page)

    @admin.display(description="balance", ordering="balance_credits")
    def balance(self, obj):
        return credits_text(obj.balance_credits)

    @admin.display(description="credit cost per hour", ordering="credit_cost_per_second_total")
    def credit_cost_per_hour(self, obj):
        if hasattr(obj, "credit_cost_per_second_total"):  # the list's annotation
            per_second = obj.credit_cost_per_second_total
        else:
            per_second = account_credit_cost_per_second(account=obj)
        if not per_second:
            return "-"
        # The exact sum of the rates (each resource's hour is then rounded to whole credits).
        return decimal_html(amount_for_seconds(per_second, HOUR_SECONDS), unit="credits")

    @admin.display(description="runway")
    def runway(self, obj):
        # Only accounts with billed credit resources have one; it depends on their lots'
        # expiries, so it comes from the selector (one query for those rows only).
        if not obj.credit_cost_per_second_total:
            return "-"
        return runway_text(account_runway_hours(
            account=obj, rate_per_second=obj.credit_cost_per_second_total))

    # change page

    @admin.display(description="balance now")
    def balance_now(self, obj):
        return credits_text(account_balance(account=obj))

    @admin.display(description="balance by expiry")
    def balance_by_expiry(self, obj):
        split = account_balance_by_expiry(account=obj)
        if not split:
            return "no credits"
        rows = format_html_join(
            "", "<tr><td>{}</td><td style='text-align:right'>{}</td></tr>",
            ((when_text(part["expires_at"]), f"{part['amount']:,}") for part in split))
        return format_html("<table><thead><tr><th>expires at</th><th>credits</th></tr></thead>"
                           "<tbody>{}</tbody></table>", rows)

    @admin.display(description="runway")
    def runway_now(self, obj):
        return runway_text(account_runway_hours(account=obj))

    @admin.display(description="ledger")
    def recent_entries(self, obj):
        entries = list(LedgerEntry.objects.filter(account=obj)
                       .order_by("-effective_at", "-id")[:RECENT_ENTRIES_SHOWN])
        link = format_html('<a href="{}">All ledger entries of this account (newest first)</a>',
                           changelist_url(LedgerEntry, account__id__exact=obj.pk))
        if not entries:
            return format_html("no entries yet · {}", link)
        rows = format_html_join(
            "", "<tr><td><a href='{}'>{}</a></td><td>{}</td><td style='text-align:right'>{}"
                "</td><td>{}</td><td>{}</td></tr>",
            ((change_url(entry), when_text(entry.effective_at), entry.get_kind_display(),
              _entry_credits_text(entry), entry.reason or entry.reference, entry.created_by)
             for entry in entries))
        return format_html(
            "<table><thead><tr><th>when</th><th>kind</th><th>credits</th><th>reason or "
            "reference</th><th>by</th></tr></thead><tbody>{}</tbody></table><p>{}</p>",
            rows, link)

    @admin.display(description="resources")
    def resources_link(self, obj):
        """The link to all the account's resources, above the first of them (pending deletions
        first, then running ones, newest first)."""
        counts = obj.resources.aggregate(
            total=Count("pk"), running=Count("pk", filter=Q(status=ResourceStatus.PROCESSED)),
            removing=Count("pk", filter=Q(status=ResourceStatus.REMOVING)))
        link = format_html('<a href="{}">{}</a>',
                           changelist_url(Resource, owner__id__exact=obj.pk),
                           _resources_count_text(**counts))
        resources = list(obj.resources.order_by(_STATUS_ORDER, "-created_at", "-id")
                         [:ACCOUNT_RESOURCES_SHOWN])
        if not resources:
            return link
        rows = format_html_join(
            "", "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td>"
                "<td style='text-align:right'>{}</td><td>{}</td></tr>",
            ((change_url(resource), resource.item_hash, resource.get_type_display(),
              resource.get_status_display(), resource.get_payment_type_display(),
              _resource_credit_cost_per_hour(resource), when_text(resource.delete_after)
              if resource.delete_after else "-") for resource in resources))
        return format_html(
            "<p>{}</p><table class='account-resources'><thead><tr><th>item hash</th>"
            "<th>type</th><th>status</th><th>payment</th><th>credits charged per hour</th>"
            "<th>deleted after</th></tr></thead><tbody>{}</tbody></table>", link, rows)

    @admin.display(description="API keys")
    def api_keys_link(self, obj):
        return format_html('<a href="{}">{} owner keys</a>',
                           changelist_url(ApiKey, account__id__exact=obj.pk),
                           obj.api_keys.count())

    # a new account

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def add_view(self, request, form_url="", extra_context=None):
        """The address and an optional first grant, written by `account_create`; then the new
        account's page."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        allow_grant = self.has_ledger_write_permission(request)
        if request.method == "POST":
            form = AccountCreateForm(request.POST, allow_grant=allow_grant)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    created = account_create(
                        address=data["address"], actor=_staff_actor(request),
                        grant_credits=data.get("grant_credits"),
                        grant_expires_at=data.get("grant_expires_at"),
                        grant_reference=data.get("reference"),
                        grant_reason=data.get("grant_reason") or "")
                except AccountExists as exc:  # added meanwhile by someone else
                    form.add_error("address", account_exists_error(exc.account))
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    return self._account_created(request, created, reason=data.get("grant_reason"))
        else:
            form = AccountCreateForm(allow_grant=allow_grant)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Add an account",
            "form": form,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/credits/account/add.html", context)

    def _account_created(self, request, created, *, reason: str | None):
        account = created.account
        if created.grant is None:
            self.log_addition(request, account, "Added.")
            text = f"Account {account.address} added."
        else:
            self.log_addition(request, account,
                              f"Added with a grant: {_grant_text(created.grant.entry)}: {reason}")
            text = (f"Account {account.address} added with a grant: "
                    f"{_grant_text(created.grant.entry)}. "
                    f"Balance now: {credits_text(account_balance(account=account))}.")
        self.message_user(request, text, messages.SUCCESS)
        if self.has_view_or_change_permission(request, account):
            return redirect(change_url(account))
        return redirect("admin:index")

    # grants and adjustments

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        custom = [path("<path:object_id>/grant/", self.admin_site.admin_view(self.grant_view),
                       name="%s_%s_grant" % info),
                  path("<path:object_id>/adjust/", self.admin_site.admin_view(self.adjust_view),
                       name="%s_%s_adjust" % info)]
        return custom + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}),
                         "ledger_write_available": self.has_ledger_write_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _account_for_ledger_write(self, request, object_id):
        """The account, or None when there is none; PermissionDenied for staff who may not
        write to its ledger."""
        account = self.get_object(request, unquote(object_id))
        if account is not None and not (self.has_view_permission(request, account)
                                        and self.has_ledger_write_permission(request)):
            raise PermissionDenied
        return account

    def _ledger_form_page(self, request, account, *, form, action: str, title: str):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": account,
            "title": title,
            "form": form,
            "balance": credits_text(account_balance(account=account)),
        }
        return TemplateResponse(request, f"admin/credits/account/{action}.html", context)

    def grant_view(self, request, object_id):
        account = self._account_for_ledger_write(request, object_id)
        if account is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if request.method == "POST":
            form = CreditGrantForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    result = grant_create(
                        address=account.address, amount=data["amount"],
                        expires_at=data["expires_at"], reference=data["reference"],
                        reason=data["reason"], actor=_staff_actor(request))
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    if not result.replayed:
                        self.log_change(request, account,
                                        f"Granted {_grant_text(result.entry)}: {data['reason']}")
                    self.message_user(request, _grant_message(result, account),
                                      messages.WARNING if result.replayed else messages.SUCCESS)
                    return redirect(change_url(account))
        else:
            form = CreditGrantForm()
        return self._ledger_form_page(request, account, form=form, action="grant",
                                      title=f"Grant credits to {account.address}")

    def adjust_view(self, request, object_id):
        account = self._account_for_ledger_write(request, object_id)
        if account is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if request.method == "POST":
            form = CreditAdjustmentForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    result = adjustment_create(
                        address=account.address, amount=data["amount"], reason=data["reason"],
                        actor=_staff_actor(request),
                        expires_at=data["expires_at"], reference=data["reference"])
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    self.log_change(request, account,
                                    f"Adjusted credits by {data['amount']:+,}: {data['reason']}")
                    self.message_user(request, _adjustment_message(result.entry, account),
                                      messages.SUCCESS)
                    return redirect(change_url(account))
        else:
            form = CreditAdjustmentForm()
        return self._ledger_form_page(request, account, form=form, action="adjust",
                                      title=f"Adjust the credits of {account.address}")


def _staff_actor(request) -> str:
    return f"staff:{request.user.get_username()}"


def _resource_credit_cost_per_hour(resource) -> str:
    if resource.payment_type != PaymentType.CREDIT:
        return "-"
    return hourly_charge_html(resource.cost_credit_per_second)


def _grant_text(entry: LedgerEntry) -> str:
    expiry = (f"expiring {when_text(entry.expires_at)}" if entry.expires_at is not None
              else "never expiring")
    return f"{entry.amount:,} credits, {expiry}"


def _grant_message(result: LedgerResult, account: Account) -> str:
    balance = credits_text(account_balance(account=account))
    if result.replayed:
        return (f"This grant was already written (the form was sent twice): nothing was granted "
                f"again. Balance now: {balance}.")
    return f"Granted {_grant_text(result.entry)}. Balance now: {balance}."


def _entry_credits_text(entry: LedgerEntry) -> str:
    """The change of the balance, and what a debit could not drain (a zero charge included)."""
    text = signed_credits_text(entry.amount)
    return f"{text} ({entry.shortfall:,} short)" if entry.shortfall else text


def _resources_count_text(*, total: int, running: int, removing: int) -> str:
    """`3 resources (2 running, 1 in its grace period)`."""
    live = [f"{running:,} running"] if running else []
    if removing:
        live.append(f"{removing:,} in {'its' if removing == 1 else 'their'} grace period")
    noun = "resource" if total == 1 else "resources"
    return f"{total:,} {noun}" + (f" ({', '.join(live)})" if live else "")


def _adjustment_message(entry: LedgerEntry, account: Account) -> str:
    text = f"Adjustment written: {entry.amount:+,} credits."
    if entry.shortfall:
        text += f" {entry.shortfall:,} credits could not be drained (recorded as a shortfall)."
    return f"{text} Balance now: {credits_text(account_balance(account=account))}."


@admin.register(TokenBalance)
class TokenBalanceAdmin(TokenBalanceShownMixin, AddressSearchMixin, ReadOnlyAdminMixin,
                        admin.ModelAdmin):
    """Tokens each account holds on each chain (they fund its hold-paid resources), as the oracle
    last reported them."""

    address_lookup = "account__address"
    list_display = ("account", "chain", "balance_shown", "height_shown", "updated_at")
    list_filter = ("chain",)
    search_fields = ("account__address",)
    list_select_related = ("account",)
