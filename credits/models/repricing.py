"""Repricing: jobs applying a pricing version to the live resources, and their audit lines.

Moved from the pricing app (pricing does not know resources); the tables keep their names."""
from django.conf import settings
from django.db import models

from pricing.fields import ExactDecimalField
from pricing.models import PricingVersion


class RecalculationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Finished with failures"


class Recalculation(models.Model):
    """A job applying a pricing version to the live resources (or, as a dry run, computing what
    that would do): its progress, counts and the impact summary, written batch by batch."""

    version = models.ForeignKey(PricingVersion, on_delete=models.CASCADE,
                                related_name="recalculations")
    dry_run = models.BooleanField(default=False,
                                  help_text="Only computes the impact; changes no resource.")
    status = models.CharField(max_length=16, choices=RecalculationStatus.choices,
                              default=RecalculationStatus.QUEUED, db_index=True)
    fingerprint = models.CharField(
        max_length=64, blank=True,
        help_text="Digest of the version's prices when the job started (a draft may change).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True,
                                        help_text="Last progress written by the worker.")
    total = models.PositiveIntegerField(default=0, help_text="Live resources when it started.")
    done = models.PositiveIntegerField(default=0)
    recalculated = models.PositiveIntegerField(
        default=0, help_text="Resources whose rows, totals or version were replaced.")
    cost_changed = models.PositiveIntegerField(
        default=0, help_text="… of which the cost in their payment type's unit changed.")
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    burn_before_per_hour = ExactDecimalField(
        default=0, help_text="Credits per hour of the live credit-paid resources, before.")
    burn_after_per_hour = ExactDecimalField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    error_messages = models.TextField(blank=True)

    class Meta:
        db_table = "pricing_recalculation"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        kind = "dry run" if self.dry_run else "recalculation"
        return f"{kind} #{self.pk} with version {self.version_id} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in (RecalculationStatus.QUEUED, RecalculationStatus.RUNNING)

    @property
    def percent_done(self) -> int:
        if not self.total:
            return 100 if not self.is_active else 0
        return min(100, self.done * 100 // self.total)


class RecalculationOutcome(models.TextChoices):
    RECALCULATED = "recalculated", "Recalculated"
    FAILED = "failed", "Failed"


class RecalculationLine(models.Model):
    """Audit of one resource in a recalculation: its totals before and after, or why it failed.

    The resource is named by id and item hash, not by a foreign key (the column predates the
    move from the pricing app; resources are never deleted anyway).
    """

    recalculation = models.ForeignKey(Recalculation, on_delete=models.CASCADE,
                                      related_name="lines")
    resource_id = models.BigIntegerField(db_index=True)
    item_hash = models.CharField(max_length=128)
    outcome = models.CharField(max_length=16, choices=RecalculationOutcome.choices)
    previous_version_id = models.BigIntegerField(null=True, blank=True)
    previous_cost_hold = ExactDecimalField(null=True, blank=True)
    previous_cost_stream_per_second = ExactDecimalField(null=True, blank=True)
    previous_cost_credit_per_second = ExactDecimalField(null=True, blank=True)
    cost_hold = ExactDecimalField(null=True, blank=True)
    cost_stream_per_second = ExactDecimalField(null=True, blank=True)
    cost_credit_per_second = ExactDecimalField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        db_table = "pricing_recalculationline"
        ordering = ["recalculation", "id"]

    def __str__(self) -> str:
        return f"{self.item_hash[:12]}… {self.outcome}"
