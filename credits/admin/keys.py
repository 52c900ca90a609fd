"""API keys in the admin: staff create a key (shown once), see its scope, account and expiry,
and revoke it; a key is never deleted."""
from __future__ import annotations

from django.contrib import admin, messages
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey as LibraryAPIKey

from ..models import Account, ApiKey
from .forms import ApiKeyCreateForm

# The library's own concrete model is installed only for its abstract base; ours is `ApiKey`.
if admin.site.is_registered(LibraryAPIKey):
    admin.site.unregister(LibraryAPIKey)


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
