"""The network's v0 message endpoints: `price/{item_hash}`, `messages/{item_hash}/status`,
`messages/{item_hash}/consumed_credits`, `costs` (and `messages/{item_hash}`, always unknown
here), in aleph-im/pyaleph's shapes, status codes and plain-text error bodies."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from credits.models import Account, ApiKey, ApiKeyScope, Charge, Resource, ResourceStatus
from credits.selectors.resources import costs_totals
from credits.services.ledger import expense_create, grant_create
from credits.services.lifecycle import lifecycle_run
from credits.services.resources import resource_forget, resource_register
from credits.services.token_balances import token_balance_set
from pricing.costs import format_amount
from pricing.rules import HOLD_AND_STREAM_CUTOFF
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0, THIRD_ADDRESS
from tests.pricing.contents import (
    CODE_REF,
    RUNTIME_REF,
    instance_content,
    program_content,
    store_content,
)

pytestmark = pytest.mark.usefixtures("default_version")

HOUR = timedelta(hours=1)
# Instances paid by hold are registered before the network stopped accepting them.
BEFORE_HOLD_CUTOFF = HOLD_AND_STREAM_CUTOFF - timedelta(days=30)
UNKNOWN_HASH = "f" * 64
MALFORMED_HASHES = ["not-a-hash", "A" * 64, "a" * 63, "Qm0000", "estimate!"]
NETWORK_PRICE_KEYS = {"required_tokens", "payment_type", "cost", "detail", "charged_address"}
NETWORK_ROW_KEYS = {"type", "name", "cost_hold", "cost_stream", "cost_credit", "size_mib"}


def item_hash(number: int) -> str:
    return f"{number:064x}"


def exact_json(response) -> dict:
    """The answer with its JSON numbers read as Decimals, digit for digit."""
    return json.loads(response.content, parse_float=Decimal)


def assert_text(response, status: int, text: str) -> None:
    """A plain-text answer as the network's node (aiohttp) writes its errors."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == text


def grant(address: str, amount: int, *, at: datetime | None = None) -> None:
    grant_create(address=address, amount=amount, expires_at=None,
                 reference=f"v0-messages-{uuid.uuid4()}", actor="test", at=at)


def register(number: int, content: dict, *, message_type: str = "INSTANCE",
             at: datetime | None = None) -> Resource:
    return resource_register(item_hash=item_hash(number), message_type=message_type,
                             content=content, actor="test", at=at).resource


@pytest.fixture
def funded(db):
    """ADDRESS and OTHER_ADDRESS with credits for years, and tokens on ETH for hold."""
    for address in (ADDRESS, OTHER_ADDRESS):
        grant(address, 10**9)
        token_balance_set(address=address, chain="ETH", balance=Decimal(10**6), height=1,
                          actor="oracle")


@pytest.fixture
def credit_vm(funded) -> Resource:
    """PRICING.md's E1 instance, paid by credit, with its 20 GiB rootfs row."""
    return register(1, instance_content(payment="credit", address=ADDRESS))


def stored(resource: Resource) -> Resource:
    return Resource.objects.prefetch_related("cost_rows").get(pk=resource.pk)


# --- GET price/{item_hash} ---------------------------------------------------------------------

def test_the_price_of_a_registered_resource_is_its_stored_cost_in_the_networks_shape(
        client, credit_vm):
    resource = stored(credit_vm)

    response = client.get(f"/api/v0/price/{resource.item_hash}")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = exact_json(response)
    assert set(body) == NETWORK_PRICE_KEYS
    assert body["payment_type"] == "credit"
    assert body["cost"] == format_amount(resource.cost_credit_per_second)
    assert body["charged_address"] == resource.content["address"]
    rows = list(resource.cost_rows.all())
    assert [(row["type"], row["name"]) for row in body["detail"]] == [
        (row.type, row.name) for row in rows]
    assert all(set(row) == NETWORK_ROW_KEYS for row in body["detail"])
    assert [row["cost_credit"] for row in body["detail"]] == [
        format_amount(row.cost_credit_per_second) for row in rows]
    # Without include_size the network leaves every size out.
    assert [row["size_mib"] for row in body["detail"]] == [None] * len(rows)


def test_required_tokens_is_a_json_number_with_all_its_digits(client, credit_vm):
    resource = stored(credit_vm)

    body = exact_json(client.get(f"/api/v0/price/{resource.item_hash}"))

    # A float would have kept about 16 significant digits of these 19.
    assert isinstance(body["required_tokens"], Decimal)
    assert body["required_tokens"] == resource.cost_credit_per_second
    assert Decimal(float(resource.cost_credit_per_second)) != resource.cost_credit_per_second


def test_include_size_gives_the_rows_sizes_as_exact_numbers(client, credit_vm):
    resource = stored(credit_vm)
    sizes = [row.size_mib for row in resource.cost_rows.all()]

    body = exact_json(client.get(f"/api/v0/price/{resource.item_hash}",
                                 {"include_size": "TRUE"}))

    assert any(size is not None for size in sizes)
    assert [row["size_mib"] for row in body["detail"]] == sizes


def test_a_hold_resource_is_priced_in_tokens(client, funded):
    resource = register(2, instance_content(payment="hold", address=ADDRESS),
                        at=BEFORE_HOLD_CUTOFF)

    body = exact_json(client.get(f"/api/v0/price/{resource.item_hash}"))

    assert body["payment_type"] == "hold"
    assert body["required_tokens"] == resource.cost_hold
    assert body["cost"] == format_amount(resource.cost_hold)


def test_a_removing_resource_still_has_its_price(client, credit_vm):
    now = timezone.now()
    Resource.objects.filter(pk=credit_vm.pk).update(
        status=ResourceStatus.REMOVING, removing_since=now, delete_after=now + 24 * HOUR)

    response = client.get(f"/api/v0/price/{credit_vm.item_hash}")

    assert response.status_code == 200
    assert exact_json(response)["required_tokens"] == credit_vm.cost_credit_per_second


def test_an_unknown_item_hash_has_the_networks_404(client, db):
    assert_text(client.get(f"/api/v0/price/{UNKNOWN_HASH}"), 404,
                f"Message not found with hash: {UNKNOWN_HASH}")


@pytest.mark.parametrize("malformed", MALFORMED_HASHES)
def test_a_malformed_item_hash_has_the_networks_400(client, db, malformed):
    assert_text(client.get(f"/api/v0/price/{malformed}"), 400,
                f"Invalid message hash: {malformed}")


@pytest.mark.parametrize("message_type", ["INSTANCE", "PROGRAM"])
def test_a_forgotten_executable_has_the_networks_410(client, funded, message_type):
    if message_type == "INSTANCE":
        content = instance_content(payment="credit", address=ADDRESS)
    else:  # a program's code and runtime are sized from their registered files
        for ref in (CODE_REF, RUNTIME_REF):
            resource_register(item_hash=ref, message_type="STORE", actor="test",
                              content=store_content(size=1_048_576, payment="credit",
                                                    address=ADDRESS))
        content = program_content(payment="credit", address=ADDRESS)
    resource = register(3, content, message_type=message_type)
    resource_forget(item_hash=resource.item_hash, actor="owner")

    assert_text(client.get(f"/api/v0/price/{resource.item_hash}"), 410,
                f"This message has been forgotten: {resource.item_hash}")


def test_a_removed_executable_has_the_networks_410(client, credit_vm):
    Resource.objects.filter(pk=credit_vm.pk).update(status=ResourceStatus.REMOVED,
                                                    ended_at=timezone.now())

    assert_text(client.get(f"/api/v0/price/{credit_vm.item_hash}"), 410,
                f"This message has been removed: {credit_vm.item_hash}")


def test_a_forgotten_store_keeps_its_price(client, funded):
    resource = register(4, store_content(size=3 * 1_048_576, payment="credit",
                                         address=ADDRESS), message_type="STORE")
    resource_forget(item_hash=resource.item_hash, actor="owner")

    response = client.get(f"/api/v0/price/{resource.item_hash}")

    assert response.status_code == 200
    assert exact_json(response)["required_tokens"] == resource.cost_credit_per_second


# --- GET messages/{item_hash}/status -----------------------------------------------------------

def status_of(client, resource: Resource) -> dict:
    response = client.get(f"/api/v0/messages/{resource.item_hash}/status")
    assert response.status_code == 200, response.content[:300]
    return response.json()


def test_the_status_has_the_networks_shape(client, funded):
    at = timezone.now().replace(microsecond=123456)
    resource = register(5, instance_content(payment="credit", address=ADDRESS), at=at)

    body = status_of(client, resource)

    assert set(body) == {"status", "item_hash", "reception_time"}
    assert body["status"] == "processed"
    assert body["item_hash"] == resource.item_hash
    # As the network's pydantic answers write a time: UTC with a Z.
    assert body["reception_time"].endswith("Z")
    assert datetime.fromisoformat(body["reception_time"]) == at


def test_the_status_follows_the_resource_through_removing_removed_and_forgotten(
        client, credit_vm, funded):
    now = timezone.now()
    Resource.objects.filter(pk=credit_vm.pk).update(
        status=ResourceStatus.REMOVING, removing_since=now, delete_after=now + 24 * HOUR)
    assert status_of(client, credit_vm)["status"] == "removing"

    Resource.objects.filter(pk=credit_vm.pk).update(status=ResourceStatus.REMOVED, ended_at=now)
    assert status_of(client, credit_vm)["status"] == "removed"

    other = register(6, instance_content(payment="credit", address=ADDRESS))
    resource_forget(item_hash=other.item_hash, actor="owner")
    assert status_of(client, other)["status"] == "forgotten"


def test_an_unknown_message_status_is_the_networks_bare_404(client, db):
    assert_text(client.get(f"/api/v0/messages/{UNKNOWN_HASH}/status"), 404, "404: Not Found")


@pytest.mark.parametrize("malformed", MALFORMED_HASHES)
def test_a_malformed_status_hash_is_the_networks_400(client, db, malformed):
    assert_text(client.get(f"/api/v0/messages/{malformed}/status"), 400,
                f"Invalid message hash: {malformed}")


# --- GET messages/{item_hash} ------------------------------------------------------------------

def test_a_messages_full_body_is_unknown_here_even_for_a_registered_resource(client, credit_vm):
    assert_text(client.get(f"/api/v0/messages/{credit_vm.item_hash}"), 404, "404: Not Found")
    assert_text(client.get("/api/v0/messages/nope"), 400, "Invalid message hash: nope")


# --- GET messages/{item_hash}/consumed_credits -------------------------------------------------

def consumed(client, some_hash: str) -> dict:
    response = client.get(f"/api/v0/messages/{some_hash}/consumed_credits")
    assert response.status_code == 200, response.content[:300]
    return response.json()


@pytest.fixture
def metered(settings, db):
    """At T0: ADDRESS funds an E1 credit VM (1) and a second one (2); OTHER_ADDRESS one (3).
    Three hours of metering later, an outside expense is posted against VM 1 and another
    against no resource."""
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    grant(ADDRESS, 10**7, at=T0)
    grant(OTHER_ADDRESS, 10**7, at=T0)
    vms = [register(1, instance_content(payment="credit", address=ADDRESS), at=T0),
           register(2, instance_content(payment="credit", address=ADDRESS, vcpus=2,
                                        memory=4096), at=T0),
           register(3, instance_content(payment="credit", address=OTHER_ADDRESS), at=T0)]
    lifecycle_run(at=T0 + 3 * HOUR + timedelta(minutes=1))
    expense_create(address=ADDRESS, amount=123, reference="outside-1",
                   resource_item_hash=vms[0].item_hash, actor="service", at=T0 + 4 * HOUR)
    expense_create(address=ADDRESS, amount=7, reference="outside-2", actor="service",
                   at=T0 + 4 * HOUR)
    return vms


def drained(resource: Resource) -> int:
    return sum(Charge.objects.filter(resource=resource).values_list("amount_drained", flat=True))


def test_consumed_credits_are_the_metered_hours_and_the_expenses_posted_against_it(
        client, metered):
    vm, second, _ = metered
    assert Charge.objects.filter(resource=vm).count() == 3

    assert consumed(client, vm.item_hash) == {"item_hash": vm.item_hash,
                                              "consumed_credits": drained(vm) + 123}
    assert consumed(client, second.item_hash)["consumed_credits"] == drained(second)
    assert drained(second) > drained(vm) > 0


def test_consumed_credits_stay_after_the_resource_is_forgotten(client, metered):
    vm = metered[0]
    before = consumed(client, vm.item_hash)

    resource_forget(item_hash=vm.item_hash, actor="owner", at=T0 + 5 * HOUR)

    assert consumed(client, vm.item_hash) == before


def test_only_what_was_drained_is_consumed(client, db):
    # given an account with 10 credits and a file it pays by hold
    token_balance_set(address=THIRD_ADDRESS, chain="ETH", balance=Decimal(10**6), height=1,
                      actor="oracle")
    store = register(8, store_content(size=1_048_576, payment="hold", address=THIRD_ADDRESS),
                     message_type="STORE", at=BEFORE_HOLD_CUTOFF)
    grant(THIRD_ADDRESS, 10)

    # when an expense of 50 is posted against it
    entry = expense_create(address=THIRD_ADDRESS, amount=50, reference="partly",
                           resource_item_hash=store.item_hash, actor="service").entry

    # then what could not be drained is a shortfall, not a consumption
    assert entry.shortfall > 0
    assert consumed(client, store.item_hash)["consumed_credits"] == -entry.amount


@pytest.mark.parametrize("some_hash", [UNKNOWN_HASH, "not-a-hash", "A" * 64])
def test_any_item_hash_nothing_was_charged_for_consumed_nothing(client, db, some_hash):
    # As on the network, which takes any text here.
    assert consumed(client, some_hash) == {"item_hash": some_hash, "consumed_credits": 0}


# --- GET costs ---------------------------------------------------------------------------------

@pytest.fixture
def costs_world(funded):
    """ADDRESS: E1 by credit (1), by hold (2), by credit again but forgotten (3), a credit STORE
    (4); OTHER_ADDRESS: E1 by credit (5)."""
    resources = {
        1: register(1, instance_content(payment="credit", address=ADDRESS)),
        2: register(2, instance_content(payment="hold", address=ADDRESS), at=BEFORE_HOLD_CUTOFF),
        3: register(3, instance_content(payment="credit", address=ADDRESS)),
        4: register(4, store_content(size=3 * 1_048_576, payment="credit", address=ADDRESS),
                    message_type="STORE"),
        5: register(5, instance_content(payment="credit", address=OTHER_ADDRESS)),
    }
    resource_forget(item_hash=resources[3].item_hash, actor="owner")
    return resources


def costs(client, **query) -> dict:
    response = client.get("/api/v0/costs", query)
    assert response.status_code == 200, response.content[:500]
    return exact_json(response)


def column_sums(resources) -> dict:
    return {"total_cost_hold": format_amount(sum(r.cost_hold for r in resources)),
            "total_cost_stream": format_amount(sum(r.cost_stream_per_second for r in resources)),
            "total_cost_credit": format_amount(sum(r.cost_credit_per_second
                                                   for r in resources))}


def test_the_summary_sums_every_column_of_the_live_credit_resources_by_default(
        client, costs_world):
    live_credit = [costs_world[number] for number in (1, 4, 5)]

    body = costs(client)

    assert body == {
        "summary": {"total_consumed_credits": 0, **column_sums(live_credit),
                    "resource_count": 3},
        "filters": {"address": None, "item_hash": None, "payment_type": "credit"},
        "resources": None, "pagination_page": None, "pagination_total": None,
        "pagination_per_page": None, "pagination_item": None}
    # The network sums the hold column of credit-paid resources too.
    assert Decimal(body["summary"]["total_cost_hold"]) > 0


def test_filters_by_address_in_any_case_item_hash_and_payment_type(client, costs_world):
    by_address = costs(client, address=ADDRESS.lower())
    assert by_address["summary"]["resource_count"] == 2
    assert by_address["filters"]["address"] == ADDRESS.lower()  # as given

    hold = costs(client, address=ADDRESS, payment_type="hold")["summary"]
    assert hold == {"total_consumed_credits": 0, **column_sums([costs_world[2]]),
                    "resource_count": 1}

    one = costs(client, item_hash=costs_world[5].item_hash)["summary"]
    assert one["resource_count"] == 1
    assert one["total_cost_credit"] == format_amount(costs_world[5].cost_credit_per_second)

    assert costs(client, item_hash=costs_world[3].item_hash)["summary"]["resource_count"] == 0


@pytest.mark.parametrize("payment_type", ["hold", "superfluid", "credit"])
def test_the_paid_column_agrees_with_the_v1_totals(client, costs_world, payment_type):
    v1 = costs_totals(payment_type=payment_type)
    column = {"hold": v1.hold, "superfluid": v1.superfluid_per_second,
              "credit": v1.credit_per_second}[payment_type]
    key = {"hold": "total_cost_hold", "superfluid": "total_cost_stream",
           "credit": "total_cost_credit"}[payment_type]

    summary = costs(client, payment_type=payment_type)["summary"]

    assert summary[key] == format_amount(column)
    assert summary["resource_count"] == v1.resource_count


def test_an_empty_filter_filters_nothing_and_an_address_that_is_none_matches_nothing(
        client, costs_world):
    assert costs(client, address="", item_hash="")["summary"]["resource_count"] == 3
    nothing = costs(client, address="not an address")["summary"]
    assert nothing == {"total_consumed_credits": 0, "total_cost_hold": format_amount(Decimal(0)),
                       "total_cost_stream": format_amount(Decimal(0)),
                       "total_cost_credit": format_amount(Decimal(0)), "resource_count": 0}


def test_include_details_lists_a_page_of_resources_in_item_hash_order(client, costs_world):
    body = costs(client, include_details=1, pagination=10)

    expected = sorted((costs_world[n] for n in (1, 4, 5)), key=lambda r: r.item_hash)
    assert [item["item_hash"] for item in body["resources"]] == [r.item_hash for r in expected]
    first = body["resources"][0]
    assert first == {"item_hash": expected[0].item_hash, "owner": expected[0].owner.address,
                     "payment_type": "credit", "consumed_credits": 0,
                     "cost_hold": format_amount(expected[0].cost_hold),
                     "cost_stream": format_amount(expected[0].cost_stream_per_second),
                     "cost_credit": format_amount(expected[0].cost_credit_per_second),
                     "detail": None}
    assert (body["pagination_page"], body["pagination_total"], body["pagination_per_page"],
            body["pagination_item"]) == (1, 3, 10, "resources")


def test_pages_split_the_resources_and_a_page_far_past_the_last_is_empty(client, funded):
    for number in range(1, 13):
        register(number, instance_content(payment="credit", address=ADDRESS))

    first = costs(client, include_details=1, pagination=10)["resources"]
    second = costs(client, include_details=1, pagination=10, page=2)["resources"]
    far = costs(client, include_details=1, pagination=10, page=10**30)

    assert len(first) == 10 and len(second) == 2
    assert [item["item_hash"] for item in first + second] == [item_hash(n) for n in range(1, 13)]
    assert far["resources"] == [] and far["pagination_page"] == 10**30


def test_include_details_2_adds_the_rows_and_include_size_their_exact_sizes(client, costs_world):
    vm = stored(costs_world[1])

    without = costs(client, item_hash=vm.item_hash, include_details=2)["resources"][0]
    with_size = costs(client, item_hash=vm.item_hash, include_details=2,
                      include_size="true")["resources"][0]

    assert [row["type"] for row in without["detail"]] == [row.type for row in vm.cost_rows.all()]
    assert all(set(row) == NETWORK_ROW_KEYS and row["size_mib"] is None
               for row in without["detail"])
    assert [row["size_mib"] for row in with_size["detail"]] == [
        row.size_mib for row in vm.cost_rows.all()]


def test_consumed_credits_count_by_account_and_resource_whatever_their_status(client, metered):
    vm, second, other = metered
    resource_forget(item_hash=second.item_hash, actor="owner", at=T0 + 5 * HOUR)

    everyone = costs(client)["summary"]["total_consumed_credits"]
    by_address = costs(client, address=ADDRESS)
    by_item = costs(client, item_hash=vm.item_hash)["summary"]["total_consumed_credits"]

    # ADDRESS: both VMs (one forgotten), the expense against VM 1 and the one against nothing.
    assert by_address["summary"]["total_consumed_credits"] == (
        drained(vm) + drained(second) + 123 + 7)
    assert by_item == drained(vm) + 123
    assert everyone == drained(vm) + drained(second) + drained(other) + 123 + 7
    page = costs(client, address=ADDRESS, include_details=1)["resources"]
    assert [(item["item_hash"], item["consumed_credits"]) for item in page] == [
        (vm.item_hash, drained(vm) + 123)]


def test_include_details_2_needs_an_address_or_an_item_hash(client, db):
    assert_text(client.get("/api/v0/costs", {"include_details": 2}), 422,
                "include_details=2 requires at least one of 'address' or 'item_hash' filters "
                "to avoid fetching breakdowns for all resources")


@pytest.mark.parametrize(("query", "field", "error_type"), [
    ({"pagination": "5"}, "pagination", "greater_than_equal"),
    ({"pagination": "5000"}, "pagination", "less_than_equal"),
    ({"pagination": "many"}, "pagination", "int_parsing"),
    ({"page": "0"}, "page", "greater_than_equal"),
    ({"page": "1e3"}, "page", "int_parsing"),
    ({"include_details": "3"}, "include_details", "less_than_equal"),
    ({"include_details": "yes"}, "include_details", "int_parsing"),
    ({"include_size": "maybe"}, "include_size", "bool_parsing"),
    ({"payment_type": "bitcoin"}, "payment_type", "enum"),
    ({"payment_type": ""}, "payment_type", "enum"),
])
def test_a_refused_query_is_the_networks_422_with_pydantics_errors(client, db, query, field,
                                                                    error_type):
    response = client.get("/api/v0/costs", query)

    assert response.status_code == 422
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    errors = json.loads(response.content)
    assert [(error["loc"], error["type"]) for error in errors] == [([field], error_type)]


# --- who may read ------------------------------------------------------------------------------

@pytest.fixture
def client_as(db):
    """`client_as(label)`: an API client with an owner key of ADDRESS ("owner") or of
    OTHER_ADDRESS ("other_owner"), a service key ("service"), or none (None)."""
    keys = {}
    for label, scope, address in [("owner", ApiKeyScope.OWNER, ADDRESS),
                                  ("other_owner", ApiKeyScope.OWNER, OTHER_ADDRESS),
                                  ("service", ApiKeyScope.SERVICE, None)]:
        account = Account.objects.get_or_create(address=address)[0] if address else None
        keys[label] = ApiKey.objects.create_key(name=f"v0 {label}", scope=scope,
                                                account=account)[1]

    def make(label):
        api_client = APIClient()
        if label is not None:
            api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {keys[label]}")
        return api_client
    return make


READS = ["/api/v0/price/{h}", "/api/v0/messages/{h}/status",
         "/api/v0/messages/{h}/consumed_credits", "/api/v0/costs?address={a}"]


@pytest.mark.parametrize("template", READS)
def test_with_account_reads_private_only_the_accounts_readers_read(settings, client_as,
                                                                   credit_vm, template):
    settings.CREDITS_PUBLIC_ACCOUNT_READS = False
    url = template.format(h=credit_vm.item_hash, a=ADDRESS)

    assert client_as(None).get(url).status_code == 401
    assert client_as("other_owner").get(url).status_code == 403
    assert client_as("owner").get(url).status_code == 200
    assert client_as("service").get(url).status_code == 200


@pytest.mark.parametrize("template", READS)
def test_with_account_reads_public_anyone_reads(settings, client_as, credit_vm, template):
    settings.CREDITS_PUBLIC_ACCOUNT_READS = True
    url = template.format(h=credit_vm.item_hash, a=ADDRESS)

    assert client_as(None).get(url).status_code == 200
    assert client_as("other_owner").get(url).status_code == 200


# --- never a 5xx -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/v0/price/%00", "/api/v0/messages/%00/status", "/api/v0/messages/%00/consumed_credits",
    "/api/v0/costs?address=%00", "/api/v0/costs?item_hash=a%00", "/api/v0/price/" + "a" * 5000,
    "/api/v0/messages/" + "a" * 5000 + "/consumed_credits", "/api/v0/price/%C3%A9%F0%9F%98%80",
    "/api/v0/costs?page=99999999999999999999999999999999&include_details=1",
    "/api/v0/costs?address=" + "x" * 5000,
])
def test_hostile_input_is_a_4xx_or_an_answer_never_a_5xx(client, db, path):
    response = client.get(path)

    assert response.status_code < 500, response.content[:300]
