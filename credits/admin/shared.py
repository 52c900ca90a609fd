"""What the credits admin modules share: read-only admins for rows only services write, search
by an EVM address in any case, and links to admin pages (how amounts and times read: `display`)."""
from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse

from ..addresses import InvalidAddress, normalize_address


class ReadOnlyAdminMixin:
    """Rows that only services write: listed and shown, never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Rows shown under their parent: every listed field read-only, nothing added or removed."""

    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


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


# --- links ---------------------------------------------------------------------------------------

def changelist_url(model, **filters) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    if filters:
        url += "?" + "&".join(f"{key}={value}" for key, value in filters.items())
    return url


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
