"""Estimates price as registration does: files registered as STORE resources are sized from
them, the required balance follows the funding horizon, and a resource shows its cost rows as
its estimate did. (The estimate answers themselves: tests/pricing/test_api_estimates.py.)"""
import json
from decimal import Decimal

import pytest

from credits.models import LifecycleSettings
from credits.services.resources import resource_register
from credits.services.token_balances import token_balance_set
from tests.pricing.contents import STORE_REF, immutable_volume, instance_content, store_content

from .conftest import ADDRESS

pytestmark = pytest.mark.usefixtures("default_version")

ESTIMATES = "/api/v1/estimates"
V0_ESTIMATE = "/api/v0/price/estimate"
INSTANCE_HASH = "ab" * 32


def estimate(client, content, message_type="INSTANCE"):
    return client.post(ESTIMATES, {"type": message_type, "content": content},
                       content_type="application/json")


@pytest.fixture
def registered_store(account):
    """STORE_REF registered by ADDRESS (hold): a file of 3 bytes, a size in MiB with 20
    decimals."""
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10**6), height=1,
                      actor="oracle")
    resource_register(item_hash=STORE_REF, message_type="STORE",
                      content=store_content(size=3, payment="hold", address=ADDRESS),
                      actor="test")


def instance_on_the_store(**kwargs):
    return instance_content(payment="hold", address=ADDRESS,
                            volumes=[immutable_volume(STORE_REF, mount="/opt", **kwargs)])


def test_an_estimate_sizes_a_file_registered_as_a_store_resource(client, registered_store):
    response = estimate(client, instance_on_the_store())

    assert response.status_code == 200, response.content
    volume = next(row for row in response.json()["detail"] if row["ref"] == STORE_REF)
    assert volume["size_mib"] == "0.000002861022949219"  # 3 / 2**20, to 18 decimals


def test_an_estimated_size_is_taken_before_the_registered_one_without_a_query(
        client, registered_store, django_assert_num_queries):
    content = instance_on_the_store(estimated_size_mib=7)
    assert estimate(client, content).status_code == 200  # warms the caches

    with django_assert_num_queries(0):
        response = estimate(client, content)

    volume = next(row for row in response.json()["detail"] if row["ref"] == STORE_REF)
    assert volume["size_mib"] == "7"


def test_a_file_neither_estimated_nor_registered_is_still_a_422(client, db):
    response = estimate(client, instance_on_the_store())

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_volume_size"


def test_a_resource_shows_the_cost_rows_its_estimate_showed(client, registered_store):
    content = instance_on_the_store()
    estimated = estimate(client, content).json()["detail"]
    network_answer = client.post(V0_ESTIMATE, {"message": {"type": "INSTANCE",
                                                           "content": content}},
                                 content_type="application/json")
    network_estimated = json.loads(network_answer.content, parse_float=Decimal)["detail"]

    resource_register(item_hash=INSTANCE_HASH, message_type="INSTANCE", content=content,
                      actor="test")
    shown = client.get(f"/api/v1/resources/{INSTANCE_HASH}").json()["rows"]

    assert shown == estimated
    # the v0 answer: the same digits, size_mib a JSON number, no ref
    assert network_estimated == [
        {key: (Decimal(value) if key == "size_mib" and value is not None else value)
         for key, value in row.items() if key != "ref"} for row in estimated]


def horizon_hours(hours):
    """Staff set the funding horizon (a save, as the admin makes it)."""
    LifecycleSettings.objects.update_or_create(
        pk=1, defaults={"grace_hours": 24, "metering_enabled": True,
                        "funding_horizon_hours": hours})


def test_the_required_balance_of_a_credit_estimate_is_one_funding_horizon(client, db):
    horizon_hours(48)

    body = estimate(client, instance_content(payment="credit")).json()

    assert body["cost_per_day"] == "341999.999999999999971200"
    assert body["required_balance"] == "683999.999999999999942400"  # two days of E1


def test_a_new_funding_horizon_reaches_estimates_when_it_is_saved(client, db):
    horizon_hours(24)
    assert estimate(client, instance_content(payment="credit")).json()["required_balance"] \
        == "341999.999999999999971200"

    horizon_hours(72)

    assert estimate(client, instance_content(payment="credit")).json()["required_balance"] \
        == "1025999.999999999999913600"
