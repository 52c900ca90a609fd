"""The ledger in the admin: its append-only entries, newest first (with the lot each grant opened
and the lots each debit drained), and the lots. Read-only: services write them."""
from __future__ import annotations

from django.contrib import admin

from ..models import LedgerEntry, Lot, LotDrain
from .shared import AddressSearchMixin, ReadOnlyAdminMixin, ReadOnlyInline


class DrainInline(ReadOnlyInline):
    model = LotDrain
    fields = ("lot", "amount")
    verbose_name_plural = "Drained from lots"


class OpenedLotInline(ReadOnlyInline):
    model = Lot
    fields = ("amount", "remaining", "expires_at", "created_at")
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
