"""Owners make API keys for their scripts, with their owner token (or an owner key): shown once,
stored hashed, of their own account only, listed and revoked by them through the API and by staff
in the admin."""
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from credits.models import ApiKey, ApiKeyScope, OwnerToken

from .conftest import ADDRESS
from .wallets import Wallet, bearer

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def wallet(now):
    wallet = Wallet()
    wallet.token = wallet.sign_in()
    return wallet


def _create(client, **body):
    return client.post("/api/v1/api-keys", {"name": "nightly script", **body}, format="json")


def _key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_a_signed_in_owner_makes_a_key_shown_once_that_acts_for_its_account(wallet):
    response = _create(bearer(wallet.token), expires_at="2030-02-01T00:00:00Z")

    assert response.status_code == 201, response.content[:500]
    body = response.json()
    api_key = ApiKey.objects.get()
    token_prefix = OwnerToken.objects.get().prefix
    assert body == {"prefix": api_key.prefix, "name": "nightly script",
                    "created_at": "2030-01-01T12:00:00+00:00",
                    "expires_at": "2030-02-01T00:00:00+00:00", "revoked": False,
                    "created_by": f"owner-token:{token_prefix} ({wallet.address})",
                    "key": body["key"]}
    assert (api_key.scope, api_key.account.address) == (ApiKeyScope.OWNER, wallet.address)
    assert ApiKey.objects.get_from_key(body["key"]) == api_key
    assert not any(body["key"].partition(".")[2] in str(value)
                   for value in ApiKey.objects.values_list().get())
    # the key is an owner key of the account: it lists the keys, never showing one
    listed = _key_client(body["key"]).get("/api/v1/api-keys")
    assert listed.status_code == 200
    assert [entry["prefix"] for entry in listed.json()] == [api_key.prefix]
    assert "key" not in listed.json()[0]


def test_an_owner_key_makes_keys_too_and_the_audit_names_it(client_as, api_keys):
    response = _create(client_as("owner"))

    assert response.status_code == 201
    maker = ApiKey.objects.get(name="test owner")
    assert response.json()["created_by"] == f"api-key:{maker.prefix} (owner: test owner)"
    assert ApiKey.objects.get(prefix=response.json()["prefix"]).account.address == ADDRESS


def test_the_list_holds_the_live_keys_of_the_own_account_only(wallet, time_machine):
    other = Wallet()
    other.token = other.sign_in()
    mine = _create(bearer(wallet.token), name="mine").json()["prefix"]
    _create(bearer(wallet.token), name="short", expires_at="2030-01-01T12:30:00Z")
    revoked = _create(bearer(wallet.token), name="revoked").json()["prefix"]
    bearer(wallet.token).delete(f"/api/v1/api-keys/{revoked}")
    _create(bearer(other.token), name="theirs")
    time_machine.move_to(NOW + timedelta(hours=1), tick=False)
    token = wallet.sign_in()  # the first token has expired by now

    listed = bearer(token).get("/api/v1/api-keys").json()

    assert [entry["prefix"] for entry in listed] == [mine]


def test_an_owner_revokes_its_key_and_the_key_stops_working(wallet):
    created = _create(bearer(wallet.token)).json()

    response = bearer(wallet.token).delete(f"/api/v1/api-keys/{created['prefix']}")
    again = bearer(wallet.token).delete(f"/api/v1/api-keys/{created['prefix']}")

    assert response.status_code == 200 and response.json()["revoked"] is True
    assert again.status_code == 200 and again.json() == response.json()
    assert _key_client(created["key"]).get("/api/v1/api-keys").status_code == 401


def test_an_owner_cannot_revoke_another_accounts_key(wallet):
    victim = Wallet()
    victim.token = victim.sign_in()
    theirs = _create(bearer(victim.token)).json()

    response = bearer(wallet.token).delete(f"/api/v1/api-keys/{theirs['prefix']}")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not ApiKey.objects.get(prefix=theirs["prefix"]).revoked
    assert _key_client(theirs["key"]).get("/api/v1/api-keys").status_code == 200


def test_a_prefix_that_is_no_owner_key_is_a_404(wallet, api_keys):
    service_prefix = api_keys["service"].partition(".")[0]

    unknown = bearer(wallet.token).delete("/api/v1/api-keys/zzzzzzzz")
    service = bearer(wallet.token).delete(f"/api/v1/api-keys/{service_prefix}")

    assert unknown.status_code == 404 and service.status_code == 404
    assert not ApiKey.objects.filter(revoked=True).exists()


def test_an_account_holds_at_most_the_configured_live_keys(wallet, settings):
    settings.OWNER_API_KEYS_MAX_LIVE = 2
    first = _create(bearer(wallet.token)).json()
    _create(bearer(wallet.token))

    refused = _create(bearer(wallet.token))
    bearer(wallet.token).delete(f"/api/v1/api-keys/{first['prefix']}")
    after_revoking = _create(bearer(wallet.token))

    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "too_many_api_keys", "message": refused.json()["error"]["message"],
        "details": {"live_keys": 2, "max_live_keys": 2}}
    assert after_revoking.status_code == 201
    assert ApiKey.objects.filter(revoked=False).count() == 2


@pytest.mark.parametrize(("body", "status"), [
    ({"name": "   "}, 400),
    ({"name": "x" * 51}, 400),
    ({"name": 5}, 400),
    ({"expires_at": "2030-01-01T11:00:00Z"}, 422),
    ({"expires_at": "2030-02-01T00:00:00"}, 400),  # no time zone
])
def test_a_bad_key_request_is_refused_and_makes_nothing(wallet, body, status):
    response = _create(bearer(wallet.token), **body)

    assert response.status_code == status, response.content[:300]
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("caller", ["service", "operator"])
def test_keys_of_other_scopes_cannot_manage_owner_keys(client_as, caller):
    assert client_as(caller).get("/api/v1/api-keys").status_code == 403
    assert _create(client_as(caller)).status_code == 403


def test_staff_see_who_made_a_key_and_revoke_it_in_the_admin(wallet, admin_client):
    created = _create(bearer(wallet.token)).json()
    api_key = ApiKey.objects.get(prefix=created["prefix"])

    page = admin_client.get(reverse("admin:credits_apikey_changelist")).content.decode()
    admin_client.post(reverse("admin:credits_apikey_changelist"),
                      {"action": "revoke", "_selected_action": [api_key.pk]})

    assert created["prefix"] in page and "owner-token:" in page
    assert _key_client(created["key"]).get("/api/v1/api-keys").status_code == 401


def test_staff_revoke_an_owner_token_in_the_admin(wallet, admin_client):
    token = OwnerToken.objects.get()

    page = admin_client.get(reverse("admin:credits_ownertoken_changelist")).content.decode()
    admin_client.post(reverse("admin:credits_ownertoken_changelist"),
                      {"action": "revoke", "_selected_action": [token.pk]})

    assert token.prefix in page and wallet.address in page
    assert bearer(wallet.token).get("/api/v1/api-keys").status_code == 401
    assert admin_client.get(reverse("admin:credits_ownertoken_add")).status_code == 403


def test_a_staff_made_key_records_its_maker(admin_client, admin_user):
    admin_client.post(reverse("admin:credits_apikey_add"),
                      {"name": "svc", "scope": "service", "account_address": "",
                       "expiry_date_0": "", "expiry_date_1": ""})

    assert ApiKey.objects.get().created_by == f"staff:{admin_user.get_username()}"
