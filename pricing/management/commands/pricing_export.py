"""`manage.py pricing_export`: a pricing version (default: the one in force) as the network's
pricing aggregate, or with --gpus its GPU catalogue as the settings aggregate.
"""
from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pricing.aggregate import version_to_aggregate, version_to_compatible_gpus
from pricing.models import PricingVersion
from pricing.selectors import pricing_version_in_force


class Command(BaseCommand):
    help = ("Print a pricing version as the network's pricing aggregate JSON (or, with --gpus, "
            "the GPU catalogue as {\"compatible_gpus\": [...]}); pricing_import reads both back.")

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version means a pricing version here, not the Django version every command prints.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--version", dest="version_id", type=int, metavar="ID",
                            help="pricing version id (default: the version in force)")
        parser.add_argument("--gpus", action="store_true",
                            help="export the GPU catalogue in the settings aggregate's shape")
        parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE, not stdout")

    def handle(self, *args, **options):
        if options["version_id"] is not None:
            try:
                version = PricingVersion.objects.get(pk=options["version_id"])
            except PricingVersion.DoesNotExist:
                raise CommandError(f"No pricing version {options['version_id']}.") from None
        else:
            version = pricing_version_in_force()
            if version is None:
                raise CommandError("No pricing version is in force; give --version ID.")
        document = ({"compatible_gpus": version_to_compatible_gpus(version)} if options["gpus"]
                    else version_to_aggregate(version))
        text = json.dumps(document, indent=2) + "\n"
        if options["output"]:
            try:
                Path(options["output"]).write_text(text)
            except OSError as exc:
                raise CommandError(f"Cannot write {options['output']}: {exc.strerror}") from exc
            if options["verbosity"] >= 1:
                self.stderr.write(f"Wrote version #{version.pk} to {options['output']}.")
        else:
            self.stdout.write(text, ending="")
