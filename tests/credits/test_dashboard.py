"""The admin dashboard: its numbers against a seeded data set computed by hand, its bounded
queries, its links (each opens the admin list of what it counts) and its chart."""
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse

from credits.models import (
    Account,
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleTrigger,
    RemovalReason,
    ResourceStatus,
)
from credits.selectors.dashboard import CHART_HOURS, dashboard_summary
from credits.services.ledger import expense_create, grant_create
from credits_project.admin import CreditsAdminSite, compact_credits, consumption_chart
from pricing.enums import PaymentType
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, THIRD_ADDRESS

pytestmark = pytest.mark.django_db

# Half past noon: the chart's clock hours run from 13:00 seven days earlier to 13:00 today.
NOW = datetime(2030, 1, 8, 12, 30, tzinfo=UTC)
CHART_START = datetime(2030, 1, 1, 13, 0, tzinfo=UTC)
H = timedelta(hours=1)
QUERIES = 7


def _grant(address, amount, at, reference, expires_at=None):
    grant_create(address=address, amount=amount, expires_at=expires_at, reference=reference,
                 actor="test", at=at)


def _expense(address, amount, at, reference):
    return expense_create(address=address, amount=amount, reference=reference, actor="test",
                          at=at).entry


@pytest.fixture
def seeded(ledger_resource_factory):
    """Three accounts (A, B, C), eight resources, grants, expenses and runs around NOW."""
    # Credits in the 24 h window (NOW − 24 h, NOW]: 1000 + 500 + 50; the grant at exactly
    # NOW − 24 h and C's older ones are out.
    _grant(ADDRESS, 1000, NOW - 2 * H, "a-1000")
    _grant(ADDRESS, 300, NOW - 24 * H, "a-300-boundary")
    _grant(OTHER_ADDRESS, 500, NOW - 24 * H + timedelta(minutes=1), "b-500")
    _grant(THIRD_ADDRESS, 200, NOW - 9 * 24 * H, "c-200-old")
    _grant(THIRD_ADDRESS, 700, NOW - 26 * H, "c-700")
    # Consumed in the window: A 400 (drained in full), B 500 of the 800 asked (300 short).
    _expense(ADDRESS, 400, NOW - H, "a-400")                              # bucket 11:00 Jan 8
    _expense(OTHER_ADDRESS, 800, NOW - 3 * H, "b-800")                    # bucket 09:00 Jan 8
    _grant(OTHER_ADDRESS, 50, NOW, "b-50-now")
    # Out of the window, some in the chart: C 150 (8 days ago: out), 20 one second before the
    # chart, 30 at its first instant, 100 twenty-five hours ago.
    _expense(THIRD_ADDRESS, 150, NOW - 8 * 24 * H, "c-150-old")
    _expense(THIRD_ADDRESS, 20, CHART_START - timedelta(seconds=1), "c-20-before-chart")
    _expense(THIRD_ADDRESS, 30, CHART_START, "c-30-chart-start")          # bucket 0
    _expense(THIRD_ADDRESS, 100, NOW - 25 * H, "c-100")                   # bucket 11:00 Jan 7
    # Dated after NOW (in the current clock hour): not counted anywhere.
    _expense(ADDRESS, 10, NOW + timedelta(minutes=10), "a-10-future")

    a, b = Account.objects.get(address=ADDRESS), Account.objects.get(address=OTHER_ADDRESS)
    make = ledger_resource_factory

    def removing(owner, delete_after, **extra):
        return make(owner, status=ResourceStatus.REMOVING, removing_since=delete_after - 24 * H,
                    delete_after=delete_after, **extra)

    make(a, cost_credit_per_second="0.5")
    removing(a, NOW + 3 * H, cost_credit_per_second="0.25",
             removal_reason=RemovalReason.CREDIT_INSUFFICIENT)
    make(a, cost_credit_per_second="1", status=ResourceStatus.REMOVED)
    make(a, cost_credit_per_second="1", status=ResourceStatus.FORGOTTEN)
    make(b, payment_type=PaymentType.HOLD, cost_hold="10", payment_chain="ETH")
    removing(b, NOW + 25 * H, payment_type=PaymentType.HOLD, cost_hold="10",
             payment_chain="ETH", removal_reason=RemovalReason.BALANCE_INSUFFICIENT)
    make(b, payment_type=PaymentType.SUPERFLUID)
    removing(b, NOW - H, cost_credit_per_second="0.000277777777777778",
             removal_reason=RemovalReason.CREDIT_INSUFFICIENT)

    runs = {}
    for hours_ago, status in [(7, LifecycleRunStatus.SUCCEEDED), (6, LifecycleRunStatus.SUCCEEDED),
                              (5, LifecycleRunStatus.SUCCEEDED), (4, LifecycleRunStatus.FAILED),
                              (3, LifecycleRunStatus.SKIPPED), (2, LifecycleRunStatus.SUCCEEDED)]:
        at = NOW - hours_ago * H
        runs[hours_ago] = LifecycleRun.objects.create(
            started_at=at, finished_at=at + timedelta(seconds=2), as_of=at, status=status,
            trigger=LifecycleTrigger.BEAT, accounts=2, resources=5, charges=3,
            credits_charged=hours_ago,
            errors=int(status == LifecycleRunStatus.FAILED),
            error_messages="batch 0 (accounts 1–2): boom" if status == "failed" else "")
    # Newer, but neither is a whole real run: a dry run (a forecast) and a shard of run 2.
    LifecycleRun.objects.create(started_at=NOW - H, as_of=NOW - H, dry_run=True,
                                status=LifecycleRunStatus.SUCCEEDED)
    LifecycleRun.objects.create(started_at=NOW - 2 * H, as_of=NOW - 2 * H, parent=runs[2],
                                shard_index=0, shard_count=2, status=LifecycleRunStatus.SUCCEEDED)
    return runs


def test_the_summary_counts_what_the_seeded_data_set_holds(seeded):
    summary = dashboard_summary(now=NOW)

    assert summary.accounts == 3
    assert summary.credits_granted_24h == 1000 + 500 + 50
    assert summary.credits_consumed_24h == 400 + 500
    assert summary.deletions_due_24h == 2  # NOW + 3 h and the overdue NOW − 1 h
    assert summary.deletions_overdue == 1
    assert summary.credit_resources_live == 3
    # Exact: 0.75 cr/s → 2700 cr/h, plus 0.000277777777777778 cr/s → 1.0000000000000008 cr/h.
    assert summary.credit_burn_per_hour == Decimal("2701.0000000000000008")


def test_resources_are_counted_by_status_and_payment_type(seeded):
    summary = dashboard_summary(now=NOW)

    table = {row.status: dict(zip([p for p, _ in summary.payment_types], row.counts))
             for row in summary.resources_by_status}
    assert table == {
        "processed": {"hold": 1, "superfluid": 1, "credit": 1},
        "removing": {"hold": 1, "superfluid": 0, "credit": 2},
        "removed": {"hold": 0, "superfluid": 0, "credit": 1},
        "forgotten": {"hold": 0, "superfluid": 0, "credit": 1},
    }
    assert summary.resources_by_payment_type == (2, 1, 5)
    assert summary.resources_total == 8


def test_the_last_five_whole_runs_are_listed_newest_first_without_dry_runs_or_shards(seeded):
    summary = dashboard_summary(now=NOW)

    assert [run.pk for run in summary.recent_runs] == [seeded[h].pk for h in (2, 3, 4, 5, 6)]
    assert summary.recent_runs[2].status == LifecycleRunStatus.FAILED


def test_the_chart_has_one_bucket_per_clock_hour_of_the_week_with_drained_credits(seeded):
    summary = dashboard_summary(now=NOW)

    buckets = summary.consumed_by_hour
    assert len(buckets) == CHART_HOURS == 168
    assert buckets[0].start == CHART_START
    assert buckets[-1].start == datetime(2030, 1, 8, 12, 0, tzinfo=UTC)  # the current hour
    assert all(b.start == CHART_START + i * H for i, b in enumerate(buckets))
    nonzero = {b.start: b.credits for b in buckets if b.credits}
    assert nonzero == {
        CHART_START: 30,
        datetime(2030, 1, 7, 11, tzinfo=UTC): 100,
        datetime(2030, 1, 8, 9, tzinfo=UTC): 500,   # drained, not the 800 asked
        datetime(2030, 1, 8, 11, tzinfo=UTC): 400,
    }
    assert summary.consumed_in_chart == 1030


def test_an_empty_database_gives_zeros_and_168_empty_hours(db):
    summary = dashboard_summary(now=NOW)

    assert (summary.accounts, summary.credits_granted_24h, summary.credits_consumed_24h,
            summary.deletions_due_24h, summary.resources_total) == (0, 0, 0, 0, 0)
    assert summary.credit_burn_per_hour == 0
    assert summary.recent_runs == ()
    assert [b.credits for b in summary.consumed_by_hour] == [0] * 168


def test_the_summary_takes_a_fixed_number_of_queries_whatever_the_data(
        seeded, django_assert_max_num_queries, ledger_resource_factory):
    with django_assert_max_num_queries(QUERIES):
        dashboard_summary(now=NOW)

    # Ten times the resources and entries: still the same queries.
    owner = Account.objects.get(address=ADDRESS)
    for i in range(40):
        ledger_resource_factory(owner, cost_credit_per_second="0.01")
        _expense(ADDRESS, 1, NOW - (i % 100) * H, f"more-{i}")
    with django_assert_max_num_queries(QUERIES):
        dashboard_summary(now=NOW)


# --- the admin index --------------------------------------------------------------------------

def _metric(html: str, name: str) -> str:
    match = re.search(rf'data-metric="{re.escape(name)}"[^>]*>([^<]*)<', html)
    assert match, f"no data-metric={name}"
    return unescape(match.group(1)).strip()


@pytest.fixture
def staff_client(client, admin_user, time_machine):
    """A staff session at NOW (logged in after the clock moved, so the session is fresh)."""
    time_machine.move_to(NOW, tick=False)
    client.force_login(admin_user)
    return client


def test_the_default_admin_site_is_the_dashboard_site():
    assert isinstance(admin.site, CreditsAdminSite)
    # The apps' registrations landed on it.
    assert admin.site.is_registered(Account)
    assert admin.site.is_registered(LifecycleRun)


def test_the_admin_index_shows_the_numbers_as_links_and_tooltips(staff_client, seeded):
    html = staff_client.get(reverse("admin:index")).content.decode()

    assert _metric(html, "accounts") == "3"
    assert _metric(html, "credits-granted-24h") == "1,550"
    assert _metric(html, "credits-consumed-24h") == "900"
    assert _metric(html, "credit-burn-per-hour") == "2,701"
    assert "exactly 2701.0000000000000008 credits per hour" in html
    assert _metric(html, "deletions-due-24h") == "2"
    assert _metric(html, "deletions-overdue") == "1"
    assert _metric(html, "resources-removing-credit") == "2"
    assert _metric(html, "resources-all-all") == "8"
    assert _metric(html, "consumed-7d") == "1,030"
    assert html.count("data-bar ") == 168
    # Every number is a link (or inside one) or carries a title.
    for match in re.finditer(r"<[^>]*data-metric=[^>]*>", html):
        before = html[:match.start()]
        inside_link = before.rfind("<a ") > before.rfind("</a>")
        assert match.group().startswith("<a ") or "title=" in match.group() or inside_link, \
            match.group()
    # The failed run stands out, with its message.
    failed = seeded[4]
    assert re.search(rf'<tr data-run="{failed.pk}" data-status="failed" '
                     rf'class="credits-run-failed">', html)
    assert "batch 0 (accounts 1–2): boom" in html


def test_each_dashboard_link_opens_the_list_of_what_it_counts(staff_client, seeded):
    html = staff_client.get(reverse("admin:index")).content.decode()

    def count_at(metric):
        href = re.search(rf'<a [^>]*href="([^"]+)"[^>]*data-metric="{metric}"', html)
        if href is None:  # cards: the link wraps the number
            block = html.split(f'data-metric="{metric}"')[0]
            href = re.findall(r'<a [^>]*href="([^"]+)"', block)[-1:]
            url = unescape(href[0])
        else:
            url = unescape(href.group(1))
        response = staff_client.get(url)
        assert response.status_code == 200, url  # an invalid lookup would redirect (?e=1)
        return response.context["cl"].queryset.count()

    assert count_at("accounts") == 3
    assert count_at("credits-granted-24h") == 3          # the three grants in the window
    assert count_at("credits-consumed-24h") == 2         # the two expenses in the window
    assert count_at("credit-burn-per-hour") == 3         # live credit resources
    assert count_at("deletions-due-24h") == 2
    assert count_at("resources-removing-credit") == 2
    assert count_at("resources-processed-hold") == 1
    assert count_at("resources-all-superfluid") == 1


def test_the_dashboard_is_for_staff_only(client, django_user_model):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]

    user = django_user_model.objects.create_user("someone", password="x-y-z-w-1234")
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_staff_see_the_dashboard_only_with_permission_to_view_all_it_sums(
        client, django_user_model, seeded):
    # given a staff user who may view accounts, the ledger and resources, not lifecycle runs
    user = django_user_model.objects.create_user("clerk", password="x-y-z-w-1234",
                                                 is_staff=True)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="credits",
        codename__in=("view_account", "view_ledgerentry", "view_resource")))
    client.force_login(user)

    # then the index shows no number, and says why
    hidden = client.get(reverse("admin:index")).content.decode()
    assert "data-metric=" not in hidden
    assert 'id="credits-dashboard-hidden"' in hidden

    # when they may also view lifecycle runs, they see it
    user.user_permissions.add(Permission.objects.get(content_type__app_label="credits",
                                                     codename="view_lifecyclerun"))
    user = django_user_model.objects.get(pk=user.pk)  # permissions are cached per instance
    client.force_login(user)
    shown = client.get(reverse("admin:index")).content.decode()
    assert _metric(shown, "accounts") == str(Account.objects.count())
    assert "credits-dashboard-hidden" not in shown


# --- the chart geometry -----------------------------------------------------------------------

def test_the_chart_scales_bars_to_a_round_axis_and_marks_each_midnight(seeded):
    summary = dashboard_summary(now=NOW)

    chart = consumption_chart(summary.consumed_by_hour)

    assert len(chart.bars) == 168
    assert chart.y_max == 500  # the largest hour (500) on 4 steps of 125
    assert [tick.label for tick in chart.y_ticks] == ["0", "125", "250", "375", "500"]
    tallest = max(chart.bars, key=lambda bar: bar.height)
    assert tallest.credits == 500
    assert tallest.height == chart.plot_bottom - chart.plot_top
    by_credits = {bar.credits: bar.height for bar in chart.bars}
    assert by_credits[400] == pytest.approx(tallest.height * 0.8, abs=0.01)
    assert by_credits[0] == 0
    assert [tick.label for tick in chart.x_ticks] == [
        "Wed 02 Jan", "Thu 03 Jan", "Fri 04 Jan", "Sat 05 Jan", "Sun 06 Jan", "Mon 07 Jan",
        "Tue 08 Jan"]
    assert chart.total == 1030


@pytest.mark.parametrize(("value", "label"), [(0, "0"), (999, "999"), (1500, "1.5k"),
                                              (2_000_000, "2M"), (12_500_000, "12.5M"),
                                              (3 * 10**9, "3G")])
def test_axis_labels_are_compact(value, label):
    assert compact_credits(value) == label


def test_an_empty_chart_still_has_168_bars_and_an_axis():
    from credits.selectors.dashboard import HourBucket

    buckets = [HourBucket(start=CHART_START + i * H, credits=0) for i in range(168)]
    chart = consumption_chart(buckets)

    assert len(chart.bars) == 168 and all(bar.height == 0 for bar in chart.bars)
    assert chart.y_max >= 1 and chart.total == 0
