"""The network's estimate endpoints as its clients call them: `POST /api/v0/price/estimate` with
the SDK's request (an inline `item_content` beside a parsed `content`), `POST
/api/v0/price/estimate/instance`, files registered as STORE resources priced with their size (v1
and v0), and the 25 MiB minimum of a STORE paid by credit. Numbers: PRICING.md."""
from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest
from aleph.sdk.utils import extended_json_encoder
from aleph_message import parse_message
from aleph_message.models import Chain, ItemType

from credits.services.ledger import grant_create
from credits.services.resources import resource_register
from pricing.content import parse_content
from pricing.costs import MIB_BYTES, compute_costs, format_amount
from tests.pricing.contents import (
    CODE_REF,
    DATA_REF,
    OTHER_STORE_REF,
    RUNTIME_REF,
    STORE_REF,
    immutable_volume,
    instance_content,
    persistent_volume,
    program_content,
    store_content,
)

pytestmark = pytest.mark.usefixtures("default_version")

V0 = "/api/v0/price/estimate"
V0_INSTANCE = "/api/v0/price/estimate/instance"
V1 = "/api/v1/estimates"
# The owner of the registered files (a checksummed address, as registration stores it).
FILE_OWNER = "0x9319Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba"
# E6's files: code, runtime and data of the program, and the file of its immutable volume.
E6_FILE_SIZES_MIB = {CODE_REF: 2048, RUNTIME_REF: 1024, DATA_REF: 2048, STORE_REF: 512}
# A STORE paid by credit is priced for 25 MiB at least: hold 25 × 0.333333333; credit
# 25 × (0.17967489030626108 / 3600) = 0.00124774229379347972…, floored to 18 decimals.
STORE_25_MIB_HOLD = "8.333333325000000000"
STORE_25_MIB_CREDIT = "0.001247742293793479"


# --- requests as the network's clients make them ---------------------------------------------

def sdk_message(message_type: str, content: dict) -> dict:
    """The message the network's SDK posts (`AlephHttpClient.get_estimated_price`): the content
    as an inline `item_content` string whose SHA-256 is the item hash, and beside it `content`
    as aleph-message's model of the type parsed it (a STORE's `estimated_size_mib`, which that
    model does not know, is dropped there), written as the SDK's JSON encoder writes it."""
    item_content = json.dumps(content, separators=(",", ":"))
    message = parse_message({
        "sender": content["address"], "chain": Chain.ETH, "type": message_type,
        "content": content, "item_content": item_content, "time": 1_731_456_000.0,
        "channel": "TEST", "item_type": ItemType.inline,
        "item_hash": hashlib.sha256(item_content.encode()).hexdigest(),
        "signature": "0x" + "0" * 130})
    return json.loads(json.dumps(message, default=extended_json_encoder))


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def network_estimate(client, message):
    return post(client, V0, {"message": message})


def exact_json(response) -> dict:
    """The answer with its JSON numbers as exact decimals."""
    return json.loads(response.content, parse_float=Decimal)


def engine_total(message_type: str, content: dict, *, ref_sizes_mib=None, table) -> Decimal:
    """The cost engine's own total for a content, without the API or the database."""
    parsed = parse_content(message_type, content, estimate=True)
    return compute_costs(parsed, table, ref_sizes_mib=ref_sizes_mib).total


def register_files(sizes_mib: dict[str, int]) -> None:
    """STORE resources registered (paid by credit, which every date accepts) under these item
    hashes, each a file of that many MiB, as the network knows the files its messages store."""
    grant_create(address=FILE_OWNER, amount=10**9, expires_at=None,
                 reference=f"files of {len(sizes_mib)} refs", actor="test")
    for item_hash, size_mib in sizes_mib.items():
        resource_register(item_hash=item_hash, message_type="STORE",
                          content=store_content(size=size_mib * MIB_BYTES, payment="credit",
                                                address=FILE_OWNER),
                          actor="test")


def e6_program(**sizes) -> dict:
    """PRICING.md's E6: an on-demand program with internet, 1 vCPU, 128 MiB, code, runtime and
    data, one immutable volume and one persistent volume of 1024 MiB, paid by hold. `sizes`
    (code_size_mib, ..., volume_size_mib) become `estimated_size_mib`; without them the files'
    sizes come from their registration."""
    volume_size_mib = sizes.pop("volume_size_mib", None)
    return program_content(
        vcpus=1, memory=128, internet=True, with_data=True, payment="hold",
        volumes=[immutable_volume(STORE_REF, mount="/opt", estimated_size_mib=volume_size_mib),
                 persistent_volume(1024, mount="/var/lib/app")], **sizes)


# --- POST /api/v0/price/estimate with the SDK's request ----------------------------------------

def test_the_sdk_request_for_a_file_is_priced_from_its_item_content(client, default_table):
    # given: the SDK's parsed content has lost estimated_size_mib; item_content has it
    content = store_content(estimated_size_mib=100, payment="hold")
    message = sdk_message("STORE", content)
    assert "estimated_size_mib" not in message["content"]
    assert '"estimated_size_mib":100' in message["item_content"]

    # when
    response = network_estimate(client, message)

    # then: 100 MiB × 0.333333333, the STORE rule of PRICING.md
    assert response.status_code == 200, response.content
    body = exact_json(response)
    assert body["cost"] == "33.333333300000000000"
    assert body["cost"] == format_amount(engine_total("STORE", content, table=default_table))
    assert body["required_tokens"] == Decimal("33.3333333")
    assert body["payment_type"] == "hold"
    assert [(row["type"], row["size_mib"]) for row in body["detail"]] == [("STORAGE", 100)]


def test_a_parsed_content_beside_an_item_content_is_ignored_as_the_network_ignores_it(client):
    message = sdk_message("STORE", store_content(estimated_size_mib=100, payment="hold"))
    message["content"] = store_content(estimated_size_mib=1, payment="credit")

    body = network_estimate(client, message).json()

    assert (body["payment_type"], body["cost"]) == ("hold", "33.333333300000000000")


def test_the_sdk_request_for_an_instance_answers_example_e1(client, default_table):
    content = instance_content(payment="credit")

    response = network_estimate(client, sdk_message("INSTANCE", content))

    assert response.status_code == 200, response.content
    body = exact_json(response)
    assert set(body) == {"required_tokens", "payment_type", "cost", "detail", "charged_address"}
    assert body["cost"] == "3.958333333333333333"
    assert body["cost"] == format_amount(engine_total("INSTANCE", content, table=default_table))
    assert b'"required_tokens":3.958333333333333333' in response.content
    assert body["charged_address"] == content["address"]
    assert [(row["type"], row["cost_credit"], row["size_mib"]) for row in body["detail"]] == [
        ("EXECUTION", "3.958333333333333333", None),
        ("EXECUTION_INSTANCE_VOLUME_ROOTFS", "1.022150487075618588", 20480),
        ("EXECUTION_VOLUME_DISCOUNT", "-1.022150487075618588", None)]


def test_the_sdk_request_for_a_program_answers_example_e6(client, default_table):
    # given: aleph-message's program model has no estimated_size_mib, so the SDK can only ask
    # for a program whose files the node knows: here they are registered STORE resources
    register_files(E6_FILE_SIZES_MIB)
    content = e6_program()

    # when
    body = network_estimate(client, sdk_message("PROGRAM", content)).json()

    # then: 2 × 200 + (6656 − 2048) × 0.05, as with every size estimated
    assert body["cost"] == "630.400000000000000000"
    assert body["cost"] == format_amount(engine_total(
        "PROGRAM", e6_program(code_size_mib=2048, runtime_size_mib=1024, data_size_mib=2048,
                              volume_size_mib=512), table=default_table))


# --- the message, checked as the network checks it ---------------------------------------------

def assert_network_text(response, status: int, text: str) -> None:
    """The node's own refusal: its status and its plain-text body."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == text


def test_an_item_hash_that_is_not_the_sha256_of_the_item_content_is_the_networks_422(client):
    message = sdk_message("INSTANCE", instance_content())
    assert network_estimate(client, message).status_code == 200
    message["item_hash"] = "a" * 64

    assert_network_text(network_estimate(client, message), 422, "InvalidMessageFormat")


def _without_none(message: dict) -> dict:
    return {key: value for key, value in message.items() if value is not None}


@pytest.mark.parametrize("change", [
    {"item_hash": None},
    {"item_type": "storage"},
    {"item_type": "ipfs"},
    {"item_content": None, "item_type": "inline"},
    {"item_content": '{"address": '},
    {"item_content": " " * 200_001},
    {"type": "FOO"},
    {"type": ["INSTANCE"]},
    {"type": "PROGRAM"},  # an instance's content is no program content
    {"chain": "NOT-A-CHAIN"},
    {"time": "yesterday"},
    {"sender": 5},
], ids=lambda change: json.dumps(change)[:50])
def test_a_message_the_network_refuses_is_its_422_invalid_message_format(client, change):
    # given: a message the network prices
    message = sdk_message("INSTANCE", instance_content())
    assert network_estimate(client, message).status_code == 200

    # when: one field changes
    response = network_estimate(client, _without_none({**message, **change}))

    # then
    assert_network_text(response, 422, "InvalidMessageFormat")


@pytest.mark.parametrize("message", [
    {"type": "INSTANCE", "content": instance_content(resources={"vcpus": "many"})},
    {"type": "INSTANCE", "item_hash": "a" * 64, "content": "x"},
    {"type": "INSTANCE", "item_type": "ipfs", "item_hash": "a" * 64,
     "content": instance_content()},
    {"type": "INSTANCE", "item_hash": "not-a-hash", "content": instance_content()},
], ids=["invalid-content", "content-not-an-object", "hash-of-another-type", "not-a-hash"])
def test_a_message_with_a_content_object_is_refused_as_the_network_refuses_it(client, message):
    assert_network_text(network_estimate(client, message), 422, "InvalidMessageFormat")


@pytest.mark.parametrize("message_type", ["POST", "AGGREGATE", "FORGET", "V-PROGRAM"])
def test_a_message_type_the_network_knows_but_this_service_does_not_price_is_a_422(
        client, message_type):
    response = network_estimate(client, sdk_message("INSTANCE", instance_content())
                                | {"type": message_type})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_message"


@pytest.mark.parametrize("body", [[], {"messages": {}}, {"message": "x"}])
def test_a_body_that_is_not_a_message_is_a_400_not_the_nodes_500(client, body):
    response = post(client, V0, body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_a_file_of_unknown_size_is_a_422_in_this_services_error_shape(client):
    """The node prices such a file at nothing; PRICING.md wants a clear error."""
    response = network_estimate(client, sdk_message("PROGRAM", program_content()))

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_volume_size"


def test_a_message_with_a_content_object_and_no_item_content_is_still_priced(client):
    """This service cannot fetch a stored content as a node does: it prices `content`."""
    body = network_estimate(client, {"type": "INSTANCE", "item_hash": "a" * 64,
                                     "content": instance_content(payment="credit")}).json()

    assert body["cost"] == "3.958333333333333333"


# --- POST /api/v0/price/estimate/instance --------------------------------------------------------

def test_the_instance_estimate_takes_the_content_alone_and_answers_as_the_message_estimate(
        client):
    content = instance_content(payment="credit")
    del content["time"]  # optional here, as on the node

    response = post(client, V0_INSTANCE, content)

    assert response.status_code == 200, response.content
    body = exact_json(response)
    assert body == exact_json(network_estimate(client, {"type": "INSTANCE", "content": content}))
    assert body["cost"] == "3.958333333333333333"


def test_the_instance_estimate_sizes_registered_files_and_takes_estimated_sizes(client):
    register_files({STORE_REF: 300})
    content = instance_content(volumes=[immutable_volume(STORE_REF, mount="/opt"),
                                        immutable_volume(OTHER_STORE_REF, mount="/srv",
                                                         estimated_size_mib=7)])

    detail = post(client, V0_INSTANCE, content).json()["detail"]

    assert [(row["name"], row["size_mib"]) for row in detail
            if row["type"] == "EXECUTION_VOLUME_INMUTABLE"] == [("#0:/opt", 300), ("#1:/srv", 7)]


@pytest.mark.parametrize("body", [b"", b"{not json", b'{"a": NaN}'],
                         ids=["empty", "not-json", "nan"])
def test_the_instance_estimate_of_a_body_that_is_not_json_is_the_networks_400(client, body):
    response = client.generic("POST", V0_INSTANCE, body, content_type="application/json")

    assert_network_text(response, 400, "400: Invalid JSON body")


def test_the_instance_estimate_of_an_invalid_content_is_the_networks_422_listing_the_errors(
        client):
    content = instance_content()
    del content["rootfs"]
    content["resources"]["vcpus"] = "many"

    response = post(client, V0_INSTANCE, content)

    assert response.status_code == 422
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    lines = response.content.decode().splitlines()
    assert lines[0] == "2 validation errors for CostEstimationInstanceContent"
    assert {"rootfs", "resources.vcpus"} <= set(lines[1:])


@pytest.mark.parametrize("body", [[], program_content(code_size_mib=1, runtime_size_mib=1)],
                         ids=["not-an-object", "a-program"])
def test_the_instance_estimate_refuses_what_is_no_instance_content(client, body):
    response = post(client, V0_INSTANCE, body)

    assert response.status_code == 422
    assert response["Content-Type"] == "text/plain; charset=utf-8"


def test_the_instance_estimate_of_a_file_of_unknown_size_is_a_422_unknown_volume_size(client):
    response = post(client, V0_INSTANCE, instance_content(volumes=[immutable_volume(STORE_REF)]))

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_volume_size"


# --- files registered as STORE resources --------------------------------------------------------

def v1_detail(client, message_type, content):
    response = post(client, V1, {"type": message_type, "content": content})
    assert response.status_code == 200, response.content
    return response.json()["cost"], [(row["type"], row["size_mib"])
                                     for row in response.json()["detail"]]


def v0_detail(client, message_type, content):
    response = network_estimate(client, sdk_message(message_type, content))
    assert response.status_code == 200, response.content
    return response.json()["cost"], [
        (row["type"], None if row["size_mib"] is None else str(row["size_mib"]))
        for row in response.json()["detail"]]


@pytest.mark.parametrize("detail_of", [v1_detail, v0_detail], ids=["v1", "v0"])
def test_program_files_and_volumes_registered_as_stores_are_priced_with_their_size(
        client, detail_of, default_table):
    # given: E6 without a single estimated size, its four files registered
    register_files(E6_FILE_SIZES_MIB)
    content = e6_program()

    # when
    cost, rows = detail_of(client, "PROGRAM", content)

    # then: the same rows and cost as E6 with the sizes estimated
    assert cost == "630.400000000000000000"
    assert cost == format_amount(engine_total(
        "PROGRAM", content, ref_sizes_mib={ref: Decimal(size)
                                           for ref, size in E6_FILE_SIZES_MIB.items()},
        table=default_table))
    assert rows == [("EXECUTION", None),
                    ("EXECUTION_PROGRAM_VOLUME_CODE", "2048"),
                    ("EXECUTION_PROGRAM_VOLUME_RUNTIME", "1024"),
                    ("EXECUTION_PROGRAM_VOLUME_DATA", "2048"),
                    ("EXECUTION_VOLUME_INMUTABLE", "512"),
                    ("EXECUTION_VOLUME_PERSISTENT", "1024"),
                    ("EXECUTION_VOLUME_DISCOUNT", None)]


@pytest.mark.parametrize("url", [V1, V0])
def test_a_file_neither_registered_nor_estimated_is_still_a_422(client, url):
    register_files({CODE_REF: 5, RUNTIME_REF: 100})  # but not the volume's file
    content = program_content(volumes=[immutable_volume(OTHER_STORE_REF, mount="/opt")])
    body = ({"type": "PROGRAM", "content": content} if url == V1
            else {"message": sdk_message("PROGRAM", content)})

    response = post(client, url, body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_volume_size"
    assert error["details"]["ref"] == OTHER_STORE_REF


def test_a_forgotten_file_is_no_longer_known(client):
    from credits.services.resources import resource_forget

    register_files({CODE_REF: 5, RUNTIME_REF: 100})
    resource_forget(item_hash=CODE_REF, actor="owner")

    response = network_estimate(client, sdk_message("PROGRAM", program_content()))

    assert response.status_code == 422
    assert response.json()["error"]["details"]["ref"] == CODE_REF


# --- database queries of a warm estimate ------------------------------------------------------

@pytest.mark.parametrize("url", [V1, V0, V0_INSTANCE])
def test_a_warm_estimate_without_file_references_makes_no_query(client, url,
                                                                django_assert_num_queries):
    content = instance_content(payment="credit")
    body = {V1: {"type": "INSTANCE", "content": content},
            V0: {"message": sdk_message("INSTANCE", content)}, V0_INSTANCE: content}[url]
    assert post(client, url, body).status_code == 200  # warms the caches

    with django_assert_num_queries(0):
        response = post(client, url, body)

    assert response.status_code == 200


@pytest.mark.parametrize("url", [V1, V0])
def test_a_warm_estimate_referencing_registered_files_sizes_them_in_one_query(
        client, url, django_assert_num_queries):
    register_files(E6_FILE_SIZES_MIB)
    content = e6_program()
    content["payment"] = {"chain": "ETH", "type": "credit"}
    body = ({"type": "PROGRAM", "content": content} if url == V1
            else {"message": sdk_message("PROGRAM", content)})
    assert post(client, url, body).status_code == 200  # warms the caches

    with django_assert_num_queries(1) as queries:
        response = post(client, url, body)

    assert response.status_code == 200
    assert "IN (" in queries.captured_queries[0]["sql"]  # the four files at once


# --- the 25 MiB minimum of a STORE paid by credit -----------------------------------------------

@pytest.mark.parametrize("payment, estimated_size_mib, size_mib, hold, credit", [
    ("credit", 0, "25", STORE_25_MIB_HOLD, STORE_25_MIB_CREDIT),
    ("credit", 10, "25", STORE_25_MIB_HOLD, STORE_25_MIB_CREDIT),
    ("credit", 25, "25", STORE_25_MIB_HOLD, STORE_25_MIB_CREDIT),
    # 26 × 0.333333333; 26 × 0.0000499096917517391888… = 0.001297651985545218911…
    ("credit", 26, "26", "8.666666658000000000", "0.001297651985545218"),
    ("hold", 0, "0", "0", "0"),
])
def test_the_engine_prices_a_credit_store_for_25_mib_at_least(
        default_table, payment, estimated_size_mib, size_mib, hold, credit):
    # Built past the parser so the engine's rule is tested alone, whatever the parser accepts.
    parsed = parse_content("STORE", store_content(estimated_size_mib=1, payment=payment),
                           estimate=True).model_copy(
        update={"estimated_size_mib": Decimal(estimated_size_mib)})

    (row,) = compute_costs(parsed, default_table).rows

    assert (row.type, row.size_mib) == ("STORAGE", Decimal(size_mib))
    assert (row.cost_hold, row.cost_credit_per_second) == (Decimal(hold), Decimal(credit))
    assert row.cost_stream_per_second == 0


@pytest.mark.parametrize("url", [V1, V0])
def test_a_file_of_an_estimated_0_mib_paid_by_credit_pays_for_25_mib(client, url):
    content = store_content(estimated_size_mib=0, payment="credit")
    body = ({"type": "STORE", "content": content} if url == V1
            else {"message": sdk_message("STORE", content)})

    response = post(client, url, body)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cost"] == STORE_25_MIB_CREDIT
    (row,) = body["detail"]
    assert (row["cost_hold"], row["cost_credit"]) == (STORE_25_MIB_HOLD, STORE_25_MIB_CREDIT)
    assert str(row["size_mib"]) == "25"
