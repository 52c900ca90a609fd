"""The ledger endpoints: balance, credit history, grants, expenses and transfers, with who may
call them, idempotent replays, hostile bodies and pagination."""
import json
from datetime import timedelta
from decimal import Decimal

import pytest

from credits.models import Account, EntryKind, LedgerEntry, Lot, TokenBalance
from credits.services.ledger import expense_create, grant_create
from pricing.costs import floor18
from pricing.enums import PaymentType

from .conftest import ADDRESS, OTHER_ADDRESS, T0, THIRD_ADDRESS

pytestmark = pytest.mark.django_db

GRANTS = "/api/v1/credits/grants"
EXPENSES = "/api/v1/credits/expenses"
TRANSFERS = "/api/v1/credits/transfers"
DAY = timedelta(days=1)


def balance_url(address):
    return f"/api/v1/accounts/{address}/balance"


def history_url(address):
    return f"/api/v1/accounts/{address}/credit-history"


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def grant(amount, *, address=ADDRESS, expires_at=None, reference=None, at=None):
    return grant_create(address=address, amount=amount, expires_at=expires_at,
                        reference=reference or f"g-{amount}-{expires_at}-{address}",
                        actor="test", at=at)


@pytest.fixture
def now(time_machine):
    time_machine.move_to(T0, tick=False)
    return T0


def entries_snapshot():
    return (list(LedgerEntry.objects.order_by("pk").values_list("pk", "amount")),
            list(Lot.objects.order_by("pk").values_list("pk", "remaining")))


# --- who may call what -------------------------------------------------------------------------

WRITES = [GRANTS, EXPENSES, TRANSFERS]


@pytest.mark.parametrize("url", WRITES)
def test_writes_without_a_key_are_401(client_as, url):
    assert_error(post(client_as(None), url, {}), 401, "not_authenticated")


@pytest.mark.parametrize("url", WRITES)
def test_writes_with_an_unknown_key_are_401(api_client, url, db):
    api_client.credentials(HTTP_AUTHORIZATION="Api-Key not.a-key")
    assert_error(post(api_client, url, {}), 401, "authentication_failed")


@pytest.mark.parametrize("url, label", [(GRANTS, "owner"), (GRANTS, "operator"),
                                        (EXPENSES, "owner"), (EXPENSES, "operator"),
                                        (TRANSFERS, "service"), (TRANSFERS, "operator")])
def test_writes_with_a_key_of_another_scope_are_403(client_as, url, label):
    assert_error(post(client_as(label), url, {}), 403, "permission_denied")


def test_a_staff_session_may_not_grant(client, django_user_model, db):
    staff = django_user_model.objects.create_superuser("staff", "s@example.org", "pw")
    client.force_login(staff)

    response = client.post(GRANTS, json.dumps({"address": ADDRESS, "amount": 1,
                                               "reference": "r"}),
                           content_type="application/json")

    assert response.status_code in (401, 403)
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize("label", [None, "owner", "other_owner", "service", "operator"])
def test_balance_and_history_are_readable_by_anyone(client_as, label, account):
    assert client_as(label).get(balance_url(ADDRESS)).status_code == 200
    assert client_as(label).get(history_url(ADDRESS)).status_code == 200


def test_the_views_declare_who_may_call_them():
    from credits.api import ledger

    for view in (ledger.BalanceView, ledger.CreditHistoryView, ledger.GrantView,
                 ledger.ExpenseView, ledger.TransferView):
        assert "permission_classes" in vars(view), view


# --- grants ------------------------------------------------------------------------------------

def test_a_grant_is_201_then_200_with_the_same_body_on_replay(client_as, now):
    body = {"address": ADDRESS.lower(), "amount": "1000", "expires_at": "2030-02-01T00:00:00Z",
            "reference": "order-1"}

    first = post(client_as("service"), GRANTS, body)
    replay = post(client_as("service"), GRANTS, {**body, "amount": 1000,
                                                  "expires_at": "2030-02-01T01:00:00+01:00"})

    assert first.status_code == 201, first.content
    assert replay.status_code == 200, replay.content
    assert replay.json() == first.json()
    answer = first.json()
    assert answer["address"] == ADDRESS
    assert answer["amount"] == "1000"
    assert answer["kind"] == "grant"
    assert answer["expires_at"] == "2030-02-01T00:00:00+00:00"
    assert LedgerEntry.objects.count() == 1


def test_a_grant_reusing_a_reference_with_another_body_is_409_and_changes_nothing(client_as):
    post(client_as("service"), GRANTS, {"address": ADDRESS, "amount": 5, "reference": "o"})
    before = entries_snapshot()

    response = post(client_as("service"), GRANTS, {"address": ADDRESS, "amount": 6,
                                                   "reference": "o"})

    assert_error(response, 409, "idempotency_conflict")
    assert entries_snapshot() == before


@pytest.mark.parametrize("amount", [1.5, 1.0, "1.0", "1e3", -1, "-1", 0, "0", True, False,
                                    None, [], {}, " 1", "", 10**15 + 1, str(10**15 + 1),
                                    "１２", 10**40])
def test_a_grant_of_anything_but_whole_positive_credits_is_refused(client_as, amount):
    response = post(client_as("service"), GRANTS,
                    {"address": ADDRESS, "amount": amount, "reference": "r"})

    error = assert_error(response, 400, "invalid_request")
    assert "amount" in error["details"]["fields"]
    assert not LedgerEntry.objects.exists()


def test_a_grant_of_the_largest_amount_is_accepted(client_as):
    response = post(client_as("service"), GRANTS,
                    {"address": ADDRESS, "amount": str(10**15), "reference": "r"})

    assert response.status_code == 201
    assert response.json()["amount"] == str(10**15)


@pytest.mark.parametrize("body", [[], "text", 5, None, [{"address": ADDRESS}]])
def test_a_body_that_is_not_an_object_is_400(client_as, body):
    for url, label in [(GRANTS, "service"), (EXPENSES, "service"), (TRANSFERS, "owner")]:
        assert_error(post(client_as(label), url, body), 400)
    assert not LedgerEntry.objects.exists()


def test_a_body_that_is_not_json_is_400(client_as):
    response = client_as("service").generic("POST", GRANTS, b"{not json",
                                            content_type="application/json")
    assert_error(response, 400, "malformed_request")


@pytest.mark.parametrize("change, status", [
    ({"address": "0x123"}, 422), ({"address": 5}, 400), ({"reference": ""}, 400),
    ({"reference": "x" * 201}, 400), ({"reference": 12}, 400), ({"reference": "   "}, 422),
    ({"expires_at": "2029-01-01T00:00:00Z"}, 422), ({"expires_at": "2031-01-01T00:00:00"}, 400),
    ({"expires_at": "tomorrow"}, 400), ({"expires_at": 1893456000}, 400),
])
def test_a_grant_with_an_invalid_field_is_refused_and_writes_nothing(client_as, now, change,
                                                                     status):
    body = {"address": THIRD_ADDRESS, "amount": 5, "reference": "r", **change}
    client = client_as("service")
    accounts_before = Account.objects.count()

    assert_error(post(client, GRANTS, body), status)
    assert not LedgerEntry.objects.exists()
    assert Account.objects.count() == accounts_before


@pytest.mark.parametrize("missing", ["address", "amount", "reference"])
def test_a_grant_missing_a_field_is_400_naming_it(client_as, missing):
    body = {"address": ADDRESS, "amount": 5, "reference": "r"}
    del body[missing]

    error = assert_error(post(client_as("service"), GRANTS, body), 400)
    assert missing in error["details"]["fields"]


# --- expenses ----------------------------------------------------------------------------------

def test_an_expense_answers_what_it_asked_drained_and_missed(client_as, now):
    grant(30)

    response = post(client_as("service"), EXPENSES,
                    {"address": ADDRESS, "amount": "50", "reference": "meter-1"})

    assert response.status_code == 201, response.content
    answer = response.json()
    assert (answer["amount_requested"], answer["amount_drained"], answer["shortfall"]) == (
        "50", "30", "20")
    assert answer["resource"] is None


def test_a_replayed_expense_is_200_with_the_same_body_and_drains_nothing_more(client_as, now):
    grant(100)
    body = {"address": ADDRESS, "amount": 30, "reference": "meter-1"}
    first = post(client_as("service"), EXPENSES, body)

    replay = post(client_as("service"), EXPENSES, body)
    conflict = post(client_as("service"), EXPENSES, {**body, "amount": 31})

    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json() == first.json()
    assert_error(conflict, 409, "idempotency_conflict")
    assert Lot.objects.get().remaining == 70


def test_an_expense_for_a_resource_names_it(client_as, account, ledger_resource_factory, now):
    resource = ledger_resource_factory(account)
    grant(10)

    response = post(client_as("service"), EXPENSES, {"address": ADDRESS, "amount": 1,
                                                     "resource": resource.item_hash,
                                                     "reference": "m"})

    assert response.status_code == 201
    assert response.json()["resource"] == resource.item_hash


def test_an_expense_for_an_unknown_resource_is_422(client_as, now):
    grant(10)

    response = post(client_as("service"), EXPENSES, {"address": ADDRESS, "amount": 1,
                                                     "resource": "f" * 64, "reference": "m"})

    assert_error(response, 422, "invalid_input")
    assert not LedgerEntry.objects.filter(kind=EntryKind.EXPENSE).exists()


# --- transfers ---------------------------------------------------------------------------------

def test_a_transfer_sends_from_the_keys_own_account(client_as, now):
    grant(100, expires_at=T0 + DAY)

    response = post(client_as("owner"), TRANSFERS,
                    {"to": THIRD_ADDRESS.lower(), "amount": 40, "reference": "gift",
                     "expires_at": "2030-01-03T00:00:00Z"})

    assert response.status_code == 201, response.content
    answer = response.json()
    assert (answer["sender"], answer["to"], answer["amount"]) == (ADDRESS, THIRD_ADDRESS, "40")
    assert answer["pieces"] == [{"credits": "40", "expires_at": "2030-01-02T00:00:00+00:00"}]


def test_another_owners_key_sends_its_own_credits_not_someone_elses(client_as, now):
    grant(100)  # on ADDRESS, the "owner" key's account

    response = post(client_as("other_owner"), TRANSFERS,
                    {"to": THIRD_ADDRESS, "amount": 40, "reference": "steal"})

    error = assert_error(response, 402, "insufficient_credit")
    assert error["details"] == {"required_credits": "40", "account_credits": "0"}
    assert Lot.objects.get().remaining == 100


def test_a_transfer_beyond_the_balance_is_402_and_writes_nothing(client_as, now):
    grant(10)
    before = entries_snapshot()

    response = post(client_as("owner"), TRANSFERS,
                    {"to": OTHER_ADDRESS, "amount": "11", "reference": "t"})

    error = assert_error(response, 402, "insufficient_credit")
    assert error["details"] == {"required_credits": "11", "account_credits": "10"}
    assert entries_snapshot() == before


def test_a_replayed_transfer_is_200_with_the_same_body(client_as, now):
    grant(10, expires_at=T0 + DAY)
    grant(10)
    body = {"to": OTHER_ADDRESS, "amount": 15, "reference": "t"}

    first = post(client_as("owner"), TRANSFERS, body)
    replay = post(client_as("owner"), TRANSFERS, body)
    conflict = post(client_as("owner"), TRANSFERS, {**body, "to": THIRD_ADDRESS})

    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json() == first.json()
    assert len(first.json()["pieces"]) == 2
    assert_error(conflict, 409, "idempotency_conflict")
    assert LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_OUT).count() == 1


@pytest.mark.parametrize("body", [{"to": ADDRESS, "amount": 1, "reference": "self"},
                                  {"to": ADDRESS.lower(), "amount": 1, "reference": "self"},
                                  {"to": "not an address", "amount": 1, "reference": "r"}])
def test_a_transfer_to_oneself_or_to_no_address_is_422(client_as, body, now):
    grant(10)

    assert_error(post(client_as("owner"), TRANSFERS, body), 422, "invalid_input")


@pytest.mark.parametrize("amount", [-5, 0, 2.5, "2.5", True])
def test_a_transfer_of_no_whole_positive_amount_is_400(client_as, amount, now):
    grant(10)

    assert_error(post(client_as("owner"), TRANSFERS,
                      {"to": OTHER_ADDRESS, "amount": amount, "reference": "r"}), 400)
    assert Lot.objects.count() == 1


# --- balance -----------------------------------------------------------------------------------

def test_the_balance_shows_credits_split_tokens_hold_cost_and_runway(
        client_as, account, ledger_resource_factory, now):
    grant(100, expires_at=T0 + DAY)
    grant(50)
    ledger_resource_factory(account, cost_credit_per_second=floor18(Decimal(10) / 3600))
    ledger_resource_factory(account, payment_type=PaymentType.HOLD, cost_hold="1000",
                            payment_chain="ETH")
    TokenBalance.objects.create(account=account, chain="ETH", balance=Decimal("1500.5"),
                                height=42)

    response = client_as(None).get(balance_url(ADDRESS.lower()))

    assert response.status_code == 200
    answer = response.json()
    assert answer["address"] == ADDRESS
    assert answer["credits"] == "150"
    assert answer["by_expiry"] == [{"expires_at": "2030-01-02T00:00:00+00:00", "credits": "100"},
                                   {"expires_at": None, "credits": "50"}]
    assert answer["token_balances"] == [{"chain": "ETH", "balance": "1500.500000000000000000",
                                         "height": 42}]
    assert answer["hold_locked"] == {"ETH": "1000.000000000000000000"}
    assert answer["credit_cost_per_hour"].startswith("9.99999999999")
    assert answer["runway_hours"] == "15.00"
    assert answer["at"] == "2030-01-01T00:00:00+00:00"


def test_the_balance_of_an_address_without_account_is_zero(client_as):
    answer = client_as(None).get(balance_url(THIRD_ADDRESS)).json()

    assert answer == {"address": THIRD_ADDRESS, "credits": "0", "by_expiry": [],
                      "token_balances": [], "hold_locked": {},
                      "credit_cost_per_hour": "0.000000000000000000", "runway_hours": None,
                      "at": answer["at"]}
    assert not Account.objects.filter(address=THIRD_ADDRESS).exists()


def test_the_balance_of_an_invalid_address_is_422(client_as):
    assert_error(client_as(None).get(balance_url("0x1234")), 422, "invalid_input")


def test_the_balance_no_longer_counts_a_lot_at_its_expiry_instant(client_as, time_machine):
    grant(100, expires_at=T0 + DAY, at=T0)

    time_machine.move_to(T0 + DAY - timedelta(microseconds=1), tick=False)
    assert client_as(None).get(balance_url(ADDRESS)).json()["credits"] == "100"
    time_machine.move_to(T0 + DAY, tick=False)
    assert client_as(None).get(balance_url(ADDRESS)).json()["credits"] == "0"


# --- credit history ----------------------------------------------------------------------------

def _history(client, address=ADDRESS, **params):
    response = client.get(history_url(address), params)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_history_lists_entries_newest_first_with_every_field(client_as, account,
                                                                 ledger_resource_factory):
    resource = ledger_resource_factory(account)
    grant(10, at=T0, reference="g", expires_at=T0 + DAY)
    expense_create(address=ADDRESS, amount=15, reference="e", resource_item_hash=resource.item_hash,
                   actor="test", at=T0 + timedelta(hours=1))

    results = _history(client_as(None))["results"]

    assert [entry["kind"] for entry in results] == ["expense", "grant"]
    expense, granted = results
    assert expense == {"id": expense["id"], "kind": "expense", "amount": "-10",
                       "amount_requested": "15", "shortfall": "5", "expires_at": None,
                       "reference": "e", "reason": "", "resource": resource.item_hash,
                       "counterparty": None, "effective_at": "2030-01-01T01:00:00+00:00"}
    assert granted["amount_requested"] is None
    assert granted["expires_at"] == "2030-01-02T00:00:00+00:00"


def test_the_history_of_a_transfer_names_the_counterparty(client_as, now):
    grant(10)
    post(client_as("owner"), TRANSFERS, {"to": OTHER_ADDRESS, "amount": 4, "reference": "t"})

    sent = _history(client_as(None), kind="transfer_out")["results"]
    received = _history(client_as(None), OTHER_ADDRESS)["results"]

    assert [(e["amount"], e["counterparty"]) for e in sent] == [("-4", OTHER_ADDRESS)]
    assert [(e["amount"], e["counterparty"]) for e in received] == [("4", ADDRESS)]


def test_the_history_pages_follow_the_cursor_without_gaps_or_repeats(client_as):
    for number in range(7):
        # three entries share an instant, so the cursor must order by id as well
        grant(1, reference=f"g{number}", at=T0 + timedelta(minutes=number // 3))
    seen = []
    page = _history(client_as(None), limit=3)

    while True:
        seen += [entry["reference"] for entry in page["results"]]
        assert page["limit"] == 3
        if page["next_cursor"] is None:
            assert page["next"] is None
            break
        assert f"cursor={page['next_cursor']}" in page["next"]
        page = _history(client_as(None), limit=3, cursor=page["next_cursor"])

    assert seen == ["g6", "g5", "g4", "g3", "g2", "g1", "g0"]


def test_the_next_link_keeps_the_filters(client_as):
    for number in range(3):
        grant(1, reference=f"g{number}", at=T0 + timedelta(minutes=number))
    expense_create(address=ADDRESS, amount=1, reference="e", actor="t", at=T0)

    first = _history(client_as(None), limit=1, kind="grant")
    following = client_as(None).get(first["next"]).json()

    assert [entry["reference"] for entry in following["results"]] == ["g1"]
    assert following["limit"] == 1


def test_a_page_size_above_the_cap_is_capped(client_as):
    for number in range(205):
        grant(1, reference=f"g{number}", at=T0)

    page = _history(client_as(None), limit=1000)

    assert page["limit"] == 200
    assert len(page["results"]) == 200
    assert page["next_cursor"] is not None
    assert len(_history(client_as(None))["results"]) == 50


def test_the_history_filters_by_kinds_repeated_or_comma_separated_and_dates(client_as):
    grant(10, reference="g", at=T0)
    expense_create(address=ADDRESS, amount=1, reference="e", actor="t", at=T0 + DAY)
    expense_create(address=ADDRESS, amount=1, reference="e2", actor="t", at=T0 + 2 * DAY)

    def references(**params):
        return [entry["reference"] for entry in _history(client_as(None), **params)["results"]]

    assert references(kind="grant") == ["g"]
    assert references(kind="grant,expense") == ["e2", "e", "g"]
    assert references(kind=["grant", "expense"]) == ["e2", "e", "g"]
    assert references(since="2030-01-02T00:00:00Z") == ["e2", "e"]
    assert references(until="2030-01-02T00:00:00Z") == ["g"]
    assert references(since="2030-01-02T00:00:00Z", until="2030-01-03T00:00:00Z") == ["e"]


@pytest.mark.parametrize("params", [{"kind": "gift"}, {"kind": "grant,nope"}, {"limit": 0},
                                    {"limit": -1}, {"limit": "ten"}, {"since": "yesterday"},
                                    {"since": "2030-01-01T00:00:00"}, {"cursor": "bogus"},
                                    {"since": "2030-01-02T00:00:00Z",
                                     "until": "2030-01-01T00:00:00Z"}])
def test_an_invalid_history_query_is_refused(client_as, account, params):
    response = client_as(None).get(history_url(ADDRESS), params)

    assert response.status_code in (400, 422)
    assert_error(response, response.status_code)


@pytest.mark.parametrize("address", [ADDRESS, THIRD_ADDRESS], ids=["account", "no account"])
@pytest.mark.parametrize("cursor", ["bogus", "W10", "WyJub3QgYSBkYXRlIiwgMV0"])
def test_a_history_cursor_this_api_did_not_give_is_a_400_naming_the_cursor(client_as, account,
                                                                           address, cursor):
    # the same answer as the lifecycle lists give, whether the address has an account or not
    response = client_as(None).get(history_url(address), {"cursor": cursor})

    error = assert_error(response, 400, "invalid_request")
    assert error["details"]["fields"] == {"cursor": ["The cursor is not one this API gave."]}


def test_the_history_of_an_address_without_account_is_empty(client_as):
    assert _history(client_as(None), THIRD_ADDRESS)["results"] == []


def test_the_history_of_an_invalid_address_is_422(client_as):
    assert_error(client_as(None).get(history_url("0xnothex")), 422)


def test_the_schema_documents_every_ledger_endpoint_with_its_errors(client):
    document = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = document["paths"]

    for path, method, statuses in [
            ("/api/v1/credits/grants", "post", {"200", "201", "400", "401", "403", "409", "422"}),
            ("/api/v1/credits/expenses", "post", {"200", "201", "400", "401", "403", "409"}),
            ("/api/v1/credits/transfers", "post", {"200", "201", "400", "401", "402", "403",
                                                   "409", "422"}),
            ("/api/v1/accounts/{address}/balance", "get", {"200", "422"}),
            ("/api/v1/accounts/{address}/credit-history", "get", {"200", "400", "422"})]:
        operation = paths[path][method]
        assert statuses <= set(operation["responses"]), path
        assert operation["description"].startswith("**Who:**"), path


# --- hostile bodies ----------------------------------------------------------------------------

VALID_BODIES = {
    GRANTS: ("service", {"address": OTHER_ADDRESS, "amount": 5, "reference": "r"}),
    EXPENSES: ("service", {"address": OTHER_ADDRESS, "amount": 5, "reference": "r"}),
    TRANSFERS: ("owner", {"to": OTHER_ADDRESS, "amount": 5, "reference": "r"}),
}
HOSTILE_VALUES = [None, True, 1.5, -1, 10**100, "", "\x00", "a\x00b", "x" * 10_000, [], {},
                  [1, 2], {"$gt": ""}, "' OR 1=1 --", "２"]


@pytest.mark.parametrize("url", WRITES)
@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=repr)
def test_a_hostile_value_in_any_field_of_a_write_is_a_4xx_that_changes_nothing(client_as, url,
                                                                             value, now):
    grant(100)  # the owner key's account can pay, so only the hostile value can refuse
    label, body = VALID_BODIES[url]
    before = entries_snapshot()
    accounts_before = Account.objects.count()

    for field in [*body, "expires_at", "resource"]:
        if (field == "resource") != (url == EXPENSES) and field in ("resource", "expires_at"):
            continue  # not a field of this endpoint
        if value is None and field in ("expires_at", "resource"):
            continue  # null means "none" for the optional fields
        if field == "reference" and value in ("' OR 1=1 --", "２"):
            continue  # any printable text is a reference
        response = post(client_as(label), url, {**body, field: value})

        assert 400 <= response.status_code < 500, (field, response.content[:300])
        assert_error(response, response.status_code)
    assert entries_snapshot() == before
    assert Account.objects.count() == accounts_before


def test_a_deeply_nested_body_is_a_400(client_as):
    nested = "[" * 5000 + "]" * 5000
    response = client_as("service").generic(
        "POST", GRANTS, f'{{"address": {nested}, "amount": 1, "reference": "r"}}',
        content_type="application/json")

    assert_error(response, 400)
