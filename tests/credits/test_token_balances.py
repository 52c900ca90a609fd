"""Token balances reported by a service with a block height: a newer height wins, an older one
never overwrites it, a replay changes nothing, and concurrent reports end at the highest height."""
import json
import threading
from decimal import Decimal

import pytest
from django.db import connection

from credits.errors import InvalidInput, StaleHeight
from credits.models import Account, TokenBalance
from credits.services.token_balances import token_balance_set
from tests.pricing.contents import instance_content

from .conftest import ADDRESS, OTHER_ADDRESS


def url(address=ADDRESS, chain="ETH"):
    return f"/api/v1/accounts/{address}/token-balances/{chain}"


def put(client, payload, address=ADDRESS, chain="ETH"):
    return client.put(url(address, chain), json.dumps(payload), content_type="application/json")


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content[:500]
    payload = response.json()
    assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message", "details"}
    if code is not None:
        assert payload["error"]["code"] == code, payload
    return payload["error"]


def current(address=ADDRESS, chain="ETH"):
    return TokenBalance.objects.get(account__address=address, chain=chain)


# --- the service -------------------------------------------------------------------------------

def test_a_newer_height_replaces_the_balance(db):
    first = token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10), height=100,
                              actor="oracle")
    second = token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal("7.5"), height=101,
                               actor="oracle")

    assert first.updated and first.created
    assert second.updated and not second.created
    assert (current().balance, current().height) == (Decimal("7.5"), 101)


def test_an_older_height_never_overwrites_a_newer_one(db):
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10), height=100,
                      actor="oracle")

    with pytest.raises(StaleHeight) as stale:
        token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(99), height=99,
                          actor="oracle")

    assert stale.value.status_code == 409
    assert stale.value.details["current_height"] == 100
    assert (current().balance, current().height) == (Decimal(10), 100)


def test_the_same_report_again_changes_nothing(db):
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10), height=100,
                      actor="oracle")
    before = current().updated_at

    again = token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal("10.000"),
                              height=100, actor="oracle")

    assert not again.updated
    assert current().updated_at == before


def test_the_same_height_with_another_balance_is_refused(db):
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10), height=100,
                      actor="oracle")
    with pytest.raises(StaleHeight):
        token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(11), height=100,
                          actor="oracle")
    assert current().balance == 10


def test_balances_are_per_chain_and_per_account_and_chains_ignore_case(db):
    token_balance_set(address=ADDRESS, chain="eth", balance=Decimal(1), height=5, actor="o")
    token_balance_set(address=ADDRESS, chain="AVAX", balance=Decimal(2), height=1, actor="o")
    token_balance_set(address=OTHER_ADDRESS.lower(), chain="ETH", balance=Decimal(3), height=1,
                      actor="o")

    assert current(chain="ETH").balance == 1
    assert current(chain="AVAX").balance == 2
    assert current(address=OTHER_ADDRESS).balance == 3


@pytest.mark.parametrize("balance, height", [
    (Decimal(-1), 1), (Decimal(10) ** 20 + 1, 1), (Decimal("1e-19"), 1), (Decimal("NaN"), 1),
    (Decimal("Infinity"), 1), (Decimal(1), -1), (Decimal(1), 2 ** 63), (Decimal(1), 1.0),
    (Decimal(1), True), (Decimal(1), "5"), (1.5, 1),
])
def test_out_of_range_values_are_refused(db, balance, height):
    with pytest.raises(InvalidInput):
        token_balance_set(address=ADDRESS, chain="ETH", balance=balance, height=height,
                          actor="oracle")
    assert not TokenBalance.objects.exists()


def test_the_largest_balance_with_18_decimals_is_accepted(db):
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal("99999999999999999999."
                                                                    "999999999999999999"),
                      height=0, actor="oracle")
    assert current().balance == Decimal("99999999999999999999.999999999999999999")


def test_an_unknown_chain_is_refused(db):
    with pytest.raises(InvalidInput):
        token_balance_set(address=ADDRESS, chain="MARS", balance=Decimal(1), height=1,
                          actor="oracle")


# --- the API -----------------------------------------------------------------------------------

def test_the_service_key_reports_a_balance(client_as):
    service = client_as("service")

    created = put(service, {"balance": "1500.25", "height": 7})
    newer = put(service, {"balance": "1400", "height": 8}, address=ADDRESS.lower(), chain="eth")
    same = put(service, {"balance": "1400.0", "height": 8})

    assert (created.status_code, newer.status_code, same.status_code) == (201, 200, 200)
    assert newer.json() == {"address": ADDRESS, "chain": "ETH",
                            "balance": "1400.000000000000000000", "height": 8,
                            "updated_at": newer.json()["updated_at"]}
    assert same.json() == newer.json()


def test_an_older_height_is_a_409_with_the_current_height(client_as):
    service = client_as("service")
    put(service, {"balance": "10", "height": 8})

    error = assert_error(put(service, {"balance": "1", "height": 7}), 409, "stale_height")

    assert error["details"]["current_height"] == 8
    assert current().balance == 10


@pytest.mark.parametrize("caller, status", [(None, 401), ("owner", 403), ("other_owner", 403),
                                            ("operator", 403)])
def test_only_a_service_key_reports_balances(client_as, caller, status):
    assert_error(put(client_as(caller), {"balance": "10", "height": 8}), status)
    assert not TokenBalance.objects.exists()


@pytest.mark.parametrize("payload", [
    {}, {"balance": "10"}, {"height": 1},
    {"balance": 10, "height": 1}, {"balance": 10.5, "height": 1}, {"balance": "-1", "height": 1},
    {"balance": "1e5", "height": 1}, {"balance": "100000000000000000001", "height": 1},
    {"balance": "1." + "1" * 19, "height": 1}, {"balance": " 1", "height": 1},
    {"balance": "1\n", "height": 1}, {"balance": "", "height": 1},
    {"balance": "0x10", "height": 1}, {"balance": "NaN", "height": 1},
    {"balance": None, "height": 1}, {"balance": ["1"], "height": 1},
    {"balance": "1", "height": 1.5}, {"balance": "1", "height": 1.0},
    {"balance": "1", "height": "1"}, {"balance": "1", "height": -1},
    {"balance": "1", "height": 2 ** 64}, {"balance": "1", "height": True},
    {"balance": "1", "height": None},
    [], "x", 1, None,
])
def test_wrong_bodies_are_a_400_and_change_nothing(client_as, payload):
    assert_error(put(client_as("service"), payload), 400, "invalid_request")
    assert not TokenBalance.objects.exists()


@pytest.mark.parametrize("raw", [b"not json", b"{", b'{"balance": "1", "height": NaN}', b"\xff"])
def test_bodies_that_are_not_json_are_a_400(client_as, raw):
    response = client_as("service").generic("PUT", url(), raw, content_type="application/json")
    assert_error(response, 400, "malformed_request")


@pytest.mark.parametrize("address, chain", [("0x1234", "ETH"), (ADDRESS, "MARS"),
                                            ("0x" + "g" * 40, "ETH")])
def test_a_bad_address_or_chain_is_a_422(client_as, address, chain):
    response = put(client_as("service"), {"balance": "1", "height": 1}, address=address,
                   chain=chain)
    assert_error(response, 422, "invalid_input")
    assert not TokenBalance.objects.exists()
    assert not Account.objects.exclude(address__in=[ADDRESS, OTHER_ADDRESS]).exists()


# --- concurrency -------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_reports_end_at_the_highest_height():
    heights = list(range(1, 31))
    heights.reverse()  # the highest tends to start first: the others must all be refused then
    barrier = threading.Barrier(len(heights))
    outcomes: list = [None] * len(heights)

    def report(index, height):
        try:
            barrier.wait(timeout=30)
            outcomes[index] = token_balance_set(address=ADDRESS, chain="ETH",
                                                balance=Decimal(height) * 10, height=height,
                                                actor="oracle")
        except Exception as exc:  # noqa: BLE001 - asserted on below
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=report, args=(i, h)) for i, h in enumerate(heights)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert all(isinstance(o, StaleHeight) or o.updated for o in outcomes), outcomes
    assert (current().height, current().balance) == (30, Decimal(300))
    assert TokenBalance.objects.count() == 1
    assert Account.objects.filter(address=ADDRESS).count() == 1


# --- the range: what is accepted is stored, formatted and read back ----------------------------

LARGEST = "99999999999999999999.999999999999999999"  # numeric(38, 18): 20 digits, 18 decimals


def reads_of(client, address=ADDRESS):
    """GET balance and a hold affordability read: the two reads a token balance feeds."""
    balance = client.get(f"/api/v1/accounts/{address}/balance")
    affordability = client.post(f"/api/v1/accounts/{address}/affordability",
                                {"type": "INSTANCE", "content": instance_content(payment="hold")},
                                content_type="application/json")
    return balance, affordability


@pytest.mark.parametrize("balance, written", [
    ("10000000000", "10000000000.000000000000000000"),
    ("9999999999.999999999999999999", "9999999999.999999999999999999"),
    ("12345678901234567890.123456789012345678", "12345678901234567890.123456789012345678"),
    (LARGEST, LARGEST),
])
def test_a_large_accepted_balance_is_stored_and_every_read_still_answers(
        client_as, client, default_version, balance, written):
    # given
    response = put(client_as("service"), {"balance": balance, "height": 1})

    # when
    balance_read, affordability_read = reads_of(client)

    # then
    assert response.status_code == 201, response.content[:500]
    assert response.json()["balance"] == written
    assert balance_read.status_code == 200, balance_read.content[:500]
    assert balance_read.json()["token_balances"] == [
        {"chain": "ETH", "balance": written, "height": 1}]
    assert affordability_read.status_code == 200, affordability_read.content[:500]
    assert affordability_read.json()["available"] == written
    assert affordability_read.json()["affordable"] is True


def test_the_largest_accepted_balance_round_trips_exactly(client_as, client, default_version):
    put(client_as("service"), {"balance": LARGEST, "height": 1})

    balance_read, affordability_read = reads_of(client)

    assert current().balance == Decimal(LARGEST)
    assert balance_read.json()["token_balances"][0]["balance"] == LARGEST
    assert affordability_read.json()["available"] == LARGEST


@pytest.mark.parametrize("balance", [
    "100000000000000000000",  # the largest plus 10^-18: one integer digit more than the column
    "100000000000000000000.000000000000000001", "100000000000000000000.5",
    "999999999999999999999", "1" + "0" * 30,
])
def test_a_balance_above_the_column_is_a_400_and_every_read_still_answers(
        client_as, client, default_version, balance):
    service = client_as("service")
    put(service, {"balance": "5", "height": 1})

    error = assert_error(put(service, {"balance": balance, "height": 2}), 400, "invalid_request")
    balance_read, affordability_read = reads_of(client)

    assert "balance" in error["details"]["fields"]
    assert (current().balance, current().height) == (Decimal(5), 1)
    assert balance_read.status_code == 200, balance_read.content[:500]
    assert affordability_read.status_code == 200, affordability_read.content[:500]


def test_the_service_refuses_a_balance_one_step_above_the_largest(db):
    with pytest.raises(InvalidInput):
        token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10) ** 20, height=1,
                          actor="oracle")
    assert not TokenBalance.objects.exists()


def test_validation_and_the_column_agree_on_one_range():
    from credits.serializers.resources import TokenAmountField
    from credits.services.token_balances import MAX_TOKEN_BALANCE
    from pricing.fields import DECIMAL_PLACES, MAX_DIGITS

    field = TokenAmountField()

    assert MAX_TOKEN_BALANCE == Decimal(LARGEST)
    assert len(MAX_TOKEN_BALANCE.as_tuple().digits) == MAX_DIGITS
    assert MAX_TOKEN_BALANCE.as_tuple().exponent == -DECIMAL_PLACES
    assert field.to_internal_value(LARGEST) == MAX_TOKEN_BALANCE
