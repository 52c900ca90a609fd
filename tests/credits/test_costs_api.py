"""GET costs: totals per payment type over live resources (processed, removing), each in its
unit (hold: tokens, superfluid: tokens per second, credit: credits per second), with filters."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from credits.models import Resource, ResourceStatus
from credits.services.resources import resource_forget, resource_register
from credits.services.token_balances import token_balance_set
from tests.pricing.contents import instance_content, store_content

from .conftest import ADDRESS, OTHER_ADDRESS

pytestmark = pytest.mark.usefixtures("default_version")

URL = "/api/v1/costs"
E1_HOLD = Decimal(1000)
E1_STREAM = Decimal("0.000015277777777777")
E1_CREDIT = Decimal("3.958333333333333333")


def item_hash(number):
    return f"{number:064x}"


@pytest.fixture
def resources(db, resources_grant):
    """ADDRESS: E1 paid by hold, by stream and by credit (1, 2, 3), a forgotten credit one (4)
    and a removing hold STORE (5); OTHER_ADDRESS: E1 by credit (6)."""
    resources_grant(ADDRESS, 10**7)
    resources_grant(OTHER_ADDRESS, 10**7)
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10**6), height=1,
                      actor="oracle")
    for number, address, payment in [(1, ADDRESS, "hold"), (2, ADDRESS, "superfluid"),
                                     (3, ADDRESS, "credit"), (4, ADDRESS, "credit"),
                                     (6, OTHER_ADDRESS, "credit")]:
        resource_register(item_hash=item_hash(number), message_type="INSTANCE",
                          content=instance_content(payment=payment, address=address),
                          actor="test")
    resource_forget(item_hash=item_hash(4), actor="owner")
    store = resource_register(item_hash=item_hash(5), message_type="STORE",
                              content=store_content(size=3 * 1_048_576, payment="hold",
                                                    address=ADDRESS),
                              actor="test").resource
    now = timezone.now()
    Resource.objects.filter(pk=store.pk).update(status=ResourceStatus.REMOVING,
                                                removing_since=now,
                                                delete_after=now + timedelta(hours=24))


def totals(client, **query):
    response = client.get(URL, query)
    assert response.status_code == 200, response.content
    answer = response.json()
    return ({kind: Decimal(value) for kind, value in answer["totals"].items()},
            answer["resource_count"])


def test_totals_are_per_payment_type_over_live_resources(client, resources):
    store_hold = Decimal(3) * Decimal("0.333333333")

    assert totals(client) == ({"hold": E1_HOLD + store_hold, "superfluid": E1_STREAM,
                               "credit": 2 * E1_CREDIT}, 5)


def test_amounts_are_strings_with_18_decimals(client, resources):
    answer = client.get(URL).json()

    assert answer["totals"] == {"hold": "1000.999999999000000000",
                                "superfluid": "0.000015277777777777",
                                "credit": "7.916666666666666666"}


def test_totals_filter_by_owner_address_in_any_case(client, resources):
    assert totals(client, address=OTHER_ADDRESS.lower()) == (
        {"hold": 0, "superfluid": 0, "credit": E1_CREDIT}, 1)


def test_totals_filter_by_item_hash_and_payment_type(client, resources):
    assert totals(client, item_hash=item_hash(2)) == (
        {"hold": 0, "superfluid": E1_STREAM, "credit": 0}, 1)
    assert totals(client, address=ADDRESS, payment_type="credit") == (
        {"hold": 0, "superfluid": 0, "credit": E1_CREDIT}, 1)


def test_forgotten_resources_are_not_counted(client, resources):
    assert totals(client, item_hash=item_hash(4)) == (
        {"hold": 0, "superfluid": 0, "credit": 0}, 0)


def test_a_forgotten_resource_leaves_the_totals(client, resources):
    resource_forget(item_hash=item_hash(3), actor="owner")

    assert totals(client, address=ADDRESS)[0]["credit"] == 0


def test_an_unknown_account_has_no_costs(client, db):
    assert totals(client, address="0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359") == (
        {"hold": 0, "superfluid": 0, "credit": 0}, 0)


@pytest.mark.parametrize("query", [{"address": "0x1234"}, {"address": "x" * 500},
                                   {"item_hash": "nothex"}, {"item_hash": "A" * 64},
                                   {"payment_type": "bitcoin"}])
def test_invalid_filters_are_a_400(client, db, query):
    response = client.get(URL, query)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert set(response.json()["error"]["details"]["fields"]) == set(query)
