"""POST /api/v0/price/estimate: the network's own request and answer shapes."""
import hashlib
import json

import pytest

from tests.test_hostile_inputs import ADDRESS, HASH, instance

pytestmark = pytest.mark.usefixtures("default_version")

URL = "/api/v0/price/estimate"


def network_estimate(client, message):
    return client.post(URL, {"message": message}, content_type="application/json")


def test_the_answer_has_the_network_fields_with_required_tokens_as_an_exact_number(client):
    response = network_estimate(client, {"type": "INSTANCE", "item_hash": HASH,
                                         "content": instance()})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"required_tokens", "payment_type", "cost", "detail", "charged_address"}
    assert body["payment_type"] == "credit"
    assert body["cost"] == "3.958333333333333333"
    assert body["charged_address"] == ADDRESS
    # A JSON number written with all its digits (no float rounding on our side).
    assert b'"required_tokens":3.958333333333333333' in response.content
    assert [row["type"] for row in body["detail"]] == [
        "EXECUTION", "EXECUTION_INSTANCE_VOLUME_ROOTFS", "EXECUTION_VOLUME_DISCOUNT"]
    assert set(body["detail"][0]) == {"type", "name", "cost_hold", "cost_stream", "cost_credit",
                                      "size_mib"}
    assert body["detail"][1]["size_mib"] == 20480


def test_an_inline_item_content_string_is_accepted_like_the_network_does(client):
    content = instance(payment={"type": "hold", "chain": "ETH"})
    item_content = json.dumps(content)
    # The network checks that the item hash of an inline message is its content's SHA-256.
    message = {"type": "INSTANCE", "item_hash": hashlib.sha256(item_content.encode()).hexdigest(),
               "item_type": "inline", "item_content": item_content, "sender": ADDRESS,
               "chain": "ETH", "signature": "0x00", "time": 1.0, "channel": "TEST"}

    body = network_estimate(client, message).json()

    assert body["payment_type"] == "hold"
    assert body["cost"] == "1000.000000000000000000"


def test_a_store_row_refers_to_the_message_item_hash(client):
    message_hash = "b" * 64
    content = {"address": ADDRESS, "time": 1, "item_type": "storage", "item_hash": HASH,
               "estimated_size_mib": 100}

    body = network_estimate(client, {"type": "STORE", "item_hash": message_hash,
                                     "content": content}).json()

    assert body["cost"] == "33.333333300000000000"  # 100 MiB × 0.333333333
    assert body["detail"][0]["type"] == "STORAGE"


def test_an_invalid_content_is_the_networks_own_422(client):
    response = network_estimate(client, {"type": "INSTANCE", "content": {"address": ADDRESS}})

    assert response.status_code == 422
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content == b"InvalidMessageFormat"


def test_a_content_that_cannot_be_priced_is_a_422_in_the_shared_error_shape(client):
    gpu = {"vendor": "NVIDIA", "device_name": "X", "device_class": "0300",
           "device_id": "ffff:0001"}
    content = instance(environment={"internet": True, "hypervisor": "qemu"},
                       requirements={"node": {"node_hash": HASH}, "gpu": [gpu]})

    response = network_estimate(client, {"type": "INSTANCE", "item_hash": HASH,
                                         "content": content})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_gpu_device"
