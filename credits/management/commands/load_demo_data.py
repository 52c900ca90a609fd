"""Load the quick start's demo data set (credits.demo) once; a second call adds nothing.

Local use only: refused with DEBUG off unless --force (tests and screenshots). The set's week of
lifecycle runs at past instants needs time travel, which this command turns on for itself only.
"""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings
from django.utils import timezone

from credits.demo import demo_data_load


class Command(BaseCommand):
    help = ("Load a small living demo data set (accounts, credits, resources of every type and "
            "payment, a week of hourly lifecycle runs, pending deletions), anchored to now. "
            "Idempotent. Refused with DEBUG off unless --force; never run it in production.")

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true",
                            help="Load even with DEBUG off (tests, screenshots). Never on a "
                                 "production database: the data is made up.")

    def handle(self, *args, force: bool, **options):
        if not settings.DEBUG and not force:
            raise CommandError("Refusing to load demo data with DEBUG off: it is made-up data "
                               "for a local quick start. Use --force only on a throwaway "
                               "database.")
        with override_settings(LIFECYCLE_ALLOW_TIME_TRAVEL=True):
            result = demo_data_load(now=timezone.now())
        if not result.loaded:
            self.stdout.write("Demo data is already loaded: nothing added.")
            return
        self.stdout.write(
            f"Demo data loaded: {result.accounts} accounts, {result.resources} resources, "
            f"{result.runs} hourly lifecycle runs over the last week "
            f"({result.failed_runs} failed on purpose).")
