"""The network's v0 account reads: `addresses/{address}/balance`, `balances`, `credit_balances`,
`addresses/{address}/credit_history` and its `/summary`, in aleph-im/pyaleph's shapes, paging,
filters, sorts, status codes and plain-text error bodies, with CREDITS_PUBLIC_ACCOUNT_READS."""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from credits.models import Account, EntryKind, LedgerEntry, ResourceStatus
from credits.selectors.ledger import account_balance
from credits.serializers.network_accounts import (
    V0_CURSOR_MAX_PAGINATION,
    V0_MAX_PAGINATION,
    network_cursor_encode,
)
from credits.services.ledger import expense_create, grant_create, lots_expire, transfer_create
from credits.services.token_balances import MAX_TOKEN_BALANCE, token_balance_set
from pricing.enums import PaymentType
from tests.credits import conftest as credits_fixtures
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0, THIRD_ADDRESS

pytestmark = pytest.mark.django_db

# The credits tests' fixtures: accounts, API keys of every scope, clients, resources.
account = credits_fixtures.account
other_account = credits_fixtures.other_account
api_keys = credits_fixtures.api_keys
client_as = credits_fixtures.client_as
ledger_resource_factory = credits_fixtures.ledger_resource_factory

HOUR = timedelta(hours=1)
EXPIRY = T0 + timedelta(days=10)
RESOURCE_HASH = "e" * 64
TEXT = "text/plain; charset=utf-8"
# The network's answer fields (pyaleph's src/aleph/schemas/api/accounts.py).
BALANCE_KEYS = ["address", "balance", "details", "locked_amount", "credit_balance",
                "credit_balance_details"]
RECORD_KEYS = ["amount", "price", "bonus_amount", "tx_hash", "token", "chain", "provider",
               "origin", "origin_ref", "payment_method", "credit_ref", "credit_index",
               "expiration_date", "message_timestamp", "expense_count", "expense_size_mib"]
# What each kind of entry is on the network (None: not known here).
PAYMENT_METHODS = {EntryKind.GRANT: None, EntryKind.EXPENSE: "credit_expense",
                   EntryKind.TRANSFER_IN: "credit_transfer",
                   EntryKind.TRANSFER_OUT: "credit_transfer", EntryKind.EXPIRY: "credit_expiry",
                   EntryKind.ADJUSTMENT: "credit_adjustment"}


def balance_url(address=ADDRESS, **query):
    return _url(f"/api/v0/addresses/{address}/balance", query)


def history_url(address=ADDRESS, **query):
    return _url(f"/api/v0/addresses/{address}/credit_history", query)


def summary_url(address=ADDRESS, **query):
    return _url(f"/api/v0/addresses/{address}/credit_history/summary", query)


def _url(path, query):
    return f"{path}?{urlencode(query)}" if query else path


def exact_json(response):
    """The answer with its JSON numbers read as Decimals, digit for digit."""
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content, parse_float=Decimal)


def assert_refused(response, status=422):
    """The network's plain-text refusal; its text."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == TEXT
    return response.content.decode()


def refused_fields(response) -> set[str]:
    """The parameters pydantic's 422 (a JSON list of its errors, as text) names."""
    return {error["loc"][0] for error in json.loads(assert_refused(response))}


def iso(instant):
    return None if instant is None else instant.isoformat().replace("+00:00", "Z")


@pytest.fixture
def now(time_machine):
    time_machine.move_to(T0, tick=False)
    return T0


@pytest.fixture
def history(now, account, other_account, ledger_resource_factory):
    """ADDRESS's ledger at T0, oldest first: two grants (one expiring at EXPIRY), an expense for
    its resource, a transfer to OTHER_ADDRESS, a grant of 7 expiring before T0, a transfer back
    from OTHER_ADDRESS, and the expiry of what the 7 had left. Returns the entries, newest
    first."""
    resource = ledger_resource_factory(account, item_hash=RESOURCE_HASH)
    grant_create(address=ADDRESS, amount=1000, expires_at=None, reference="purchase-1",
                 actor="test", at=T0 - 5 * HOUR)
    grant_create(address=ADDRESS, amount=500, expires_at=EXPIRY, reference="purchase-2",
                 actor="test", at=T0 - 4 * HOUR)
    expense_create(address=ADDRESS, amount=300, reference="usage-1",
                   resource_item_hash=resource.item_hash, actor="test", at=T0 - 3 * HOUR)
    transfer_create(sender_address=ADDRESS, recipient_address=OTHER_ADDRESS, amount=100,
                    expires_at=None, reference="gift-1", actor="test", at=T0 - 2 * HOUR)
    grant_create(address=ADDRESS, amount=7, expires_at=T0 - HOUR / 2, reference="trial",
                 actor="test", at=T0 - 90 * timedelta(minutes=1))
    transfer_create(sender_address=OTHER_ADDRESS, recipient_address=ADDRESS, amount=40,
                    expires_at=None, reference="gift-back", actor="test", at=T0 - HOUR)
    lots_expire(at=T0)
    return list(LedgerEntry.objects.filter(account__address=ADDRESS)
                .order_by("-effective_at", "-id"))


def test_history_fixture_has_every_kind_the_network_records_and_an_expiry(history):
    assert [entry.kind for entry in history] == [
        EntryKind.EXPIRY, EntryKind.TRANSFER_IN, EntryKind.GRANT, EntryKind.TRANSFER_OUT,
        EntryKind.EXPENSE, EntryKind.GRANT, EntryKind.GRANT]


# --- addresses/{address}/balance -----------------------------------------------------------------

@pytest.fixture
def tokens(history, ledger_resource_factory):
    """Token balances of ADDRESS on ETH and SOL (the latest ETH report wins), and two live
    hold-paid resources (ETH and AVAX) beside one removed."""
    owner = Account.objects.get(address=ADDRESS)
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal("1"), height=1, actor="test")
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal("1500.25"), height=2,
                      actor="test")
    token_balance_set(address=ADDRESS, chain="SOL", balance=Decimal("0.000000000000000001"),
                      height=7, actor="test")
    holds = {"ETH": Decimal("1000.123456789012345678"), "AVAX": Decimal("250")}
    for chain, cost in holds.items():
        ledger_resource_factory(owner, payment_type=PaymentType.HOLD, payment_chain=chain,
                                cost_hold=cost)
    ledger_resource_factory(owner, payment_type=PaymentType.HOLD, payment_chain="ETH",
                            cost_hold="999", status=ResourceStatus.REMOVED)
    return {"ETH": Decimal("1500.25"), "SOL": Decimal("0.000000000000000001"),
            "locked": sum(holds.values())}


def test_the_balance_answers_the_networks_fields_tokens_locked_and_credits(client_as, tokens):
    body = exact_json(client_as(None).get(balance_url()))

    assert list(body) == BALANCE_KEYS
    assert body["address"] == ADDRESS
    assert body["balance"] == tokens["ETH"] + tokens["SOL"]
    assert body["details"] == {"ETH": tokens["ETH"], "SOL": tokens["SOL"]}
    assert body["locked_amount"] == tokens["locked"]
    assert body["credit_balance"] == account_balance(account=Account.objects.get(
        address=ADDRESS))
    assert body["credit_balance"] == 1000 + 500 - 300 - 100 + 40
    assert body["credit_balance_details"] is None


def test_the_balance_writes_token_amounts_as_json_numbers_with_all_their_digits(
        client_as, account):
    token_balance_set(address=ADDRESS, chain="ETH", balance=MAX_TOKEN_BALANCE, height=1,
                      actor="test")
    token_balance_set(address=ADDRESS, chain="SOL", balance=Decimal("0.000000000000000002"),
                      height=1, actor="test")

    response = client_as(None).get(balance_url())

    raw = response.content.decode()
    assert f'"ETH":{MAX_TOKEN_BALANCE}' in raw
    assert '"SOL":0.000000000000000002' in raw
    # the total has 39 digits: added exactly, not in a float or in Python's 28-digit context
    total = "100000000000000000000.000000000000000001"
    assert f'"balance":{total}' in raw
    assert exact_json(response)["balance"] == Decimal(total)


def test_the_credit_details_list_never_expiring_credits_first_then_by_expiry(client_as,
                                                                            history):
    body = exact_json(client_as(None).get(balance_url(include_credit_details="true")))

    # 1000 never expire; the 500 grant's 100 left and the 40 sent back (a piece of OTHER's
    # lot from ADDRESS's 500, so expiring with it) expire at EXPIRY
    assert body["credit_balance_details"] == [
        {"expiration_date": None, "amount": 1000},
        {"expiration_date": iso(EXPIRY), "amount": 140}]
    assert body["credit_balance"] == 1140


def test_the_balance_on_one_chain_leaves_the_details_empty(client_as, tokens):
    body = exact_json(client_as(None).get(balance_url(chain="SOL")))

    assert body["balance"] == tokens["SOL"]
    assert body["details"] == {}
    assert body["locked_amount"] == tokens["locked"]


@pytest.mark.parametrize("spelling", ["TRUE", "1", "yes", "on", "t", "Y"])
def test_the_balance_reads_include_credit_details_as_the_network_reads_a_boolean(
        client_as, history, spelling):
    body = exact_json(client_as(None).get(balance_url(include_credit_details=spelling)))

    assert sum(split["amount"] for split in body["credit_balance_details"]) == 1140


@pytest.mark.parametrize("details", [None, "true"])
def test_an_address_with_no_account_answers_zeros_as_the_network_does(client_as, db, details):
    query = {} if details is None else {"include_credit_details": details}

    body = exact_json(client_as(None).get(balance_url(THIRD_ADDRESS, **query)))

    assert body == {"address": THIRD_ADDRESS, "balance": 0, "details": {}, "locked_amount": 0,
                    "credit_balance": 0,
                    "credit_balance_details": None if details is None else []}


def test_an_evm_address_is_read_in_any_case_and_answered_checksummed(client_as, history):
    lower = exact_json(client_as(None).get(balance_url(ADDRESS.lower())))

    assert lower["address"] == ADDRESS
    assert lower["credit_balance"] == 1140


@pytest.mark.parametrize("query, field", [({"chain": "eth"}, "chain"),
                                          ({"chain": "BITCOIN"}, "chain"),
                                          ({"include_credit_details": "maybe"},
                                           "include_credit_details")])
def test_the_balance_refuses_a_bad_parameter_with_the_networks_422(client_as, history, query,
                                                                  field):
    assert refused_fields(client_as(None).get(balance_url(**query))) == {field}


@pytest.mark.parametrize("url", [balance_url, history_url, summary_url])
@pytest.mark.parametrize("address", ["0x1234", "not an address", "0x" + "g" * 40, "a" * 129])
def test_an_address_that_cannot_be_one_is_a_422_as_text(client_as, db, url, address):
    text = assert_refused(client_as(None).get(url(address)))

    assert "not a valid" in text


# --- balances ------------------------------------------------------------------------------------

@pytest.fixture
def many_tokens(db):
    """Token balances of three accounts, some on two chains: {(address, chain): balance}."""
    reported = {(ADDRESS, "ETH"): Decimal("10"), (ADDRESS, "SOL"): Decimal("3.5"),
                (OTHER_ADDRESS, "ETH"): Decimal("0.000000000000000001"),
                (THIRD_ADDRESS, "AVAX"): Decimal("42"), (THIRD_ADDRESS, "ETH"): Decimal("7")}
    for (address, chain), balance in reported.items():
        token_balance_set(address=address, chain=chain, balance=balance, height=1,
                          actor="test")
    return reported


def rows_of(body):
    return [(row["address"], row["chain"], row["balance"]) for row in body["balances"]]


def test_balances_lists_every_address_and_chain_by_address_with_the_networks_paging(
        client_as, many_tokens):
    body = exact_json(client_as(None).get("/api/v0/balances"))

    assert list(body) == ["balances", "pagination_per_page", "pagination_page",
                          "pagination_total", "pagination_item"]
    assert rows_of(body) == [(address, chain, balance) for (address, chain), balance
                             in sorted(many_tokens.items())]
    assert (body["pagination_per_page"], body["pagination_page"], body["pagination_total"],
            body["pagination_item"]) == (100, 1, len(many_tokens), "balances")


def test_balances_filter_by_chains_and_minimum_balance(client_as, many_tokens):
    body = exact_json(client_as(None).get("/api/v0/balances?chains=ETH,AVAX&min_balance=8"))

    assert rows_of(body) == [(address, chain, balance) for (address, chain), balance
                             in sorted(many_tokens.items())
                             if chain in ("ETH", "AVAX") and balance >= 8]
    assert body["pagination_total"] == len(rows_of(body)) == 2


def test_balances_pages_cover_every_row_once(client_as, many_tokens):
    pages = [exact_json(client_as(None).get(f"/api/v0/balances?pagination=2&page={page}"))
             for page in (1, 2, 3, 4)]

    assert [len(page["balances"]) for page in pages] == [2, 2, 1, 0]
    assert [row for page in pages for row in rows_of(page)] == [
        (address, chain, balance) for (address, chain), balance in sorted(many_tokens.items())]
    assert {page["pagination_total"] for page in pages} == {len(many_tokens)}


def test_balances_with_a_cursor_walk_every_row_once(client_as, many_tokens):
    rows, cursor, answers = [], "", 0
    while cursor is not None:
        body = exact_json(client_as(None).get(f"/api/v0/balances?pagination=2&cursor={cursor}"))
        assert list(body) == ["balances", "pagination_per_page", "next_cursor"]
        rows += rows_of(body)
        cursor, answers = body["next_cursor"], answers + 1

    assert rows == [(address, chain, balance) for (address, chain), balance
                    in sorted(many_tokens.items())]
    assert answers == 3


def test_pagination_0_is_read_as_the_largest_page(client_as, many_tokens):
    body = exact_json(client_as(None).get("/api/v0/balances?pagination=0"))

    assert body["pagination_per_page"] == V0_MAX_PAGINATION
    assert len(body["balances"]) == len(many_tokens)


@pytest.mark.parametrize("path", ["/api/v0/balances", "/api/v0/credit_balances"])
@pytest.mark.parametrize("query, field", [
    ("page=0", "page"), ("page=-3", "page"), ("page=1.5", "page"), ("page=x", "page"),
    ("page=" + "9" * 40, "page"), ("pagination=-1", "pagination"),
    ("pagination=1001", "pagination"), ("pagination=" + "9" * 400, "pagination"),
    ("pagination=ten", "pagination"), ("min_balance=0", "min_balance"),
    ("min_balance=1.5", "min_balance"), ("min_balance=" + "9" * 30, "min_balance"),
    ("min_balance=abc", "min_balance")])
def test_balance_lists_refuse_bad_paging_and_filters_with_the_networks_422(
        client_as, many_tokens, path, query, field):
    assert refused_fields(client_as(None).get(f"{path}?{query}")) == {field}


@pytest.mark.parametrize("chains", ["FOO", "ETH,", "eth", ""])
def test_balances_refuse_an_unknown_chain(client_as, many_tokens, chains):
    assert refused_fields(client_as(None).get(f"/api/v0/balances?chains={chains}")) == {"chains"}


@pytest.mark.parametrize("path", ["/api/v0/balances", "/api/v0/credit_balances"])
@pytest.mark.parametrize("query", ["cursor=not-a-cursor!", "cursor=" + "A" * 2000,
                                   f"cursor={network_cursor_encode({'x': 1})}",
                                   f"cursor={network_cursor_encode({'a': 5, 'c': 5})}",
                                   "cursor=&pagination=0"])
def test_balance_lists_refuse_a_cursor_they_did_not_give(client_as, many_tokens, path, query):
    text = assert_refused(client_as(None).get(f"{path}?{query}"))

    assert "cursor" in text


def test_a_cursor_page_is_capped_as_the_network_caps_it(client_as, db):
    for number in range(V0_CURSOR_MAX_PAGINATION + 1):
        token_balance_set(address=f"0x{number:040x}", chain="ETH", balance=Decimal(number),
                          height=1, actor="test")

    body = exact_json(client_as(None).get("/api/v0/balances?pagination=1000&cursor="))

    assert body["pagination_per_page"] == V0_CURSOR_MAX_PAGINATION
    assert len(body["balances"]) == V0_CURSOR_MAX_PAGINATION
    assert body["next_cursor"] is not None


# --- credit_balances -----------------------------------------------------------------------------

def test_credit_balances_list_every_address_that_received_credits_by_address(
        client_as, history):
    # given a third account that only ever spent (no credits received: not listed)
    expense_create(address=THIRD_ADDRESS, amount=5, reference="debt", actor="test")

    body = exact_json(client_as(None).get("/api/v0/credit_balances"))

    expected = sorted((account.address, account_balance(account=account))
                      for account in Account.objects.filter(lots__isnull=False).distinct())
    assert [(row["address"], row["credits"]) for row in body["credit_balances"]] == expected
    assert [address for address, _ in expected] == sorted([ADDRESS, OTHER_ADDRESS])
    assert list(body) == ["credit_balances", "pagination_per_page", "pagination_page",
                          "pagination_total", "pagination_item"]
    assert (body["pagination_total"], body["pagination_item"]) == (2, "credit_balances")


def test_credit_balances_keep_an_address_whose_credits_are_spent_unless_a_minimum_is_asked(
        client_as, now):
    grant_create(address=ADDRESS, amount=10, expires_at=None, reference="spent", actor="test")
    expense_create(address=ADDRESS, amount=10, reference="all", actor="test")
    grant_create(address=OTHER_ADDRESS, amount=25, expires_at=None, reference="kept",
                 actor="test")

    everyone = exact_json(client_as(None).get("/api/v0/credit_balances"))
    funded = exact_json(client_as(None).get("/api/v0/credit_balances?min_balance=25"))
    richer = exact_json(client_as(None).get("/api/v0/credit_balances?min_balance=26"))

    assert {row["address"]: row["credits"] for row in everyone["credit_balances"]} == {
        ADDRESS: 0, OTHER_ADDRESS: 25}
    assert funded["credit_balances"] == [{"address": OTHER_ADDRESS, "credits": 25}]
    assert (richer["credit_balances"], richer["pagination_total"]) == ([], 0)


def test_credit_balances_page_and_cursor_give_the_same_rows(client_as, now):
    addresses = sorted(f"0x{number:040x}" for number in range(1, 8))
    for number, address in enumerate(addresses, start=1):
        grant_create(address=address, amount=number * 11, expires_at=None,
                     reference=f"grant-{number}", actor="test")

    pages = [exact_json(client_as(None).get(f"/api/v0/credit_balances?pagination=3&page={p}"))
             for p in (1, 2, 3)]
    by_cursor, cursor = [], ""
    while cursor is not None:
        body = exact_json(client_as(None).get(
            f"/api/v0/credit_balances?pagination=3&cursor={cursor}"))
        by_cursor += body["credit_balances"]
        cursor = body["next_cursor"]

    by_page = [row for page in pages for row in page["credit_balances"]]
    assert [row["address"] for row in by_page] == addresses
    assert [row["credits"] for row in by_page] == [n * 11 for n in range(1, 8)]
    assert by_cursor == by_page


# --- addresses/{address}/credit_history ----------------------------------------------------------

def expected_record(entry: LedgerEntry) -> dict:
    transfer = entry.kind in (EntryKind.TRANSFER_IN, EntryKind.TRANSFER_OUT)
    return {
        "amount": entry.amount, "price": None, "bonus_amount": None, "tx_hash": None,
        "token": None, "chain": None,
        "provider": "ALEPH" if entry.kind in (EntryKind.EXPENSE, *(
            (EntryKind.TRANSFER_IN, EntryKind.TRANSFER_OUT))) else None,
        "origin": entry.counterparty.address if transfer else None,
        "origin_ref": entry.resource.item_hash if entry.resource_id else None,
        "payment_method": PAYMENT_METHODS[entry.kind],
        "credit_ref": entry.reference or entry.idempotency_key,
        "credit_index": entry.pk,
        "expiration_date": iso(entry.expires_at),
        "message_timestamp": iso(entry.effective_at),
        "expense_count": None, "expense_size_mib": None,
    }


def test_the_credit_history_is_every_entry_as_a_network_record_newest_first(client_as,
                                                                           history):
    body = exact_json(client_as(None).get(history_url()))

    assert list(body) == ["address", "credit_history", "pagination_page", "pagination_total",
                          "pagination_per_page"]
    assert body["credit_history"] == [expected_record(entry) for entry in history]
    assert all(list(record) == RECORD_KEYS for record in body["credit_history"])
    assert (body["pagination_page"], body["pagination_total"],
            body["pagination_per_page"]) == (1, len(history), V0_MAX_PAGINATION)


def test_the_credit_history_records_say_what_each_entry_was(client_as, history):
    records = exact_json(client_as(None).get(history_url()))["credit_history"]
    by_ref = {record["credit_ref"]: record for record in records}

    assert by_ref["usage-1"]["amount"] == -300
    assert by_ref["usage-1"]["origin_ref"] == RESOURCE_HASH
    assert by_ref["gift-1"]["origin"] == OTHER_ADDRESS
    assert by_ref["gift-back"]["amount"] == 40
    assert by_ref["purchase-2"]["expiration_date"] == iso(EXPIRY)
    expiry = next(record for record in records if record["payment_method"] == "credit_expiry")
    assert expiry["amount"] == -7 and expiry["credit_ref"].startswith("expiry:lot:")


def test_the_credit_history_pages_cover_every_entry_once_then_404(client_as, history):
    pages = [exact_json(client_as(None).get(history_url(pagination=3, page=page)))
             for page in (1, 2, 3)]
    past_the_end = client_as(None).get(history_url(pagination=3, page=4))

    assert [len(page["credit_history"]) for page in pages] == [3, 3, 1]
    assert [record["credit_index"] for page in pages for record in page["credit_history"]] == [
        entry.pk for entry in history]
    assert {(page["pagination_total"], page["pagination_per_page"]) for page in pages} == {
        (len(history), 3)}
    assert assert_refused(past_the_end, 404) == "No credit history found for this address"


def _sort_key(sort_by):
    """How the network orders by `sort_by`: its value (empty ones last), ties by entry id."""
    def key(record):
        value = record[sort_by]
        return value is None, value if value is not None else ""
    return key


@pytest.mark.parametrize("sort_by", ["message_timestamp", "expiration_date", "payment_method",
                                     "amount", "origin", "tx_hash", "provider"])
@pytest.mark.parametrize("sort_order", [1, -1])
def test_the_credit_history_sorts_as_asked_and_a_cursor_walks_the_same_order(
        client_as, history, sort_by, sort_order):
    # given the whole history in one page, in this order
    whole = exact_json(client_as(None).get(history_url(sort_by=sort_by,
                                                       sort_order=sort_order)))
    records = whole["credit_history"]

    # then it is in that order: values ascending or descending, empty ones last, ties by id
    with_value = [record for record in records if record[sort_by] is not None]
    without = [record for record in records if record[sort_by] is None]
    assert records == with_value + without
    assert with_value == sorted(with_value, key=lambda r: (r[sort_by], r["credit_index"]),
                                reverse=sort_order == -1)
    assert without == sorted(without, key=lambda r: r["credit_index"],
                             reverse=sort_order == -1)

    # and a cursor, two entries at a time, walks the very same order
    walked, cursor = [], ""
    while cursor is not None:
        body = exact_json(client_as(None).get(history_url(
            sort_by=sort_by, sort_order=sort_order, pagination=2, cursor=cursor)))
        assert list(body) == ["address", "credit_history", "pagination_per_page",
                              "next_cursor"]
        walked += body["credit_history"]
        cursor = body["next_cursor"]
    assert walked == records


def test_a_cursor_made_for_another_sort_is_the_networks_422(client_as, history):
    first = exact_json(client_as(None).get(history_url(pagination=2, cursor="")))

    other_field = client_as(None).get(history_url(pagination=2, cursor=first["next_cursor"],
                                                  sort_by="amount"))
    other_order = client_as(None).get(history_url(pagination=2, cursor=first["next_cursor"],
                                                  sort_order=1))

    assert assert_refused(other_field).startswith("Cursor sort field mismatch")
    assert assert_refused(other_order).startswith("Cursor sort order mismatch")


@pytest.mark.parametrize("sort_by, cursor", [
    ("message_timestamp", "garbage!"),
    ("amount", network_cursor_encode({"s": "amount", "o": -1, "v": "x", "i": 1})),
    ("amount", network_cursor_encode({"s": "amount", "o": -1, "v": None, "i": 1})),
    ("message_timestamp", network_cursor_encode(
        {"s": "message_timestamp", "o": -1, "v": "not a time", "i": 1})),
    ("message_timestamp", network_cursor_encode(
        {"s": "message_timestamp", "o": -1, "v": None, "i": 1})),
    ("message_timestamp", network_cursor_encode(
        {"s": "message_timestamp", "o": -1, "v": "2030-01-01T00:00:00Z"})),
    ("message_timestamp", network_cursor_encode({"s": "message_timestamp", "o": -1,
                                                 "v": "2030-01-01T00:00:00Z", "i": True})),
    ("tx_hash", network_cursor_encode({"s": "tx_hash", "o": -1, "v": "0xabc", "i": 1}))])
def test_a_credit_history_cursor_it_did_not_give_is_the_networks_422(client_as, history,
                                                                     sort_by, cursor):
    response = client_as(None).get(history_url(pagination=2, cursor=cursor, sort_by=sort_by))

    assert "cursor" in assert_refused(response).lower()


FILTERS = {
    "payment_method=credit_transfer": lambda e: e.kind in (EntryKind.TRANSFER_IN,
                                                             EntryKind.TRANSFER_OUT),
    "exclude_payment_method=credit_expense,credit_expiry": lambda e: e.kind not in (
        EntryKind.EXPENSE, EntryKind.EXPIRY),
    "direction=incoming": lambda e: e.amount > 0,
    "direction=outgoing": lambda e: e.amount < 0,
    "has_expiration=true": lambda e: e.expires_at is not None,
    "has_expiration=0": lambda e: e.expires_at is None,
    f"startDate={(T0 - 2 * HOUR).timestamp()}": lambda e: e.effective_at >= T0 - 2 * HOUR,
    f"endDate={(T0 - 2 * HOUR).timestamp()}": lambda e: e.effective_at <= T0 - 2 * HOUR,
    f"startDate={(T0 - 4 * HOUR).timestamp()}&endDate={(T0 - 2 * HOUR).timestamp()}":
        lambda e: T0 - 4 * HOUR <= e.effective_at <= T0 - 2 * HOUR,
    f"resource={RESOURCE_HASH}": lambda e: e.resource_id is not None,
    f"origin_ref={RESOURCE_HASH}": lambda e: e.resource_id is not None,
    "resourceTypes=INSTANCE,STORE": lambda e: e.resource_id is not None,
    f"resource={OTHER_ADDRESS}": lambda e: e.counterparty_id is not None,
    f"origin={OTHER_ADDRESS}": lambda e: e.counterparty_id is not None,
    "provider=ALEPH": lambda e: e.kind in (EntryKind.EXPENSE, EntryKind.TRANSFER_IN,
                                            EntryKind.TRANSFER_OUT),
    "direction=incoming&has_expiration=false": lambda e: e.amount > 0 and e.expires_at is None,
}


@pytest.mark.parametrize("query", FILTERS)
def test_the_credit_history_and_its_summary_filter_as_the_network_does(client_as, history,
                                                                       query):
    expected = [entry for entry in history if FILTERS[query](entry)]
    assert expected and len(expected) < len(history), "a filter that keeps all or none"

    body = exact_json(client_as(None).get(f"{history_url()}?{query}"))
    summary = exact_json(client_as(None).get(f"{summary_url()}?{query}"))

    assert [record["credit_index"] for record in body["credit_history"]] == [
        entry.pk for entry in expected]
    assert body["pagination_total"] == len(expected)
    assert summary == {
        "address": ADDRESS, "entry_count": len(expected),
        "total_amount": sum(entry.amount for entry in expected),
        "total_incoming": sum(entry.amount for entry in expected if entry.amount > 0),
        "total_outgoing": sum(entry.amount for entry in expected if entry.amount < 0)}


@pytest.mark.parametrize("query", ["tx_hash=0xabc", "token=ALEPH", "chain=ETH",
                                   "payment_method=card", "resourceTypes=PROGRAM",
                                   f"startDate={(T0 + HOUR).timestamp()}"])
def test_a_filter_that_matches_nothing_is_the_networks_404_and_a_zero_summary(
        client_as, history, query):
    response = client_as(None).get(f"{history_url()}?{query}")
    summary = exact_json(client_as(None).get(f"{summary_url()}?{query}"))

    assert assert_refused(response, 404) == "No credit history found for this address"
    assert summary == {"address": ADDRESS, "entry_count": 0, "total_amount": 0,
                       "total_incoming": 0, "total_outgoing": 0}


def test_an_address_with_no_account_has_the_networks_404_history_and_a_zero_summary(
        client_as, db):
    response = client_as(None).get(history_url(THIRD_ADDRESS))
    summary = exact_json(client_as(None).get(summary_url(THIRD_ADDRESS)))

    assert assert_refused(response, 404) == "No credit history found for this address"
    assert summary == {"address": THIRD_ADDRESS, "entry_count": 0, "total_amount": 0,
                       "total_incoming": 0, "total_outgoing": 0}


def test_the_summary_of_the_whole_history_adds_up_to_the_balance(client_as, history):
    summary = exact_json(client_as(None).get(summary_url()))

    assert summary["total_amount"] == summary["total_incoming"] + summary["total_outgoing"]
    assert summary["total_amount"] == account_balance(account=Account.objects.get(
        address=ADDRESS))
    assert summary["entry_count"] == len(history)


@pytest.mark.parametrize("query, field", [
    ("page=0", "page"), ("pagination=-1", "pagination"), ("pagination=5000", "pagination"),
    ("sort_by=size", "sort_by"), ("sort_order=2", "sort_order"), ("sort_order=asc", "sort_order"),
    ("startDate=-1", "startDate"), ("startDate=yesterday", "startDate"),
    ("startDate=nan", "startDate"), ("endDate=1e30", "endDate"), ("endDate=inf", "endDate"),
    ("direction=up", "direction"), ("resourceTypes=VM", "resourceTypes"),
    ("resourceTypes=instance", "resourceTypes"), ("has_expiration=maybe", "has_expiration")])
def test_the_credit_history_refuses_bad_parameters_with_the_networks_422(client_as, history,
                                                                         query, field):
    assert refused_fields(client_as(None).get(f"{history_url()}?{query}")) == {field}


@pytest.mark.parametrize("query, field", [
    ("startDate=-1", "startDate"), ("direction=sideways", "direction"),
    ("has_expiration=2", "has_expiration"), ("resourceTypes=X", "resourceTypes")])
def test_the_summary_refuses_bad_filters_with_the_networks_422(client_as, history, query,
                                                               field):
    assert refused_fields(client_as(None).get(f"{summary_url()}?{query}")) == {field}


@pytest.mark.parametrize("url", [history_url, summary_url])
def test_an_end_date_before_the_start_date_is_the_networks_422(client_as, history, url):
    text = assert_refused(client_as(None).get(f"{url()}?startDate=100&endDate=99"))

    assert "end date cannot be lower than start date" in text


def test_a_cursor_with_pagination_0_is_the_networks_422(client_as, history):
    text = assert_refused(client_as(None).get(history_url(cursor="", pagination=0)))

    assert text == "pagination=0 is not allowed with cursor-based pagination"


@pytest.mark.parametrize("path", [
    balance_url(), history_url(), summary_url(), "/api/v0/balances", "/api/v0/credit_balances"])
@pytest.mark.parametrize("query", ["page=%00", "chain=%00", "tx_hash=a%00b",
                                   "pagination=" + "1" * 5000, "startDate=" + "9" * 400,
                                   "min_balance=-" + "9" * 100, "cursor=%ff%fe",
                                   "sort_by=" + "x" * 10000])
def test_hostile_query_values_are_refused_never_a_server_error(client_as, history, path, query):
    response = client_as(None).get(f"{path}?{query}")

    assert response.status_code < 500
    assert response.status_code in (200, 400, 404, 422)


# --- private account reads -----------------------------------------------------------------------

ADDRESS_READS = [balance_url(), history_url(), summary_url()]
LISTS = ["/api/v0/balances", "/api/v0/credit_balances"]


@pytest.fixture
def private_reads(settings):
    settings.CREDITS_PUBLIC_ACCOUNT_READS = False


@pytest.mark.parametrize("path", ADDRESS_READS + LISTS)
def test_account_reads_are_public_by_default(client_as, history, path):
    assert client_as(None).get(path).status_code == 200


@pytest.mark.usefixtures("private_reads")
@pytest.mark.parametrize("path", ADDRESS_READS + LISTS)
def test_private_reads_refuse_an_anonymous_caller_with_a_401(client_as, history, path):
    response = client_as(None).get(path)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.usefixtures("private_reads")
@pytest.mark.parametrize("path", ADDRESS_READS)
def test_private_reads_let_the_owner_read_its_own_account_and_no_other(client_as, history,
                                                                      path):
    own = client_as("owner").get(path)
    other = client_as("other_owner").get(path)

    assert own.status_code == 200
    assert other.status_code == 403
    assert other.json()["error"]["code"] == "permission_denied"


@pytest.mark.usefixtures("private_reads")
@pytest.mark.parametrize("path", LISTS)
def test_private_reads_refuse_an_owner_key_the_lists_of_every_account(client_as, history, path):
    response = client_as("owner").get(path)

    assert response.status_code == 403
    assert "every account" in response.json()["error"]["message"]


@pytest.mark.usefixtures("private_reads")
@pytest.mark.parametrize("caller", ["service", "operator"])
@pytest.mark.parametrize("path", ADDRESS_READS + LISTS)
def test_private_reads_let_service_and_operator_keys_read_everything(client_as, history,
                                                                    caller, path):
    assert client_as(caller).get(path).status_code == 200
