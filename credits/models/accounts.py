"""Accounts, the token balances the oracle reports for them, and scoped API keys."""
from django.db import models
from django.db.models import Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from pricing.fields import ExactDecimalField


class Account(models.Model):
    """An address: EVM addresses are stored checksummed, other chains' addresses as given."""

    address = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    metered_until = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="The lifecycle metered this account up to here: each live credit-paid "
                  "resource of it is charged every whole hour ended by then (unless its "
                  "`ResourceMeter` row says otherwise). Empty: never metered.")
    runway_alert_hours = models.PositiveSmallIntegerField(
        null=True, blank=True, editable=False,
        help_text="The lowest runway threshold (hours) already announced by "
                  "`account.runway_low`: thresholds at or above it are not announced again "
                  "until a top-up re-arms them. Empty: every threshold is armed.")

    class Meta:
        ordering = ["address"]
        # A constraint, not `unique=True`: lookups are by the whole address, and the second
        # index Django adds for a unique text field (for LIKE 'prefix%') would only slow every
        # hourly update of `metered_until` (see `Resource.Meta`).
        constraints = [models.UniqueConstraint(fields=["address"], name="account_address_unique")]

    def __str__(self) -> str:
        return self.address



class TokenBalance(models.Model):
    """Tokens an account holds on a chain, as last reported by the oracle, with its height."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="token_balances")
    chain = models.CharField(max_length=32)
    balance = ExactDecimalField()
    height = models.BigIntegerField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "chain"], name="token_balance_per_chain"),
            models.CheckConstraint(name="token_balance_not_negative",
                                   condition=Q(balance__gte=0, height__gte=0)),
        ]



class ApiKeyScope(models.TextChoices):
    OWNER = "owner", "Owner (one account)"
    SERVICE = "service", "Service"
    OPERATOR = "operator", "Operator"


class ApiKey(AbstractAPIKey):
    """A hashed, prefixed, revocable key (djangorestframework-api-key) with a scope."""

    scope = models.CharField(max_length=16, choices=ApiKeyScope.choices)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="api_keys",
                                help_text="Required for owner keys, empty otherwise.")
    created_by = models.CharField(
        max_length=200, blank=True, editable=False,
        help_text="Who made it: a staff user, `manage.py create_api_key`, or the owner itself "
                  "(its wallet sign-in token or another of its keys). Empty: before this was "
                  "recorded.")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        constraints = [
            models.CheckConstraint(
                name="api_key_owner_has_account",
                condition=Q(scope=ApiKeyScope.OWNER, account__isnull=False)
                | (~Q(scope=ApiKeyScope.OWNER) & Q(account__isnull=True))),
        ]
