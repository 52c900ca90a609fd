"""The append-only credit ledger: entries, the lots that credits open and the drains that
debits take from them. Credits are whole numbers (`BigIntegerField`)."""
from datetime import datetime

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .accounts import Account


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

    # Found through `ledger_account_history`, which leads with it: no index of its own.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries",
                                db_index=False, db_constraint=False)
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    amount = models.BigIntegerField(help_text="Signed change of the balance, in credits.")
    amount_requested = models.BigIntegerField(null=True, blank=True)
    shortfall = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True,
                                      help_text="Credits in: the expiry asked for.")
    idempotency_key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, blank=True)
    reference = models.CharField(max_length=255, blank=True)
    reason = models.TextField(blank=True)
    # Set on few entries: indexed where set (`Meta.indexes`), so the hourly expense entries
    # add nothing to these indexes.
    resource = models.ForeignKey("Resource", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="ledger_entries", db_index=False,
                                 db_constraint=False)
    counterparty = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", db_index=False, db_constraint=False)
    effective_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-effective_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "-effective_at", "-id"],
                                name="ledger_account_history"),
                   models.Index(fields=["resource"], name="ledger_entry_resource",
                                condition=Q(resource__isnull=False)),
                   models.Index(fields=["counterparty"], name="ledger_entry_counterparty",
                                condition=Q(counterparty__isnull=False))]
        constraints = [
            # Not `unique=True` on the field: that adds a LIKE index nothing uses.
            models.UniqueConstraint(fields=["idempotency_key"], name="ledger_idempotency_key"),
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

    # Found through `lot_by_account`, which leads with it: no index of its own.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lots",
                                db_index=False)
    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="lots")
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expiry_noticed_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="When the lifecycle found the lot within EVENTS_CREDITS_EXPIRING_DAYS of its "
                  "expiry (or past it), and announced it by `account.credits_expiring` if it "
                  "still held credits. Set once.")

    objects = LotQuerySet.as_manager()

    class Meta:
        ordering = ["account", "expires_at", "created_at", "id"]
        # `remaining` is in no index (not even a partial index's condition), and the table
        # keeps half of each page free (migration 0015): the hourly drain of a lot is then a
        # heap-only update, with no new index entries (a drained lot's row stays put). The
        # spent lots an account accumulates are skipped in the index's range.
        # `lot_expiry_notice_due` holds only the lots with an expiry that the lifecycle has not
        # yet looked at (`expiry_noticed_at`, set once, outside the drains): its range up to
        # now + the notice window is what a run announces, and the drains stay heap-only.
        indexes = [models.Index(fields=["account", "expires_at", "created_at", "id"],
                                name="lot_by_account"),
                   models.Index(fields=["expires_at"], name="lot_expiry_notice_due",
                                condition=Q(expires_at__isnull=False,
                                            expiry_noticed_at__isnull=True))]
        constraints = [
            models.CheckConstraint(name="lot_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(name="lot_remaining_within_amount",
                                   condition=Q(remaining__gte=0, remaining__lte=F("amount"))),
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.amount}"


class LotDrain(models.Model):
    """A piece of a debit: which lot paid how much (append-only, like the ledger)."""

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="drains",
                              db_constraint=False)
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="drains",
                            db_constraint=False)
    amount = models.BigIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(name="drain_amount_positive",
                                              condition=Q(amount__gt=0))]
