"""`manage.py load_demo_data`: a week of living history built through the services, once, only
on a local (DEBUG) setup unless forced, with a clean ledger afterwards."""
import re
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum
from django.utils import timezone

from credits.demo import (
    HISTORY_HOURS,
    SIMULATED_FAILURE,
    demo_address,
    demo_item_hash,
)
from credits.models import (
    METERING_REASON,
    Account,
    Charge,
    CostRow,
    EntryKind,
    LedgerEntry,
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleTrigger,
    Lot,
    RemovalReason,
    Resource,
    ResourceStatus,
    ResourceStatusChange,
    StatusChangeReason,
    TokenBalance,
)
from credits.selectors.dashboard import dashboard_summary
from credits.selectors.ledger import account_balance, ledger_drifts
from credits.selectors.resources import resources_charged_hours
from pricing.enums import MessageType, PaymentType, ProductType

pytestmark = pytest.mark.django_db

TABLES = (Account, LedgerEntry, Lot, TokenBalance, Resource, CostRow, ResourceStatusChange,
          LifecycleRun, Charge)


def _load(*args) -> str:
    out = StringIO()
    call_command("load_demo_data", *args, stdout=out)
    return out.getvalue()


def _counts() -> dict:
    return {model.__name__: model.objects.count() for model in TABLES}


@pytest.fixture
def demo(default_version):
    started = timezone.now()
    output = _load("--force")
    return started, output


def test_it_refuses_with_debug_off_unless_forced_and_writes_nothing(default_version):
    assert django_settings.DEBUG is False  # the test settings, like production

    with pytest.raises(CommandError, match="DEBUG off"):
        _load()

    assert _counts() == {model.__name__: 0 for model in TABLES}


def test_it_loads_once_with_debug_on_and_a_second_load_adds_nothing(default_version, settings):
    settings.DEBUG = True

    assert "Demo data loaded: 9 accounts, 18 resources" in _load()
    before = _counts()
    output = _load()

    assert "already loaded" in output
    assert _counts() == before
    # Time travel was on for the command only.
    assert django_settings.LIFECYCLE_ALLOW_TIME_TRAVEL is False


def test_the_quick_start_loads_it_after_the_migrations_and_only_with_debug_on():
    script = (Path(__file__).resolve().parents[2] / "scripts" / "quickstart.sh").read_text()

    guarded = re.search(r'\nif \[ "\$debug_on" = 1 \]; then\n(.*?)\nelse\n', script, re.S)

    assert guarded and "$PY manage.py load_demo_data" in guarded.group(1)
    assert "--force" not in script
    assert script.index("manage.py migrate") < script.index("manage.py load_demo_data")


# Loading takes a few seconds on PostgreSQL (a week of runs): each test below loads once and
# checks one side of the set.

def test_the_set_has_every_kind_of_resource_exact_lifecycle_figures_and_a_clean_ledger(demo):
    _assert_the_week_metered_exactly()
    _assert_every_kind_of_resource()
    _assert_a_program_uses_a_registered_store_as_its_code()
    _assert_credits_of_every_kind()
    assert ledger_drifts() == []
    call_command("check_ledger", stdout=StringIO())  # exits non-zero on a drift


def test_the_history_has_a_week_of_runs_and_pending_deletions_due_within_a_day(demo):
    started, _ = demo
    _assert_a_week_of_hourly_runs_ending_now(started)
    _assert_pending_deletions_flagged_by_runs(started)
    _assert_a_removal_a_restore_and_a_forget()
    _assert_the_dashboard_shows_activity_in_its_windows()


# The week's lifecycle figures, derived by hand from the story in credits/demo.py. Every resource
# is registered 0.1 h before the runs' hourly grid, so the run k hours later meters k whole hours;
# the last run is at `now`. Credits per hour (the default pricing of PRICING.md, rounded half-up):
PER_HOUR = {"alice-code": 5, "alice-runtime": 18, "alice-api": 22_000, "alice-web": 14_250,
            "alice-worker": 55_000, "bob-enclave": 28_500, "bob-gpu": 345_000,
            "carol-vm": 14_250, "dave-vm": 14_250, "dave-api": 22_000, "erin-vm": 14_250,
            "ivan-vm": 14_250}
HOURS_METERED = {
    # registered a week ago (168.1 h), funded all week or flagged with a deadline still ahead
    "alice-code": 168, "alice-runtime": 168, "alice-api": 168, "alice-web": 168,
    "bob-enclave": 168, "dave-vm": 168, "dave-api": 168, "erin-vm": 168,
    # registered 120.1 h, 72.1 h and 2.6 h ago
    "alice-worker": 120, "bob-gpu": 72, "ivan-vm": 2,
    # Carol's 1 100 000 credits fund a day (342 000) after 53 hours, not after 54: flagged by
    # the run 114 h ago, removed at its deadline 90 h ago, metered up to it: 168.1 − 90 → 78 h
    "carol-vm": 78,
}
CREDITS_SHORT = {
    "carol": 78 * 14_250 - 1_100_000,  # 11 500
    # Dave: 6 600 000 − the 800 000 expense fund 160 hours of 36 250; the last 8 are short
    "dave": 8 * (14_250 + 22_000),  # 290 000
}


def _assert_the_week_metered_exactly():
    resources = {key: Resource.objects.get(item_hash=demo_item_hash(key)) for key in PER_HOUR}
    for key, resource in resources.items():
        charges = Charge.objects.filter(resource=resource)
        assert resources_charged_hours([resource.pk])[resource.pk] == HOURS_METERED[key], key
        assert sorted(charges.values_list("hour_index", flat=True)) == list(
            range(HOURS_METERED[key])), key
        assert set(charges.values_list("amount_requested", flat=True)) == {PER_HOUR[key]}, key
    requested = sum(HOURS_METERED[key] * PER_HOUR[key] for key in PER_HOUR)
    assert requested == 51_945_864
    totals = Charge.objects.aggregate(count=Count("hour"), requested=Sum("amount_requested"),
                                      drained=Sum("amount_drained"))
    assert totals == {"count": sum(HOURS_METERED.values()), "requested": requested,
                      "drained": requested - sum(CREDITS_SHORT.values())}
    assert totals["count"] == 1616 and totals["drained"] == 51_644_364
    metering = LedgerEntry.objects.filter(reason=METERING_REASON)
    short = {name: metering.filter(account__address=demo_address(name))
             .aggregate(total=Sum("shortfall"))["total"] or 0
             for name in ("alice", "bob", "carol", "dave", "erin", "ivan")}
    assert short == {"alice": 0, "bob": 0, "erin": 0, "ivan": 0, **CREDITS_SHORT}
    assert -(metering.aggregate(total=Sum("amount"))["total"]) == totals["drained"]


def _assert_every_kind_of_resource():
    resources = Resource.objects.all()
    assert set(resources.values_list("status", flat=True)) == set(ResourceStatus.values)
    assert set(resources.values_list("payment_type", flat=True)) == set(PaymentType.values)
    assert set(resources.values_list("type", flat=True)) == set(MessageType.values)
    assert set(resources.values_list("product_type", flat=True)) >= {
        ProductType.INSTANCE, ProductType.INSTANCE_CONFIDENTIAL,
        ProductType.INSTANCE_GPU_STANDARD, ProductType.PROGRAM, ProductType.PROGRAM_PERSISTENT,
        ProductType.STORAGE}
    # Every payment type has a live resource (not only removed or forgotten ones).
    assert set(resources.filter(status=ResourceStatus.PROCESSED)
               .values_list("payment_type", flat=True)) == set(PaymentType.values)
    # Each resource has its cost rows, priced by the engine.
    assert not resources.annotate(rows=Count("cost_rows")).filter(rows=0).exists()


def _assert_a_program_uses_a_registered_store_as_its_code():
    stores = set(Resource.objects.filter(type=MessageType.STORE)
                 .values_list("item_hash", flat=True))
    programs = Resource.objects.filter(type=MessageType.PROGRAM)
    assert any(program.content["code"]["ref"] in stores for program in programs)


def _assert_credits_of_every_kind():
    grants = LedgerEntry.objects.filter(kind=EntryKind.GRANT)
    assert 8 <= Account.objects.count() <= 10
    assert grants.filter(expires_at__isnull=True).exists()
    assert grants.filter(expires_at__isnull=False).exists()
    kinds = set(LedgerEntry.objects.values_list("kind", flat=True))
    assert {EntryKind.GRANT, EntryKind.TRANSFER_IN, EntryKind.TRANSFER_OUT, EntryKind.EXPENSE,
            EntryKind.EXPIRY} <= kinds
    # An expense from outside (not metering), and token balances for the hold payers.
    assert LedgerEntry.objects.filter(kind=EntryKind.EXPENSE).exclude(reason="metering").exists()
    hold_owners = set(Resource.objects.filter(payment_type=PaymentType.HOLD)
                      .values_list("owner_id", flat=True))
    assert hold_owners <= set(TokenBalance.objects.values_list("account_id", flat=True))
    assert account_balance(account=Account.objects.get(address=demo_address("alice"))) > 0


def _assert_a_week_of_hourly_runs_ending_now(started):
    runs = LifecycleRun.objects.filter(trigger=LifecycleTrigger.DEMO).order_by("as_of")
    assert runs.count() == HISTORY_HOURS
    as_of = list(runs.values_list("as_of", flat=True))
    assert all(later - earlier == timedelta(hours=1) for earlier, later in zip(as_of, as_of[1:]))
    assert started <= as_of[-1] <= timezone.now()
    # Dated at the instant each simulated, like real runs.
    assert all(run.started_at == run.as_of for run in runs)
    failed = runs.filter(status=LifecycleRunStatus.FAILED)
    assert failed.count() == 1 and SIMULATED_FAILURE in failed.get().error_messages
    assert Charge.objects.count() > 1000
    assert runs.filter(charges__gt=0).count() >= HISTORY_HOURS - 2


def _assert_pending_deletions_flagged_by_runs(started):
    removing = Resource.objects.filter(status=ResourceStatus.REMOVING)
    deadlines = list(removing.values_list("delete_after", flat=True))
    assert len(deadlines) >= 3
    assert len(set(deadlines)) == len(deadlines)
    assert all(started < deadline <= started + timedelta(hours=24) for deadline in deadlines)
    assert set(removing.values_list("removal_reason", flat=True)) == set(RemovalReason.values)
    for resource in removing:
        change = resource.status_changes.filter(to_status=ResourceStatus.REMOVING).first()
        assert change is not None and change.run is not None
        assert change.run.trigger == LifecycleTrigger.DEMO


def _assert_a_removal_a_restore_and_a_forget():
    removed = Resource.objects.get(status=ResourceStatus.REMOVED)
    assert removed.status_changes.filter(reason=StatusChangeReason.GRACE_EXPIRED,
                                         run__isnull=False).exists()
    assert ResourceStatusChange.objects.filter(to_status=ResourceStatus.PROCESSED,
                                               reason=StatusChangeReason.FUNDED).exists()
    assert Resource.objects.get(status=ResourceStatus.FORGOTTEN).ended_at is not None


def _assert_the_dashboard_shows_activity_in_its_windows():
    summary = dashboard_summary(now=timezone.now())
    assert summary.credits_granted_24h > 0
    assert summary.credits_consumed_24h > 0
    assert summary.credit_burn_per_hour > 0
    assert summary.deletions_due_24h >= 3
    assert any(run.status == LifecycleRunStatus.FAILED for run in summary.recent_runs)
    assert sum(1 for bucket in summary.consumed_by_hour if bucket.credits) >= HISTORY_HOURS - 2


def test_under_the_networks_payment_rules_the_hold_and_stream_stories_are_legacy_resources(
        network_payment_rules, settings):
    # given: the version in force refuses hold and stream (the network's cut-offs)
    from pricing.rules import HOLD_AND_STREAM_CUTOFF

    # when
    _load("--force")

    # then: they were registered the day before the cut-off, as such resources were
    frank_vm = Resource.objects.get(item_hash=demo_item_hash("frank-vm"))
    assert frank_vm.payment_type == "hold"
    assert frank_vm.created_at < HOLD_AND_STREAM_CUTOFF
