"""The resources API: register (owner key), read (anyone), forget (owner key), affordability
(anyone), with the error shape for every refusal and hostile bodies that change nothing."""
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from credits.models import Resource, ResourceStatus, ResourceStatusChange, TokenBalance
from credits.services.resources import resource_register
from credits.services.token_balances import token_balance_set
from pricing.content import parse_content
from pricing.costs import compute_costs
from pricing.selectors import pricing_in_force
from tests.pricing.contents import (
    STORE_REF,
    immutable_volume,
    instance_content,
    program_content,
    store_content,
)

from .conftest import ADDRESS, OTHER_ADDRESS

pytestmark = pytest.mark.usefixtures("default_version")

HASH = "ab" * 32
URL = "/api/v1/resources"


def credit_instance(address=ADDRESS, **kwargs):
    return instance_content(payment="credit", address=address, **kwargs)


def body(content=None, item_hash=HASH, message_type="INSTANCE"):
    return {"item_hash": item_hash, "type": message_type,
            "content": credit_instance() if content is None else content}


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content[:500]
    payload = response.json()
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"code", "message", "details"}
    assert payload["error"]["message"]
    if code is not None:
        assert payload["error"]["code"] == code, payload
    return payload["error"]


@pytest.fixture
def owner(client_as):
    return client_as("owner")


@pytest.fixture
def funded(resources_grant, account):
    """ADDRESS holds exactly one day of E1 paid by credit (342,000 credits)."""
    resources_grant(ADDRESS, 342_000)


# --- POST resources ----------------------------------------------------------------------------

def test_registration_answers_201_with_the_resource_as_get_shows_it(owner, client, funded):
    response = owner.post(URL, body(), format="json")

    assert response.status_code == 201, response.content
    created = response.json()
    assert created == client.get(f"{URL}/{HASH}").json()
    assert created["item_hash"] == HASH
    assert created["owner"] == ADDRESS
    assert created["status"] == "processed"
    assert created["payment_type"] == "credit"
    assert created["product_type"] == "instance"
    assert created["costs"] == {
        "cost_hold": "1000.000000000000000000",
        "cost_stream_per_second": "0.000015277777777777",
        "cost_credit_per_second": "3.958333333333333333",
        "cost_credit_per_hour": "14249.999999999999998800",
        "cost_credit_per_day": "341999.999999999999971200",
    }
    assert [row["type"] for row in created["rows"]] == [
        "EXECUTION", "EXECUTION_INSTANCE_VOLUME_ROOTFS", "EXECUTION_VOLUME_DISCOUNT"]
    assert created["removal_reason"] is None and created["delete_after"] is None


def test_a_replayed_registration_answers_200_with_the_same_resource(owner, funded):
    first = owner.post(URL, body(), format="json")
    again = owner.post(URL, body(), format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Resource.objects.count() == 1


def test_the_same_item_hash_with_another_content_is_a_409(owner, resources_grant, funded):
    resources_grant(ADDRESS, 10**7)
    owner.post(URL, body(), format="json")

    response = owner.post(URL, body(credit_instance(vcpus=2)), format="json")

    assert_error(response, 409, "resource_conflict")
    assert Resource.objects.count() == 1


def test_an_unfunded_registration_is_a_402_with_exact_numbers(owner, resources_grant, account):
    resources_grant(ADDRESS, 341_999)

    response = owner.post(URL, body(), format="json")

    error = assert_error(response, 402, "insufficient_credit")
    assert error["details"] == {"required_credits": "341999.999999999999971200",
                                "account_credits": "341999", "min_runtime_days": "1"}
    assert (Resource.objects.count(), ResourceStatusChange.objects.count()) == (0, 0)


def test_a_hold_registration_beyond_the_token_balance_is_a_402(owner, account):
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal("999.5"), height=3,
                      actor="oracle")

    response = owner.post(URL, body(instance_content(payment="hold", address=ADDRESS)),
                          format="json")

    error = assert_error(response, 402, "insufficient_balance")
    assert error["details"] == {"required_balance": "1000.000000000000000000",
                                "account_balance": "999.500000000000000000"}


def test_an_unknown_reference_is_a_422_saying_which(owner, account):
    content = program_content(address=ADDRESS, payment="superfluid")
    response = owner.post(URL, body(content, message_type="PROGRAM"), format="json")

    error = assert_error(response, 422, "unknown_volume_size")
    assert error["details"]["ref"]


def test_a_program_volume_on_a_registered_store_is_priced(owner, account):
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10**6), height=3,
                      actor="oracle")
    owner.post(URL, body(store_content(size=10 * 1_048_576, payment="hold", address=ADDRESS),
                         item_hash=STORE_REF, message_type="STORE"), format="json")
    content = instance_content(payment="hold", address=ADDRESS,
                               volumes=[immutable_volume(STORE_REF, mount="/opt")])

    response = owner.post(URL, body(content), format="json")

    assert response.status_code == 201, response.content
    volume = next(row for row in response.json()["rows"] if row["ref"] == STORE_REF)
    assert Decimal(volume["size_mib"]) == 10


def test_no_pricing_in_force_is_a_503(owner, account, monkeypatch):
    import credits.selectors.resources as selectors

    monkeypatch.setattr(selectors, "pricing_in_force", lambda: (None, None))
    assert_error(owner.post(URL, body(), format="json"), 503, "pricing_unavailable")


def test_registration_needs_a_key(client_as, funded):
    assert_error(client_as(None).post(URL, body(), format="json"), 401, "not_authenticated")


@pytest.mark.parametrize("caller", ["other_owner", "service", "operator"])
def test_registration_needs_the_owner_key_of_the_content_address(client_as, funded, caller):
    assert_error(client_as(caller).post(URL, body(), format="json"), 403, "permission_denied")
    assert Resource.objects.count() == 0


def test_an_evm_owner_address_in_another_case_is_the_same_owner(owner, funded):
    response = owner.post(URL, body(credit_instance(address=ADDRESS.lower())), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["owner"] == ADDRESS


# --- GET resources/{item_hash} -----------------------------------------------------------------

def test_an_unknown_resource_is_a_404_in_the_error_shape(client):
    assert_error(client.get(f"{URL}/{'0' * 64}"), 404, "not_found")


def test_a_resource_shows_its_costs_and_rows_like_an_estimate(client, resources_grant, account):
    resources_grant(ADDRESS, 10**8)
    content = credit_instance(vcpus=2, memory=4096, rootfs_size_mib=30720)
    resource_register(item_hash=HASH, message_type="INSTANCE", content=content, actor="test")
    _, table = pricing_in_force()
    expected = compute_costs(parse_content("INSTANCE", content, estimate=False), table)

    shown = client.get(f"{URL}/{HASH}").json()

    estimate = client.post("/api/v1/estimates", {"type": "INSTANCE", "content": content},
                           content_type="application/json").json()
    assert shown["rows"] == estimate["detail"]
    assert shown["costs"]["cost_credit_per_second"] == f"{expected.credit_per_second:.18f}"
    assert shown["costs"]["cost_credit_per_day"] == estimate["cost_per_day"]
    assert shown["pricing_version"] == estimate["pricing_version"]["id"]


# --- DELETE resources/{item_hash} --------------------------------------------------------------

def test_the_owner_forgets_a_resource(owner, funded):
    owner.post(URL, body(), format="json")

    response = owner.delete(f"{URL}/{HASH}")

    assert response.status_code == 200
    assert response.json()["status"] == "forgotten"
    assert response.json()["ended_at"]


def test_forgetting_twice_answers_200_without_a_new_audit_row(owner, funded):
    owner.post(URL, body(), format="json")
    owner.delete(f"{URL}/{HASH}")

    again = owner.delete(f"{URL}/{HASH}")

    assert again.status_code == 200
    assert ResourceStatusChange.objects.filter(to_status="forgotten").count() == 1


@pytest.mark.parametrize("caller, status", [(None, 401), ("other_owner", 403), ("service", 403),
                                            ("operator", 403)])
def test_only_the_owner_may_forget(client_as, owner, funded, caller, status):
    owner.post(URL, body(), format="json")

    assert_error(client_as(caller).delete(f"{URL}/{HASH}"), status)
    assert Resource.objects.get().status == ResourceStatus.PROCESSED


def test_forgetting_a_removed_resource_is_a_409(owner, funded):
    owner.post(URL, body(), format="json")
    Resource.objects.update(status=ResourceStatus.REMOVED, ended_at=timezone.now())

    assert_error(owner.delete(f"{URL}/{HASH}"), 409, "resource_conflict")


def test_forgetting_an_unknown_resource_is_a_404(owner, account):
    assert_error(owner.delete(f"{URL}/{'0' * 64}"), 404, "not_found")


def test_a_forgotten_resource_no_longer_counts_in_the_one_day_rule(owner, funded):
    owner.post(URL, body(), format="json")
    assert_error(owner.post(URL, body(item_hash="cd" * 32), format="json"), 402)

    owner.delete(f"{URL}/{HASH}")

    assert owner.post(URL, body(item_hash="cd" * 32), format="json").status_code == 201


# --- POST accounts/{address}/affordability -----------------------------------------------------

def affordability(client, address, content, message_type="INSTANCE"):
    return client.post(f"/api/v1/accounts/{address}/affordability",
                       {"type": message_type, "content": content},
                       content_type="application/json")


def test_affordability_of_a_credit_resource_counts_existing_ones(client, resources_grant,
                                                                 owner, funded):
    assert affordability(client, ADDRESS, credit_instance()).json() == {
        "affordable": True, "payment_type": "credit",
        "required": "341999.999999999999971200", "available": "342000.000000000000000000",
        "shortfall": "0.000000000000000000"}
    owner.post(URL, body(), format="json")

    answer = affordability(client, ADDRESS, credit_instance()).json()

    assert answer == {"affordable": False, "payment_type": "credit",
                      "required": "683999.999999999999942400",
                      "available": "342000.000000000000000000",
                      "shortfall": "341999.999999999999942400"}


def test_affordability_checks_the_url_account_not_the_content_address(client, funded):
    answer = affordability(client, OTHER_ADDRESS, credit_instance(address=ADDRESS)).json()

    assert answer["affordable"] is False
    assert answer["available"] == "0.000000000000000000"


def test_affordability_does_not_read_the_content_address_at_all(client, funded):
    answer = affordability(client, ADDRESS, credit_instance(address="not an address!"))

    assert answer.status_code == 200, answer.content
    assert answer.json()["affordable"] is True


def test_affordability_of_an_unknown_account_is_all_shortfall(client):
    answer = affordability(client, OTHER_ADDRESS.lower(), credit_instance()).json()

    assert answer["affordable"] is False
    assert answer["shortfall"] == answer["required"] == "341999.999999999999971200"


def test_affordability_of_a_hold_resource_is_in_tokens(client, account):
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(1500), height=1,
                      actor="oracle")

    answer = affordability(client, ADDRESS, instance_content(payment="hold")).json()

    assert answer == {"affordable": True, "payment_type": "hold",
                      "required": "1000.000000000000000000",
                      "available": "1500.000000000000000000",
                      "shortfall": "0.000000000000000000"}


def test_affordability_of_a_stream_is_always_true(client):
    answer = affordability(client, ADDRESS, instance_content(payment="superfluid")).json()

    assert answer["affordable"] is True
    assert Decimal(answer["required"]) == 0


def test_affordability_accepts_estimated_sizes(client):
    content = program_content(code_size_mib=10, runtime_size_mib=100, payment="hold")
    answer = affordability(client, ADDRESS, content, "PROGRAM")

    assert answer.status_code == 200, answer.content
    assert Decimal(answer.json()["required"]) > 0


def test_affordability_of_an_invalid_address_is_a_4xx(client):
    assert_error(affordability(client, "0x1234", credit_instance()), 422)


def test_affordability_is_throttled(client, settings):
    settings.ESTIMATE_THROTTLE_RATE = "2/min"
    for _ in range(2):
        assert affordability(client, ADDRESS, credit_instance()).status_code == 200
    assert_error(affordability(client, ADDRESS, credit_instance()), 429, "throttled")


# --- hostile inputs on every write endpoint ----------------------------------------------------

HOSTILE_RAW = [b"not json", b"{", b'{"type": NaN}', b"\xff\xfe", b"[]", b"12", b"null", b'"x"']
HOSTILE_REGISTRATIONS = [
    {},
    {"item_hash": HASH, "type": "INSTANCE"},
    {"item_hash": HASH, "type": "INSTANCE", "content": "x"},
    {"item_hash": HASH, "type": "INSTANCE", "content": []},
    {"item_hash": HASH, "type": "VM", "content": {}},
    {"item_hash": 5, "type": "INSTANCE", "content": {}},
    {"item_hash": "AB" * 32, "type": "INSTANCE", "content": {}},
    {"item_hash": "z" * 64, "type": "INSTANCE", "content": {}},
    {"item_hash": "a" * 500, "type": "INSTANCE", "content": {}},
    {"item_hash": None, "type": None, "content": None},
    {"item_hash": [HASH], "type": ["INSTANCE"], "content": {}},
]
HOSTILE_CONTENTS = [
    {},
    {"address": 12},
    {"address": ADDRESS},
    credit_instance(resources={"vcpus": -1, "memory": 2048}),
    credit_instance(resources={"vcpus": 10**9, "memory": 2048}),
    credit_instance(resources={"vcpus": 1.5, "memory": 2048}),
    credit_instance(resources={"vcpus": 1, "memory": 10**30}),
    credit_instance(rootfs={"parent": {"ref": HASH}, "persistence": "host", "size_mib": 10**40}),
    credit_instance() | {"payment": {"type": "bitcoin", "chain": "ETH"}},
    credit_instance() | {"payment": {"type": "credit", "chain": "MARS"}},
    credit_instance(time=1e308 * 10),
    credit_instance(requirements={"gpu": [{"vendor": "NVIDIA", "device_name": "x",
                                           "device_class": "0300", "device_id": "10de:ffff"}]}),
]


def nothing_changed():
    return (Resource.objects.count(), ResourceStatusChange.objects.count(),
            TokenBalance.objects.count()) == (0, 0, 0)


@pytest.mark.parametrize("raw", HOSTILE_RAW)
def test_registration_bodies_that_are_not_a_json_object_are_a_400(owner, funded, raw):
    response = owner.generic("POST", URL, raw, content_type="application/json")
    assert_error(response, 400)
    assert nothing_changed()


@pytest.mark.parametrize("payload", HOSTILE_REGISTRATIONS)
def test_registration_bodies_with_wrong_fields_are_a_400(owner, funded, payload):
    assert_error(owner.post(URL, payload, format="json"), 400, "invalid_request")
    assert nothing_changed()


@pytest.mark.parametrize("content", HOSTILE_CONTENTS)
def test_registration_contents_that_are_wrong_are_a_4xx(owner, funded, content):
    response = owner.generic("POST", URL, json.dumps(body(content)),
                             content_type="application/json")
    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)
    assert nothing_changed()


def test_a_registration_body_that_is_not_json_content_type_is_a_415(owner, funded):
    response = owner.generic("POST", URL, "item_hash=x", content_type="text/plain")
    assert_error(response, 415)


def test_a_registration_body_too_large_is_a_413(owner, funded, settings):
    content = credit_instance(metadata={"name": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE)})
    assert_error(owner.post(URL, body(content), format="json"), 413)
    assert nothing_changed()


@pytest.mark.parametrize("raw", HOSTILE_RAW)
def test_affordability_bodies_that_are_not_a_json_object_are_a_400(client, raw):
    response = client.generic("POST", f"/api/v1/accounts/{ADDRESS}/affordability", raw,
                              content_type="application/json")
    assert_error(response, 400)


@pytest.mark.parametrize("content", HOSTILE_CONTENTS)
def test_affordability_contents_that_are_wrong_are_a_4xx(client, content):
    response = affordability(client, ADDRESS, content)
    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)

