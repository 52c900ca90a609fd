"""Run the lifecycle once from a shell or a cron (the same service as the periodic task).

Exit status: 0 when the run succeeded or was skipped because another run held the lock (it says
so), 1 on a refused or invalid request (CommandError), 2 when the run finished with batch errors
(the failed batches were rolled back; the next run redoes them).
"""
import sys
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from credits.funding import REMOVAL_REASON_BY_PAYMENT
from credits.models import LifecycleRunStatus, LifecycleTrigger, Resource
from credits.selectors.lifecycle import lifecycle_settings_get
from credits.services.lifecycle import LifecycleRefused, RunCounts, lifecycle_run
from credits.services.lifecycle_shards import lifecycle_run_sharded_here
from credits_project.progress import progress

EXIT_ERRORS = 2


class Command(BaseCommand):
    help = ("Run the credit lifecycle once: meter, fund or flag, finalise. --dry-run prints what "
            "would change and changes nothing; --at evaluates as of another instant (a "
            "forecast with --dry-run; otherwise refused unless LIFECYCLE_ALLOW_TIME_TRAVEL is "
            "on). Exits 0 when done or skipped (another run held the lock), 2 when batches "
            "failed.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true",
                            help="Do everything in a transaction that is rolled back; list the "
                                 "resources that would be flagged, restored and removed.")
        parser.add_argument("--at", help="Evaluate as of this instant, ISO 8601 with a time zone "
                                         "(e.g. 2030-01-01T12:00:00Z). Default: now.")
        parser.add_argument("--shards", type=int, default=1,
                            help="Split the run into N shards (account-hash ranges), run here one "
                                 "after another, as the Celery shard tasks would (default 1).")
        parser.add_argument("--wait", action="store_true",
                            help="Wait for a run in progress to finish instead of skipping.")

    def handle(self, *args, dry_run: bool, at: str | None, shards: int, wait: bool, **options):
        instant = self._instant(at)
        if shards < 1:
            raise CommandError("--shards must be at least 1.")
        try:
            # A bar on a terminal only (see credits_project.progress); -v 0 turns it off.
            with progress(desc="lifecycle run", unit="accounts", file=self.stderr,
                          enabled=options["verbosity"] >= 1) as bar:
                if shards == 1 or dry_run:  # a dry run previews the whole run: never sharded
                    run = lifecycle_run(at=instant, dry_run=dry_run,
                                        trigger=LifecycleTrigger.COMMAND, wait=wait,
                                        on_progress=bar.update)
                else:
                    run = lifecycle_run_sharded_here(shard_count=shards,
                                                     trigger=LifecycleTrigger.COMMAND,
                                                     at=instant, wait=wait,
                                                     on_progress=bar.update)
        except LifecycleRefused as exc:
            raise CommandError(f"Refused: {exc}") from exc

        if run.status == LifecycleRunStatus.SKIPPED:
            self.stdout.write(self.style.WARNING(
                f"Skipped: another lifecycle run holds the lock"
                f"{f' (run {run.pk} recorded as skipped)' if run.pk else ''}. Use --wait to wait "
                "for it."))
            return
        counts = getattr(run, "counts", RunCounts())
        what = ("Dry run (nothing changed)" if dry_run
                else f"Lifecycle run {run.pk}")
        shards_note = f", {shards} shards" if shards > 1 and not dry_run else ""
        if run.pk is not None:
            skipped_shards = run.shards.filter(status=LifecycleRunStatus.SKIPPED).count()
            if skipped_shards:
                shards_note += f" ({skipped_shards} skipped: another run held their lock)"
        self.stdout.write(
            f"{what} as of {run.as_of.isoformat()}{shards_note}: "
            f"{run.accounts} accounts, {run.resources} resources, {run.charges} charges, "
            f"{run.credits_charged} credits charged, {run.credits_short} credits short, "
            f"{run.flagged} flagged, {run.restored} restored, {run.removed} removed, "
            f"{run.expired_credits} credits expired, {run.errors} errors.")
        if dry_run:
            self._list_changes(counts, as_of=run.as_of)
        if run.errors:
            self.stderr.write(run.error_messages)
            sys.exit(EXIT_ERRORS)

    def _list_changes(self, counts: RunCounts, *, as_of) -> None:
        """The resources the run would move. The dry run was rolled back, so the rows still show
        the state before: the new deadline is computed as the run would set it."""
        grace = timedelta(hours=lifecycle_settings_get().grace_hours)
        sections = [("flagged", "Would be flagged (processed → removing)", counts.flagged_ids),
                    ("restored", "Would be restored (removing → processed)",
                     counts.restored_ids),
                    ("removed", "Would be removed (grace over)", counts.removed_ids)]
        for kind, title, ids in sections:
            resources = (Resource.objects.filter(pk__in=ids).select_related("owner")
                         .order_by("owner__address", "created_at", "pk"))
            self.stdout.write(f"{title}: {len(ids)}")
            for resource in resources:
                if kind == "flagged":
                    reason = REMOVAL_REASON_BY_PAYMENT.get(resource.payment_type, "?")
                    detail = f"reason {reason}, delete after {(as_of + grace).isoformat()}"
                elif kind == "restored":
                    detail = (f"was {resource.removal_reason}, deadline "
                              f"{_iso(resource.delete_after)}")
                else:
                    detail = (f"reason {resource.removal_reason}, deadline "
                              f"{_iso(resource.delete_after)} passed")
                self.stdout.write(f"  {resource.item_hash}  owner {resource.owner.address}  "
                                  f"{resource.payment_type}  {detail}")

    @staticmethod
    def _instant(value: str | None):
        if value is None:
            return None
        try:
            instant = parse_datetime(value)
        except ValueError:
            instant = None
        if instant is None:
            raise CommandError(f"--at {value!r} is not an ISO 8601 instant "
                               "(e.g. 2030-01-01T12:00:00Z).")
        if timezone.is_naive(instant):
            raise CommandError(f"--at {value!r} has no time zone: add one "
                               "(e.g. Z or +00:00).")
        return instant


def _iso(value) -> str:
    return value.isoformat() if value else "-"
