"""The lifecycle's settings, its runs and the hourly charges that metering writes."""
from datetime import timedelta

from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from pricing.models import PricingVersion

from .accounts import Account
from .ledger import LedgerEntry
from .resources import Resource


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
    """One metered hour of one credit-paid resource: charged exactly once (the primary key).

    The hourly run writes one row per running resource, a million an hour at scale. So that
    the cost of a run does not grow with the history, the table is partitioned by month of
    `hour` (`credits.partitions`), and its one B-tree index, the primary key, leads with
    `hour`: a run appends at the end of the current month's index instead of inserting all over
    one ever-growing index (the other index, a block-range index of the entries, costs next to
    nothing). `hour` is the clock hour (UTC) in which the billing hour starts; a
    resource's billing hours start in successive clock hours, so (`hour`, resource) is unique
    exactly when (resource, `hour_index`) is. Old months are rolled up into `ResourceUsage`
    and dropped (`charges_retire`).

    So that the cost of a run does not grow with the number of resources either, the key then
    names the account charged (the resource's owner) before the resource: the run charges its
    accounts batch by batch in id order, so each batch appends its charges after the last
    batch's instead of inserting them all over the hour's part of the index (keyed by resource
    alone, a batch's 50,000 charges land on every leaf page of a million-charge hour). A
    resource never changes owner (a trigger refuses it), so (`hour`, account, resource) is
    unique exactly when (`hour`, resource) is; `check_ledger` verifies the account is the
    resource's owner and its entry's account.

    The links carry no database foreign keys (checking four keys per row at commit was the
    largest cost of a run). They stay sound without them: the run inserts charges only for
    resources and entries it has just read or written under the accounts' locks; ledger entries
    and charges are append-only (triggers) and a resource with charges cannot be deleted
    (trigger); runs and published pricing versions are never deleted; and `check_ledger`
    verifies every link (`ledger_drifts`).
    """

    pk = models.CompositePrimaryKey("hour", "account_id", "resource_id")
    hour = models.DateTimeField(
        help_text="The clock hour (UTC) in which the billing hour starts.")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+",
                                db_index=False, db_constraint=False,
                                help_text="The account charged: the resource's owner.")
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
        # The charges of the entries appended since a checkpoint (`ledger_drifts`): rows go in
        # in order of their entry, so a block-range index finds them for next to nothing.
        indexes = [BrinIndex(fields=["entry"], name="charge_entry_brin")]
        constraints = [
            models.CheckConstraint(name="charge_drained_within_requested",
                                   condition=Q(amount_drained__gte=0,
                                               amount_drained__lte=F("amount_requested"))),
        ]

    @property
    def hour_start(self):
        return self.resource.created_at + timedelta(hours=self.hour_index)


class ResourceUsage(models.Model):
    """A resource's charges of one month, rolled up when that month's charges were retired
    (`charges_retire`): what an owner still sees of a month whose hourly rows are gone."""

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="usage")
    month = models.DateField(help_text="The first day of the month (UTC) of the charges' hours.")
    hours = models.PositiveIntegerField(help_text="Billing hours charged.")
    amount_requested = models.BigIntegerField()
    amount_drained = models.BigIntegerField()

    class Meta:
        ordering = ["resource", "month"]
        constraints = [models.UniqueConstraint(fields=["resource", "month"],
                                               name="usage_once_per_resource_month")]

    def __str__(self) -> str:
        return f"resource {self.resource_id} {self.month:%Y-%m}: {self.hours} h"


class ChargeRollup(models.Model):
    """One month of charges rolled up into `ResourceUsage` and taken out of `credits_charge`
    (`charges_retire`): what the month held, so the retirement can be checked and reported."""

    month = models.DateField(primary_key=True,
                             help_text="The first day of the month (UTC) of the charges' hours.")
    retired_at = models.DateTimeField(default=timezone.now)
    charges = models.BigIntegerField(help_text="Hourly charges the month held.")
    resources = models.PositiveIntegerField(help_text="Resources charged in the month (one "
                                                      "`ResourceUsage` row each).")
    amount_requested = models.BigIntegerField()
    amount_drained = models.BigIntegerField()
    entries_until = models.DateTimeField(
        null=True, blank=True,
        help_text="When the latest ledger entry of the month's charges took effect: metering "
                  "lags the hours, so a month's last hours are charged by entries of the next "
                  "(`charges_retired_until`). Empty: the month held no charge.")
    kept_table = models.CharField(
        max_length=63, blank=True,
        help_text="The detached partition kept for archive (`--keep-table`); empty: dropped.")

    class Meta:
        ordering = ["month"]

    def __str__(self) -> str:
        return (f"charges of {self.month:%Y-%m} retired: {self.charges} in "
                f"{self.resources} resources")
