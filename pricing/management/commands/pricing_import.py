"""`manage.py pricing_import FILE`: a new draft pricing version from the network's JSON, and
optionally publish it; on any problem every one is printed and nothing is created.
"""
from __future__ import annotations

import sys
from datetime import datetime
from datetime import timezone as dt_timezone
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from credits_project.progress import progress
from pricing.aggregate import AggregateInvalid, aggregate_json_loads
from pricing.services import PricingVersionError, pricing_version_import, pricing_version_publish


def _read(path: str, label: str):
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read {label} {path}: {exc.strerror}") from exc
    return aggregate_json_loads(raw, label=f"{label} {path}")


def _effective_from(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--effective-from {text!r} is not an ISO 8601 date and time "
                           "(e.g. 2026-01-01T00:00:00Z).") from exc
    # A date without a zone is read as UTC, the service's clock.
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=dt_timezone.utc)


class Command(BaseCommand):
    help = ("Import the network's pricing aggregate (and optionally its settings aggregate for "
            "the GPU catalogue) as a new draft pricing version; print its id.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="pricing aggregate JSON file ('-' for standard input)")
        parser.add_argument("--gpus", metavar="SETTINGS_FILE",
                            help="settings aggregate JSON with compatible_gpus (default: copy "
                                 "the GPU catalogue of the version in force)")
        parser.add_argument("--name", help="name of the new version (default: from the file)")
        parser.add_argument("--notes", default="", help="notes on the new version")
        parser.add_argument("--publish", action="store_true",
                            help="publish the new version at once (or at --effective-from)")
        parser.add_argument("--effective-from", metavar="ISO",
                            help="with --publish: when it takes effect (default: now)")

    def handle(self, *args, **options):
        if options["effective_from"] and not options["publish"]:
            raise CommandError("--effective-from only makes sense with --publish.")
        effective_from = (_effective_from(options["effective_from"])
                          if options["effective_from"] else None)
        name = options["name"] or (
            f"Imported from {Path(options['file']).name} "
            f"{timezone.now():%Y-%m-%d %H:%M} UTC")
        # Read the file(s), import, publish: a bar on a terminal only (see
        # credits_project.progress), closed before any problem is printed; -v 0 turns it off.
        steps = 2 + bool(options["gpus"]) + options["publish"]
        try:
            with progress(desc="pricing_import", total=steps, unit="steps", file=self.stderr,
                          enabled=options["verbosity"] >= 1) as bar:
                aggregate = _read(options["file"], "pricing file")
                bar.update(1)
                gpus = None
                if options["gpus"]:
                    gpus = _read(options["gpus"], "settings file")
                    bar.update(1)
                # One transaction: a draft that fails to publish is not left behind.
                with transaction.atomic():
                    version = pricing_version_import(aggregate=aggregate, compatible_gpus=gpus,
                                                     name=name, notes=options["notes"])
                    bar.update(1)
                    if options["publish"]:
                        version = pricing_version_publish(version=version,
                                                          effective_from=effective_from)
                        bar.update(1)
        except AggregateInvalid as exc:
            for error in exc.errors:
                self.stderr.write(error)
            raise CommandError(f"{len(exc.errors)} problem(s) found; nothing was imported.")
        except PricingVersionError as exc:
            for error in exc.errors:
                self.stderr.write(error)
            raise CommandError(f"{exc.message} Nothing was imported.")
        for warning in getattr(version, "import_warnings", []):
            self.stderr.write(f"warning: {warning}")
        if options["verbosity"] >= 1:
            state = (f"published, effective from {version.effective_from.isoformat()}"
                     if options["publish"] else "draft")
            self.stderr.write(f"Imported version #{version.pk} “{version.name}” ({state}).")
        # The id alone on stdout, for scripts.
        self.stdout.write(str(version.pk))
