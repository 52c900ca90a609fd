"""Resources (VMs, programs, stored files) with their cost rows, meter and status history.

Costs are per-second decimals with 18 places."""
from django.db import models
from django.db.models import Q
from django.utils import timezone

from pricing.enums import CostRowType, MessageType, PaymentType, ProductType
from pricing.fields import ExactDecimalField
from pricing.models import PricingVersion

from .accounts import Account


class ResourceStatus(models.TextChoices):
    PROCESSED = "processed", "Processed"
    REMOVING = "removing", "Removing (grace period)"
    REMOVED = "removed", "Removed"
    FORGOTTEN = "forgotten", "Forgotten"


class RemovalReason(models.TextChoices):
    CREDIT_INSUFFICIENT = "credit_insufficient", "Credit insufficient"
    BALANCE_INSUFFICIENT = "balance_insufficient", "Token balance insufficient"


LIVE_STATUSES = (ResourceStatus.PROCESSED, ResourceStatus.REMOVING)
# Live as the indexes say it: not ended, which the check constraint `resource_live_until_ended`
# holds to `status in LIVE_STATUSES`; a flag changes the status, never `ended_at`, so only this
# is in an index (`resource_lifecycle`). Queries over all live resources filter with it.
LIVE_RESOURCE = Q(ended_at__isnull=True)


class StatusChangeReason(models.TextChoices):
    """Why a resource's status changed, as its audit row says. A flag's reason is its removal
    reason. The operators' desk writes free text (what they did, then why), so the audit row's
    `reason` is not limited to these."""

    REGISTERED = "registered", "Registered"
    CREDIT_INSUFFICIENT = RemovalReason.CREDIT_INSUFFICIENT.value, "Credit insufficient"
    BALANCE_INSUFFICIENT = RemovalReason.BALANCE_INSUFFICIENT.value, "Token balance insufficient"
    FUNDED = "funded", "Funded again"
    GRACE_EXPIRED = "grace_expired", "Grace over"
    FORGOTTEN_BY_OWNER = "forgotten by the owner", "Forgotten by the owner"


class Resource(models.Model):
    """A registered VM, program or stored file, with its costs at registration."""

    item_hash = models.CharField(max_length=128)
    type = models.CharField(max_length=16, choices=MessageType.choices)
    content = models.JSONField()
    # Looked up by (owner, status) and by the lifecycle's index: no index of its own.
    owner = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="resources",
                              db_index=False)
    product_type = models.CharField(max_length=32, choices=ProductType.choices)
    payment_type = models.CharField(max_length=16, choices=PaymentType.choices)
    payment_chain = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=ResourceStatus.choices,
                              default=ResourceStatus.PROCESSED)
    removal_reason = models.CharField(max_length=32, choices=RemovalReason.choices, blank=True)
    removing_since = models.DateTimeField(null=True, blank=True)
    delete_after = models.DateTimeField(null=True, blank=True)
    # No index: nothing looks resources up by version but the delete of a version, and only
    # drafts (never priced a resource) are deleted; each status change of the lifecycle would
    # write an entry in it (`resource_item_hash_unique`).
    pricing_version = models.ForeignKey(PricingVersion, on_delete=models.PROTECT,
                                        related_name="resources", db_index=False)
    cost_hold = ExactDecimalField(help_text="Tokens locked while the resource lives.")
    cost_stream_per_second = ExactDecimalField(help_text="Tokens per second.")
    cost_credit_per_second = ExactDecimalField(help_text="Credits per second.")
    size_mib = ExactDecimalField(null=True, blank=True,
                                 help_text="STORE: size of the stored file in MiB.")
    created_at = models.DateTimeField(default=timezone.now,
                                      help_text="Registration; billing hours start here.")
    ended_at = models.DateTimeField(null=True, blank=True,
                                    help_text="When it was removed or forgotten.")

    class Meta:
        ordering = ["created_at", "id"]
        # A flag or a restore changes `status` and the deadline and nothing any index holds
        # (not even in a condition): PostgreSQL writes the new row version in the same page
        # (a heap-only update, the table's fillfactor leaves room: migration 0022) and no index
        # entry. The deadlines of the resources pending deletion are looked up in
        # `ResourceGrace`, which a trigger keeps; "live" is `ended_at IS NULL` for the indexes
        # (`resource_live_until_ended`).
        indexes = [
            models.Index(fields=["owner"], name="resource_owner"),
            # The network's totals of the few hold- and stream-paid resources. Credit-paid ones
            # are left out (their totals read the lifecycle's index).
            models.Index(fields=["payment_type"], name="resource_payment",
                         condition=~Q(payment_type=PaymentType.CREDIT)),
            # What the lifecycle reads of the live resources, in the order it walks them
            # (owner, oldest first): an index-only scan, never the wide rows.
            models.Index(fields=["owner", "created_at", "id"], name="resource_lifecycle",
                         include=["payment_type", "payment_chain", "cost_credit_per_second",
                                  "cost_hold", "pricing_version"],
                         condition=LIVE_RESOURCE),
        ]
        constraints = [
            # Not `unique=True` on the field: that adds a second index (varchar_pattern_ops,
            # for LIKE 'prefix%', which nothing runs: hashes are looked up whole, searched with
            # icontains) and every status change of the lifecycle writes a new entry in each
            # index of the row: 121 MB of random insertions at a million resources.
            models.UniqueConstraint(fields=["item_hash"], name="resource_item_hash_unique"),
            # Live (processed or removing) exactly while it has not ended: the indexes say
            # "live" with `ended_at`, which a flag never changes.
            models.CheckConstraint(
                name="resource_live_until_ended",
                condition=(Q(status__in=LIVE_STATUSES) & Q(ended_at__isnull=True))
                | (~Q(status__in=LIVE_STATUSES) & Q(ended_at__isnull=False))),
            models.CheckConstraint(
                name="resource_removing_has_deadline",
                condition=~Q(status=ResourceStatus.REMOVING)
                | Q(removing_since__isnull=False, delete_after__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.item_hash[:12]}… ({self.status})"


class ResourceMeter(models.Model):
    """How many billing hours of a credit-paid resource are charged, where its account's
    watermark does not say it (see `credits.meter`).

    A live credit-paid resource is charged every whole hour ended by its account's
    `metered_until`; the hourly run moves that one account row instead of a row per resource.
    A row here overrides the watermark, for the few resources it does not describe: one
    registered with a creation instant before the watermark, one metered only up to its
    deadline, one whose meter was set by hand. The run writes and deletes these rows.
    """

    resource = models.OneToOneField(Resource, primary_key=True, on_delete=models.CASCADE,
                                    related_name="meter")
    charged_hours = models.BigIntegerField(
        help_text="Billing hours charged so far: hour k covers "
                  "[created_at + k h, created_at + (k+1) h).")

    def __str__(self) -> str:
        return f"resource {self.resource_id}: {self.charged_hours} h charged"


class ResourceGrace(models.Model):
    """The deadline of a resource in `removing`, one row while it is: what the pending
    deletions are found and ordered by. Kept by triggers on the resource table (migration
    0022) whatever writes the resource, so that a resource's own indexes hold neither its
    status nor its deadline (see `Resource.Meta.indexes`)."""

    resource = models.OneToOneField(Resource, primary_key=True, on_delete=models.CASCADE,
                                    related_name="grace", db_constraint=False)
    owner = models.ForeignKey(Account, on_delete=models.DO_NOTHING, related_name="graces",
                              db_constraint=False)
    delete_after = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["delete_after", "resource"], name="grace_deadline")]

    def __str__(self) -> str:
        return f"resource {self.resource_id}: until {self.delete_after.isoformat()}"


class PendingDeletion(Resource):
    """A resource in `removing`, as the operators' pending-deletions list in the admin shows it
    (a proxy: the same rows, its own admin page)."""

    class Meta:
        proxy = True
        ordering = ["delete_after", "id"]
        verbose_name = "pending deletion"
        verbose_name_plural = "pending deletions"


class CostRow(models.Model):
    """One row of a resource's cost, as the engine computed it with `pricing_version`."""

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="cost_rows")
    position = models.PositiveSmallIntegerField()
    type = models.CharField(max_length=48, choices=CostRowType.choices)
    name = models.CharField(max_length=300)
    ref = models.CharField(max_length=128, null=True, blank=True)
    cost_hold = ExactDecimalField()
    cost_stream_per_second = ExactDecimalField()
    cost_credit_per_second = ExactDecimalField()
    size_mib = ExactDecimalField(null=True, blank=True)
    pricing_version = models.ForeignKey(PricingVersion, on_delete=models.PROTECT,
                                        related_name="+")

    class Meta:
        ordering = ["resource", "position"]
        constraints = [models.UniqueConstraint(fields=["resource", "position"],
                                               name="cost_row_position")]


class ResourceStatusChange(models.Model):
    """Audit of every status transition: who or which run, when, from, to, why."""

    # Found through `status_change_resource`, which leads with it: no index of its own.
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE,
                                 related_name="status_changes", db_index=False,
                                 db_constraint=False)
    from_status = models.CharField(max_length=16, choices=ResourceStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=ResourceStatus.choices)
    reason = models.CharField(max_length=255, blank=True)
    actor = models.CharField(max_length=200, help_text="A user, an API key or a lifecycle run.")
    at = models.DateTimeField(default=timezone.now)
    run = models.ForeignKey("LifecycleRun", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="status_changes", db_constraint=False)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["resource", "-at"], name="status_change_resource")]
