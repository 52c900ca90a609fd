"""Accounts, the append-only credit ledger and its lots, token balances, resources with their
cost rows and status history, and scoped API keys.

Credits are whole numbers (`BigIntegerField`); costs are per-second decimals with 18 places.
"""
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey
from simple_history.models import HistoricalRecords

from pricing.enums import CostRowType, MessageType, PaymentType, ProductType
from pricing.fields import ExactDecimalField
from pricing.models import PricingVersion


class Account(models.Model):
    """An address: EVM addresses are stored checksummed, other chains' addresses as given."""

    address = models.CharField(max_length=128, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["address"]

    def __str__(self) -> str:
        return self.address


class EntryKind(models.TextChoices):
    GRANT = "grant", "Grant"
    TRANSFER_IN = "transfer_in", "Transfer in"
    TRANSFER_OUT = "transfer_out", "Transfer out"
    EXPENSE = "expense", "Expense"
    EXPIRY = "expiry", "Expiry"
    ADJUSTMENT = "adjustment", "Adjustment"


CREDIT_KINDS = (EntryKind.GRANT, EntryKind.TRANSFER_IN)
# The reason of the expense entries of hourly metering: each is the sum of its `Charge` rows.
METERING_REASON = "metering"
DEBIT_KINDS = (EntryKind.TRANSFER_OUT, EntryKind.EXPENSE, EntryKind.EXPIRY)


class LedgerEntry(models.Model):
    """One append-only movement of credits; PostgreSQL refuses UPDATE and DELETE of these rows.

    `amount` is the signed change of the balance (credits). A debit also keeps what it asked
    (`amount_requested`) and what could not be drained (`shortfall`).
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    amount = models.BigIntegerField(help_text="Signed change of the balance, in credits.")
    amount_requested = models.BigIntegerField(null=True, blank=True)
    shortfall = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True,
                                      help_text="Credits in: the expiry asked for.")
    idempotency_key = models.CharField(max_length=255, unique=True)
    request_hash = models.CharField(max_length=64, blank=True)
    reference = models.CharField(max_length=255, blank=True)
    reason = models.TextField(blank=True)
    resource = models.ForeignKey("Resource", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="ledger_entries")
    counterparty = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    effective_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-effective_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "-effective_at", "-id"],
                                name="ledger_account_history")]
        constraints = [
            models.CheckConstraint(name="ledger_shortfall_not_negative",
                                   condition=Q(shortfall__gte=0)),
            models.CheckConstraint(
                name="ledger_sign_matches_kind",
                condition=(Q(kind__in=CREDIT_KINDS, amount__gte=0)
                           | Q(kind__in=DEBIT_KINDS, amount__lte=0)
                           | Q(kind=EntryKind.ADJUSTMENT))),
            models.CheckConstraint(
                name="ledger_debit_accounts_for_request",
                condition=Q(amount_requested__isnull=True)
                | Q(amount_requested=-F("amount") + F("shortfall"))),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} {self.account_id}"


class LotQuerySet(models.QuerySet):
    def spendable(self, at: datetime) -> "LotQuerySet":
        """Lots that count at `at`: the query form of `credits.funding.lot_spendable` (credits
        left, never expiring or expiring after `at`)."""
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at), remaining__gt=0)

    def in_drain_order(self) -> "LotQuerySet":
        """The order of `credits.funding.drain_order_key`: soonest expiry first, never-expiring
        last, then oldest first."""
        return self.order_by(F("expires_at").asc(nulls_last=True), "created_at", "pk")


class Lot(models.Model):
    """Credits opened by a positive entry; drained soonest-expiring first, never below zero."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lots")
    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="lots")
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = LotQuerySet.as_manager()

    class Meta:
        ordering = ["account", "expires_at", "created_at", "id"]
        indexes = [models.Index(fields=["account", "expires_at", "created_at", "id"],
                                condition=Q(remaining__gt=0), name="lot_spendable")]
        constraints = [
            models.CheckConstraint(name="lot_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(name="lot_remaining_within_amount",
                                   condition=Q(remaining__gte=0, remaining__lte=F("amount"))),
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.amount}"


class LotDrain(models.Model):
    """A piece of a debit: which lot paid how much (append-only, like the ledger)."""

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="drains")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="drains")
    amount = models.BigIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(name="drain_amount_positive",
                                              condition=Q(amount__gt=0))]


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


class ResourceStatus(models.TextChoices):
    PROCESSED = "processed", "Processed"
    REMOVING = "removing", "Removing (grace period)"
    REMOVED = "removed", "Removed"
    FORGOTTEN = "forgotten", "Forgotten"


class RemovalReason(models.TextChoices):
    CREDIT_INSUFFICIENT = "credit_insufficient", "Credit insufficient"
    BALANCE_INSUFFICIENT = "balance_insufficient", "Token balance insufficient"


LIVE_STATUSES = (ResourceStatus.PROCESSED, ResourceStatus.REMOVING)


class StatusChangeReason(models.TextChoices):
    """Why a resource's status changed, as its audit row says. A flag's reason is its removal
    reason. The operators' desk writes free text (what they did, then why), so the audit row's
    `reason` is not limited to these."""

    REGISTERED = "registered", "registered"
    CREDIT_INSUFFICIENT = RemovalReason.CREDIT_INSUFFICIENT.value, "credit_insufficient"
    BALANCE_INSUFFICIENT = RemovalReason.BALANCE_INSUFFICIENT.value, "balance_insufficient"
    FUNDED = "funded", "funded"
    GRACE_EXPIRED = "grace_expired", "grace_expired"
    FORGOTTEN_BY_OWNER = "forgotten by the owner", "forgotten by the owner"


class Resource(models.Model):
    """A registered VM, program or stored file, with its costs at registration."""

    item_hash = models.CharField(max_length=128, unique=True)
    type = models.CharField(max_length=16, choices=MessageType.choices)
    content = models.JSONField()
    owner = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="resources")
    product_type = models.CharField(max_length=32, choices=ProductType.choices)
    payment_type = models.CharField(max_length=16, choices=PaymentType.choices)
    payment_chain = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=ResourceStatus.choices,
                              default=ResourceStatus.PROCESSED)
    removal_reason = models.CharField(max_length=32, choices=RemovalReason.choices, blank=True)
    removing_since = models.DateTimeField(null=True, blank=True)
    delete_after = models.DateTimeField(null=True, blank=True)
    pricing_version = models.ForeignKey(PricingVersion, on_delete=models.PROTECT,
                                        related_name="resources")
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
        indexes = [
            models.Index(fields=["owner", "status"], name="resource_owner_status"),
            models.Index(fields=["status", "delete_after"], name="resource_status_deadline"),
            models.Index(fields=["payment_type", "status"], name="resource_payment_status"),
        ]
        constraints = [
            models.CheckConstraint(
                name="resource_removing_has_deadline",
                condition=~Q(status=ResourceStatus.REMOVING)
                | Q(removing_since__isnull=False, delete_after__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.item_hash[:12]}… ({self.status})"


class ResourceMeter(models.Model):
    """How many billing hours of a credit-paid resource are charged, in a narrow row of its own.

    The hourly run moves this for every running resource: rewriting the wide resource row
    (content JSON and eight indexes) cost about five times as much and wrote its whole page to
    the WAL. Made by the first charge; no row means nothing charged yet.
    """

    resource = models.OneToOneField(Resource, primary_key=True, on_delete=models.CASCADE,
                                    related_name="meter")
    charged_hours = models.BigIntegerField(
        help_text="Billing hours charged so far: hour k covers "
                  "[created_at + k h, created_at + (k+1) h).")

    def __str__(self) -> str:
        return f"resource {self.resource_id}: {self.charged_hours} h charged"


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

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE,
                                 related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=ResourceStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=ResourceStatus.choices)
    reason = models.CharField(max_length=255, blank=True)
    actor = models.CharField(max_length=200, help_text="A user, an API key or a lifecycle run.")
    at = models.DateTimeField(default=timezone.now)
    run = models.ForeignKey("LifecycleRun", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="status_changes")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["resource", "-at"], name="status_change_resource")]


class LifecycleSettings(models.Model):
    """The lifecycle's knobs, edited by staff; one row (defaults from Django settings)."""

    grace_hours = models.PositiveIntegerField(
        help_text="How long a resource flagged for deletion keeps running before removal.")
    metering_enabled = models.BooleanField(
        help_text="Charge credit-paid resources for each whole hour they run.")
    funding_horizon_hours = models.PositiveIntegerField(
        help_text="An account must fund this many hours of its credit-paid resources "
                  "(registration and each run).")
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "lifecycle settings"
        constraints = [models.CheckConstraint(name="lifecycle_settings_single_row",
                                              condition=Q(id=1))]

    def __str__(self) -> str:
        return (f"grace {self.grace_hours} h, metering {'on' if self.metering_enabled else 'off'}"
                f", horizon {self.funding_horizon_hours} h")


class LifecycleRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Finished with errors"
    SKIPPED = "skipped", "Skipped (another run held the lock)"


class LifecycleTrigger(models.TextChoices):
    """What started a lifecycle run. Labels are the values: pages show them as they are."""

    BEAT = "beat", "beat"  # the periodic task
    RUN_NOW = "run_now", "run_now"  # the dashboard's "run now" button (a Celery task)
    COMMAND = "command", "command"  # manage.py run_lifecycle
    SHARD = "shard", "shard"  # one shard of a sharded run
    FORECAST = "forecast", "forecast"  # the dry run of a forecast (rolled back)
    MANUAL = "manual", "manual"  # a direct call of the service
    DEMO = "demo", "demo"  # the demo data


class LifecycleRun(models.Model):
    """One lifecycle run (or one shard of it): when, as of which instant, and what it did."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    as_of = models.DateTimeField(help_text="The instant the run evaluated.")
    trigger = models.CharField(max_length=32, choices=LifecycleTrigger.choices,
                               default=LifecycleTrigger.MANUAL)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=LifecycleRunStatus.choices,
                              default=LifecycleRunStatus.RUNNING)
    shard_index = models.PositiveIntegerField(null=True, blank=True)
    shard_count = models.PositiveIntegerField(default=1)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="shards")
    accounts = models.PositiveIntegerField(default=0)
    resources = models.PositiveIntegerField(default=0)
    charges = models.PositiveIntegerField(default=0)
    credits_charged = models.BigIntegerField(default=0)
    credits_short = models.BigIntegerField(default=0)
    expired_credits = models.BigIntegerField(default=0)
    flagged = models.PositiveIntegerField(default=0)
    restored = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    error_messages = models.TextField(blank=True)
    session_pid = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="The database session (pg_backend_pid) of the process running it. That "
                  "session holds the run's lock while it works; a running run whose lock nobody "
                  "holds has lost its process and is marked failed by the next run. Empty for "
                  "the parent of shards sent to Celery, which no one process runs.")

    # What a run counts, in the order pages show it (a parent run's are its shards' sums).
    COUNT_FIELDS = ("accounts", "resources", "charges", "credits_charged", "credits_short",
                    "expired_credits", "flagged", "restored", "removed", "errors")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} as of {self.as_of:%Y-%m-%d %H:%M} ({self.status})"


class Charge(models.Model):
    """One metered hour of one credit-paid resource: charged exactly once (unique).

    The hourly run writes one row per running resource, a million an hour at scale, so the
    links carry no database foreign keys (checking four keys per row at commit was the largest
    cost of a run). They stay sound without them: the run inserts charges only for resources
    and entries it has just read or written under the accounts' locks; ledger entries and
    charges are append-only (triggers, migrations 0002 and 0007) and a resource with charges
    cannot be deleted (trigger, 0007); runs and published pricing versions are never deleted;
    and `check_ledger` verifies every link (`ledger_drifts`).
    """

    # The unique (resource, hour_index) index serves lookups by resource; no other index, so
    # that a charge costs two index entries (and the primary key's).
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="charges",
                                 db_index=False, db_constraint=False)
    hour_index = models.BigIntegerField(help_text="Hour k: [created_at + k h, + (k+1) h).")
    amount_requested = models.BigIntegerField()
    amount_drained = models.BigIntegerField()
    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="charges",
                              db_index=False, db_constraint=False)
    run = models.ForeignKey(LifecycleRun, null=True, blank=True, on_delete=models.DO_NOTHING,
                            related_name="charge_rows", db_index=False, db_constraint=False)
    pricing_version = models.ForeignKey(PricingVersion, on_delete=models.DO_NOTHING,
                                        related_name="+", db_index=False, db_constraint=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["resource", "hour_index"],
                                    name="charge_once_per_resource_hour"),
            models.CheckConstraint(name="charge_drained_within_requested",
                                   condition=Q(amount_drained__gte=0,
                                               amount_drained__lte=F("amount_requested"))),
        ]

    @property
    def hour_start(self):
        from datetime import timedelta

        return self.resource.created_at + timedelta(hours=self.hour_index)


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

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        constraints = [
            models.CheckConstraint(
                name="api_key_owner_has_account",
                condition=Q(scope=ApiKeyScope.OWNER, account__isnull=False)
                | (~Q(scope=ApiKeyScope.OWNER) & Q(account__isnull=True))),
        ]


# --- repricing: applying a pricing version to the live resources -------------------------------
# Moved from the pricing app (pricing does not know resources); the tables keep their names.

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
