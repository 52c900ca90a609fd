"""The run is set-based: its query count does not grow with the number of accounts."""
import difflib
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from credits.models import Account, Charge, LedgerEntry, Lot, Resource, ResourceStatus
from credits.partitions import charge_partitions_around, charge_partitions_ensure
from credits.selectors.lifecycle import lifecycle_settings_get
from credits.services.ledger import grant_create
from credits.services.lifecycle import lifecycle_run
from credits.services.lifecycle.statistics import statistics_refresh_stale
from tests.credits.conftest import T0
from tests.credits.test_lifecycle import E1_PER_DAY, register

HOUR = timedelta(hours=1)
TEMPLATE_OWNER = "0x" + "1" * 40
_COPIED = ["type", "content", "product_type", "payment_type", "payment_chain",
           "pricing_version_id", "cost_hold", "cost_stream_per_second", "cost_credit_per_second"]


@pytest.fixture(autouse=True)
def _time_travel_allowed(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True


@pytest.fixture
def template(db):
    """One VM registered through the service; the bulk data copies its costs. (The settings
    row is made here too: its one-time creation is not part of a run's cost.)"""
    lifecycle_settings_get()
    grant_create(address=TEMPLATE_OWNER, amount=E1_PER_DAY, expires_at=None, reference="t",
                 actor="test", at=T0)
    return register(T0, address=TEMPLATE_OWNER)


def populate(template: Resource, accounts: int, *, first: int) -> None:
    """`accounts` accounts with two credit VMs each; one in three cannot fund them a day."""
    owners = Account.objects.bulk_create(
        [Account(address=f"0x{first + i:040x}") for i in range(accounts)])
    grants = LedgerEntry.objects.bulk_create([
        LedgerEntry(account=owner, kind="grant", amount=E1_PER_DAY * (1 if i % 3 == 0 else 3),
                    idempotency_key=f"scale:{owner.pk}", effective_at=T0)
        for i, owner in enumerate(owners)])
    Lot.objects.bulk_create([Lot(account=entry.account, entry=entry, amount=entry.amount,
                                 remaining=entry.amount, created_at=T0) for entry in grants])
    Resource.objects.bulk_create([
        Resource(item_hash=f"{owner.pk:032x}{n:032x}", owner=owner, created_at=T0,
                 **{name: getattr(template, name) for name in _COPIED})
        for owner in owners for n in range(2)])


def queries_of_one_run(at) -> list[str]:
    """The statements of one run, without their parameters (its charges' monthly partitions
    made before: a run makes them once a month; the tables' statistics fresh before: a run
    analyses the tables a bulk load left stale, `lifecycle.statistics`, once)."""
    charge_partitions_ensure(charge_partitions_around(at))
    # Each run starts a session without temporary tables (`credits.temp_tables`: the first
    # run of a session makes them, a later one reuses them).
    with connection.cursor() as cursor:
        cursor.execute("DISCARD TEMP")
        statistics_refresh_stale(cursor)
    with CaptureQueriesContext(connection) as captured:
        lifecycle_run(at=at)
    return [" ".join(query["sql"].split())[:100] for query in captured.captured_queries]


def _diff(small: list[str], large: list[str]) -> str:
    return "\n".join(difflib.unified_diff(small, large, lineterm="", n=0))


def test_a_run_charges_every_resource_and_flags_the_unfunded_accounts(template):
    populate(template, 500, first=1000)

    result = lifecycle_run(at=T0 + HOUR)

    assert result.accounts == 501
    assert Charge.objects.count() == 2 * 500 + 1
    assert Resource.objects.filter(status=ResourceStatus.REMOVING).count() == \
        2 * len(range(0, 500, 3)) + 1


def test_the_query_count_is_the_same_for_10_and_for_500_accounts(template):
    populate(template, 10, first=1000)
    with_11_accounts = queries_of_one_run(T0 + HOUR)

    populate(template, 490, first=5000)
    with_501_accounts = queries_of_one_run(T0 + 2 * HOUR)

    assert Account.objects.count() == 501
    assert len(with_501_accounts) == len(with_11_accounts), \
        _diff(with_11_accounts, with_501_accounts)


def test_a_batch_sends_its_accounts_as_one_array_literal(template, settings):
    # psycopg2 sends a list as ARRAY[1, 2, …], element by element: 13 ms a statement for a
    # batch of 5,000 accounts (`credits.id_arrays`).
    populate(template, 40, first=1000)
    settings.LIFECYCLE_BATCH_ACCOUNTS = 20

    charge_partitions_ensure(charge_partitions_around(T0 + HOUR))
    with CaptureQueriesContext(connection) as captured:
        lifecycle_run(at=T0 + HOUR)

    first, second = Account.objects.order_by("pk").values_list("pk", flat=True)[:2]
    sent = [query["sql"] for query in captured.captured_queries]
    assert not [sql for sql in sent if f"ARRAY[{first}," in sql]
    assert len([sql for sql in sent if f"'{{{first},{second}," in sql]) >= 5


def test_more_batches_cost_a_fixed_number_of_queries_each(template, settings):
    populate(template, 40, first=1000)
    settings.LIFECYCLE_BATCH_ACCOUNTS = 10
    five_batches = queries_of_one_run(T0 + HOUR)
    settings.LIFECYCLE_BATCH_ACCOUNTS = 5
    nine_batches = queries_of_one_run(T0 + 2 * HOUR)  # 41 accounts: 5 → 9 batches

    per_batch, rest = divmod(len(nine_batches) - len(five_batches), 4)
    assert per_batch > 0 and rest == 0, _diff(five_batches, nine_batches)
