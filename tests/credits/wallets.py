"""A client of our own for Sign-In with Ethereum: a fresh key, the service's nonce, an EIP-4361
message and its signature, the way a wallet and a dapp make them."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from eth_account import Account
from rest_framework.test import APIClient

from credits.siwe import SiweMessage, message_sign


class Wallet:
    def __init__(self, private_key=None):
        self.account = Account.from_key(private_key) if private_key else Account.create()
        self.address = self.account.address

    def nonce(self, client: APIClient | None = None) -> str:
        response = (client or APIClient()).post("/api/v1/auth/nonce")
        assert response.status_code == 201, response.content[:300]
        return response.json()["nonce"]

    def message(self, nonce: str, **changes) -> SiweMessage:
        """What a dapp of this service asks the wallet to sign now (the service's domain, URI
        and first chain), with `changes`."""
        now = timezone.now().replace(microsecond=0)
        message = SiweMessage(
            domain=settings.SIWE_DOMAIN, address=self.address, statement="Sign in to credits.",
            uri=settings.SIWE_URI, chain_id=settings.SIWE_CHAIN_IDS[0], nonce=nonce,
            issued_at=now, expiration_time=now + timedelta(minutes=5))
        return replace(message, **changes)

    def sign(self, text: str) -> str:
        return message_sign(text, self.account.key)

    def post_sign_in(self, text: str, signature: str | None = None, client=None):
        body = {"message": text, "signature": signature or self.sign(text)}
        return (client or APIClient()).post("/api/v1/auth/siwe", data=json.dumps(body),
                                            content_type="application/json")

    def sign_in(self, **changes) -> str:
        """A new owner token (asserting the sign-in succeeds)."""
        response = self.post_sign_in(self.message(self.nonce(), **changes).text())
        assert response.status_code == 200, response.content[:500]
        return response.json()["token"]


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
