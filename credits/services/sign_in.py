"""Sign-In with Ethereum (EIP-4361): nonces handed out, signed messages verified into owner
tokens, tokens ended by logging out.

A nonce is used once: the statement that marks it used is a guarded UPDATE (`… WHERE used_at IS
NULL`), so of two verifications of one nonce at once, the second waits for the first and then
finds it used. Every check of the message comes before it, and the token is written in the
same transaction, so a refused sign-in leaves the nonce unused and nothing written.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import get_random_string

from ..errors import SignInMalformed, SignInRefused
from ..models import Account, OwnerToken, SignInNonce
from ..siwe import (
    MalformedMessage,
    MalformedSignature,
    SiweMessage,
    message_parse,
    message_signer,
)
from .accounts import account_get_or_create

NONCE_LENGTH = 24  # letters and digits: 142 bits
# Used and expired nonces are kept this long after they expire (a replay within it is named as
# one), then deleted a batch at a time by the next nonces handed out.
NONCE_KEPT_AFTER_EXPIRY = timedelta(days=1)
NONCE_CLEANUP_BATCH = 500
TOKEN_NAME = "wallet sign-in"


@dataclass(frozen=True)
class SignInParameters:
    """What a client needs to write the message: the nonce and what the message must name."""

    nonce: str
    expires_at: datetime
    domain: str
    uri: str
    chain_ids: list[int]


@dataclass(frozen=True)
class SignIn:
    token: OwnerToken
    key: str  # the token itself: shown once, only its hash is stored
    account: Account


def sign_in_nonce_create(*, at: datetime | None = None) -> SignInParameters:
    """A fresh nonce, usable once for SIWE_NONCE_TTL_SECONDS."""
    now = at or timezone.now()
    stale = SignInNonce.objects.filter(expires_at__lt=now - NONCE_KEPT_AFTER_EXPIRY)
    stale_pks = list(stale.order_by("pk").values_list("pk", flat=True)[:NONCE_CLEANUP_BATCH])
    if stale_pks:
        SignInNonce.objects.filter(pk__in=stale_pks).delete()
    nonce = SignInNonce.objects.create(
        nonce=get_random_string(NONCE_LENGTH), created_at=now,
        expires_at=now + timedelta(seconds=settings.SIWE_NONCE_TTL_SECONDS))
    return SignInParameters(nonce=nonce.nonce, expires_at=nonce.expires_at,
                            domain=settings.SIWE_DOMAIN, uri=settings.SIWE_URI,
                            chain_ids=list(settings.SIWE_CHAIN_IDS))


def sign_in_refusal(message: SiweMessage, *, signer: str, now: datetime) -> SignInRefused | None:
    """Why this message, signed by `signer`, cannot sign anyone in here now (its nonce aside);
    None if it can."""
    if signer != message.address:
        return SignInRefused("siwe_wrong_signer",
                             f"The signature was made by {signer}, not by {message.address}; "
                             "contract wallets (EIP-1271) cannot sign in.",
                             address=message.address)
    if message.domain != settings.SIWE_DOMAIN:
        return SignInRefused("siwe_wrong_domain",
                             f"The message is for {message.domain!r}, not for this service "
                             f"({settings.SIWE_DOMAIN!r}).", expected=settings.SIWE_DOMAIN)
    if message.uri != settings.SIWE_URI:
        return SignInRefused("siwe_wrong_uri",
                             f"The message's URI is {message.uri!r}, not {settings.SIWE_URI!r}.",
                             expected=settings.SIWE_URI)
    if message.chain_id not in settings.SIWE_CHAIN_IDS:
        return SignInRefused("siwe_wrong_chain",
                             f"Chain {message.chain_id} is not one this service signs in on.",
                             expected=list(settings.SIWE_CHAIN_IDS))
    if message.issued_at > now + timedelta(seconds=settings.SIWE_CLOCK_SKEW_SECONDS):
        return SignInRefused("siwe_issued_in_future",
                             f"The message is issued at {message.issued_at.isoformat()}, in the "
                             "future.", now=now.isoformat())
    if message.expiration_time is None:
        return SignInRefused("siwe_expiration_missing",
                             "The message must have an Expiration Time.")
    if message.expiration_time <= now:
        return SignInRefused("siwe_expired",
                             f"The message expired at {message.expiration_time.isoformat()}.",
                             now=now.isoformat())
    if message.not_before is not None and message.not_before > now:
        return SignInRefused("siwe_not_yet_valid",
                             f"The message is not valid before {message.not_before.isoformat()}.",
                             now=now.isoformat())
    return None


def _nonce_consume(*, nonce: str, message_sha256: str, now: datetime) -> None:
    """Mark the nonce used by this message, or raise why it cannot be. Atomic: one guarded
    UPDATE, so one nonce is used at most once whatever runs at the same time."""
    used = SignInNonce.objects.filter(nonce=nonce, used_at__isnull=True, expires_at__gt=now) \
        .update(used_at=now, message_sha256=message_sha256)
    if used:
        return
    row = SignInNonce.objects.filter(nonce=nonce).first()
    if row is None:
        raise SignInRefused("siwe_unknown_nonce",
                            "This nonce was not handed out here (or long ago): ask "
                            "POST /api/v1/auth/nonce for one.")
    if row.used_at is not None and row.message_sha256 == message_sha256:
        raise SignInRefused("siwe_replayed", "This message was used to sign in already.")
    if row.used_at is not None:
        raise SignInRefused("siwe_nonce_used", "This nonce was used by another message already.")
    raise SignInRefused("siwe_nonce_expired",
                        f"This nonce expired at {row.expires_at.isoformat()}: ask for a new one.")


def sign_in_with_ethereum(*, message: str, signature: str, at: datetime | None = None) -> SignIn:
    """An owner token for the address that signed `message` (EIP-4361) with `signature`
    (EIP-191), the account created if it has none. Raises SignInMalformed (400) or
    SignInRefused (401)."""
    now = at or timezone.now()
    try:
        parsed = message_parse(message)
    except MalformedMessage as exc:
        raise SignInMalformed("siwe_malformed_message", str(exc)) from exc
    try:
        signer = message_signer(message, signature)
    except MalformedSignature as exc:
        raise SignInMalformed("siwe_malformed_signature", str(exc)) from exc
    refusal = sign_in_refusal(parsed, signer=signer, now=now)
    if refusal is not None:
        raise refusal
    with transaction.atomic():
        _nonce_consume(nonce=parsed.nonce, now=now,
                       message_sha256=hashlib.sha256(message.encode()).hexdigest())
        account = account_get_or_create(address=parsed.address)
        token, key = OwnerToken.objects.create_key(
            name=TOKEN_NAME, account=account, chain_id=parsed.chain_id,
            expiry_date=now + timedelta(seconds=settings.SIWE_TOKEN_TTL_SECONDS))
    return SignIn(token=token, key=key, account=account)


def owner_token_revoke(*, token: OwnerToken) -> None:
    """Log out: the token no longer authenticates anyone (idempotent)."""
    OwnerToken.objects.filter(pk=token.pk, revoked=False).update(revoked=True)
