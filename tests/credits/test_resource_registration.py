"""Registering resources: costs from the engine, the one-day rule (credit), the hold rule, streams
unchecked, referenced STORE sizes, idempotent replays, forgetting, and nothing stored on refusal."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from credits.errors import (
    CannotPrice,
    ContentRefused,
    InsufficientBalance,
    InsufficientCredit,
    NotFound,
    ResourceConflict,
)
from credits.models import (
    Account,
    CostRow,
    Resource,
    ResourceStatus,
    ResourceStatusChange,
)
from credits.services.resources import resource_forget, resource_register
from credits.services.token_balances import token_balance_set
from pricing.content import parse_content
from pricing.costs import DAY_SECONDS, MIB_BYTES, amount_for_seconds, compute_costs
from pricing.estimates import PricingUnavailable
from pricing.selectors import pricing_in_force
from tests.pricing.contents import (
    CODE_REF,
    DATA_REF,
    RUNTIME_REF,
    STORE_REF,
    immutable_volume,
    instance_content,
    program_content,
    store_content,
)

from .conftest import ADDRESS, OTHER_ADDRESS, T0

pytestmark = pytest.mark.usefixtures("default_version")

# Worked example E1 paid by credit: 3.958333333333333333 credits per second.
E1_CREDIT_PER_SECOND = Decimal("3.958333333333333333")
E1_CREDIT_PER_DAY = Decimal("341999.9999999999999712")
E1_HOLD = Decimal(1000)


def item_hash(number: int) -> str:
    return f"{number:064x}"


def credit_instance(address=ADDRESS, **kwargs):
    return instance_content(payment="credit", address=address, **kwargs)


def register(number, content, message_type="INSTANCE", at=T0, actor="test"):
    return resource_register(item_hash=item_hash(number), message_type=message_type,
                             content=content, actor=actor, at=at)


def nothing_stored():
    return (Resource.objects.count(), CostRow.objects.count(),
            ResourceStatusChange.objects.count()) == (0, 0, 0)


def mark_removing(resource, at=T0):
    Resource.objects.filter(pk=resource.pk).update(
        status=ResourceStatus.REMOVING, removing_since=at, delete_after=at + timedelta(hours=24),
        removal_reason="credit_insufficient")


# --- credit: the one-day rule ------------------------------------------------------------------

def test_engine_agrees_with_the_worked_example_used_below():
    _, table = pricing_in_force()
    breakdown = compute_costs(parse_content("INSTANCE", credit_instance(), estimate=False), table)
    assert breakdown.credit_per_second == E1_CREDIT_PER_SECOND
    assert amount_for_seconds(breakdown.credit_per_second, DAY_SECONDS) == E1_CREDIT_PER_DAY


def test_credit_instance_is_registered_when_credits_cover_one_day(resources_grant):
    # given: one day of E1 rounded up to a whole credit
    resources_grant(ADDRESS, 342_000, at=T0 - timedelta(hours=1))

    # when
    result = register(1, credit_instance())

    # then
    assert result.created
    resource = Resource.objects.get(item_hash=item_hash(1))
    assert resource.status == ResourceStatus.PROCESSED
    assert resource.owner.address == ADDRESS
    assert resource.payment_type == "credit"
    assert resource.product_type == "instance"
    assert resource.cost_credit_per_second == E1_CREDIT_PER_SECOND
    assert resource.created_at == T0


def test_credit_instance_one_credit_short_is_refused_with_exact_numbers(resources_grant):
    # given: 341,999 credits, a fraction of a credit less than one day of E1
    resources_grant(ADDRESS, 341_999, at=T0 - timedelta(hours=1))

    # when
    with pytest.raises(InsufficientCredit) as refused:
        register(1, credit_instance())

    # then
    assert refused.value.status_code == 402
    assert refused.value.code == "insufficient_credit"
    assert refused.value.details == {"required_credits": "341999.999999999999971200",
                                     "account_credits": "341999", "min_runtime_days": "1"}
    assert nothing_stored()


def test_an_unknown_account_is_refused_and_not_created():
    with pytest.raises(InsufficientCredit) as refused:
        register(1, credit_instance())

    assert refused.value.details["account_credits"] == "0"
    assert nothing_stored()
    assert not Account.objects.filter(address=ADDRESS).exists()


def test_one_day_rule_counts_the_accounts_existing_credit_resources(resources_grant):
    # given: credits for exactly two days' worth of E1 (two E1 for one day each)
    resources_grant(ADDRESS, 684_000, at=T0 - timedelta(hours=1))
    register(1, credit_instance())
    register(2, credit_instance())

    # when: a third one
    with pytest.raises(InsufficientCredit) as refused:
        register(3, credit_instance())

    # then: the requirement is one day of all three
    assert Decimal(refused.value.details["required_credits"]) == amount_for_seconds(
        3 * E1_CREDIT_PER_SECOND, DAY_SECONDS)
    assert refused.value.details["required_credits"] == "1025999.999999999999913600"
    assert Resource.objects.count() == 2


def test_one_day_rule_counts_resources_in_removing(resources_grant):
    resources_grant(ADDRESS, 342_000, at=T0 - timedelta(hours=1))
    mark_removing(register(1, credit_instance()).resource)

    with pytest.raises(InsufficientCredit) as refused:
        register(2, credit_instance())

    assert refused.value.details["required_credits"] == "683999.999999999999942400"


def test_forgotten_and_removed_resources_no_longer_count_in_the_one_day_rule(resources_grant):
    resources_grant(ADDRESS, 342_000, at=T0 - timedelta(hours=1))
    register(1, credit_instance())
    resource_forget(item_hash=item_hash(1), actor="owner", at=T0)

    assert register(2, credit_instance()).created
    Resource.objects.filter(item_hash=item_hash(2)).update(status=ResourceStatus.REMOVED,
                                                               ended_at=timezone.now())
    assert register(3, credit_instance()).created


def test_one_day_rule_ignores_other_accounts_and_other_payment_types(resources_grant):
    resources_grant(ADDRESS, 342_000, at=T0 - timedelta(hours=1))
    resources_grant(OTHER_ADDRESS, 342_000, at=T0 - timedelta(hours=1))
    register(1, credit_instance(address=OTHER_ADDRESS))
    register(2, instance_content(payment="superfluid", address=ADDRESS))

    assert register(3, credit_instance()).created


def test_credits_expired_at_registration_time_do_not_count(resources_grant):
    resources_grant(ADDRESS, 1_000_000, expires_at=T0 + timedelta(hours=1),
                    at=T0 - timedelta(hours=1))

    assert register(1, credit_instance(), at=T0).created
    with pytest.raises(InsufficientCredit) as refused:
        register(2, credit_instance(), at=T0 + timedelta(hours=1))  # the lot expires exactly then
    assert refused.value.details["account_credits"] == "0"


def test_the_funding_horizon_comes_from_the_lifecycle_settings(resources_grant):
    from credits.selectors.lifecycle import lifecycle_settings_get

    horizon = lifecycle_settings_get()
    horizon.funding_horizon_hours = 48
    horizon.save()
    resources_grant(ADDRESS, 684_000, at=T0 - timedelta(hours=1))
    resources_grant(OTHER_ADDRESS, 683_999, at=T0 - timedelta(hours=1))

    assert register(1, credit_instance()).created
    with pytest.raises(InsufficientCredit) as refused:
        register(2, credit_instance(address=OTHER_ADDRESS))
    assert refused.value.details["min_runtime_days"] == "2"
    assert refused.value.details["required_credits"] == "683999.999999999999942400"


# --- hold: the token balance on the payment chain ----------------------------------------------

def test_hold_instance_needs_the_token_balance_on_its_chain():
    # given: enough tokens for one E1 on ETH, plenty on AVAX
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(1000), height=10,
                      actor="oracle")
    token_balance_set(address=ADDRESS, chain="AVAX", balance=Decimal(10**6), height=10,
                      actor="oracle")
    assert register(1, instance_content(payment="hold", address=ADDRESS)).created

    # when: a second one on ETH
    with pytest.raises(InsufficientBalance) as refused:
        register(2, instance_content(payment="hold", address=ADDRESS))

    # then: the AVAX tokens do not help
    assert refused.value.status_code == 402
    assert refused.value.details == {"required_balance": "2000.000000000000000000",
                                     "account_balance": "1000.000000000000000000"}
    assert Resource.objects.count() == 1

    # and one paid on AVAX uses the AVAX balance
    avax = instance_content(payment="hold", address=ADDRESS)
    avax["payment"]["chain"] = "AVAX"
    resource = register(3, avax).resource
    assert resource.payment_chain == "AVAX"
    assert resource.cost_hold == E1_HOLD


def test_hold_without_a_payment_is_checked_on_eth():
    with pytest.raises(InsufficientBalance) as refused:
        register(1, instance_content(payment=None, address=ADDRESS))
    assert refused.value.details["account_balance"] == "0.000000000000000000"

    token_balance_set(address=ADDRESS, chain="eth", balance=Decimal(1000), height=1,
                      actor="oracle")
    resource = register(1, instance_content(payment=None, address=ADDRESS)).resource
    assert (resource.payment_type, resource.payment_chain) == ("hold", "ETH")


def test_hold_rule_counts_removing_but_not_forgotten_resources():
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(1000), height=1,
                      actor="oracle")
    first = register(1, instance_content(payment="hold", address=ADDRESS)).resource
    mark_removing(first)
    with pytest.raises(InsufficientBalance):
        register(2, instance_content(payment="hold", address=ADDRESS))

    resource_forget(item_hash=first.item_hash, actor="owner")
    assert register(2, instance_content(payment="hold", address=ADDRESS)).created


# --- stream: stored, not checked ---------------------------------------------------------------

def test_stream_instance_is_stored_without_any_balance():
    result = register(1, instance_content(payment="superfluid", address=ADDRESS))

    resource = result.resource
    assert result.created
    assert (resource.payment_type, resource.payment_chain) == ("superfluid", "BASE")
    assert resource.cost_stream_per_second == Decimal("0.000015277777777777")


# --- costs equal the engine's ------------------------------------------------------------------

def test_cost_rows_and_totals_are_the_engines(resources_grant):
    resources_grant(ADDRESS, 10**9, at=T0 - timedelta(hours=1))
    content = credit_instance(vcpus=2, memory=4096, rootfs_size_mib=40960)
    version, table = pricing_in_force()
    expected = compute_costs(parse_content("INSTANCE", content, estimate=False), table,
                             item_hash=item_hash(1))

    resource = register(1, content).resource

    rows = list(CostRow.objects.filter(resource=resource).order_by("position"))
    assert [(r.type, r.name, r.ref, r.cost_hold, r.cost_stream_per_second,
             r.cost_credit_per_second, r.size_mib) for r in rows] == [
        (r.type, r.name, r.ref, r.cost_hold, r.cost_stream_per_second, r.cost_credit_per_second,
         r.size_mib) for r in expected.rows]
    assert [r.position for r in rows] == list(range(len(expected.rows)))
    assert {r.pricing_version_id for r in rows} == {version.pk}
    resource.refresh_from_db()
    assert resource.pricing_version_id == version.pk
    assert resource.cost_hold == expected.hold_total
    assert resource.cost_stream_per_second == expected.stream_per_second
    assert resource.cost_credit_per_second == expected.credit_per_second
    assert resource.product_type == expected.product_type


def test_registration_writes_an_audit_row(resources_grant):
    resources_grant(ADDRESS, 342_000, at=T0 - timedelta(hours=1))

    resource = register(1, credit_instance(), actor="api-key:abc (owner: test)").resource

    change = ResourceStatusChange.objects.get(resource=resource)
    assert (change.from_status, change.to_status, change.actor, change.at) == (
        "", ResourceStatus.PROCESSED, "api-key:abc (owner: test)", T0)


# --- referenced STORE files --------------------------------------------------------------------

def _store(number_or_hash, size_bytes, payment="hold"):
    hash_ = number_or_hash if isinstance(number_or_hash, str) else item_hash(number_or_hash)
    return resource_register(item_hash=hash_, message_type="STORE",
                             content=store_content(size=size_bytes, payment=payment,
                                                   address=ADDRESS, item_hash=item_hash(999)),
                             actor="test", at=T0)


def test_a_store_keeps_its_size_in_mib():
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10**6), height=1,
                      actor="oracle")

    resource = _store(1, 1_572_864).resource

    assert resource.size_mib == Decimal("1.5")
    assert resource.product_type == "storage"
    assert resource.cost_hold == Decimal("0.4999999995")


def test_a_program_referencing_registered_stores_is_priced_with_their_sizes():
    # given: code, runtime and data files registered as STORE resources
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10**6), height=1,
                      actor="oracle")
    sizes_bytes = {CODE_REF: 3 * MIB_BYTES + 1, RUNTIME_REF: 1024 * MIB_BYTES,
                   DATA_REF: 2048 * MIB_BYTES, STORE_REF: 512 * MIB_BYTES}
    for ref, size in sizes_bytes.items():
        _store(ref, size)
    content = program_content(with_data=True, volumes=[immutable_volume(STORE_REF, mount="/m")],
                              address=ADDRESS)

    # when
    resource = register(1, content, message_type="PROGRAM").resource

    # then: each row has the referenced file's size (stored with 18 of its 20 decimals)
    rows = {row.ref: row for row in resource.cost_rows.all() if row.ref}
    assert abs(rows[CODE_REF].size_mib - Decimal(3 * MIB_BYTES + 1) / MIB_BYTES) < Decimal("1e-18")
    assert rows[RUNTIME_REF].size_mib == 1024
    assert rows[DATA_REF].size_mib == 2048
    assert rows[STORE_REF].size_mib == 512
    # and the costs are the engine's with the exact sizes
    _, table = pricing_in_force()
    expected = compute_costs(
        parse_content("PROGRAM", content, estimate=False), table,
        ref_sizes_mib={ref: Decimal(size) / MIB_BYTES for ref, size in sizes_bytes.items()})
    assert [(row.cost_hold, row.cost_stream_per_second, row.cost_credit_per_second)
            for row in resource.cost_rows.order_by("position")] == [
        (row.cost_hold, row.cost_stream_per_second, row.cost_credit_per_second)
        for row in expected.rows]
    assert resource.cost_hold == expected.hold_total


def test_an_unknown_reference_is_a_clear_422():
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10**6), height=1,
                      actor="oracle")

    with pytest.raises(CannotPrice) as refused:
        register(1, program_content(address=ADDRESS), message_type="PROGRAM")

    assert refused.value.status_code == 422
    assert refused.value.code == "unknown_volume_size"
    assert refused.value.details["ref"] == CODE_REF
    assert nothing_stored()


def test_a_forgotten_store_is_no_longer_a_known_reference():
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10**6), height=1,
                      actor="oracle")
    _store(STORE_REF, MIB_BYTES)
    resource_forget(item_hash=STORE_REF, actor="owner")
    content = instance_content(volumes=[immutable_volume(STORE_REF)], address=ADDRESS)

    with pytest.raises(CannotPrice) as refused:
        register(1, content)
    assert refused.value.details["ref"] == STORE_REF


# --- replays and conflicts ---------------------------------------------------------------------

def test_an_identical_registration_is_a_replay(resources_grant):
    resources_grant(ADDRESS, 342_000, at=T0 - timedelta(hours=1))
    first = register(1, credit_instance())

    # the account could not afford a second one: a replay is not a new registration
    again = register(1, credit_instance(), at=T0 + timedelta(minutes=5))

    assert not again.created
    assert again.resource.pk == first.resource.pk
    assert (Resource.objects.count(), ResourceStatusChange.objects.count()) == (1, 1)


def test_a_replay_with_decimal_numbers_in_the_content_is_recognised(resources_grant):
    resources_grant(ADDRESS, 342_000, at=T0 - timedelta(hours=1))
    content = credit_instance(time=Decimal("1731456000.123"))
    register(1, content)

    assert not register(1, credit_instance(time=Decimal("1731456000.123"))).created
    with pytest.raises(ResourceConflict):
        register(1, credit_instance(time=Decimal("1731456000.124")))


@pytest.mark.parametrize("change", ["content", "type", "owner"])
def test_the_same_item_hash_with_something_else_is_a_conflict(resources_grant, change):
    resources_grant(ADDRESS, 10**7, at=T0 - timedelta(hours=1))
    resources_grant(OTHER_ADDRESS, 10**7, at=T0 - timedelta(hours=1))
    register(1, credit_instance())
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10**6), height=1,
                      actor="oracle")
    message_type, content = {
        "content": ("INSTANCE", credit_instance(vcpus=2)),
        "type": ("STORE", store_content(size=1024, payment="hold", address=ADDRESS)),
        "owner": ("INSTANCE", credit_instance(address=OTHER_ADDRESS)),
    }[change]

    with pytest.raises(ResourceConflict) as conflict:
        register(1, content, message_type=message_type)

    assert conflict.value.status_code == 409
    assert Resource.objects.count() == 1


# --- refused contents --------------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    {},
    instance_content(payment="credit", address=ADDRESS, resources={"vcpus": -1, "memory": 1}),
    instance_content(payment="credit", address="not an address!"),
    instance_content(payment=None, address=ADDRESS) | {
        "payment": {"type": "bitcoin", "chain": "ETH"}},
    instance_content(payment="credit", address=ADDRESS, time=Decimal("1e400")),
])
def test_invalid_contents_are_refused_with_422_and_nothing_stored(content):
    with pytest.raises(ContentRefused) as refused:
        register(1, content)
    assert refused.value.status_code == 422
    assert nothing_stored()


def test_estimated_sizes_do_not_size_a_registered_program():
    content = program_content(code_size_mib=10, runtime_size_mib=10, address=ADDRESS)
    with pytest.raises((ContentRefused, CannotPrice)) as refused:
        register(1, content, message_type="PROGRAM")
    assert refused.value.status_code == 422
    assert nothing_stored()


def test_no_pricing_in_force_is_a_503(monkeypatch):
    import credits.selectors.resources as selectors

    monkeypatch.setattr(selectors, "pricing_in_force", lambda: (None, None))
    with pytest.raises(PricingUnavailable) as refused:
        register(1, credit_instance())
    assert (refused.value.status_code, refused.value.code) == (503, "pricing_unavailable")


# --- forgetting --------------------------------------------------------------------------------

def test_forgetting_is_audited_and_idempotent(resources_grant):
    resources_grant(ADDRESS, 342_000, at=T0 - timedelta(hours=1))
    register(1, credit_instance())

    forgotten = resource_forget(item_hash=item_hash(1), actor="owner", at=T0 + timedelta(hours=2))
    again = resource_forget(item_hash=item_hash(1), actor="owner", at=T0 + timedelta(hours=3))

    assert forgotten.status == again.status == ResourceStatus.FORGOTTEN
    assert again.ended_at == T0 + timedelta(hours=2)
    changes = list(ResourceStatusChange.objects.filter(resource=forgotten).order_by("at"))
    assert [(c.from_status, c.to_status) for c in changes] == [
        ("", "processed"), ("processed", "forgotten")]


def test_a_removing_resource_can_be_forgotten(resources_grant):
    resources_grant(ADDRESS, 342_000, at=T0 - timedelta(hours=1))
    mark_removing(register(1, credit_instance()).resource)

    assert resource_forget(item_hash=item_hash(1), actor="owner").status == "forgotten"
    assert ResourceStatusChange.objects.filter(from_status="removing",
                                               to_status="forgotten").count() == 1


def test_a_removed_resource_cannot_be_forgotten(resources_grant):
    resources_grant(ADDRESS, 342_000, at=T0 - timedelta(hours=1))
    register(1, credit_instance())
    Resource.objects.filter(item_hash=item_hash(1)).update(status=ResourceStatus.REMOVED,
                                                               ended_at=timezone.now())

    with pytest.raises(ResourceConflict):
        resource_forget(item_hash=item_hash(1), actor="owner")
    assert Resource.objects.get(item_hash=item_hash(1)).status == ResourceStatus.REMOVED


def test_forgetting_an_unknown_resource_is_not_found():
    with pytest.raises(NotFound):
        resource_forget(item_hash=item_hash(42), actor="owner")


@pytest.mark.parametrize("bad_hash", ["", "xyz", "A" * 64, "a" * 63, None, "Qm" + "0" * 44])
def test_an_item_hash_that_is_not_the_networks_is_refused(bad_hash):
    from credits.errors import InvalidInput

    with pytest.raises(InvalidInput):
        resource_register(item_hash=bad_hash, message_type="INSTANCE", content=credit_instance(),
                          actor="test", at=T0)
    assert nothing_stored()
