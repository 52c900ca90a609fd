"""The dashboard in a real browser: every number on the admin index equals what the database
says (counted here with plain ORM queries, not with the dashboard's selector), the chart has its
168 hourly bars, a failed run stands out; and the README's screenshot, with the demo data."""
from contextlib import nullcontext
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from playwright.sync_api import expect

from credits.models import (
    Account,
    EntryKind,
    LedgerEntry,
    LifecycleRun,
    LifecycleRunStatus,
    Resource,
    ResourceStatus,
)
from credits.services.ledger import expense_create, grant_create
from credits.services.lifecycle import lifecycle_run
from credits.services.resources import resource_register
from pricing.enums import MessageType, PaymentType
from tests.credits.lifecycle_faults import batches_hooked
from tests.e2e.conftest import screenshot
from tests.pricing.contents import ADDRESS, instance_content, program_content, store_content

pytestmark = pytest.mark.django_db(transaction=True)

H = timedelta(hours=1)
LIVE = (ResourceStatus.PROCESSED, ResourceStatus.REMOVING)
OTHER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def _credits(text: str) -> int:
    return int(text.replace(",", ""))


def _database_says(now) -> dict:
    """What the dashboard should show at `now`, counted from the tables directly."""
    window = dict(effective_at__gt=now - 24 * H, effective_at__lte=now)
    expected = {
        "accounts": Account.objects.count(),
        "credits-granted-24h": sum(LedgerEntry.objects.filter(kind=EntryKind.GRANT, **window)
                                   .values_list("amount", flat=True)),
        "credits-consumed-24h": -sum(LedgerEntry.objects.filter(kind=EntryKind.EXPENSE, **window)
                                     .values_list("amount", flat=True)),
        "deletions-due-24h": Resource.objects.filter(status=ResourceStatus.REMOVING,
                                                     delete_after__lte=now + 24 * H).count(),
        "deletions-overdue": Resource.objects.filter(status=ResourceStatus.REMOVING,
                                                     delete_after__lte=now).count(),
        "resources-all-all": Resource.objects.count(),
    }
    for status in ResourceStatus.values:
        for payment in PaymentType.values:
            expected[f"resources-{status}-{payment}"] = Resource.objects.filter(
                status=status, payment_type=payment).count()
        expected[f"resources-{status}-all"] = Resource.objects.filter(status=status).count()
    for payment in PaymentType.values:
        expected[f"resources-all-{payment}"] = Resource.objects.filter(
            payment_type=payment).count()
    rates = Resource.objects.filter(payment_type=PaymentType.CREDIT, status__in=LIVE) \
        .values_list("cost_credit_per_second", flat=True)
    expected["credit-burn-per-hour"] = int((sum(map(Decimal, rates), Decimal(0)) * 3600)
                                           .quantize(Decimal(1), rounding=ROUND_HALF_UP))
    # The chart: 168 clock hours, the current one last; drained credits of expenses by hour.
    first_hour = now.replace(minute=0, second=0, microsecond=0) - 167 * H
    hours = [0] * 168
    for effective_at, amount in LedgerEntry.objects.filter(
            kind=EntryKind.EXPENSE, effective_at__gte=first_hour,
            effective_at__lte=now).values_list("effective_at", "amount"):
        hours[int((effective_at - first_hour) / H)] -= amount
    expected["hours"] = hours
    expected["consumed-7d"] = sum(hours)
    return expected


def _assert_the_page_equals_the_database(page):
    now = parse_datetime(page.get_attribute("#credits-dashboard", "data-now"))
    expected = _database_says(now)
    shown = dict(page.eval_on_selector_all(
        "[data-metric]", "els => els.map(e => [e.dataset.metric, e.textContent.trim()])"))

    for metric, value in expected.items():
        if metric == "hours":
            continue
        assert _credits(shown[metric]) == value, metric
    bars = page.locator("#credits-consumption-chart rect[data-bar]")
    expect(bars).to_have_count(168)
    assert [int(c) for c in bars.evaluate_all("els => els.map(e => e.dataset.credits)")] \
        == expected["hours"]
    # The last runs, newest first, whole real runs only.
    runs = [run.pk for run in LifecycleRun.objects.filter(parent__isnull=True, dry_run=False)
            .order_by("-started_at", "-id")[:5]]
    assert [int(pk) for pk in page.locator("#credits-runs tr[data-run]").evaluate_all(
        "els => els.map(e => e.dataset.run)")] == runs
    return expected


def _assert_the_failed_run_stands_out(page):
    failed = LifecycleRun.objects.filter(status=LifecycleRunStatus.FAILED).latest("started_at")
    row = page.locator(f'#credits-runs tr[data-run="{failed.pk}"]')
    assert row.get_attribute("class") == "credits-run-failed"
    # Red on pink, like the admin's error messages (the light theme's --message-error-bg).
    assert row.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor") \
        == "rgb(255, 239, 239)"
    error = page.locator(f'#credits-runs tr[data-run-error="{failed.pk}"]')
    assert error.is_visible()
    assert failed.error_messages.splitlines()[0] in error.inner_text()


@pytest.fixture
def time_travel(settings):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True


def test_the_dashboard_numbers_equal_what_the_database_says(admin_page, default_version,
                                                            time_travel):
    # given: two accounts; credit VMs and a program whose code is a stored file, a week-old hold
    # VM, six hourly runs (one failing), an outside expense that leaves the second account short
    now = timezone.now()
    start = now - 30 * H
    grant_create(address=ADDRESS, amount=5_000_000, expires_at=None, reference="e2e-a",
                 actor="test", at=start)
    grant_create(address=OTHER, amount=400_000, expires_at=now + 24 * H, reference="e2e-b",
                 actor="test", at=now - 6 * H)
    store_hash = "5708e" + "0" * 57 + "aa"
    resource_register(item_hash=store_hash, message_type=MessageType.STORE,
                      content=store_content(size=50 * 1024 * 1024, payment="credit",
                                            item_hash=store_hash),
                      actor="test", at=start)
    resource_register(item_hash="c0de" + "0" * 59 + "1", message_type=MessageType.PROGRAM,
                      content=program_content(payment="credit",
                                              code=dict(encoding="zip", entrypoint="main:app",
                                                        ref=store_hash, use_latest=True),
                                              runtime=dict(ref=store_hash, use_latest=True,
                                                           comment="runtime")),
                      actor="test", at=start)
    resource_register(item_hash="a" * 64, message_type=MessageType.INSTANCE,
                      content=instance_content(payment="credit"), actor="test", at=start)
    resource_register(item_hash="b" * 64, message_type=MessageType.INSTANCE,
                      content=instance_content(payment="credit", address=OTHER),
                      actor="test", at=now - 6 * H + timedelta(minutes=1))
    for hours_ago in (26, 5, 4, 3, 2, 1):
        with batches_hooked(_crash) if hours_ago == 3 else nullcontext():
            lifecycle_run(at=now - hours_ago * H)
    expense_create(address=OTHER, amount=150_000, reference="e2e-outside", actor="test",
                   at=now - timedelta(minutes=50))
    lifecycle_run(at=now - timedelta(minutes=10))

    # when
    admin_page.goto(f"{admin_page.base_url}/admin/")

    # then
    expected = _assert_the_page_equals_the_database(admin_page)
    assert expected["deletions-due-24h"] >= 1 and expected["credits-consumed-24h"] > 0
    _assert_the_failed_run_stands_out(admin_page)


def _crash(index):
    raise RuntimeError("connection to the database lost (simulated)")


def test_the_dashboard_with_the_demo_data_matches_the_database_and_is_pictured(admin_page,
                                                                               default_version):
    call_command("load_demo_data", "--force")

    admin_page.goto(f"{admin_page.base_url}/admin/")

    expected = _assert_the_page_equals_the_database(admin_page)
    assert expected["deletions-due-24h"] >= 3
    _assert_the_failed_run_stands_out(admin_page)
    # The deletions card leads to the pending deletions.
    admin_page.click('[data-metric="deletions-due-24h"]')
    admin_page.wait_for_url("**/admin/credits/pendingdeletion/**")
    admin_page.go_back()
    screenshot(admin_page, "dashboard")
