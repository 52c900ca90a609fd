"""Authorization sweep: every endpoint under /api/, every method, every kind of caller.

`ENDPOINTS` is the policy of SPEC.md as data: one line per (URL name, method) with a request
that succeeds for an allowed caller. A URL or a method added under /api/ without a line here
makes `test_every_api_endpoint_and_method_has_a_policy` fail. Lines whose URL does not exist
(yet) are left out of the sweep.

Account reads (balance, credit history, costs, resources, affordability) are public by default, as
on the network; with CREDITS_PUBLIC_ACCOUNT_READS off they follow their line's
`private_allowed`. The whole sweep runs under both values, so a line the setting must not touch
is held to the same policy under both.

Callers: anonymous; the owner (owner key of the account concerned); another owner (owner key of
another account); the signed-in owner and another signed-in owner (owner tokens of a wallet
sign-in for those two accounts: they must be treated exactly as the owner keys); service key;
operator key; staff (an admin session allowed to view pending deletions and lifecycle runs); bare
staff (an admin session without any permission: the admin shows them nothing, so the API
neither; "staff" may also view accounts, the ledger and resources); a revoked and an expired key
of the scope the endpoint wants; and a logged-out and an expired owner token. Allowed means
neither 401 nor 403 (and here the request is valid, so it also succeeds); refused means 401
without a usable key or token, 403 with a key, a token or a session of the wrong kind.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from rest_framework.test import APIClient

from credits.models import (
    Account,
    ApiKey,
    ApiKeyScope,
    LedgerEntry,
    OwnerToken,
    Resource,
    SignInNonce,
)
from credits.services.ledger import grant_create
from credits.siwe import SiweMessage, message_sign
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, THIRD_ADDRESS
from tests.pricing.contents import instance_content

pytestmark = pytest.mark.django_db

RESOURCE_HASH = "a" * 64
WEBHOOK_ID = "0b2d6a1e-7c41-4a5e-9d2f-3e8f1c6b5a40"  # the owner's endpoint of the world
NEW_RESOURCE_HASH = "b" * 64
CALLERS = ("anonymous", "owner", "other_owner", "signed_in", "other_signed_in", "service",
           "operator", "staff", "bare_staff", "revoked", "expired", "logged_out", "expired_token")
DEAD = ("revoked", "expired", "logged_out", "expired_token")
# An owner API key of ADDRESS made for a script, revoked by its owner in the sweep.
SCRIPT_KEY_PREFIX = "authzKey"
# A wallet sign-in anyone may make: a message for this service, with the nonce `world` hands out,
# signed by a key of its own (Hardhat's well-known first test key).
SIGN_IN_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
SIGN_IN_NONCE = "authzSweepNonce1"
_SIGN_IN_TEXT = SiweMessage(
    domain="127.0.0.1:8000", address="0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    uri="http://127.0.0.1:8000", chain_id=1, nonce=SIGN_IN_NONCE,
    issued_at=datetime(2020, 1, 1, tzinfo=UTC), expiration_time=datetime(2100, 1, 1, tzinfo=UTC),
).text()
SIGN_IN_BODY = {"message": _SIGN_IN_TEXT, "signature": message_sign(_SIGN_IN_TEXT, SIGN_IN_KEY)}
HTTP_METHODS = ("get", "post", "put", "patch", "delete")

ALLOW, UNAUTHENTICATED, FORBIDDEN = "allowed", 401, 403

# --- the policy ----------------------------------------------------------------------------------

PUBLIC = {"anonymous", "owner", "other_owner", "signed_in", "other_signed_in", "service",
          "operator", "staff", "bare_staff"}
# the owner key or token of the account the request is about
OWNER_OF_ACCOUNT = {"owner", "signed_in"}
# any owner key or token, acting for its own account
OWN_ACCOUNT = {"owner", "other_owner", "signed_in", "other_signed_in"}
OWNER_TOKEN = {"signed_in", "other_signed_in"}  # a wallet sign-in's token, of any account
SERVICE = {"service"}
OPERATOR_OR_STAFF = {"operator", "staff"}
# An account read with account reads private: the account's owner key, service and operator keys,
# staff allowed to view it in the admin.
READER_OF_ACCOUNT = {"owner", "signed_in", "service", "operator", "staff"}
# A read of every account with account reads private: an owner key reads only its own.
READER_OF_EVERY_ACCOUNT = {"service", "operator", "staff"}
# The event feed: every key (an owner key sees its own account's events), staff allowed.
EVENT_READER = {"owner", "other_owner", "signed_in", "other_signed_in", "service",
                "operator", "staff"}
# Webhook endpoints: operators, staff allowed, and any owner for its own account.
WEBHOOK_MANAGER = {"owner", "other_owner", "signed_in", "other_signed_in", "operator",
                   "staff"}
# One endpoint: its account's owner, operators and staff.
WEBHOOK_OF_ACCOUNT = {"owner", "signed_in", "operator", "staff"}


@dataclass(frozen=True)
class Endpoint:
    name: str           # the URL name
    method: str
    path: str
    allowed: frozenset | set
    body: dict | None = None
    ok: tuple[int, ...] = (200,)
    # The key the revoked and expired callers hold: the scope that would be allowed.
    key_scope: str = "service"
    # False for public documents (schema, docs): they do not look at credentials at all, so a
    # dead key is not refused there.
    reads_credentials: bool = True
    # An account read: who may call it when CREDITS_PUBLIC_ACCOUNT_READS is off (None: the
    # setting does not apply, `allowed` holds under both values).
    private_allowed: frozenset | set | None = None

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.path}"


def _estimate_body() -> dict:
    return {"type": "INSTANCE", "content": instance_content(payment="credit", address=ADDRESS)}


ENDPOINTS: list[Endpoint] = [
    # anyone
    Endpoint("health", "get", "/api/v1/health", PUBLIC),
    Endpoint("pricing", "get", "/api/v1/pricing", PUBLIC),
    Endpoint("estimates", "post", "/api/v1/estimates", PUBLIC, body=_estimate_body()),
    Endpoint("v0-price-estimate", "post", "/api/v0/price/estimate", PUBLIC,
             body={"message": _estimate_body()}),
    Endpoint("v0-price-estimate-instance", "post", "/api/v0/price/estimate/instance", PUBLIC,
             body=_estimate_body()["content"]),
    Endpoint("schema", "get", "/api/schema/", PUBLIC, reads_credentials=False),
    Endpoint("api-docs", "get", "/api/docs/", PUBLIC, reads_credentials=False),
    # anyone, unless account reads are private (all of ADDRESS's account: the resource is its)
    Endpoint("account-affordability", "post", f"/api/v1/accounts/{ADDRESS}/affordability",
             PUBLIC, body=_estimate_body(), private_allowed=READER_OF_ACCOUNT),
    Endpoint("resource-detail", "get", f"/api/v1/resources/{RESOURCE_HASH}", PUBLIC,
             private_allowed=READER_OF_ACCOUNT),
    Endpoint("resource-usage", "get", f"/api/v1/resources/{RESOURCE_HASH}/usage", PUBLIC,
             private_allowed=READER_OF_ACCOUNT),
    Endpoint("account-balance", "get", f"/api/v1/accounts/{ADDRESS}/balance", PUBLIC,
             private_allowed=READER_OF_ACCOUNT),
    Endpoint("account-credit-history", "get", f"/api/v1/accounts/{ADDRESS}/credit-history",
             PUBLIC, private_allowed=READER_OF_ACCOUNT),
    Endpoint("costs", "get", f"/api/v1/costs?address={ADDRESS}", PUBLIC,
             private_allowed=READER_OF_ACCOUNT),
    # the network's v0 message endpoints (issue 13): account reads like v1's; a message's full
    # body is unknown here, so its allowed answer is the network's 404 (plain text)
    Endpoint("v0-price", "get", f"/api/v0/price/{RESOURCE_HASH}", PUBLIC,
             private_allowed=READER_OF_ACCOUNT),
    Endpoint("v0-message-status", "get", f"/api/v0/messages/{RESOURCE_HASH}/status", PUBLIC,
             private_allowed=READER_OF_ACCOUNT),
    Endpoint("v0-message-consumed-credits", "get",
             f"/api/v0/messages/{RESOURCE_HASH}/consumed_credits", PUBLIC,
             private_allowed=READER_OF_ACCOUNT),
    Endpoint("v0-costs", "get", f"/api/v0/costs?address={ADDRESS}", PUBLIC,
             private_allowed=READER_OF_ACCOUNT),
    Endpoint("v0-message", "get", f"/api/v0/messages/{RESOURCE_HASH}", PUBLIC, ok=(404,)),
    # the network's v0 account reads (issue 13): an address's like v1's; the lists of every
    # account with account reads private: not an owner key
    Endpoint("v0-address-balance", "get", f"/api/v0/addresses/{ADDRESS}/balance", PUBLIC,
             private_allowed=READER_OF_ACCOUNT),
    Endpoint("v0-address-credit-history", "get",
             f"/api/v0/addresses/{ADDRESS}/credit_history", PUBLIC,
             private_allowed=READER_OF_ACCOUNT),
    Endpoint("v0-address-credit-history-summary", "get",
             f"/api/v0/addresses/{ADDRESS}/credit_history/summary", PUBLIC,
             private_allowed=READER_OF_ACCOUNT),
    Endpoint("v0-balances", "get", "/api/v0/balances", PUBLIC,
             private_allowed=READER_OF_EVERY_ACCOUNT),
    Endpoint("v0-credit-balances", "get", "/api/v0/credit_balances", PUBLIC,
             private_allowed=READER_OF_EVERY_ACCOUNT),
    # the owner's key
    Endpoint("resources", "post", "/api/v1/resources", OWNER_OF_ACCOUNT, key_scope="owner",
             body={"item_hash": NEW_RESOURCE_HASH, "type": "INSTANCE",
                   "content": instance_content(payment="credit", address=ADDRESS)},
             ok=(201,)),
    Endpoint("resource-detail", "delete", f"/api/v1/resources/{RESOURCE_HASH}",
             OWNER_OF_ACCOUNT, key_scope="owner"),
    Endpoint("credit-transfers", "post", "/api/v1/credits/transfers", OWN_ACCOUNT,
             key_scope="owner", body={"to": THIRD_ADDRESS, "amount": "10",
                                      "reference": "authz-transfer"}, ok=(201,)),
    # a service key
    Endpoint("credit-grants", "post", "/api/v1/credits/grants", SERVICE,
             body={"address": ADDRESS, "amount": "100", "reference": "authz-grant"}, ok=(201,)),
    Endpoint("credit-expenses", "post", "/api/v1/credits/expenses", SERVICE,
             body={"address": ADDRESS, "amount": "5", "reference": "authz-expense"}, ok=(201,)),
    Endpoint("account-token-balance", "put", f"/api/v1/accounts/{ADDRESS}/token-balances/ETH",
             SERVICE, body={"balance": "1500.25", "height": 1000}, ok=(200, 201)),
    # an operator key or a staff session (issue 4)
    Endpoint("pending-deletions", "get", "/api/v1/pending-deletions", OPERATOR_OR_STAFF,
             key_scope="operator"),
    Endpoint("lifecycle-runs", "get", "/api/v1/lifecycle-runs", OPERATOR_OR_STAFF,
             key_scope="operator"),
    # wallet sign-in (issue 16): anyone signs in; a token logs itself out
    Endpoint("auth-nonce", "post", "/api/v1/auth/nonce", PUBLIC, ok=(201,)),
    Endpoint("auth-siwe", "post", "/api/v1/auth/siwe", PUBLIC, body=SIGN_IN_BODY),
    Endpoint("auth-logout", "post", "/api/v1/auth/logout", OWNER_TOKEN, key_scope="owner",
             ok=(204,)),
    # the owners' own API keys (issue 16): an owner key or token, for its own account
    Endpoint("api-keys", "get", "/api/v1/api-keys", OWN_ACCOUNT, key_scope="owner"),
    Endpoint("api-keys", "post", "/api/v1/api-keys", OWN_ACCOUNT, key_scope="owner",
             body={"name": "authz script"}, ok=(201,)),
    Endpoint("api-key-detail", "delete", f"/api/v1/api-keys/{SCRIPT_KEY_PREFIX}",
             OWNER_OF_ACCOUNT, key_scope="owner"),
    # events and webhooks (issue 15): account reads do not apply, they are never public
    Endpoint("events", "get", "/api/v1/events", EVENT_READER, key_scope="operator"),
    Endpoint("webhooks", "get", "/api/v1/webhooks", WEBHOOK_MANAGER, key_scope="operator"),
    Endpoint("webhooks", "post", "/api/v1/webhooks", WEBHOOK_MANAGER, key_scope="operator",
             body={"url": "http://127.0.0.1:9/hook"}, ok=(201,)),
    Endpoint("webhook-detail", "get", f"/api/v1/webhooks/{WEBHOOK_ID}", WEBHOOK_OF_ACCOUNT,
             key_scope="operator"),
    Endpoint("webhook-detail", "patch", f"/api/v1/webhooks/{WEBHOOK_ID}", WEBHOOK_OF_ACCOUNT,
             key_scope="operator", body={"enabled": False, "description": "paused"}),
    Endpoint("webhook-detail", "delete", f"/api/v1/webhooks/{WEBHOOK_ID}", WEBHOOK_OF_ACCOUNT,
             key_scope="operator", ok=(204,)),
]


# Cases known to fail, with why: (URL name, method, caller) → reason. Strict, so a fix shows.
KNOWN_GAPS: dict[tuple[str, str, str], str] = {}


def expected_outcome(endpoint: Endpoint, caller: str, *, public_reads: bool = True):
    if caller in DEAD:
        return UNAUTHENTICATED if endpoint.reads_credentials else ALLOW
    allowed = endpoint.allowed if public_reads or endpoint.private_allowed is None \
        else endpoint.private_allowed
    if caller in allowed:
        return ALLOW
    return UNAUTHENTICATED if caller == "anonymous" else FORBIDDEN


# --- the URL map ---------------------------------------------------------------------------------

def _api_patterns(resolver=None, prefix: str = "") -> list[tuple[str, str, object]]:
    """(route, URL name, callback) of every URL pattern whose route starts with api/."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern).lstrip("^")
        if isinstance(entry, URLResolver):
            found.extend(_api_patterns(entry, route))
        elif isinstance(entry, URLPattern) and route.startswith("api/"):
            found.append((route, entry.name or route, entry.callback))
    return found


def _view_methods(callback) -> set[str]:
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:  # a function view: it must be declared by hand
        return {"?"}
    return {method for method in HTTP_METHODS if hasattr(view_class, method)}


def _existing_url_names() -> set[str]:
    return {name for _, name, _ in _api_patterns()}


SWEPT = [endpoint for endpoint in ENDPOINTS if endpoint.name in _existing_url_names()]


def test_every_api_endpoint_and_method_has_a_policy():
    served = {(name, method) for _, name, callback in _api_patterns()
              for method in _view_methods(callback)}
    declared = {(endpoint.name, endpoint.method) for endpoint in SWEPT}

    assert served - declared == set(), "endpoints without a line in ENDPOINTS"
    assert declared - served == set(), "lines in ENDPOINTS for methods that are not served"


@pytest.mark.parametrize("endpoint", SWEPT, ids=lambda endpoint: endpoint.id)
def test_each_line_of_the_table_points_at_its_url(endpoint):
    assert resolve(endpoint.path.partition("?")[0]).url_name == endpoint.name


def test_only_the_operator_endpoints_of_issue_4_may_be_missing():
    """The sweep skips lines whose URL is missing: only issue 4's may be missing."""
    missing = {endpoint.name for endpoint in ENDPOINTS} - _existing_url_names()
    assert missing <= {"pending-deletions", "lifecycle-runs"}


# --- the world every request runs in -------------------------------------------------------------

@pytest.fixture
def world(default_version, api_keys, ledger_resource_factory, django_user_model, settings):
    """Two funded accounts with their owner keys and owner tokens, a resource, a script key and
    a webhook endpoint of the first, one key per scope, revoked and expired keys of every scope,
    a logged-out and an expired owner token, a nonce for the sign-in, and staff users."""
    from credits.models import WebhookEndpoint

    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # the sweep's webhook URL is 127.0.0.1
    settings.WEBHOOKS_KICK_ON_COMMIT = False
    account = Account.objects.get(address=ADDRESS)
    other = Account.objects.get(address=OTHER_ADDRESS)
    for address in (ADDRESS, OTHER_ADDRESS):
        grant_create(address=address, amount=10**9, expires_at=None,
                     reference=f"authz-funding-{address}", actor="test")
    ledger_resource_factory(account, item_hash=RESOURCE_HASH, cost_credit_per_second="0.001")
    WebhookEndpoint.objects.create(id=WEBHOOK_ID, url="http://127.0.0.1:9/hook",
                                   account=account, secret="whsec_QUFBQUFBQUFBQUFB",
                                   created_by="test")
    dead_keys = {}
    for scope in ApiKeyScope.values:
        owner = account if scope == ApiKeyScope.OWNER else None
        revoked, revoked_key = ApiKey.objects.create_key(name=f"revoked {scope}", scope=scope,
                                                         account=owner)
        revoked.revoked = True
        revoked.save()
        _, expired_key = ApiKey.objects.create_key(
            name=f"expired {scope}", scope=scope, account=owner,
            expiry_date=timezone.now() - timedelta(seconds=1))
        dead_keys[("revoked", scope)] = revoked_key
        dead_keys[("expired", scope)] = expired_key
    tokens = {}
    for caller, owner, expiry in [("signed_in", account, timedelta(hours=1)),
                                  ("other_signed_in", other, timedelta(hours=1)),
                                  ("logged_out", account, timedelta(hours=1)),
                                  ("expired_token", account, -timedelta(seconds=1))]:
        token, tokens[caller] = OwnerToken.objects.create_key(
            name="authz", account=owner, chain_id=1, expiry_date=timezone.now() + expiry)
        if caller == "logged_out":
            token.revoked = True
            token.save()
    script_key, _ = ApiKey.objects.create_key(name="script", scope=ApiKeyScope.OWNER,
                                              account=account)
    ApiKey.objects.filter(pk=script_key.pk).update(prefix=SCRIPT_KEY_PREFIX)
    SignInNonce.objects.create(nonce=SIGN_IN_NONCE,
                               expires_at=timezone.now() + timedelta(minutes=5))
    staff = django_user_model.objects.create_user(username="authz-staff", password="unused",
                                                  is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(
        content_type__app_label="credits", codename__in=(
            "view_pendingdeletion", "view_lifecyclerun", "view_account", "view_ledgerentry",
            "view_resource", "view_event", "view_webhookendpoint", "add_webhookendpoint",
            "change_webhookendpoint", "delete_webhookendpoint")))
    bare_staff = django_user_model.objects.create_user(username="authz-bare-staff",
                                                       password="unused", is_staff=True)
    return {"keys": api_keys, "dead_keys": dead_keys, "tokens": tokens, "staff": staff,
            "bare_staff": bare_staff, "account": account, "other": other}


def _client(world, caller: str, *, key_scope: str = "service") -> APIClient:
    # APIClient, like Django's test client, does not enforce CSRF on the staff session.
    client = APIClient()
    if caller in ("staff", "bare_staff"):
        client.force_login(world[caller])
    elif caller in ("revoked", "expired"):
        client.credentials(
            HTTP_AUTHORIZATION=f"Api-Key {world['dead_keys'][(caller, key_scope)]}")
    elif caller in world["tokens"]:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world['tokens'][caller]}")
    elif caller != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['keys'][caller]}")
    return client


def _send(client: APIClient, endpoint: Endpoint):
    if endpoint.body is None:
        return client.generic(endpoint.method.upper(), endpoint.path)
    return client.generic(endpoint.method.upper(), endpoint.path,
                          data=json.dumps(endpoint.body), content_type="application/json")


def _assert_error_shape(response) -> None:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)


def _state() -> tuple:
    """What a refused request must not have changed."""
    return (LedgerEntry.objects.count(),
            tuple(Resource.objects.order_by("pk").values_list("item_hash", "status")),
            tuple(Account.objects.order_by("pk").values_list("address", flat=True)))


def _marks(endpoint: Endpoint, caller: str) -> list:
    reason = KNOWN_GAPS.get((endpoint.name, endpoint.method, caller))
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


SWEEP = [pytest.param(endpoint, caller, public_reads,
                      id=f"{endpoint.id} by {caller}, account reads "
                         f"{'public' if public_reads else 'private'}",
                      marks=_marks(endpoint, caller))
         for public_reads in (True, False) for endpoint in SWEPT for caller in CALLERS]


@pytest.mark.parametrize(("endpoint", "caller", "public_reads"), SWEEP)
def test_the_endpoint_answers_the_caller_as_the_policy_says(world, settings, endpoint, caller,
                                                            public_reads):
    settings.CREDITS_PUBLIC_ACCOUNT_READS = public_reads
    client = _client(world, caller, key_scope=endpoint.key_scope)
    before = _state()

    # when
    response = _send(client, endpoint)

    # then
    expected = expected_outcome(endpoint, caller, public_reads=public_reads)
    if expected == ALLOW:
        assert response.status_code not in (401, 403), response.content[:500]
        assert response.status_code in endpoint.ok, response.content[:500]
    else:
        assert response.status_code == expected, response.content[:500]
        assert _state() == before, "a refused request changed something"
    # An allowed answer that is an error is the endpoint's own (the network's plain-text 404
    # of a v0 message); a refusal is always in the error shape.
    if response.status_code >= 400 and response.status_code not in endpoint.ok:
        _assert_error_shape(response)


# --- what the table cannot say -------------------------------------------------------------------

def test_a_transfer_always_leaves_the_keys_own_account(world):
    """The sender is the key's account: a `from` in the body is not a way to spend another's
    credits."""
    client = _client(world, "other_owner")

    response = client.post("/api/v1/credits/transfers",
                           {"from": ADDRESS, "to": THIRD_ADDRESS, "amount": "10",
                            "reference": "authz-spoof"}, format="json")

    assert response.status_code not in (401, 403)
    assert not LedgerEntry.objects.filter(account=world["account"],
                                          kind="transfer_out").exists()
    if response.status_code == 201:
        assert LedgerEntry.objects.filter(account=world["other"], kind="transfer_out").exists()


def test_an_owner_cannot_register_a_resource_for_another_address(world):
    body = {"item_hash": NEW_RESOURCE_HASH, "type": "INSTANCE",
            "content": instance_content(payment="credit", address=OTHER_ADDRESS)}

    response = _client(world, "owner").post("/api/v1/resources", body, format="json")

    assert response.status_code == 403
    _assert_error_shape(response)
    assert not Resource.objects.filter(item_hash=NEW_RESOURCE_HASH).exists()


def test_a_logged_in_user_who_is_not_staff_counts_as_anonymous(world, django_user_model):
    user = django_user_model.objects.create_user(username="not-staff", password="unused")
    client = APIClient()
    client.force_login(user)

    response = client.post("/api/v1/credits/grants",
                           {"address": ADDRESS, "amount": "1", "reference": "nope"},
                           format="json")

    assert response.status_code == 401
    _assert_error_shape(response)


@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_the_docs_page_never_fails_on_a_dead_key(world, accept):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['dead_keys'][('revoked', 'owner')]}")

    response = client.get("/api/docs/", HTTP_ACCEPT=accept)

    assert response.status_code < 500
    assert response.status_code not in (401, 403)


def test_an_owner_key_checks_the_address_in_any_case(world):
    """The owner key of a checksummed account may act on the resource whatever case the
    content's address is written in."""
    body = {"item_hash": NEW_RESOURCE_HASH, "type": "INSTANCE",
            "content": instance_content(payment="credit", address=ADDRESS.lower())}

    response = _client(world, "owner").post("/api/v1/resources", body, format="json")

    assert response.status_code == 201, response.content[:500]
