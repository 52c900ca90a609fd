"""Verify the credit ledger against the lots and drains (the full audit, or incrementally from
the last check); print every drift and fail if any."""
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from credits.models import Account, LedgerCheckMode, LedgerEntry, Lot
from credits.selectors.ledger import LEDGER_CHECK_COUNT
from credits.services.ledger_check import LedgerCheckBusy, ledger_check
from credits_project.progress import progress


class Command(BaseCommand):
    help = ("Check, for every account, grants + transfers in − transfers out − drained "
            "expenses − expired (± adjustments) = balance, that no lot is negative, and that "
            "every lot, entry and transfer agrees with its drains. The full audit by default; "
            "--incremental reads only what was appended since the last check. Records the "
            "check, prints each drift and exits non-zero if there is any.")

    def add_arguments(self, parser):
        parser.add_argument("--at", help="The instant to check at, ISO 8601 with a time zone "
                                         "(default: now).")
        parser.add_argument("--incremental", action="store_true",
                            help="Check only what was appended since the last check, from "
                                 "the totals it recorded (the full audit when there is none).")

    def handle(self, *args, at: str | None, incremental: bool, **options):
        instant = self._instant(at)
        mode = LedgerCheckMode.INCREMENTAL if incremental else LedgerCheckMode.FULL
        # A bar on a terminal only (see credits_project.progress); -v 0 turns it off.
        with progress(desc="check_ledger", total=LEDGER_CHECK_COUNT, unit="checks",
                      file=self.stderr, enabled=options["verbosity"] >= 1) as bar:
            try:
                checkpoint, drifts = ledger_check(mode=mode, at=instant, on_progress=bar.update)
            except LedgerCheckBusy as busy:
                raise CommandError(str(busy)) from None
        if drifts:
            for drift in drifts:
                self.stderr.write(f"DRIFT {drift.account or '(all accounts)'}: {drift.what}: "
                                  f"expected {drift.expected}, found {drift.found}")
            raise CommandError(f"{len(drifts)} ledger drift(s) at {instant.isoformat()} "
                               f"(check {checkpoint.pk}).")
        counts = self._counts(instant)
        self.stdout.write(self.style.SUCCESS(
            f"Ledger OK at {instant.isoformat()}: {counts['accounts']} accounts, "
            f"{counts['entries']} entries, {counts['lots']} lots, "
            f"{counts['balance']} credits spendable ({checkpoint.get_mode_display().lower()}, "
            f"{checkpoint.entries_read} entries read, check {checkpoint.pk})."))

    @staticmethod
    def _instant(value: str | None):
        if value is None:
            return timezone.now()
        try:
            instant = parse_datetime(value)
        except ValueError:
            instant = None
        if instant is None or timezone.is_naive(instant):
            raise CommandError(f"--at {value!r} is not an ISO 8601 instant with a time zone "
                               "(e.g. 2030-01-01T00:00:00Z).")
        return instant

    @staticmethod
    def _counts(instant) -> dict:
        return {
            "accounts": Account.objects.count(),
            "entries": LedgerEntry.objects.count(),
            "lots": Lot.objects.count(),
            "balance": Lot.objects.spendable(instant).aggregate(
                total=Sum("remaining"))["total"] or 0,
        }
