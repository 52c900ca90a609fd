"""API keys in the admin: staff create a key (shown once), see its scope, account, expiry and who
made it (staff, or the owner through the API), and revoke it; a key is never deleted. Owner
tokens (wallet sign-ins) are listed beside them, and revoked the same way."""
from __future__ import annotations

from django.contrib import admin, messages
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey as LibraryAPIKey

from ..models import Account, ApiKey, OwnerToken
from .forms import ApiKeyCreateForm

# The library's own concrete model is installed only for its abstract base; ours is `ApiKey`.
if admin.site.is_registered(LibraryAPIKey):
    admin.site.unregister(LibraryAPIKey)


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    """Keys are shown once, at creation (the library's message), and only their hash is kept.
    Scope and account are fixed at creation; a key is revoked, never deleted, so the audit
    trail's `api-key:<prefix>` stays traceable."""

    list_display = ("name", "prefix", "scope", "account", "created", "created_by", "revoked",
                    "expiry_date", "_has_expired")
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
        return ("name", "prefix", "scope", "account", "created", "created_by", "expiry_date",
                "revoked")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (*super().get_readonly_fields(request, obj), "scope", "account", "created",
                "created_by")

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            address = form.cleaned_data.get("account_address")
            obj.account = Account.objects.get_or_create(address=address)[0] if address else None
            obj.created_by = f"staff:{request.user.get_username()}"
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected API keys (cannot be undone)",
                  permissions=["change"])
    def revoke(self, request, queryset):
        _revoke(self, request, queryset, "API key(s)")


def _revoke(model_admin, request, queryset, what: str) -> None:
    revoked = 0
    for credential in queryset.filter(revoked=False).order_by("pk"):
        credential.revoked = True
        credential.save(update_fields=["revoked"])
        model_admin.log_change(request, credential, "Revoked.")
        revoked += 1
    model_admin.message_user(request, f"{revoked} {what} revoked." if revoked
                             else "The selected ones were already revoked.", messages.SUCCESS)


@admin.register(OwnerToken)
class OwnerTokenAdmin(admin.ModelAdmin):
    """Owner tokens are made only by a wallet sign-in (never here); staff see whose they are and
    until when they work, and revoke them (as logging out does)."""

    list_display = ("prefix", "account", "chain_id", "created", "expiry_date", "revoked",
                    "_has_expired")
    list_filter = ("revoked", "created", "expiry_date")
    search_fields = ("prefix", "account__address")
    list_select_related = ("account",)
    fields = ("prefix", "account", "chain_id", "created", "expiry_date", "revoked")
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected owner tokens (cannot be undone)",
                  permissions=["change"])
    def revoke(self, request, queryset):
        _revoke(self, request, queryset, "owner token(s)")
