"""Who is calling: scoped API keys (`Authorization: Api-Key <key>`) and staff sessions, and the
permission classes every endpoint declares."""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_permission_codename
from rest_framework import authentication, exceptions, permissions

from .addresses import InvalidAddress, normalize_address
from .models import ApiKey, ApiKeyScope

KEYWORD = "Api-Key"


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """`request.user` for a request made with an API key."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_staff: bool = False

    @property
    def scope(self) -> str:
        return self.api_key.scope

    @property
    def account_address(self) -> str | None:
        return self.api_key.account.address if self.api_key.account_id else None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith(f"{KEYWORD} "):
            return None
        key = header[len(KEYWORD) + 1:].strip()
        try:
            api_key = ApiKey.objects.get_from_key(key)  # usable (not revoked) keys only
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.") from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request):
        return KEYWORD  # so a missing key is a 401, not a 403


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """The admin's session, for staff only (with CSRF checks on writes)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None or not result[0].is_staff:
            return None
        return result


def api_key_of(request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


def actor_of(request) -> str:
    """How the audit trail names the caller."""
    api_key = api_key_of(request)
    if api_key is not None:
        return f"api-key:{api_key.prefix} ({api_key.scope}: {api_key.name})"
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_staff", False):
        return f"staff:{user.get_username()}"
    return "anonymous"


def is_staff(request) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and getattr(user, "is_staff", False)
                and not isinstance(user, ApiKeyPrincipal))


def _has_scope(request, scope: str) -> bool:
    api_key = api_key_of(request)
    return api_key is not None and api_key.scope == scope


class AnyCaller(permissions.AllowAny):
    """Anyone, with or without a key."""


class ServiceKey(permissions.BasePermission):
    message = "This endpoint needs a service API key."

    def has_permission(self, request, view):
        return _has_scope(request, ApiKeyScope.SERVICE)


def staff_may_view(user, model) -> bool:
    """What the admin lets a staff user see of `model`: its view or change permission (as
    ModelAdmin.has_view_permission decides)."""
    opts = model._meta
    return any(user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
               for action in ("view", "change"))


class OperatorKeyOrStaff(permissions.BasePermission):
    """An operator key, or a staff session whose user may view the view's `staff_model` in the
    admin: a session reads through the API no more than the admin shows it."""

    message = ("This endpoint needs an operator API key, or a staff session with permission to "
               "view this data in the admin.")

    def has_permission(self, request, view):
        if _has_scope(request, ApiKeyScope.OPERATOR):
            return True
        model = getattr(view, "staff_model", None)
        return is_staff(request) and model is not None and staff_may_view(request.user, model)


class OwnerKey(permissions.BasePermission):
    """An owner key; which account it may act for is checked with `require_owner`."""

    message = "This endpoint needs the owner's API key."

    def has_permission(self, request, view):
        return _has_scope(request, ApiKeyScope.OWNER)


def require_owner(request, address: str) -> None:
    """Refuse (403) unless the request carries the owner key of `address`."""
    api_key = api_key_of(request)
    try:
        wanted = normalize_address(address)
    except InvalidAddress:
        wanted = address
    if api_key is None or api_key.scope != ApiKeyScope.OWNER \
            or api_key.account is None or api_key.account.address != wanted:
        raise exceptions.PermissionDenied(f"Only the owner key of {address} may do this.")


_STAFF_ACTION_BY_METHOD = {"GET": "view", "HEAD": "view", "OPTIONS": "view", "POST": "add",
                           "PUT": "change", "PATCH": "change", "DELETE": "delete"}


class EventReader(OperatorKeyOrStaff):
    """The event feed: any API key (an owner key then reads only its own account's events), or a
    staff session that may view the view's `staff_model` in the admin."""

    message = ("This endpoint needs an API key (owner, service or operator), or a staff session "
               "with permission to view events in the admin.")

    def has_permission(self, request, view):
        return api_key_of(request) is not None or super().has_permission(request, view)


class WebhookManager(OperatorKeyOrStaff):
    """Webhook endpoints: an operator key (every endpoint), an owner key (its own account's:
    checked by the view), or a staff session whose user has the admin permission of the
    method (view, add, change or delete the view's `staff_model`)."""

    message = ("This endpoint needs an operator or owner API key, or a staff session with "
               "permission to manage webhook endpoints in the admin.")

    def has_permission(self, request, view):
        if _has_scope(request, ApiKeyScope.OPERATOR) or _has_scope(request, ApiKeyScope.OWNER):
            return True
        model = getattr(view, "staff_model", None)
        action = _STAFF_ACTION_BY_METHOD.get(request.method)
        if not is_staff(request) or model is None or action is None:
            return False
        opts = model._meta
        return request.user.has_perm(
            f"{opts.app_label}.{get_permission_codename(action, opts)}")
