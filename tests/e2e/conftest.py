"""A real browser for the admin pages: Playwright for Python driving the system Chromium
against pytest-django's live server."""
import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test's thread; the ORM calls the tests make
# in that thread are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
STAFF_PASSWORD = "correct-horse-battery-staple-42"


def _keep_serialized_contents(django_db_blocker) -> None:
    """Playwright's sync API leaves an event loop running in this thread, so Django's
    connection handler (an asgiref Local) hands out a new connection wrapper from then on,
    without the `_test_serialized_contents` the test database was created with; transactional
    tests would then start on a flushed database or on content types recreated with new ids.
    Give the new wrapper the original's serialized contents, and empty the database once (as a
    serialized-rollback teardown does) so the next test restores cleanly."""
    from django.core.management import call_command
    from django.db import DEFAULT_DB_ALIAS, connections

    original = getattr(connections._connections._storage, DEFAULT_DB_ALIAS, None)
    current = connections[DEFAULT_DB_ALIAS]
    contents = getattr(original, "_test_serialized_contents", None)
    if contents is not None and not hasattr(current, "_test_serialized_contents"):
        current._test_serialized_contents = contents
        with django_db_blocker.unblock():
            call_command("flush", verbosity=0, interactive=False, database=DEFAULT_DB_ALIAS,
                         inhibit_post_migrate=True, reset_sequences=False)


@pytest.fixture(autouse=True)
def _content_types_as_restored():
    """Content type ids as the restored database has them, not as an earlier test cached."""
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()


@pytest.fixture(scope="session")
def browser(django_db_setup, django_db_blocker):
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is not installed at {CHROMIUM} (scripts/test.sh installs it)")
        pytest.skip(f"no Chromium at {CHROMIUM}: install it (apt-get install chromium) to run "
                    "the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        _keep_serialized_contents(django_db_blocker)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US",
                                  timezone_id="UTC")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser(
        username="staff", email="staff@example.org", password=STAFF_PASSWORD)


@pytest.fixture
def admin_page(page, live_server, staff_user):
    """A browser page logged in to the admin as a staff superuser."""
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", staff_user.username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.base_url = live_server.url
    return page


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under docs/screenshots/ (shown in the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
