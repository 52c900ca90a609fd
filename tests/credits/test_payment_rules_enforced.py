"""The pricing version's payment rules where the network applies them: registration refuses a
payment type a rule refuses at the registration instant (422 payment_type_not_accepted, naming
the rule and its date, nothing stored), and affordability says so; credit is always accepted."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import time_machine

from credits.errors import PaymentTypeNotAccepted
from credits.models import CostRow, Resource
from credits.services.resources import resource_register
from credits.services.token_balances import token_balance_set
from pricing.models import PaymentRule
from pricing.rules import DEFAULT_PAYMENT_RULES
from pricing.selectors import pricing_cache_invalidate, pricing_version_in_force
from pricing.services import pricing_version_copy, pricing_version_publish
from tests.pricing.contents import (
    CODE_REF,
    RUNTIME_REF,
    instance_content,
    program_content,
    store_content,
)

from .conftest import ADDRESS

UTC = timezone.utc
D1 = datetime(2026, 3, 11, tzinfo=UTC)  # hold and stream refused for instances, persistent VMs
D2 = datetime(2027, 1, 1, tzinfo=UTC)  # credit only for every product
SECOND = timedelta(seconds=1)
RICH = 10**12


@pytest.fixture
def network_rules(default_version):
    """The version in force holds exactly the network's two payment rules."""
    default_version.payment_rules.all().delete()
    for rule in DEFAULT_PAYMENT_RULES:
        PaymentRule.objects.create(version=default_version, name=rule.name,
                                   product_types=list(rule.product_types),
                                   payment_types=list(rule.payment_types),
                                   not_accepted_from=rule.not_accepted_from)
    pricing_cache_invalidate()
    return default_version


@pytest.fixture
def funded(network_rules, account, resources_grant):
    """ADDRESS has credits and tokens on ETH for anything these tests register."""
    resources_grant(ADDRESS, RICH, at=D1 - timedelta(days=30))
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(RICH), height=1,
                      actor="oracle")


def item_hash(number: int) -> str:
    return f"{number:064x}"


def register(number, content, at, message_type="INSTANCE"):
    return resource_register(item_hash=item_hash(number), message_type=message_type,
                             content=content, actor="test", at=at)


def stored():
    return Resource.objects.count(), CostRow.objects.count()


@pytest.fixture
def program_files(funded):
    """The code and runtime files of `program_content`, registered as STORE resources."""
    for ref in (CODE_REF, RUNTIME_REF):
        resource_register(item_hash=ref, message_type="STORE",
                          content=store_content(size=1_048_576, payment="credit",
                                                address=ADDRESS, item_hash=ref),
                          actor="test", at=D1 - timedelta(days=1))


# --- registration --------------------------------------------------------------------------------

def test_a_hold_instance_is_registered_until_the_cutoff_and_refused_from_it(funded):
    assert register(1, instance_content(payment="hold", address=ADDRESS), D1 - SECOND).created
    before = stored()

    with pytest.raises(PaymentTypeNotAccepted) as caught:
        register(2, instance_content(payment="hold", address=ADDRESS), D1)

    error = caught.value
    assert (error.status_code, error.code) == (422, "payment_type_not_accepted")
    assert error.details == {"rule": "hold_and_stream_deprecated", "product_type": "instance",
                             "payment_type": "hold",
                             "not_accepted_from": "2026-03-11T00:00:00+00:00",
                             "accepted_payment_types": ["credit"]}
    assert "since 2026-03-11 00:00 UTC" in error.message
    assert stored() == before


@pytest.mark.parametrize("content, product_type", [
    (instance_content(payment="superfluid", address=ADDRESS), "instance"),
    (instance_content(payment="hold", address=ADDRESS, confidential=True),
     "instance_confidential"),
    (instance_content(payment="superfluid", address=ADDRESS, confidential=True),
     "instance_confidential"),
], ids=["stream-instance", "hold-confidential", "stream-confidential"])
def test_hold_and_stream_instances_are_refused_after_the_first_cutoff(funded, content,
                                                                     product_type):
    with pytest.raises(PaymentTypeNotAccepted) as caught:
        register(3, content, D1 + timedelta(days=1))

    assert (caught.value.details["rule"], caught.value.details["product_type"]) == (
        "hold_and_stream_deprecated", product_type)
    assert not Resource.objects.filter(item_hash=item_hash(3)).exists()


def test_a_persistent_program_paid_by_hold_is_refused_after_the_first_cutoff(program_files):
    content = program_content(payment="hold", persistent=True, address=ADDRESS)

    assert register(4, content, D1 - SECOND, "PROGRAM").created
    with pytest.raises(PaymentTypeNotAccepted) as caught:
        register(5, content, D1, "PROGRAM")

    assert caught.value.details["product_type"] == "program_persistent"


def test_an_on_demand_program_keeps_hold_until_credit_only(program_files):
    content = program_content(payment="hold", address=ADDRESS)

    assert register(6, content, D1 + timedelta(days=1), "PROGRAM").created
    assert register(7, content, D2 - SECOND, "PROGRAM").created
    with pytest.raises(PaymentTypeNotAccepted) as caught:
        register(8, content, D2, "PROGRAM")

    assert caught.value.details == {"rule": "credit_only", "product_type": "program",
                                    "payment_type": "hold",
                                    "not_accepted_from": "2027-01-01T00:00:00+00:00",
                                    "accepted_payment_types": ["credit"]}


def test_a_store_keeps_hold_until_credit_only(funded):
    def store(number, at):
        content = store_content(size=1_048_576, payment="hold", address=ADDRESS,
                                item_hash=item_hash(number))
        return register(number, content, at, "STORE")

    assert store(9, D2 - SECOND).created
    with pytest.raises(PaymentTypeNotAccepted) as caught:
        store(10, D2)

    assert (caught.value.details["rule"], caught.value.details["product_type"]) == (
        "credit_only", "storage")


@pytest.mark.parametrize("at", [D1, D2, D2 + timedelta(days=365)])
def test_a_credit_paid_instance_is_accepted_after_every_cutoff(funded, at):
    result = register(11, instance_content(payment="credit", address=ADDRESS), at)

    assert result.created
    assert result.resource.payment_type == "credit"


def test_a_replay_after_the_cutoff_answers_the_resource_registered_before_it(funded):
    content = instance_content(payment="hold", address=ADDRESS)
    first = register(12, content, D1 - SECOND)

    replay = register(12, content, D1 + timedelta(days=1))

    assert (replay.created, replay.resource.pk) == (False, first.resource.pk)


def test_the_rules_are_those_of_the_version_in_force(funded, time_machine):
    # given a version in force whose first cutoff staff moved to the second's date
    time_machine.move_to(D1 + timedelta(days=1), tick=False)
    draft = pricing_version_copy(version=pricing_version_in_force())
    draft.payment_rules.filter(name="hold_and_stream_deprecated").update(not_accepted_from=D2)
    pricing_version_publish(version=draft)
    pricing_cache_invalidate()

    # then a hold instance is accepted after the network's date, and refused after the new one
    assert register(13, instance_content(payment="hold", address=ADDRESS),
                    D1 + timedelta(days=1)).created
    with pytest.raises(PaymentTypeNotAccepted):
        register(14, instance_content(payment="hold", address=ADDRESS), D2)


# --- the API -------------------------------------------------------------------------------------

@pytest.fixture
def after_first_cutoff(time_machine):
    time_machine.move_to(D1 + timedelta(days=1), tick=False)


@pytest.fixture
def before_first_cutoff(time_machine):
    time_machine.move_to(D1 - timedelta(days=1), tick=False)


def test_the_registration_api_answers_422_naming_the_rule_and_its_date(funded, client_as,
                                                                       after_first_cutoff):
    before = stored()

    response = client_as("owner").post(
        "/api/v1/resources", {"item_hash": item_hash(20), "type": "INSTANCE",
                              "content": instance_content(payment="superfluid",
                                                          address=ADDRESS)}, format="json")

    assert response.status_code == 422, response.content[:500]
    assert response.json() == {"error": {
        "code": "payment_type_not_accepted",
        "message": "superfluid payment is not accepted for instance since 2026-03-11 00:00 UTC "
                   "(payment rule “hold_and_stream_deprecated”); pay with credit.",
        "details": {"rule": "hold_and_stream_deprecated", "product_type": "instance",
                    "payment_type": "superfluid",
                    "not_accepted_from": "2026-03-11T00:00:00+00:00",
                    "accepted_payment_types": ["credit"]}}}
    assert stored() == before


def affordability(client, content, message_type="INSTANCE"):
    response = client.post(f"/api/v1/accounts/{ADDRESS}/affordability",
                           {"type": message_type, "content": content}, format="json")
    assert response.status_code == 200, response.content[:500]
    return response.json()


def test_affordability_says_a_hold_instance_is_not_accepted_whatever_the_balance(
        funded, api_client, after_first_cutoff):
    answer = affordability(api_client, instance_content(payment="hold"))

    # the balance would cover it, the rule refuses it
    assert answer["affordable"] is False
    assert answer["payment_type"] == "hold"
    assert answer["shortfall"] == "0.000000000000000000"
    assert answer["refusal"]["code"] == "payment_type_not_accepted"
    assert answer["refusal"]["details"]["rule"] == "hold_and_stream_deprecated"
    assert answer["refusal"]["details"]["not_accepted_from"] == "2026-03-11T00:00:00+00:00"
    assert "pay with credit" in answer["refusal"]["message"]


def test_affordability_says_a_stream_instance_is_not_accepted(network_rules, api_client,
                                                              after_first_cutoff):
    answer = affordability(api_client, instance_content(payment="superfluid"))

    assert (answer["affordable"], answer["refusal"]["details"]["payment_type"]) == (
        False, "superfluid")


def test_affordability_of_a_hold_instance_before_the_cutoff_has_no_refusal(funded, api_client,
                                                                           before_first_cutoff):
    answer = affordability(api_client, instance_content(payment="hold"))

    assert answer["affordable"] is True
    assert "refusal" not in answer


def test_affordability_of_a_credit_instance_after_the_cutoffs_has_no_refusal(funded, api_client,
                                                                             time_machine):
    time_machine.move_to(D2 + timedelta(days=1), tick=False)

    answer = affordability(api_client, instance_content(payment="credit"))

    assert answer["affordable"] is True
    assert "refusal" not in answer


def test_an_estimate_prices_a_refused_payment_type_and_says_registration_refuses_it(
        network_payment_rules, client):
    # given: the network's rules in force (hold refused for instances since the first cut-off)
    from pricing.rules import HOLD_AND_STREAM_CUTOFF
    from tests.pricing.contents import instance_content

    body = {"type": "INSTANCE", "content": instance_content(payment="hold")}

    # when: estimated after the cut-off, and before it
    with time_machine.travel(HOLD_AND_STREAM_CUTOFF + timedelta(days=1), tick=False):
        after = client.post("/api/v1/estimates", body, content_type="application/json").json()
    with time_machine.travel(HOLD_AND_STREAM_CUTOFF - timedelta(days=1), tick=False):
        before = client.post("/api/v1/estimates", body, content_type="application/json").json()

    # then: both priced alike; only after the cut-off is registration said to refuse it
    assert after["cost"] == before["cost"] and after["payment_type"] == "hold"
    assert after["payment_type_accepted"] is False
    assert after["payment_refusal"]["code"] == "payment_type_not_accepted"
    assert after["payment_refusal"]["details"]["rule"] == "hold_and_stream_deprecated"
    assert before["payment_type_accepted"] is True and "payment_refusal" not in before
