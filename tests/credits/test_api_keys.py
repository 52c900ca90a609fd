"""API keys in the admin: created with a scope (owner keys bound to an account), shown once,
stored hashed, revoked by an action; and how the API treats revoked and expired keys."""
import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from rest_framework_api_key.models import APIKey as LibraryAPIKey

from credits.models import Account, ApiKey, ApiKeyScope

pytestmark = pytest.mark.django_db

LOWER_ADDRESS = "0x5c4e1b5d3ad6d0fe2df5f13e2a2ee0dd5b7a4a11"
CHECKSUMMED = "0x5c4E1b5D3ad6D0FE2DF5F13E2a2eE0Dd5b7a4a11"
HEALTH = "/api/v1/health"
KEY_IN_MESSAGE = re.compile(r"The API key for .* is: (\S+)\. ")


def _url(name: str, *args) -> str:
    return reverse(f"admin:credits_apikey_{name}", args=args)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _create(admin_client, **fields):
    data = {"name": "a key", "scope": "service", "account_address": "", "expiry_date_0": "",
            "expiry_date_1": "", **fields}
    return admin_client.post(_url("add"), data, follow=True)


def _shown_key(response) -> str:
    found = [m.group(1) for m in map(KEY_IN_MESSAGE.search, _messages(response)) if m]
    assert len(found) == 1, _messages(response)
    return found[0]


def _auth(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}


# --- creation ------------------------------------------------------------------------------------

def test_a_new_key_is_shown_once_and_only_its_hash_is_stored(admin_client):
    # when
    response = _create(admin_client, name="billing service", scope="service")

    # then
    key = _shown_key(response)
    api_key = ApiKey.objects.get()
    assert (api_key.name, api_key.scope, api_key.account) == ("billing service", "service", None)
    assert ApiKey.objects.get_from_key(key) == api_key
    stored = [str(value) for value in ApiKey.objects.values_list().get()]
    assert not any(key in value for value in stored), "the plain key is stored"
    secret_part = key.partition(".")[2]
    assert not any(secret_part in value for value in stored)
    # the change page and the list never show it again
    assert key not in admin_client.get(_url("change", api_key.pk)).content.decode()
    assert key not in admin_client.get(_url("changelist")).content.decode()


def test_an_owner_key_binds_an_address_typed_in_lowercase_to_the_checksummed_account(admin_client):
    # when: the account does not exist yet
    response = _create(admin_client, name="alice", scope="owner", account_address=LOWER_ADDRESS)

    # then: it is created in its stored (checksummed) form
    key = _shown_key(response)
    api_key = ApiKey.objects.get()
    assert api_key.account == Account.objects.get(address=CHECKSUMMED)
    assert ApiKey.objects.get_from_key(key).account.address == CHECKSUMMED


def test_an_owner_key_for_an_existing_account_reuses_it(admin_client):
    account = Account.objects.create(address=CHECKSUMMED)

    _create(admin_client, name="alice", scope="owner", account_address=f"  {LOWER_ADDRESS.upper()}"
            .replace("0X", "0x"))

    assert ApiKey.objects.get().account == account
    assert Account.objects.count() == 1


def test_an_owner_key_without_an_account_is_refused_with_a_form_error(admin_client):
    response = _create(admin_client, name="orphan", scope="owner")

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["account_address"] == ["An owner key needs the account it acts for."]
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("scope", ["service", "operator"])
def test_a_non_owner_key_with_an_account_is_refused_with_a_form_error(admin_client, scope):
    response = _create(admin_client, name="bound", scope=scope, account_address=LOWER_ADDRESS)

    errors = response.context["adminform"].form.errors
    assert "not bound to an account" in errors["account_address"][0]
    assert not ApiKey.objects.exists()
    assert not Account.objects.exists()


def test_an_invalid_account_address_is_refused(admin_client):
    response = _create(admin_client, name="typo", scope="owner", account_address="0x1234")

    assert "not a valid EVM address" in response.context["adminform"].form.errors[
        "account_address"][0]
    assert not ApiKey.objects.exists()


def test_an_expiry_in_the_past_is_refused(admin_client):
    past = timezone.localtime() - timedelta(days=1)
    response = _create(admin_client, name="old", expiry_date_0=past.strftime("%Y-%m-%d"),
                       expiry_date_1=past.strftime("%H:%M:%S"))

    assert response.context["adminform"].form.errors["expiry_date"] == [
        "The expiry date must be in the future."]


def test_scope_and_account_cannot_be_changed_after_creation(admin_client):
    api_key, _ = ApiKey.objects.create_key(name="svc", scope=ApiKeyScope.SERVICE)

    response = admin_client.get(_url("change", api_key.pk))

    form = response.context["adminform"].form
    assert "scope" not in form.fields and "account" not in form.fields
    assert "name" in form.fields


# --- the list and revocation ---------------------------------------------------------------------

def test_the_list_shows_scope_and_account_and_filters_by_scope(admin_client):
    account = Account.objects.create(address=CHECKSUMMED)
    ApiKey.objects.create_key(name="alice key", scope=ApiKeyScope.OWNER, account=account)
    ApiKey.objects.create_key(name="oracle key", scope=ApiKeyScope.SERVICE)

    page = admin_client.get(_url("changelist")).content.decode()
    owners_only = admin_client.get(_url("changelist"), {"scope__exact": "owner"})

    assert "alice key" in page and "oracle key" in page and CHECKSUMMED in page
    assert [k.name for k in owners_only.context["cl"].result_list] == ["alice key"]


def test_the_revoke_action_revokes_keys_and_the_api_then_refuses_them(admin_client, client):
    api_key, key = ApiKey.objects.create_key(name="leaked", scope=ApiKeyScope.OPERATOR)
    other, other_key = ApiKey.objects.create_key(name="kept", scope=ApiKeyScope.OPERATOR)
    assert client.get(HEALTH, **_auth(key)).status_code == 200

    # when
    response = admin_client.post(_url("changelist"), {"action": "revoke",
                                                      "_selected_action": [api_key.pk]},
                                 follow=True)

    # then
    assert "1 API key(s) revoked." in _messages(response)
    api_key.refresh_from_db()
    other.refresh_from_db()
    assert api_key.revoked and not other.revoked
    refused = client.get(HEALTH, **_auth(key))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"
    assert client.get(HEALTH, **_auth(other_key)).status_code == 200


def test_keys_are_revoked_not_deleted(admin_client):
    api_key, _ = ApiKey.objects.create_key(name="svc", scope=ApiKeyScope.SERVICE)

    assert admin_client.get(_url("delete", api_key.pk)).status_code == 403
    actions = admin_client.get(_url("changelist")).context["action_form"].fields["action"].choices
    assert "delete_selected" not in dict(actions)
    assert ApiKey.objects.filter(pk=api_key.pk).exists()


def test_the_librarys_own_key_model_is_not_in_the_admin():
    assert not admin.site.is_registered(LibraryAPIKey)
    assert admin.site.is_registered(ApiKey)


# --- keys at the API -----------------------------------------------------------------------------

def test_an_expired_key_is_refused_with_401(client):
    api_key, key = ApiKey.objects.create_key(name="old", scope=ApiKeyScope.SERVICE)
    ApiKey.objects.filter(pk=api_key.pk).update(expiry_date=timezone.now() - timedelta(seconds=1))

    response = client.get(HEALTH, **_auth(key))

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API key has expired."


@pytest.mark.parametrize("header", ["Api-Key nonsense", "Api-Key abcdefgh.wrongsecret"])
def test_an_unknown_key_is_refused_with_401(client, header):
    ApiKey.objects.create_key(name="real", scope=ApiKeyScope.SERVICE)

    response = client.get(HEALTH, HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_a_key_with_a_wrong_secret_but_a_real_prefix_is_refused(client):
    api_key, key = ApiKey.objects.create_key(name="real", scope=ApiKeyScope.SERVICE)
    forged = f"{api_key.prefix}.{'x' * len(key.partition('.')[2])}"

    assert client.get(HEALTH, **_auth(forged)).status_code == 401
