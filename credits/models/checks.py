"""What the ledger check (`credits.services.ledger_check`) keeps between runs: one row per
check, and the ledger's totals up to the last checkpoint, per account and per lot, so that an
incremental check reads only what was appended since."""
from django.db import models

from .accounts import Account
from .ledger import Lot


class LedgerCheckMode(models.TextChoices):
    FULL = "full", "Full audit"
    INCREMENTAL = "incremental", "Incremental"


class LedgerCheckpoint(models.Model):
    """One ledger check: when, how, what it found, and how far the totals it left behind go.

    Entries, drains and lots are numbered by their ids. The totals in `LedgerCheckAccount`,
    `LedgerCheckLot` and the transfer sums here cover the rows with ids up to `entry_id`,
    `drain_id` and `lot_id` ("final": no transaction still running can add a row at or below
    them). The `seen_*` ids are the highest each check saw: they become final at the next check
    once no transaction that began before this check's snapshot (`snapshot_at`) is running.
    """

    mode = models.CharField(max_length=16, choices=LedgerCheckMode.choices)
    at = models.DateTimeField(help_text="The instant the balances were checked at.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    entry_id = models.BigIntegerField(default=0)
    drain_id = models.BigIntegerField(default=0)
    lot_id = models.BigIntegerField(default=0)
    seen_entry_id = models.BigIntegerField(default=0)
    seen_drain_id = models.BigIntegerField(default=0)
    seen_lot_id = models.BigIntegerField(default=0)
    transfers_sent = models.BigIntegerField(default=0, help_text="Up to entry_id (negative).")
    transfers_received = models.BigIntegerField(default=0, help_text="Up to entry_id.")
    transfers_out = models.BigIntegerField(default=0, help_text="Entries, up to entry_id.")
    transfers_in = models.BigIntegerField(default=0, help_text="Entries, up to entry_id.")
    snapshot_at = models.DateTimeField(
        help_text="When the check's snapshot was taken: once no transaction that began before "
                  "it runs, the rows up to the seen ids can no longer appear.")
    entries_read = models.BigIntegerField(default=0, help_text="Entries appended since the "
                                                               "base checkpoint, read.")
    drift_count = models.PositiveIntegerField(default=0)
    drifts = models.TextField(blank=True, help_text="One drift per line.")

    class Meta:
        ordering = ["-id"]
        get_latest_by = "id"

    def __str__(self) -> str:
        return f"{self.get_mode_display()} ledger check {self.pk} at {self.at:%Y-%m-%d %H:%M}"


class LedgerCheckAccount(models.Model):
    """The sum of an account's entries with ids up to the last checkpoint's `entry_id`."""

    account = models.OneToOneField(Account, primary_key=True, on_delete=models.CASCADE,
                                   related_name="+", db_constraint=False)
    total = models.BigIntegerField()


class LedgerCheckLot(models.Model):
    """The sum of a lot's drains with ids up to the last checkpoint's `drain_id`."""

    lot = models.OneToOneField(Lot, primary_key=True, on_delete=models.CASCADE,
                               related_name="+", db_constraint=False)
    drained = models.BigIntegerField()
