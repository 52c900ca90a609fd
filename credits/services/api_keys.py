"""Owners' own API keys (for their scripts): created and revoked by the owner through the API,
with an owner key or an owner token. Staff create and revoke keys in the admin."""
from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..errors import InvalidInput, TooManyApiKeys
from ..locks import account_lock
from ..models import Account, ApiKey, ApiKeyScope
from ..selectors.api_keys import owner_api_keys_live

NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length


@transaction.atomic
def owner_api_key_create(*, account: Account, name: str, expires_at: datetime | None,
                         actor: str, at: datetime | None = None) -> tuple[ApiKey, str]:
    """A new owner key of `account` and the key itself (shown once; only its hash is kept).
    Raises InvalidInput (a blank or long name, an expiry not in the future) or TooManyApiKeys
    (OWNER_API_KEYS_MAX_LIVE live keys already: revoke one first)."""
    now = at or timezone.now()
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX_LENGTH:
        raise InvalidInput(f"A key's name is 1 to {NAME_MAX_LENGTH} characters.", field="name")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at must be in the future.", field="expires_at")
    account_lock(account.pk)  # two creations at once count each other
    live = owner_api_keys_live(account=account, at=now).count()
    if live >= settings.OWNER_API_KEYS_MAX_LIVE:
        raise TooManyApiKeys(f"The account has {live} live API keys, the most it may hold: "
                             "revoke one first.", live_keys=live,
                             max_live_keys=settings.OWNER_API_KEYS_MAX_LIVE)
    return ApiKey.objects.create_key(name=name, scope=ApiKeyScope.OWNER, account=account,
                                     expiry_date=expires_at, created_by=actor)


def owner_api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke the key (for good; revoking a revoked key changes nothing)."""
    ApiKey.objects.filter(pk=api_key.pk, revoked=False).update(revoked=True)
    api_key.refresh_from_db()
    return api_key
