"""Addresses follow their chain's format (punctuation is never an address) and token balance
heights are bounded, so no report can freeze a balance: refusals are 4xx in the error shape."""
import json
from decimal import Decimal
from urllib.parse import quote

import pytest

from credits.addresses import InvalidAddress, normalize_address
from credits.errors import InvalidInput
from credits.models import Account, LedgerEntry, TokenBalance
from credits.services.token_balances import MAX_HEIGHT, token_balance_set

from .conftest import ADDRESS, OTHER_ADDRESS
from .test_token_balances import assert_error

GRANTS = "/api/v1/credits/grants"

# One address in each format of the network's non-EVM chains (kept as given).
NON_EVM_ADDRESSES = [
    "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T",  # SOL (base58)
    "5G6LVo8aJmFiXTdTioDDt49ZseJ5eh9UQRga2MYf1hzdyhUJ",  # DOT (SS58)
    "tz1VSUr8wwNhLAzempoch5d6hLRiTh8Cjcjb",  # TEZOS
    "NULSd6HgcLR5Yjc7yyMiteQZxTpuB6NYRiqWf",  # NULS2
    "cosmos1hsk6jryyqjfhp5dhc55tc9jtckygx0eph6dd02",  # CSDK (bech32)
    "X-avax1tzdcgj4ehsvhhgpl7zylwpw0gl2rxcg4r5afk5",  # AVAX X-chain
    "0:" + "3" * 64,  # Everscale, workchain 0
]
# EVM addresses in any case are stored checksummed.
VALID_ADDRESSES = [
    ("0x9319ad3b7a8e0ee24f2e639c40d8ed124c5520ba", ADDRESS),
    ("0x9319AD3B7A8E0EE24F2E639C40D8ED124C5520BA", ADDRESS),
    (f"  {ADDRESS}\n", ADDRESS),
    *((address, address) for address in NON_EVM_ADDRESSES),
]

HOSTILE_ADDRESSES = [
    "....................", "--------------------", "____________________",
    "::::::::::::::::::::", "-.-.-.-.-.-.-.-.-.-.-.-.", "_:_:_:_:_:_:_:_:_:_:_",
    ".aaaaaaaaaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaaaaaaaaa-", "aaaaaaaaaa--aaaaaaaaaaaa",
    "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o",  # 15 letters: too few to be an address
    "a" * 19, "0x" + "g" * 40, "0x1234", "0x" + "a" * 41, "0X" + "a" * 40,
]
# Not even reachable through a URL path segment: only the body of a grant can carry them.
UNROUTABLE_ADDRESSES = [
    "", "   ", "a" * 129, "aaaaaaaaaa aaaaaaaaaaaa", "aaaaaaaaaa/aaaaaaaaaaaa",
    "../../../../etc/passwd", "ααααααααααααααααααααααα", "aaaaaaaaaaaaaaaaaaaaaaa\x00",
    "aaaaaaaaaa\naaaaaaaaaaaa", "<script>alert(1)</script>",
]


def put_balance(client, payload, address=ADDRESS, chain="ETH"):
    return client.put(f"/api/v1/accounts/{quote(address, safe='')}/token-balances/{chain}",
                      json.dumps(payload), content_type="application/json")


# --- addresses ---------------------------------------------------------------------------------

@pytest.mark.parametrize("given, stored", VALID_ADDRESSES)
def test_addresses_of_every_chain_format_are_accepted_in_their_stored_form(given, stored):
    assert normalize_address(given) == stored


@pytest.mark.parametrize("address", HOSTILE_ADDRESSES + UNROUTABLE_ADDRESSES)
def test_punctuation_and_malformed_addresses_are_refused(address):
    with pytest.raises(InvalidAddress):
        normalize_address(address)


@pytest.mark.parametrize("address", HOSTILE_ADDRESSES + UNROUTABLE_ADDRESSES)
def test_a_grant_to_a_malformed_address_is_a_4xx_and_grants_nothing(client_as, address):
    response = client_as("service").post(
        GRANTS, json.dumps({"address": address, "amount": 5, "reference": "r"}),
        content_type="application/json")

    # 400 when the body's field itself is refused (blank, too long, NUL), 422 for the address.
    if response.status_code == 400:
        assert assert_error(response, 400)["code"] in {"invalid_request", "malformed_request"}
    else:
        assert_error(response, 422, "invalid_input")
    assert not LedgerEntry.objects.exists()
    assert set(Account.objects.values_list("address", flat=True)) <= {ADDRESS, OTHER_ADDRESS}


@pytest.mark.parametrize("address", HOSTILE_ADDRESSES)
def test_a_token_balance_for_a_malformed_address_is_a_422_and_stores_nothing(client_as,
                                                                             address):
    response = put_balance(client_as("service"), {"balance": "1", "height": 1}, address=address)

    assert_error(response, 422, "invalid_input")
    assert not TokenBalance.objects.exists()
    assert set(Account.objects.values_list("address", flat=True)) <= {ADDRESS, OTHER_ADDRESS}


@pytest.mark.parametrize("address", UNROUTABLE_ADDRESSES)
def test_a_token_balance_for_an_address_no_route_matches_is_a_4xx(client_as, address):
    response = put_balance(client_as("service"), {"balance": "1", "height": 1}, address=address)

    # 404: no route matches; 400: a NUL in the path is refused before routing.
    assert response.status_code in {400, 404}
    assert assert_error(response, response.status_code)["code"] in {"not_found",
                                                                      "malformed_request"}
    assert not TokenBalance.objects.exists()


@pytest.mark.parametrize("address", NON_EVM_ADDRESSES)
def test_a_non_evm_address_receives_a_grant_and_a_token_balance(client_as, address):
    service = client_as("service")

    granted = service.post(GRANTS, json.dumps({"address": address, "amount": 5,
                                               "reference": "r"}),
                           content_type="application/json")
    reported = put_balance(service, {"balance": "1", "height": 1}, address=address, chain="SOL")

    assert granted.status_code == 201, granted.content[:500]
    assert reported.status_code == 201, reported.content[:500]
    assert granted.json()["address"] == reported.json()["address"] == address


# --- heights -----------------------------------------------------------------------------------

def test_the_height_bound_is_far_above_real_chains_and_far_below_the_column():
    # Solana's slot, the fastest-growing height the network reads, is under 10^9 in 2025.
    assert 10 ** 11 <= MAX_HEIGHT < 2 ** 53 < 2 ** 63 - 1


def test_a_report_at_the_height_bound_is_accepted(client_as):
    response = put_balance(client_as("service"), {"balance": "1", "height": MAX_HEIGHT})

    assert response.status_code == 201, response.content[:500]
    assert TokenBalance.objects.get().height == MAX_HEIGHT


@pytest.mark.parametrize("height", [MAX_HEIGHT + 1, 2 ** 53, 2 ** 63 - 1])
def test_a_report_above_the_height_bound_is_a_400_and_stores_nothing(client_as, height):
    error = assert_error(put_balance(client_as("service"), {"balance": "1", "height": height}),
                         400, "invalid_request")

    assert "height" in error["details"]["fields"]
    assert not TokenBalance.objects.exists()


@pytest.mark.parametrize("height", [MAX_HEIGHT + 1, 2 ** 63 - 1])
def test_the_service_refuses_a_height_above_the_bound(db, height):
    with pytest.raises(InvalidInput):
        token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(1), height=height,
                          actor="oracle")
    assert not TokenBalance.objects.exists()


def test_a_report_at_a_huge_height_cannot_freeze_the_balance(client_as):
    # given
    service = client_as("service")
    put_balance(service, {"balance": "10", "height": 100})

    # when
    frozen = put_balance(service, {"balance": "999", "height": 2 ** 63 - 1})
    later = put_balance(service, {"balance": "7", "height": 101})

    # then
    assert_error(frozen, 400, "invalid_request")
    assert later.status_code == 200, later.content[:500]
    assert (TokenBalance.objects.get().balance, TokenBalance.objects.get().height) == (
        Decimal(7), 101)


def test_the_schema_documents_the_height_bound(client):
    document = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    put = document["paths"]["/api/v1/accounts/{address}/token-balances/{chain}"]["put"]
    reference = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]

    height = document["components"]["schemas"][reference.rsplit("/", 1)[1]]["properties"][
        "height"]

    assert (height["minimum"], height["maximum"]) == (0, MAX_HEIGHT)
