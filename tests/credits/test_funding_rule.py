"""The funding rule (credits/funding.py) against the lifecycle's set-based SQL, on random accounts:
the same charges (resource-hours, requested, drained), the same drains, meters and shortfalls,
the same resources flagged, restored and removed. And the rule's small pieces on their own."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from credits.addresses import normalize_address
from credits.funding import (
    FundingWalk,
    LotState,
    ResourceState,
    account_run,
    charges_allot,
    drain_plan,
    hour_of_charge,
    hourly_charge,
    lot_spendable,
    whole_hours,
)
from credits.models import (
    LIVE_STATUSES,
    Account,
    Charge,
    LedgerEntry,
    LifecycleSettings,
    Lot,
    Resource,
    ResourceMeter,
    ResourceStatus,
    TokenBalance,
)
from credits.selectors.lifecycle import lifecycle_settings_get
from credits.selectors.resources import resources_charged_hours
from credits.services.ledger import grant_create
from credits.services.lifecycle import lifecycle_run
from credits.services.lifecycle.sql import charge_hour_sql, whole_hours_between
from pricing.enums import MessageType, PaymentType, ProductType

T = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
CHAINS = ("ETH", "AVAX")


# --- the small pieces ------------------------------------------------------------------------

def test_a_lot_expiring_exactly_now_is_not_spendable():
    assert lot_spendable(remaining=5, expires_at=T + timedelta(microseconds=1), at=T)
    assert not lot_spendable(remaining=5, expires_at=T, at=T)
    assert not lot_spendable(remaining=0, expires_at=None, at=T)
    assert lot_spendable(remaining=1, expires_at=None, at=T)


def test_an_hour_is_charged_rounded_half_up_from_the_exact_product():
    assert hourly_charge(Decimal("0.00125")) == 5  # 4.5 credits an hour
    assert hourly_charge(Decimal("0.000125")) == 0  # 0.45
    assert hourly_charge(Decimal("3.958333333333333333")) == 14250
    # 29 significant digits: the cost engine's 28-digit context would round 0.5 away first.
    assert hourly_charge(Decimal("12345678901.000138888888888888")) == 44444444043600


def test_whole_hours_floor_and_an_exact_hour_is_never_a_hair_short():
    assert whole_hours(T + HOUR, T) == 1
    assert whole_hours(T + HOUR - timedelta(microseconds=1), T) == 0
    assert whole_hours(T - timedelta(minutes=1), T) == -1


@pytest.mark.django_db
@settings(max_examples=300, deadline=None, derandomize=True)
@given(earlier=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                            timezones=st.just(UTC)),
       hours=st.integers(min_value=-200_000, max_value=200_000),
       nudge=st.sampled_from([0, 1, -1, 59 * 60 * 10**6, -59 * 60 * 10**6]))
@example(earlier=T, hours=0, nudge=-1)
@example(earlier=T, hours=-1, nudge=1)
@example(earlier=datetime(2024, 3, 31, 0, 30, 0, 1, tzinfo=UTC), hours=876_000, nudge=-1)
def test_the_sql_whole_hours_are_the_rule_s(earlier, hours, nudge):
    """`lifecycle.sql.whole_hours_between` (integer `date_bin` arithmetic) floors exactly as
    `funding.whole_hours`: at an exact hour, a microsecond either side, backwards, a century."""
    later = earlier + hours * HOUR + timedelta(microseconds=nudge)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {whole_hours_between('%(later)s', '%(earlier)s')}",
                       {"later": later, "earlier": earlier})
        assert cursor.fetchone()[0] == whole_hours(later, earlier)


@pytest.mark.django_db
@settings(max_examples=300, deadline=None, derandomize=True)
@given(created_at=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                               timezones=st.just(UTC)),
       hour_index=st.integers(min_value=0, max_value=100_000),
       nudge=st.sampled_from([0, 1, -1]))
@example(created_at=datetime(2000, 1, 1, tzinfo=UTC), hour_index=0, nudge=-1)
@example(created_at=datetime(1969, 12, 31, 23, 30, tzinfo=UTC), hour_index=1, nudge=0)
def test_the_sql_charge_hour_is_the_rule_s(created_at, hour_index, nudge):
    """`lifecycle.sql.charge_hour_sql` (`date_bin` from a UTC hour) says the clock hour of a
    charge as `funding.hour_of_charge` does: on the hour, a microsecond either side, before
    and after `date_bin`'s origin."""
    created_at += timedelta(microseconds=nudge)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {charge_hour_sql(created_at='%(at)s', hour_index='%(k)s')}",
                       {"at": created_at, "k": hour_index})
        assert cursor.fetchone()[0] == hour_of_charge(created_at, hour_index)


def test_a_drain_takes_lots_in_order_and_never_more_than_each_has():
    lots = [LotState(1, 5, None, T), LotState(2, 3, None, T)]
    assert [(lot.id, piece) for lot, piece in drain_plan(lots, 7)] == [(1, 5), (2, 2)]
    assert [(lot.id, piece) for lot, piece in drain_plan(lots, 20)] == [(1, 5), (2, 3)]
    assert drain_plan(lots, 0) == []


def test_drained_credits_pay_the_oldest_charges_first():
    assert charges_allot([4, 4, 4], 6) == [4, 2, 0]
    assert charges_allot([4, 0, 4], 8) == [4, 0, 4]
    assert charges_allot([4, 4], 0) == [0, 0]


def test_a_walk_funds_the_oldest_resources_up_to_the_balance_on_each_chain():
    walk = FundingWalk(credits_available=100, tokens_available={"ETH": Decimal(3)},
                       horizon_seconds=10)
    steps = [walk.step(payment_type=PaymentType.CREDIT, payment_chain="",
                       cost_credit_per_second=Decimal(5), cost_hold=Decimal(0)),
             walk.step(payment_type=PaymentType.CREDIT, payment_chain="",
                       cost_credit_per_second=Decimal(5), cost_hold=Decimal(0)),
             walk.step(payment_type=PaymentType.CREDIT, payment_chain="",
                       cost_credit_per_second=Decimal("0.000000000000000001"),
                       cost_hold=Decimal(0)),
             walk.step(payment_type=PaymentType.HOLD, payment_chain="ETH",
                       cost_credit_per_second=Decimal(0), cost_hold=Decimal(3)),
             walk.step(payment_type=PaymentType.HOLD, payment_chain="AVAX",
                       cost_credit_per_second=Decimal(0), cost_hold=Decimal(1)),
             walk.step(payment_type=PaymentType.SUPERFLUID, payment_chain="",
                       cost_credit_per_second=Decimal(0), cost_hold=Decimal(0))]
    assert [(s.checked, s.funded) for s in steps] == [
        (True, True), (True, True), (True, False), (True, True), (True, False), (False, True)]
    assert steps[1].required == 100


# --- the rule against the lifecycle's SQL -----------------------------------------------------

rates = st.one_of(
    st.integers(0, 5 * 10**16).map(lambda n: Decimal(n).scaleb(-18)),
    # Multiples of 0.00125 credit/s cost 4.5 credits an hour: the half-up boundary.
    st.integers(0, 40).map(lambda j: Decimal(j) * Decimal("0.00125")))
minutes = st.integers(-72 * 60, 0)

resource_specs = st.fixed_dictionaries({
    "payment": st.sampled_from([PaymentType.CREDIT] * 4 + [PaymentType.HOLD] * 2
                               + [PaymentType.SUPERFLUID]),
    "chain": st.sampled_from(CHAINS),
    "rate": rates,
    "hold": st.integers(0, 100).map(Decimal),
    "created_minutes": minutes,
    "status": st.sampled_from([ResourceStatus.PROCESSED] * 3 + [ResourceStatus.REMOVING]),
    "deadline_minutes": st.integers(-48 * 60, 48 * 60),
    "charged_fraction": st.integers(0, 4),
    "meter_row": st.booleans(),  # under a watermark: a meter row overrides it
})
lot_specs = st.fixed_dictionaries({
    "amount": st.integers(1, 20_000),
    "expires_minutes": st.one_of(st.none(), st.integers(-30 * 60, 60 * 60)),
    "granted_minutes": st.integers(-100 * 60, -90 * 60),
})
account_specs = st.fixed_dictionaries({
    "lots": st.lists(lot_specs, max_size=3),
    "resources": st.lists(resource_specs, min_size=1, max_size=5),
    # The account's metering watermark: none, or an earlier run's instant (even a later one:
    # a clock moved back).
    "watermark_minutes": st.one_of(st.none(), st.integers(-72 * 60, 90)),
    "tokens": st.fixed_dictionaries({chain: st.integers(0, 200).map(Decimal)
                                     for chain in CHAINS}),
})


def _address(number: int) -> str:
    return normalize_address(f"0x{number:040x}")


def _build(accounts: list[dict], version) -> list[Account]:
    built = []
    for number, spec in enumerate(accounts, start=1):
        address = _address(number)
        watermark = None if spec["watermark_minutes"] is None \
            else T + timedelta(minutes=spec["watermark_minutes"])
        account = Account.objects.create(address=address, metered_until=watermark)
        for index, lot in enumerate(spec["lots"]):
            granted = T + timedelta(minutes=lot["granted_minutes"])
            expires = None if lot["expires_minutes"] is None \
                else T + timedelta(minutes=lot["expires_minutes"])
            if expires is not None and expires <= granted:
                expires = granted + timedelta(minutes=1)
            grant_create(address=address, amount=lot["amount"], expires_at=expires,
                         reference=f"rule-{number}-{index}", actor="test", at=granted)
        for chain, balance in spec["tokens"].items():
            TokenBalance.objects.create(account=account, chain=chain, balance=balance,
                                        height=1)
        for index, item in enumerate(spec["resources"]):
            created = T + timedelta(minutes=item["created_minutes"], seconds=index)
            removing = item["status"] == ResourceStatus.REMOVING
            resource = Resource.objects.create(
                item_hash=f"{number:032x}{index:032x}", type=MessageType.INSTANCE,
                content={"address": address}, owner=account, product_type=ProductType.INSTANCE,
                payment_type=item["payment"],
                payment_chain=item["chain"] if item["payment"] == PaymentType.HOLD else "",
                status=item["status"], pricing_version=version, created_at=created,
                removing_since=created if removing else None,
                delete_after=T + timedelta(minutes=item["deadline_minutes"]) if removing
                else None,
                cost_hold=item["hold"] if item["payment"] == PaymentType.HOLD else 0,
                cost_stream_per_second=Decimal(0),
                cost_credit_per_second=item["rate"] if item["payment"] == PaymentType.CREDIT
                else 0)
            charged = max(0, whole_hours(T, created)) * item["charged_fraction"] // 4
            if charged if watermark is None else item["meter_row"]:
                ResourceMeter.objects.create(resource=resource, charged_hours=charged)
        built.append(account)
    return built


def _states(account: Account) -> tuple[list[LotState], list[ResourceState], dict]:
    lots = [LotState(id=lot.pk, remaining=lot.remaining, expires_at=lot.expires_at,
                     created_at=lot.created_at) for lot in Lot.objects.filter(account=account)]
    meters = resources_charged_hours(Resource.objects.filter(owner=account)
                                     .values_list("pk", flat=True))
    resources = [ResourceState(
        id=r.pk, status=r.status, payment_type=r.payment_type, payment_chain=r.payment_chain,
        created_at=r.created_at, delete_after=r.delete_after,
        cost_credit_per_second=r.cost_credit_per_second, cost_hold=r.cost_hold,
        charged_hours=meters.get(r.pk, 0)) for r in Resource.objects.filter(owner=account)]
    tokens = dict(TokenBalance.objects.filter(account=account).values_list("chain", "balance"))
    return lots, resources, tokens


class _Rollback(Exception):
    pass


@pytest.fixture
def rule_settings(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    return default_version


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(accounts=st.lists(account_specs, min_size=1, max_size=4),
       grace_hours=st.sampled_from([0, 1, 24]), horizon_hours=st.sampled_from([1, 24, 48]),
       metering=st.booleans())
@example(accounts=[{"lots": [{"amount": 2160, "expires_minutes": None,
                              "granted_minutes": -95 * 60}],
                    "resources": [{"payment": PaymentType.CREDIT, "chain": "ETH",
                                   "rate": Decimal("0.025"), "hold": Decimal(0),
                                   "created_minutes": 0, "status": ResourceStatus.PROCESSED,
                                   "deadline_minutes": 0, "charged_fraction": 0,
                                   "meter_row": False}] * 2,
                    "tokens": {"ETH": Decimal(0), "AVAX": Decimal(0)},
                    "watermark_minutes": None}],
         grace_hours=24, horizon_hours=24, metering=True)  # exactly one day funded
def test_the_lifecycle_sql_does_what_the_funding_rule_says(rule_settings, accounts,
                                                           grace_hours, horizon_hours,
                                                           metering):
    try:
        with transaction.atomic():
            # given
            LifecycleSettings.objects.update_or_create(pk=1, defaults={
                "grace_hours": grace_hours, "funding_horizon_hours": horizon_hours,
                "metering_enabled": metering})
            assert lifecycle_settings_get().funding_horizon_hours == horizon_hours
            built = _build(accounts, rule_settings)
            expected = {}
            hours_before = {}
            for account in built:
                lots, resources, tokens = _states(account)
                hours_before.update((r.id, r.charged_hours) for r in resources
                                    if r.payment_type == PaymentType.CREDIT)
                expected[account.pk] = (lots, account_run(
                    lots=lots, resources=resources, tokens_available=tokens, at=T,
                    grace=timedelta(hours=grace_hours),
                    horizon_seconds=horizon_hours * 3600, metering=metering))
            # when
            run = lifecycle_run(at=T)
            # then
            outcomes = [outcome for _, outcome in expected.values()]
            assert sorted(run.counts.flagged_ids) == sorted(
                i for o in outcomes for i in o.flagged)
            assert sorted(run.counts.restored_ids) == sorted(
                i for o in outcomes for i in o.restored)
            assert sorted(run.counts.removed_ids) == sorted(
                i for o in outcomes for i in o.removed)
            charges = set(Charge.objects.filter(run=run).values_list(
                "resource_id", "hour_index", "amount_requested", "amount_drained"))
            assert charges == {(c.resource_id, c.hour_index, c.amount_requested,
                                c.amount_drained) for o in outcomes for c in o.charges}
            for account in built:
                lots, outcome = expected[account.pk]
                for lot in lots:
                    spendable = lot_spendable(remaining=lot.remaining,
                                              expires_at=lot.expires_at, at=T)
                    left = lot.remaining - outcome.drains.get(lot.id, 0) if spendable else 0
                    assert Lot.objects.get(pk=lot.id).remaining == left
                short = sum(LedgerEntry.objects.filter(
                    account=account, reference=f"lifecycle-run:{run.pk}")
                    .values_list("shortfall", flat=True))
                assert short == outcome.credits_short
            # Every credit resource's charged hours: moved as the rule says, the others' where
            # they were (watermark or meter row alike), while they live.
            moved = {i: hours for o in outcomes for i, hours in o.meters.items()}
            live = set(Resource.objects.filter(pk__in=hours_before, status__in=LIVE_STATUSES)
                       .values_list("pk", flat=True)) | set(moved)
            got = resources_charged_hours(live)
            assert got == {
                i: moved.get(i, hours_before[i]) for i in live}
            assert run.credits_charged == sum(o.drained for o in outcomes)
            raise _Rollback
    except _Rollback:
        pass
