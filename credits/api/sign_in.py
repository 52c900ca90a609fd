"""Sign-In with Ethereum (EIP-4361): a nonce, the sign-in that earns an owner token, and logging
out. Thin views over `credits.services.sign_in`."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from credits_project.throttles import SignInNonceThrottle, SignInThrottle

from ..auth import OwnerTokenOnly
from ..serializers.sign_in import NonceSerializer, SignInRequestSerializer, SignInSerializer
from ..services.sign_in import owner_token_revoke, sign_in_nonce_create, sign_in_with_ethereum
from .common import BAD_BODY_ERRORS, error_doc

_THROTTLED = {429: error_doc("Over `SIWE_THROTTLE_RATE` for this client (`Retry-After`).")}
SIGN_IN_CODES = (
    "`siwe_wrong_signer` (the signature is another address's: contract wallets under EIP-1271 "
    "are not supported), `siwe_wrong_domain`, `siwe_wrong_uri`, `siwe_wrong_chain` (not what "
    "`POST /api/v1/auth/nonce` said), `siwe_issued_in_future` (Issued At later than now, past "
    "`SIWE_CLOCK_SKEW_SECONDS`), `siwe_expiration_missing`, `siwe_expired` (its Expiration Time "
    "has passed), `siwe_not_yet_valid` (Not Before), `siwe_unknown_nonce` (not handed out "
    "here), `siwe_nonce_expired`, `siwe_replayed` (this very message signed in already), "
    "`siwe_nonce_used` (another message used the nonce)")


class SignInNonceView(APIView):
    throttle_classes = [SignInNonceThrottle]

    @extend_schema(
        summary="Start a wallet sign-in: a nonce",
        description="**Who:** anyone.\n\nA nonce for one Sign-In with Ethereum (EIP-4361) "
                    "message, usable once within `SIWE_NONCE_TTL_SECONDS` (5 minutes by "
                    "default), and what the message must name: `domain` (its first line), "
                    "`uri` (its `URI:` line) and one of `chain_ids` (its `Chain ID:` line). "
                    "Sign the message with the wallet (`personal_sign`) and send it to "
                    "`POST /api/v1/auth/siwe`.",
        request=None,
        responses={201: NonceSerializer, **_THROTTLED},
    )
    def post(self, request):
        parameters = sign_in_nonce_create()
        return Response({"nonce": parameters.nonce,
                         "expires_at": parameters.expires_at.isoformat(),
                         "domain": parameters.domain, "uri": parameters.uri,
                         "chain_ids": parameters.chain_ids}, status=status.HTTP_201_CREATED)


class SignInView(APIView):
    throttle_classes = [SignInThrottle]

    @extend_schema(
        summary="Sign in with a wallet: an owner token",
        description="**Who:** anyone who signs.\n\nVerifies the EIP-4361 message and its "
                    "EIP-191 signature (what `personal_sign` makes with an account's key) and "
                    "answers an owner token for the signing address, valid "
                    "`SIWE_TOKEN_TTL_SECONDS` (an hour by default): sent as `Authorization: "
                    "Bearer <token>`, it has exactly the rights of an owner API key of that "
                    "account (register and forget its resources, transfer its credits, manage "
                    "its API keys, read its account when reads are private). The account is "
                    "created if the address has none. The message must have an Expiration "
                    "Time, and its nonce is used up by the first sign-in that presents it. "
                    "Only externally owned accounts sign in: a contract wallet's EIP-1271 "
                    "signature is not checked.\n\nRefusals: 400 `siwe_malformed_message` or "
                    f"`siwe_malformed_signature`; 401 {SIGN_IN_CODES}.",
        request=SignInRequestSerializer,
        responses={200: SignInSerializer,
                   401: error_doc(f"The sign-in is refused: {SIGN_IN_CODES}."),
                   **BAD_BODY_ERRORS,
                   400: error_doc("Malformed body, `siwe_malformed_message` (not EIP-4361, a "
                                  "version other than 1, an address not EIP-55 checksummed) "
                                  "or `siwe_malformed_signature` (no address can have made "
                                  "it)."),
                   **_THROTTLED},
    )
    def post(self, request):
        body = SignInRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        signed_in = sign_in_with_ethereum(message=body.validated_data["message"],
                                          signature=body.validated_data["signature"])
        return Response({"token": signed_in.key, "token_type": "Bearer",
                         "expires_at": signed_in.token.expiry_date.isoformat(),
                         "address": signed_in.account.address})


class SignOutView(APIView):
    permission_classes = [OwnerTokenOnly]

    @extend_schema(
        summary="Log out: end the owner token",
        description="**Who:** an owner token (the one sent, which stops working at once). API "
                    "keys are revoked with `DELETE /api/v1/api-keys/{prefix}` instead.",
        request=None,
        responses={204: None,
                   401: error_doc("No owner token, or an unknown, logged-out or expired one."),
                   403: error_doc("Not an owner token (an API key or a staff session).")},
    )
    def post(self, request):
        owner_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)
