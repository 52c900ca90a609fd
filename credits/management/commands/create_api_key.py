"""Create a scoped API key for automation and print it once: its last line is the key alone."""
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from credits.addresses import InvalidAddress, normalize_address
from credits.models import Account, ApiKey, ApiKeyScope

NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length


class Command(BaseCommand):
    help = ("Create an API key (owner keys need --account, the others refuse it) and print it "
            "once; the last line of the output is the key alone. Only its hash is stored.")

    def add_arguments(self, parser):
        parser.add_argument("--scope", required=True, choices=ApiKeyScope.values)
        parser.add_argument("--account", help="The account of an owner key (any case).")
        parser.add_argument("--name", required=True, help="What the key is for.")
        parser.add_argument("--expires", help="Expiry, ISO 8601 (e.g. 2026-01-01T00:00:00Z); "
                                              "a date without offset is in the server's zone.")

    def handle(self, *args, scope: str, account: str | None, name: str, expires: str | None,
               **options):
        name = name.strip()
        if not name or len(name) > NAME_MAX_LENGTH:
            raise CommandError(f"--name must be 1 to {NAME_MAX_LENGTH} characters.")
        address = self._address(scope, account)
        expiry_date = self._expiry(expires)
        with transaction.atomic():
            account_obj = (Account.objects.get_or_create(address=address)[0]
                           if address else None)
            api_key, key = ApiKey.objects.create_key(name=name, scope=scope, account=account_obj,
                                                     expiry_date=expiry_date,
                                                     created_by="manage.py create_api_key")
        bound = f" for {address}" if address else ""
        until = f", expires {expiry_date.isoformat()}" if expiry_date else ", no expiry"
        self.stdout.write(f"Created {scope} API key “{name}”{bound} (prefix {api_key.prefix}"
                          f"{until}). Shown only this once; send it as "
                          f"`Authorization: Api-Key <key>`:")
        self.stdout.write(key)

    @staticmethod
    def _address(scope: str, account: str | None) -> str | None:
        if scope == ApiKeyScope.OWNER:
            if not account:
                raise CommandError("An owner key needs --account ADDRESS.")
            try:
                return normalize_address(account)
            except InvalidAddress as exc:
                raise CommandError(str(exc)) from exc
        if account:
            raise CommandError(f"A {scope} key is not bound to an account: drop --account.")
        return None

    @staticmethod
    def _expiry(expires: str | None) -> datetime | None:
        if not expires:
            return None
        try:
            # Python 3.11 reads "Z" and offsets.
            expiry_date = datetime.fromisoformat(expires)
        except ValueError as exc:
            raise CommandError(f"--expires {expires!r} is not an ISO 8601 date.") from exc
        if timezone.is_naive(expiry_date):
            expiry_date = timezone.make_aware(expiry_date)
        if expiry_date <= timezone.now():
            raise CommandError("--expires must be in the future.")
        return expiry_date
