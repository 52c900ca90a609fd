"""Create the demo staff login of the quick start, once, and only on a DEBUG (local) setup."""
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create a superuser with a random password and print the login once (DEBUG only). "
        "When it already exists, only say so and how to reset its password."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
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
            f"  URL:      http://127.0.0.1:8000/admin/\n"
            f"  username: {username}\n"
            f"  password: {password}\n"
            f"{banner}"
        )
