"""Webhook endpoints, the deliveries of events to them and each attempt of a delivery."""
import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .accounts import Account
from .events import Event, EventType


class WebhookEndpoint(models.Model):
    """Where events are sent, signed with its secret (Standard Webhooks). An endpoint with an
    account gets that account's events only (an owner's); without, every event of its types
    (an operator's). No event types: all of them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.URLField(max_length=2000, help_text="http(s) only; private, loopback and "
                                                     "link-local targets are refused.")
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(models.CharField(max_length=32, choices=EventType.choices),
                             blank=True, default=list,
                             help_text="Empty: every event type.")
    enabled = models.BooleanField(default=True)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="webhook_endpoints",
                                help_text="Only this account's events; empty: every account's "
                                          "(operators).")
    secret = models.CharField(max_length=100, editable=False,
                              help_text="whsec_…: signs the deliveries; shown once.")
    created_by = models.CharField(max_length=200, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="The first failed attempt since its last success; empty: not failing.")
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.url

    def takes(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (gave up)"


class Delivery(models.Model):
    """One event to one endpoint: sent at least once, retried with backoff until it succeeds or
    its retry time is over. A resource's deliveries to an endpoint go in event order: one is
    claimed only when no earlier one of the resource is still pending there."""

    # Indexed by the unique constraint, which leads with it.
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries",
                              db_index=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE,
                                 related_name="deliveries")
    # The event's resource: deliveries of one resource to one endpoint keep their order.
    resource_id = models.BigIntegerField(null=True, blank=True, editable=False)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    retry_until = models.DateTimeField(
        help_text="No attempt after this instant: a failure then gives up "
                  "(WEBHOOK_RETRY_SECONDS after it was created or resent).")
    attempts = models.PositiveIntegerField(default=0)
    leased_until = models.DateTimeField(
        null=True, blank=True,
        help_text="Claimed by a sender until then; a sender that died lets it go at that time.")
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"],
                                               name="delivery_once_per_endpoint")]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="delivery_due",
                         condition=Q(status=DeliveryStatus.PENDING)),
            models.Index(fields=["endpoint", "resource_id", "event"], name="delivery_order",
                         condition=Q(status=DeliveryStatus.PENDING)),
        ]

    def __str__(self) -> str:
        return f"{self.event.public_id} → {self.endpoint.url} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try of a delivery: what the endpoint answered (status, an excerpt, how fast), or why
    no answer came."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["attempted_at", "id"]
