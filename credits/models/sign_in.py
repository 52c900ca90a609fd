"""Sign-In with Ethereum: the single-use nonces the service hands out, and the short-lived owner
tokens a verified signature earns (hashed like the API keys, revocable)."""
from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from .accounts import Account, ApiKeyScope


class SignInNonce(models.Model):
    """A nonce for one sign-in: usable until `expires_at`, and once (`used_at`)."""

    nonce = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    message_sha256 = models.CharField(
        max_length=64, blank=True,
        help_text="SHA-256 of the message that used the nonce: tells a replay of that message "
                  "from another message with the same nonce.")

    class Meta:
        verbose_name = "sign-in nonce"

    def __str__(self) -> str:
        return self.nonce


class OwnerTokenManager(BaseAPIKeyManager):
    def get_usable_keys(self):
        return super().get_usable_keys().select_related("account")


class OwnerToken(AbstractAPIKey):
    """What a wallet sign-in earns: `Authorization: Bearer <token>`, acting as an owner API key of
    `account` until `expiry_date` or until logged out (revoked). Only its hash is stored."""

    # The credential interface every permission reads (as on ApiKey): an owner of one account.
    scope = ApiKeyScope.OWNER

    objects = OwnerTokenManager()

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="owner_tokens")
    chain_id = models.BigIntegerField(help_text="The chain id of the signed message.")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "owner token (wallet sign-in)"
        verbose_name_plural = "owner tokens (wallet sign-in)"
