"""The demo login's URL is where the quick start's dev server really runs (`DEV_ADDR`)."""
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from credits.management.commands.ensure_demo_admin import admin_url

QUICKSTART = Path(__file__).resolve().parents[2] / "scripts" / "quickstart.sh"


def printed_url(*args) -> str:
    out = StringIO()
    call_command("ensure_demo_admin", *args, stdout=out)
    return re.search(r"URL: +(\S+)", out.getvalue()).group(1)


@pytest.mark.django_db
def test_the_demo_login_names_the_address_the_server_runs_on(settings):
    settings.DEBUG = True

    assert printed_url("--address", "127.0.0.1:8001") == "http://127.0.0.1:8001/admin/"


@pytest.mark.django_db
def test_without_an_address_the_demo_login_names_runservers_default(settings):
    settings.DEBUG = True

    assert printed_url() == "http://127.0.0.1:8000/admin/"


@pytest.mark.parametrize("address, url", [
    ("localhost:9000", "http://localhost:9000/admin/"),
    ("8001", "http://127.0.0.1:8001/admin/"),  # runserver's port alone
    ("0.0.0.0:8002", "http://127.0.0.1:8002/admin/"),  # all interfaces: open the loopback
    ("0:8003", "http://127.0.0.1:8003/admin/"),
    ("[::1]:8004", "http://[::1]:8004/admin/"),
    ("[::]:8005", "http://[::1]:8005/admin/"),
])
def test_the_url_is_one_a_browser_opens_for_each_form_runserver_accepts(address, url):
    assert admin_url(address) == url


def test_the_quick_start_passes_its_dev_address_to_the_demo_login():
    script = QUICKSTART.read_text()

    assert re.search(r'manage\.py ensure_demo_admin --address "\$DEV_ADDR"', script)
    assert re.search(r'manage\.py runserver "\$DEV_ADDR"', script)
