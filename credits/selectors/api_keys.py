"""An owner's API keys."""
from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from ..models import Account, ApiKey, ApiKeyScope


def owner_api_keys_live(*, account: Account, at: datetime) -> QuerySet[ApiKey]:
    """The account's owner keys that still work at `at` (not revoked, not expired), newest
    first, whoever made them."""
    return (ApiKey.objects.filter(scope=ApiKeyScope.OWNER, account=account, revoked=False)
            .filter(Q(expiry_date__isnull=True) | Q(expiry_date__gt=at))
            .order_by("-created", "prefix"))


def owner_api_key_get(*, prefix: str) -> ApiKey | None:
    """The owner key with this prefix (revoked or not), None if there is none."""
    return (ApiKey.objects.filter(scope=ApiKeyScope.OWNER, prefix=prefix)
            .select_related("account").first())
