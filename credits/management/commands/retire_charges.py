"""Roll old months of hourly charges up into per-resource monthly usage and take their
partitions out of the charges table (`credits.partitions.charges_retire`)."""
import re
from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from credits.partitions import (
    RetentionFailed,
    RetentionRefused,
    charges_retire,
    month_before,
    month_start,
)


class Command(BaseCommand):
    help = ("Retire the months of hourly charges older than the cutoff, oldest first, each in "
            "its own transaction: one usage row per resource and month, one rollup row per "
            "month, then the month's partition is detached and dropped (or kept, renamed "
            "credits_charge_archive_YYYY_MM). Prints one line per month and a total; exits "
            "non-zero on a refusal (the months before it stay retired).")

    def add_arguments(self, parser):
        cutoff = parser.add_mutually_exclusive_group()
        cutoff.add_argument("--before", metavar="YYYY-MM",
                            help="Retire the months before this one (at the latest the "
                                 "previous month).")
        cutoff.add_argument("--keep-months", type=int, metavar="N",
                            help="Keep the current month and the N before it (default "
                                 "CREDITS_CHARGE_RETENTION_MONTHS, "
                                 f"{settings.CREDITS_CHARGE_RETENTION_MONTHS}); at least 1.")
        parser.add_argument("--keep-table", action="store_true",
                            help="Keep each detached partition, renamed "
                                 "credits_charge_archive_YYYY_MM, instead of dropping it.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Check and count what would be retired; change nothing.")

    def handle(self, *args, before: str | None, keep_months: int | None, keep_table: bool,
               dry_run: bool, **options):
        cutoff = self._cutoff(before, keep_months)
        try:
            retired = charges_retire(before=cutoff, keep_table=keep_table, dry_run=dry_run,
                                     on_month=self._month_line)
        except (RetentionRefused, RetentionFailed) as exc:
            raise CommandError(f"Refused: {exc}") from exc
        verb = "would retire" if dry_run else "retired"
        charges = sum(month.charges for month in retired)
        self.stdout.write(self.style.SUCCESS(
            f"Total: {verb} {len(retired)} month(s) before {cutoff:%Y-%m}: {charges} charges, "
            f"{sum(month.amount_requested for month in retired)} credits requested, "
            f"{sum(month.amount_drained for month in retired)} drained."))

    def _month_line(self, month) -> None:
        verb = "would retire" if month.dry_run else "retired"
        where = (f"kept as {month.kept_table}" if month.kept_table
                 else "partition dropped" if not month.dry_run else "partition to drop")
        self.stdout.write(f"{month.month:%Y-%m}: {verb} {month.charges} charges of "
                          f"{month.resources} resources, {month.amount_requested} credits "
                          f"requested, {month.amount_drained} drained ({where})")

    @staticmethod
    def _cutoff(before: str | None, keep_months: int | None) -> date:
        if before is not None:
            if not re.fullmatch(r"\d{4}-\d{2}", before) or not 1 <= int(before[5:]) <= 12:
                raise CommandError(f"--before {before!r} is not a month YYYY-MM "
                                   "(e.g. 2030-01).")
            return date(int(before[:4]), int(before[5:]), 1)
        if keep_months is None:
            keep_months = settings.CREDITS_CHARGE_RETENTION_MONTHS
        if keep_months < 1:
            raise CommandError(f"--keep-months {keep_months}: at least 1 (runs still write the "
                               "previous month).")
        cutoff = month_start(timezone.now())
        for _ in range(keep_months):
            cutoff = month_before(cutoff)
        return cutoff
