"""Who is calling: scoped API keys (`Authorization: Api-Key <key>`), owner tokens from a wallet
sign-in (`Authorization: Bearer <token>`) and staff sessions, and the permission classes every
endpoint declares.

An owner token is a credential like an owner API key: both have a `scope` (always owner for a
token) and an `account`, and every rule below reads the request's credential through
`credential_of`, so a token has exactly the rights of an owner key of its account.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_permission_codename
from rest_framework import authentication, exceptions, permissions

from .addresses import InvalidAddress, normalize_address
from .models import ApiKey, ApiKeyScope, OwnerToken

KEYWORD = "Api-Key"
TOKEN_KEYWORD = "Bearer"

Credential = ApiKey | OwnerToken


@dataclass(frozen=True)
class CredentialPrincipal:
    """`request.user` for a request made with an API key or an owner token."""

    credential: Credential
    is_authenticated: bool = True
    is_staff: bool = False

    @property
    def scope(self) -> str:
        return self.credential.scope

    @property
    def account_address(self) -> str | None:
        return self.credential.account.address if self.credential.account_id else None


def _presented(request, keyword: str) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith(f"{keyword} "):
        return None
    return header[len(keyword) + 1:].strip()


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        key = _presented(request, KEYWORD)
        if key is None:
            return None
        try:
            api_key = ApiKey.objects.get_from_key(key)  # usable (not revoked) keys only
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.") from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        return CredentialPrincipal(api_key), api_key

    def authenticate_header(self, request):
        return KEYWORD  # so a missing key is a 401, not a 403


class OwnerTokenAuthentication(authentication.BaseAuthentication):
    """The token `POST /api/v1/auth/siwe` gives for a verified wallet signature."""

    def authenticate(self, request):
        presented = _presented(request, TOKEN_KEYWORD)
        if presented is None:
            return None
        try:
            token = OwnerToken.objects.get_from_key(presented)  # not logged out
        except OwnerToken.DoesNotExist:
            raise exceptions.AuthenticationFailed(
                "Unknown or logged-out token: sign in again.") from None
        if token.has_expired:
            raise exceptions.AuthenticationFailed("This token has expired: sign in again.")
        return CredentialPrincipal(token), token

    def authenticate_header(self, request):
        return TOKEN_KEYWORD


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """The admin's session, for staff only (with CSRF checks on writes)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None or not result[0].is_staff:
            return None
        return result


def credential_of(request) -> Credential | None:
    """The request's API key or owner token, None without one."""
    return request.auth if isinstance(request.auth, ApiKey | OwnerToken) else None


def owner_token_of(request) -> OwnerToken | None:
    return request.auth if isinstance(request.auth, OwnerToken) else None


def actor_of(request) -> str:
    """How the audit trail names the caller."""
    credential = credential_of(request)
    if isinstance(credential, OwnerToken):
        return f"owner-token:{credential.prefix} ({credential.account.address})"
    if credential is not None:
        return f"api-key:{credential.prefix} ({credential.scope}: {credential.name})"
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_staff", False):
        return f"staff:{user.get_username()}"
    return "anonymous"


def is_staff(request) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and getattr(user, "is_staff", False)
                and not isinstance(user, CredentialPrincipal))


def _has_scope(request, scope: str) -> bool:
    credential = credential_of(request)
    return credential is not None and credential.scope == scope


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
    """An owner key or an owner token; which account it may act for is checked with
    `require_owner` (or it acts for `owner_account_of`)."""

    message = "This endpoint needs the owner's API key or owner token."

    def has_permission(self, request, view):
        return _has_scope(request, ApiKeyScope.OWNER)


class OwnerTokenOnly(permissions.BasePermission):
    message = "This endpoint needs an owner token (from a wallet sign-in)."

    def has_permission(self, request, view):
        return owner_token_of(request) is not None


def owner_account_of(request):
    """The account an owner key or token acts for, None for any other caller."""
    credential = credential_of(request)
    if credential is None or credential.scope != ApiKeyScope.OWNER:
        return None
    return credential.account


def require_owner(request, address: str) -> None:
    """Refuse (403) unless the request carries an owner key or token of `address`."""
    account = owner_account_of(request)
    try:
        wanted = normalize_address(address)
    except InvalidAddress:
        wanted = address
    if account is None or account.address != wanted:
        raise exceptions.PermissionDenied(
            f"Only the owner key or token of {address} may do this.")


_STAFF_ACTION_BY_METHOD = {"GET": "view", "HEAD": "view", "OPTIONS": "view", "POST": "add",
                           "PUT": "change", "PATCH": "change", "DELETE": "delete"}


class EventReader(OperatorKeyOrStaff):
    """The event feed: any API key (an owner key then reads only its own account's events), or a
    staff session that may view the view's `staff_model` in the admin."""

    message = ("This endpoint needs an API key (owner, service or operator), or a staff session "
               "with permission to view events in the admin.")

    def has_permission(self, request, view):
        return credential_of(request) is not None or super().has_permission(request, view)


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
