"""The ledger in the admin: its append-only entries, newest first (with the lot each grant opened
and the lots each debit drained), and the lots. Read-only: services write them."""
from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from ..models import LedgerEntry, Lot, LotDrain
from .display import clip_html, number_text, short_html, signed_credits_text
from .shared import AddressSearchMixin, ReadOnlyAdminMixin, ReadOnlyInline, change_url


class AccountShownMixin:
    @admin.display(description="account", ordering="account__address")
    def account_shown(self, obj):
        return short_html(obj.account.address, width_ch=14)


class LotAmountsMixin:
    """A lot's credits, grouped."""

    @admin.display(description="credits opened", ordering="amount")
    def lot_amount_shown(self, obj):
        return number_text(obj.amount)

    @admin.display(description="credits left", ordering="remaining")
    def remaining_shown(self, obj):
        return number_text(obj.remaining)


class DrainInline(ReadOnlyInline):
    model = LotDrain
    fields = ("lot", "drained_shown")
    verbose_name_plural = "Drained from lots"

    @admin.display(description="credits drained")
    def drained_shown(self, obj):
        return number_text(obj.amount)


class OpenedLotInline(LotAmountsMixin, ReadOnlyInline):
    model = Lot
    fields = ("lot_amount_shown", "remaining_shown", "expires_at", "created_at")
    verbose_name_plural = "Lot opened"


@admin.register(LedgerEntry)
class LedgerEntryAdmin(AccountShownMixin, AddressSearchMixin, ReadOnlyAdminMixin,
                       admin.ModelAdmin):
    """The append-only ledger, newest first. Filter one account with `?account__id__exact=`."""

    address_lookup = "account__address"
    list_display = ("effective_at", "account_shown", "kind", "amount_shown", "shortfall_shown",
                    "expires_at", "reference_shown", "reason_shown")
    list_display_links = ("effective_at",)
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

    @admin.display(description="credits", ordering="amount")
    def amount_shown(self, obj):
        return signed_credits_text(obj.amount)

    @admin.display(description="shortfall", ordering="shortfall")
    def shortfall_shown(self, obj):
        """What a debit could not drain: shown wherever there is one, a zero charge too."""
        return number_text(obj.shortfall) if obj.shortfall else "-"

    @admin.display(description="reference", ordering="reference")
    def reference_shown(self, obj):
        return clip_html(obj.reference)

    @admin.display(description="reason")
    def reason_shown(self, obj):
        return clip_html(obj.reason)


@admin.register(Lot)
class LotAdmin(AccountShownMixin, LotAmountsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "account_shown", "lot_amount_shown", "remaining_shown", "expires_at",
                    "created_at", "entry_shown")
    list_select_related = ("account", "entry")
    list_filter = (("expires_at", admin.EmptyFieldListFilter),)
    show_full_result_count = False
    ordering = ("-created_at", "-pk")

    @admin.display(description="opened by", ordering="entry")
    def entry_shown(self, obj):
        return format_html('<a href="{}">{} {}</a>', change_url(obj.entry),
                           obj.entry.get_kind_display(), signed_credits_text(obj.entry.amount))
