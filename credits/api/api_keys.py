"""The owners' own API keys, for their scripts: listed, created and revoked with an owner key or
an owner token, for its own account. Thin views over `credits.services.api_keys` and
`credits.selectors.api_keys`; staff manage every key in the admin."""
from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..auth import OwnerKey, actor_of, owner_account_of, require_owner
from ..errors import NotFound
from ..models import ApiKey
from ..selectors.api_keys import owner_api_key_get, owner_api_keys_live
from ..serializers.api_keys import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateRequestSerializer,
    ApiKeySerializer,
)
from ..services.api_keys import owner_api_key_create, owner_api_key_revoke
from .common import BAD_BODY_ERRORS, error_doc, iso_or_none

_OWNER_ERRORS = {
    401: error_doc("No API key or owner token, or an unknown, revoked or expired one."),
    403: error_doc("Not an owner: a service or operator key, or a staff session."),
}
PREFIX_PARAMETER = OpenApiParameter(
    "prefix", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=r"^[0-9A-Za-z]{1,8}$",
    description="The key's prefix: its part before the dot.")


def api_key_payload(api_key: ApiKey) -> dict:
    return {"prefix": api_key.prefix, "name": api_key.name,
            "created_at": api_key.created.isoformat(),
            "expires_at": iso_or_none(api_key.expiry_date), "revoked": api_key.revoked,
            "created_by": api_key.created_by}


class ApiKeysView(APIView):
    permission_classes = [OwnerKey]

    @extend_schema(
        summary="The owner's API keys",
        description="**Who:** an owner key or owner token: the keys of its own account that "
                    "still work (neither revoked nor expired), newest first, whoever made "
                    "them. Never the keys themselves: only their prefixes.",
        responses={200: ApiKeySerializer(many=True), **_OWNER_ERRORS},
    )
    def get(self, request):
        keys = owner_api_keys_live(account=owner_account_of(request), at=timezone.now())
        return Response([api_key_payload(api_key) for api_key in keys])

    @extend_schema(
        summary="Create an API key for the owner's scripts",
        description="**Who:** an owner key or owner token. A new owner key of its own account "
                    "(the same rights), shown once in `key`: only its hash is stored. Staff "
                    "see it in the admin and can revoke it there. At most "
                    "`OWNER_API_KEYS_MAX_LIVE` (20) live keys per account: 409 "
                    "`too_many_api_keys` beyond.",
        request=ApiKeyCreateRequestSerializer,
        responses={201: ApiKeyCreatedSerializer,
                   409: error_doc("`too_many_api_keys`: revoke one first (`live_keys`, "
                                  "`max_live_keys`)."),
                   422: error_doc("A blank name, or `expires_at` not in the future."),
                   **BAD_BODY_ERRORS, **_OWNER_ERRORS},
    )
    def post(self, request):
        body = ApiKeyCreateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        api_key, key = owner_api_key_create(account=owner_account_of(request),
                                            name=body.validated_data["name"],
                                            expires_at=body.validated_data.get("expires_at"),
                                            actor=actor_of(request))
        return Response({**api_key_payload(api_key), "key": key},
                        status=status.HTTP_201_CREATED)


class ApiKeyDetailView(APIView):
    permission_classes = [OwnerKey]

    @extend_schema(
        summary="Revoke one of the owner's API keys",
        description="**Who:** an owner key or owner token of the key's account. The key stops "
                    "working for good; revoking a revoked key answers the same.",
        parameters=[PREFIX_PARAMETER],
        responses={200: ApiKeySerializer,
                   404: error_doc("No owner key has this prefix."),
                   **_OWNER_ERRORS,
                   403: error_doc("Not an owner, or the key is another account's.")},
    )
    def delete(self, request, prefix: str):
        api_key = owner_api_key_get(prefix=prefix)
        if api_key is None:
            raise NotFound(f"No owner API key has the prefix {prefix}.", prefix=prefix)
        require_owner(request, api_key.account.address)
        return Response(api_key_payload(owner_api_key_revoke(api_key=api_key)))
