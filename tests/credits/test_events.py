"""The outbox: each announced change writes its event in its own transaction (set-based in the
lifecycle's statement), with the payload docs/api.md documents; none for a change rolled back."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from credits.events import EVENT_SCHEMA_VERSION, event_type_of
from credits.models import Event, EventType, LifecycleRun, Resource, ResourceStatus
from credits.selectors.lifecycle import shortfalls_by_resource
from credits.services.operator import resource_delete_now, resource_extend_grace, resource_restore
from credits.services.resources import resource_forget
from credits.services.token_balances import token_balance_set
from pricing.costs import format_amount
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0
from tests.credits.test_lifecycle import E1_PER_DAY, HOUR, grant, register, run
from tests.pricing.contents import instance_content

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _time_travel_allowed(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    settings.WEBHOOKS_KICK_ON_COMMIT = False


def events_of(resource) -> list[Event]:
    return list(Event.objects.filter(resource_id=resource.pk).order_by("id"))


def types_of(resource) -> list[str]:
    return [event.type for event in events_of(resource)]


def test_a_registration_writes_a_registered_event_with_the_resource_and_its_owner():
    grant(ADDRESS, E1_PER_DAY, T0)

    vm = register(T0)

    [event] = events_of(vm)
    assert event.type == EventType.RESOURCE_REGISTERED
    assert event.occurred_at == T0
    assert event.account_id == vm.owner_id and event.schema_version == EVENT_SCHEMA_VERSION
    assert event.payload == {
        "item_hash": vm.item_hash, "owner": ADDRESS, "type": "INSTANCE",
        "payment_type": "credit", "payment_chain": vm.payment_chain, "from_status": None,
        "status": "processed", "reason": "registered", "removal_reason": None,
        "removing_since": None, "delete_after": None, "ended_at": None}
    assert event.public_id == f"evt_{event.pk}"


def test_the_lifecycle_writes_flagged_restored_and_removed_events_with_deadline_and_shortfall():
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)

    flagging = run(T0 + HOUR)

    flagged = events_of(vm)[-1]
    vm.refresh_from_db()
    assert flagged.type == EventType.RESOURCE_FLAGGED
    assert flagged.occurred_at == T0 + HOUR
    assert flagged.payload["delete_after"] == vm.delete_after.isoformat()
    assert flagged.payload["removing_since"] == (T0 + HOUR).isoformat()
    assert flagged.payload["removal_reason"] == "credit_insufficient"
    assert flagged.payload["reason"] == "credit_insufficient"
    assert (flagged.payload["from_status"], flagged.payload["status"]) == ("processed",
                                                                           "removing")
    # the shortfall of the set-based statement is the selector's (the one rule)
    expected = shortfalls_by_resource(resources=[vm], at=T0 + HOUR)[vm.pk]
    assert flagged.payload["shortfall"] == {
        "unit": "credits", "chain": "", "amount": format_amount(expected.amount),
        "required": format_amount(expected.required),
        "available": format_amount(expected.available)}
    assert Decimal(flagged.payload["shortfall"]["amount"]) > 0
    assert flagging.flagged == 1

    # restored by a top-up, flagged again, removed at the deadline
    grant(ADDRESS, 2 * E1_PER_DAY, T0 + 2 * HOUR)
    run(T0 + 2 * HOUR + timedelta(minutes=1))
    assert types_of(vm)[-1] == EventType.RESOURCE_RESTORED
    assert events_of(vm)[-1].payload["reason"] == "funded"
    run(T0 + 60 * HOUR)
    run(T0 + 90 * HOUR)
    assert types_of(vm) == [EventType.RESOURCE_REGISTERED, EventType.RESOURCE_FLAGGED,
                            EventType.RESOURCE_RESTORED, EventType.RESOURCE_FLAGGED,
                            EventType.RESOURCE_REMOVED]
    vm.refresh_from_db()
    removed = events_of(vm)[-1]
    assert removed.payload["ended_at"] == vm.ended_at.isoformat()
    assert removed.payload["reason"] == "grace_expired"


def test_a_hold_resource_flagged_says_its_token_shortfall_on_its_chain(network_payment_rules,
                                                                      settings):
    from pricing.models import PaymentRule

    PaymentRule.objects.all().delete()  # hold is refused by the network's cut-off otherwise
    from pricing.selectors import pricing_cache_invalidate
    pricing_cache_invalidate()
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal("100000"), height=1,
                      actor="test")
    content = instance_content(payment="hold")
    content["address"] = ADDRESS
    from credits.services.resources import resource_register
    vm = resource_register(item_hash="c" * 64, message_type="INSTANCE", content=content,
                           actor="test", at=T0).resource
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal("1"), height=2,
                      actor="test")

    run(T0 + HOUR)

    flagged = events_of(vm)[-1]
    assert flagged.type == EventType.RESOURCE_FLAGGED
    expected = shortfalls_by_resource(resources=[vm], at=T0 + HOUR)[vm.pk]
    assert flagged.payload["shortfall"] == {
        "unit": "tokens", "chain": "ETH", "amount": format_amount(expected.amount),
        "required": format_amount(expected.required),
        "available": format_amount(expected.available)}


def test_the_owner_forgetting_writes_a_forgotten_event():
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)

    resource_forget(item_hash=vm.item_hash, actor="owner", at=T0 + HOUR)

    assert types_of(vm) == [EventType.RESOURCE_REGISTERED, EventType.RESOURCE_FORGOTTEN]
    assert events_of(vm)[-1].payload["ended_at"] == (T0 + HOUR).isoformat()


def test_the_operators_desk_writes_grace_extended_restored_and_removed_events():
    grant(ADDRESS, E1_PER_DAY, T0)
    grant(OTHER_ADDRESS, E1_PER_DAY, T0)
    first, second = register(T0), register(T0, address=OTHER_ADDRESS)
    run(T0 + HOUR)
    assert Resource.objects.get(pk=first.pk).status == ResourceStatus.REMOVING
    deadline = Resource.objects.get(pk=first.pk).delete_after

    resource_extend_grace(item_hash=first.item_hash, hours=5, reason="asked", actor="op",
                          at=T0 + 2 * HOUR)

    extended = events_of(first)[-1]
    assert extended.type == EventType.RESOURCE_GRACE_EXTENDED
    assert extended.occurred_at == T0 + 2 * HOUR and extended.account_id == first.owner_id
    assert extended.payload["delete_after"] == (deadline + timedelta(hours=5)).isoformat()
    assert (extended.payload["from_status"], extended.payload["status"]) == ("removing",
                                                                             "removing")
    assert extended.payload["reason"].startswith("grace extended by 5 h to ")
    assert extended.payload["reason"].endswith(": asked")
    grant(ADDRESS, 5 * E1_PER_DAY, T0 + 2 * HOUR)
    resource_restore(item_hash=first.item_hash, actor="op", at=T0 + 2 * HOUR)
    resource_delete_now(item_hash=second.item_hash, actor="op", reason="abuse",
                        at=T0 + 2 * HOUR)

    assert types_of(first)[-1] == EventType.RESOURCE_RESTORED
    assert types_of(second)[-1] == EventType.RESOURCE_REMOVED
    assert events_of(second)[-1].payload["reason"] == "deleted now: abuse"


def test_no_event_is_written_for_a_change_that_is_rolled_back():
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)
    before = Event.objects.count()

    with pytest.raises(RuntimeError), transaction.atomic():
        resource_forget(item_hash=vm.item_hash, actor="owner", at=T0 + HOUR)
        assert Event.objects.count() == before + 1
        raise RuntimeError("rolled back")

    assert Event.objects.count() == before
    assert Resource.objects.get(pk=vm.pk).status == ResourceStatus.PROCESSED


def test_a_dry_run_leaves_no_event():
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)

    dry = run(T0 + HOUR, dry_run=True)

    assert dry.flagged == 1
    assert types_of(vm) == [EventType.RESOURCE_REGISTERED]
    assert not Event.objects.filter(type=EventType.LIFECYCLE_RUN_FINISHED).exists()


def test_a_lifecycle_batch_that_fails_leaves_no_event_of_its_moves(monkeypatch):
    from credits.services.lifecycle import run as run_module

    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)
    real_finalise = run_module.finalise

    def failing_finalise(cursor, batch):
        real_finalise(cursor, batch)
        raise RuntimeError("the batch fails after flagging")
    monkeypatch.setattr(run_module, "finalise", failing_finalise)

    failed = run(T0 + HOUR)

    assert failed.errors == 1
    assert types_of(vm) == [EventType.RESOURCE_REGISTERED]


def test_a_finished_run_is_announced_with_its_counts_to_the_operators():
    grant(ADDRESS, E1_PER_DAY, T0)
    register(T0)

    done = run(T0 + HOUR)

    [event] = Event.objects.filter(type=EventType.LIFECYCLE_RUN_FINISHED)
    assert event.account_id is None and event.resource_id is None
    assert event.payload["run"] == done.pk and event.payload["status"] == "succeeded"
    assert event.payload["flagged"] == 1 and event.payload["credits_charged"] == str(
        LifecycleRun.objects.get(pk=done.pk).credits_charged)
    assert event.occurred_at == LifecycleRun.objects.get(pk=done.pk).finished_at


def test_each_move_of_the_status_machine_maps_to_its_event():
    S = ResourceStatus
    assert event_type_of(from_status="", to_status=S.PROCESSED) == EventType.RESOURCE_REGISTERED
    assert event_type_of(from_status=S.PROCESSED, to_status=S.REMOVING) \
        == EventType.RESOURCE_FLAGGED
    assert event_type_of(from_status=S.REMOVING, to_status=S.PROCESSED) \
        == EventType.RESOURCE_RESTORED
    assert event_type_of(from_status=S.REMOVING, to_status=S.REMOVED) \
        == EventType.RESOURCE_REMOVED
    assert event_type_of(from_status=S.PROCESSED, to_status=S.FORGOTTEN) \
        == EventType.RESOURCE_FORGOTTEN
    assert event_type_of(from_status=S.REMOVING, to_status=S.REMOVING) \
        == EventType.RESOURCE_GRACE_EXTENDED


def test_the_events_of_one_lifecycle_statement_are_one_per_resource_moved():
    for number in range(30):
        address = f"0x{number + 1:040x}"
        grant(address, E1_PER_DAY, T0)
        register(T0, address=address)

    flagging = run(T0 + HOUR)

    assert flagging.flagged == 30
    flagged = Event.objects.filter(type=EventType.RESOURCE_FLAGGED)
    assert flagged.count() == 30
    assert sorted(flagged.values_list("resource_id", flat=True)) == sorted(flagging.counts
                                                                           .flagged_ids)
    # one transaction: one xid for the whole batch
    assert flagged.values("xid").distinct().count() == 1
