"""Create the demo staff login of the quick start, once, and only on a DEBUG (local) setup."""
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

DEFAULT_ADDRESS = "127.0.0.1:8000"  # runserver's
# Addresses a server listens on but a browser should not be sent to: its loopback instead.
_ANY_HOST = {"": "127.0.0.1", "0": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}


def admin_url(address: str) -> str:
    """The admin's URL on the dev server at `address`, in runserver's forms: `host:port`,
    `[ipv6]:port` or a port alone (on 127.0.0.1)."""
    host, _, port = address.strip().rpartition(":")
    return f"http://{_ANY_HOST.get(host, host)}:{port}/admin/"


class Command(BaseCommand):
    help = (
        "Create a superuser with a random password and print the login once (DEBUG only). "
        "When it already exists, only say so and how to reset its password."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--address", default=DEFAULT_ADDRESS,
                            help="The address the dev server runs on, as given to runserver "
                                 "(host:port or a port alone), for the printed admin URL "
                                 f"(default {DEFAULT_ADDRESS}; the quick start passes DEV_ADDR).")

    def handle(self, *args, username: str, address: str, **options):
        if not settings.DEBUG:
            raise CommandError(
                "Refusing to create a demo login with DEBUG off: this is for a local quick start "
                "only. In production use `manage.py createsuperuser`."
            )
        user_model = get_user_model()
        if user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).exists():
            self.stdout.write(
                f"Demo login '{username}' already exists (its password was printed when it was "
                f"created). To set a new one: .venv/bin/python manage.py changepassword {username}"
            )
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=username, email="", password=password)
        banner = "=" * 64
        self.stdout.write(
            f"{banner}\n"
            f"Demo staff login (shown only this once):\n"
            f"  URL:      {admin_url(address)}\n"
            f"  username: {username}\n"
            f"  password: {password}\n"
            f"{banner}"
        )
