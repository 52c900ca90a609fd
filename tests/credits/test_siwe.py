"""Sign-In with Ethereum: a client of our own signs with fresh keys; the service answers an owner
token that acts as an owner API key of the signing address, and refuses replays, forgeries and
stale or foreign messages, each with a 401 and its own code."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from credits.models import Account, LedgerEntry, OwnerToken, Resource, ResourceStatus, SignInNonce
from credits.services.ledger import grant_create
from credits.services.sign_in import sign_in_nonce_create
from credits.siwe import MalformedMessage, message_parse, message_signer
from tests.pricing.contents import instance_content

from .conftest import ADDRESS, OTHER_ADDRESS, THIRD_ADDRESS
from .wallets import Wallet, bearer

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def wallet():
    return Wallet()


def _refused(response, code: str, status: int = 401) -> None:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body


def _nonce_used(nonce: str) -> bool:
    return SignInNonce.objects.get(nonce=nonce).used_at is not None


# --- the nonce ------------------------------------------------------------------------------------

def test_a_nonce_is_fresh_each_time_and_says_what_the_message_must_name(now, settings):
    settings.SIWE_DOMAIN, settings.SIWE_URI = "credits.example.org", "https://credits.example.org"
    settings.SIWE_CHAIN_IDS, settings.SIWE_NONCE_TTL_SECONDS = [1, 8453], 120

    first = APIClient().post("/api/v1/auth/nonce").json()
    second = APIClient().post("/api/v1/auth/nonce").json()

    assert re.fullmatch(r"[A-Za-z0-9]{16,}", first["nonce"]) and first["nonce"] != second["nonce"]
    assert first == {"nonce": first["nonce"], "expires_at": "2030-01-01T12:02:00+00:00",
                     "domain": "credits.example.org", "uri": "https://credits.example.org",
                     "chain_ids": [1, 8453]}
    assert SignInNonce.objects.filter(used_at__isnull=True).count() == 2


def test_nonces_a_day_past_their_expiry_are_deleted_by_the_next_ones(now, time_machine):
    old = sign_in_nonce_create().nonce
    time_machine.move_to(NOW + timedelta(days=1, minutes=4), tick=False)
    recent = sign_in_nonce_create().nonce
    time_machine.move_to(NOW + timedelta(days=1, minutes=6), tick=False)

    sign_in_nonce_create()

    assert not SignInNonce.objects.filter(nonce=old).exists()
    assert SignInNonce.objects.filter(nonce=recent).exists()


def test_nonces_are_throttled_per_client(settings):
    settings.SIWE_THROTTLE_RATE = "2/min"
    client = APIClient()

    answers = [client.post("/api/v1/auth/nonce").status_code for _ in range(3)]

    assert answers == [201, 201, 429]


# --- a sign-in ------------------------------------------------------------------------------------

def test_a_fresh_wallet_signs_in_and_gets_a_token_for_a_new_account(now, wallet, settings):
    settings.SIWE_TOKEN_TTL_SECONDS = 1800
    nonce = wallet.nonce()

    response = wallet.post_sign_in(wallet.message(nonce).text())

    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert body["token_type"] == "Bearer" and body["address"] == wallet.address
    assert body["expires_at"] == "2030-01-01T12:30:00+00:00"
    account = Account.objects.get(address=wallet.address)
    token = OwnerToken.objects.get()
    assert (token.account, token.chain_id, token.revoked) == (account, 1, False)
    assert OwnerToken.objects.get_from_key(body["token"]) == token
    assert _nonce_used(nonce)


def test_only_the_tokens_hash_is_stored(now, wallet):
    token = wallet.sign_in()

    stored = [str(value) for value in OwnerToken.objects.values_list().get()]
    secret = token.partition(".")[2]
    assert len(secret) >= 32
    assert not any(secret in value for value in stored)


def test_a_sign_in_reuses_the_account_of_its_address(now, wallet):
    account = Account.objects.create(address=wallet.address)

    wallet.sign_in()

    assert Account.objects.filter(address__iexact=wallet.address).get() == account


def test_a_message_without_statement_and_with_every_optional_field_signs_in(now, wallet):
    nonce = wallet.nonce()
    text = wallet.message(nonce, statement=None, not_before=NOW - timedelta(seconds=5),
                          request_id="login-42",
                          resources=("https://credits.example.org/terms",)).text()
    assert "\n\n\nURI: " in text  # the grammar's empty statement

    assert wallet.post_sign_in(text).status_code == 200


@pytest.mark.parametrize("chain_id", [1, 8453])
def test_every_configured_chain_signs_in(now, wallet, settings, chain_id):
    settings.SIWE_CHAIN_IDS = [1, 8453]

    wallet.sign_in(chain_id=chain_id)

    assert OwnerToken.objects.get().chain_id == chain_id


# --- refusals: each with its own code, and nothing written ---------------------------------------

def test_a_replayed_message_is_refused(now, wallet):
    text = wallet.message(wallet.nonce()).text()
    signature = wallet.sign(text)
    assert wallet.post_sign_in(text, signature).status_code == 200

    replay = wallet.post_sign_in(text, signature)

    _refused(replay, "siwe_replayed")
    assert OwnerToken.objects.count() == 1


def test_a_nonce_used_by_one_message_is_refused_to_another(now, wallet):
    nonce = wallet.nonce()
    assert wallet.post_sign_in(wallet.message(nonce).text()).status_code == 200

    # the same wallet, or another, tries the nonce again with another message
    again = wallet.post_sign_in(wallet.message(nonce, statement="Again.").text())
    other = Wallet()
    stolen = other.post_sign_in(other.message(nonce).text())

    _refused(again, "siwe_nonce_used")
    _refused(stolen, "siwe_nonce_used")
    assert OwnerToken.objects.count() == 1
    assert not Account.objects.filter(address=other.address).exists()


def test_a_nonce_the_service_never_handed_out_is_refused(now, wallet):
    response = wallet.post_sign_in(wallet.message("madeUpNonce123").text())

    _refused(response, "siwe_unknown_nonce")
    assert not OwnerToken.objects.exists() and not Account.objects.exists()


def test_a_nonce_past_its_time_is_refused(now, wallet, time_machine, settings):
    settings.SIWE_NONCE_TTL_SECONDS = 300
    nonce = wallet.nonce()
    time_machine.move_to(NOW + timedelta(seconds=300), tick=False)

    response = wallet.post_sign_in(wallet.message(nonce).text())

    _refused(response, "siwe_nonce_expired")
    assert not _nonce_used(nonce)


def test_a_nonce_just_before_its_time_signs_in(now, wallet, time_machine, settings):
    settings.SIWE_NONCE_TTL_SECONDS = 300
    nonce = wallet.nonce()
    time_machine.move_to(NOW + timedelta(seconds=299), tick=False)

    assert wallet.post_sign_in(wallet.message(nonce).text()).status_code == 200


def test_an_expired_message_is_refused(now, wallet):
    nonce = wallet.nonce()
    text = wallet.message(nonce, issued_at=NOW - timedelta(minutes=10),
                          expiration_time=NOW).text()

    _refused(wallet.post_sign_in(text), "siwe_expired")
    assert not _nonce_used(nonce)


def test_a_message_without_expiration_time_is_refused(now, wallet):
    nonce = wallet.nonce()

    response = wallet.post_sign_in(wallet.message(nonce, expiration_time=None).text())

    _refused(response, "siwe_expiration_missing")


def test_a_message_not_valid_yet_is_refused(now, wallet):
    nonce = wallet.nonce()

    response = wallet.post_sign_in(
        wallet.message(nonce, not_before=NOW + timedelta(minutes=1)).text())

    _refused(response, "siwe_not_yet_valid")


def test_a_message_issued_in_the_future_is_refused(now, wallet, settings):
    settings.SIWE_CLOCK_SKEW_SECONDS = 30
    nonce = wallet.nonce()

    response = wallet.post_sign_in(
        wallet.message(nonce, issued_at=NOW + timedelta(seconds=31)).text())

    _refused(response, "siwe_issued_in_future")
    assert not _nonce_used(nonce)


def test_a_clock_a_little_fast_is_forgiven(now, wallet, settings):
    settings.SIWE_CLOCK_SKEW_SECONDS = 30

    wallet.sign_in(issued_at=NOW + timedelta(seconds=30))

    assert OwnerToken.objects.count() == 1


@pytest.mark.parametrize(("change", "code"), [
    ({"domain": "evil.example.org"}, "siwe_wrong_domain"),
    ({"domain": "127.0.0.1:8001"}, "siwe_wrong_domain"),
    ({"uri": "https://evil.example.org"}, "siwe_wrong_uri"),
    ({"uri": "http://127.0.0.1:8000/"}, "siwe_wrong_uri"),
    ({"chain_id": 5}, "siwe_wrong_chain"),
])
def test_a_message_for_another_domain_uri_or_chain_is_refused_and_leaves_the_nonce_unused(
        now, wallet, change, code):
    nonce = wallet.nonce()

    response = wallet.post_sign_in(wallet.message(nonce, **change).text())

    _refused(response, code)
    assert not _nonce_used(nonce)
    assert not OwnerToken.objects.exists() and not Account.objects.exists()
    # the nonce still serves the right message
    assert wallet.post_sign_in(wallet.message(nonce).text()).status_code == 200


def test_the_expected_domain_uri_and_chain_come_from_the_settings(now, wallet, settings):
    settings.SIWE_DOMAIN, settings.SIWE_URI = "credits.example.org", "https://credits.example.org"
    settings.SIWE_CHAIN_IDS = [8453]
    nonce = wallet.nonce()

    local = wallet.message(nonce, domain="127.0.0.1:8000", uri="http://127.0.0.1:8000",
                           chain_id=1)

    _refused(wallet.post_sign_in(local.text()), "siwe_wrong_domain")
    _refused(wallet.post_sign_in(replace(local, domain="credits.example.org").text()),
             "siwe_wrong_uri")
    _refused(wallet.post_sign_in(replace(local, domain="credits.example.org",
                                         uri="https://credits.example.org").text()),
             "siwe_wrong_chain")
    assert wallet.post_sign_in(wallet.message(nonce).text()).status_code == 200


def test_a_message_signed_by_another_key_is_refused(now, wallet):
    """A forgery: the message names the victim's address, the attacker signs it."""
    attacker = Wallet()
    nonce = wallet.nonce()
    text = wallet.message(nonce).text()

    response = wallet.post_sign_in(text, attacker.sign(text))

    _refused(response, "siwe_wrong_signer")
    assert response.json()["error"]["details"] == {"address": wallet.address}
    assert not _nonce_used(nonce) and not Account.objects.exists()


def test_a_signature_of_another_message_is_refused(now, wallet):
    nonce = wallet.nonce()
    text = wallet.message(nonce).text()
    signature_of_other_text = wallet.sign(wallet.message(nonce, statement="Other.").text())

    _refused(wallet.post_sign_in(text, signature_of_other_text), "siwe_wrong_signer")


def test_a_message_changed_after_signing_is_refused(now, wallet):
    nonce = wallet.nonce()
    signed = wallet.message(nonce).text()
    changed = signed.replace("Chain ID: 1", "Chain ID: 10")

    _refused(wallet.post_sign_in(changed, wallet.sign(signed)), "siwe_wrong_signer")


@pytest.mark.parametrize("text", [
    "hello",
    "",
    "127.0.0.1:8000 wants you to sign in with your Ethereum account:\n0x1234\n\n\nURI: x",
])
def test_a_body_that_is_not_a_sign_in_message_is_a_400(wallet, text):
    response = wallet.post_sign_in(text, "0x" + "11" * 65)

    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("siwe_malformed_message", "invalid_request")


def test_an_address_not_written_in_its_checksummed_form_is_a_malformed_message(now, wallet):
    nonce = wallet.nonce()
    text = wallet.message(nonce).text().replace(wallet.address, wallet.address.lower())

    _refused(wallet.post_sign_in(text), "siwe_malformed_message", status=400)


def test_crlf_line_ends_are_a_malformed_message(now, wallet):
    text = wallet.message(wallet.nonce()).text().replace("\n", "\r\n")

    _refused(wallet.post_sign_in(text), "siwe_malformed_message", status=400)


def test_a_version_other_than_1_is_a_malformed_message(now, wallet):
    text = wallet.message(wallet.nonce(), version="2").text()

    _refused(wallet.post_sign_in(text), "siwe_malformed_message", status=400)


@pytest.mark.parametrize("signature", ["0x1234", "d6" * 65, "0x" + "zz" * 65, "0x" + "11" * 66])
def test_a_signature_of_the_wrong_shape_is_a_400(now, wallet, signature):
    response = wallet.post_sign_in(wallet.message(wallet.nonce()).text(), signature)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "signature" in response.json()["error"]["details"]["fields"]


def test_a_signature_no_key_can_have_made_is_a_400(now, wallet):
    # v = 29 is neither 27/28 nor 0/1: no public key is recovered from it
    response = wallet.post_sign_in(wallet.message(wallet.nonce()).text(),
                                   "0x" + "11" * 64 + "1d")

    _refused(response, "siwe_malformed_signature", status=400)


def test_a_refused_sign_in_asks_for_a_bearer_token(now, wallet):
    response = wallet.post_sign_in(wallet.message("madeUpNonce123").text())

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_sign_ins_are_throttled_per_client(now, wallet, settings):
    settings.SIWE_THROTTLE_RATE = "2/min"
    client = APIClient()
    text = wallet.message("madeUpNonce123").text()

    answers = [wallet.post_sign_in(text, client=client).status_code for _ in range(3)]

    assert answers == [401, 401, 429]


# --- the token: an owner key of its account ------------------------------------------------------

@pytest.fixture
def funded(default_version, now):
    """A wallet with a token, its account funded."""
    wallet = Wallet()
    token = wallet.sign_in()
    grant_create(address=wallet.address, amount=10**9, expires_at=None, reference="siwe-funds",
                 actor="test")
    return wallet, token


def test_a_signed_in_owner_registers_and_forgets_its_resource(funded):
    wallet, token = funded
    client = bearer(token)
    body = {"item_hash": "c" * 64, "type": "INSTANCE",
            "content": instance_content(payment="credit", address=wallet.address)}

    registered = client.post("/api/v1/resources", body, format="json")
    forgotten = client.delete(f"/api/v1/resources/{'c' * 64}")

    assert registered.status_code == 201, registered.content[:500]
    assert forgotten.status_code == 200, forgotten.content[:500]
    assert Resource.objects.get(item_hash="c" * 64).status == ResourceStatus.FORGOTTEN


def test_a_signed_in_owner_transfers_its_credits_and_the_audit_names_the_token(funded):
    wallet, token = funded

    response = bearer(token).post("/api/v1/credits/transfers",
                                  {"to": THIRD_ADDRESS, "amount": "25", "reference": "t-1"},
                                  format="json")

    assert response.status_code == 201, response.content[:500]
    entry = LedgerEntry.objects.get(kind="transfer_out")
    prefix = OwnerToken.objects.get().prefix
    assert entry.account.address == wallet.address
    assert entry.created_by == f"owner-token:{prefix} ({wallet.address})"


def test_a_signed_in_owner_reads_its_history_when_account_reads_are_private(funded, settings):
    wallet, token = funded
    settings.CREDITS_PUBLIC_ACCOUNT_READS = False

    own = bearer(token).get(f"/api/v1/accounts/{wallet.address}/credit-history")
    other = bearer(token).get(f"/api/v1/accounts/{OTHER_ADDRESS}/credit-history")
    anonymous = APIClient().get(f"/api/v1/accounts/{wallet.address}/credit-history")

    assert own.status_code == 200 and own.json()["results"][0]["reference"] == "siwe-funds"
    _refused(other, "permission_denied", status=403)
    assert anonymous.status_code == 401


def test_a_signed_in_owner_cannot_act_for_another_account(funded, ledger_resource_factory):
    _, token = funded
    victim = Account.objects.create(address=ADDRESS)
    ledger_resource_factory(victim, item_hash="d" * 64)
    body = {"item_hash": "e" * 64, "type": "INSTANCE",
            "content": instance_content(payment="credit", address=ADDRESS)}

    register = bearer(token).post("/api/v1/resources", body, format="json")
    forget = bearer(token).delete(f"/api/v1/resources/{'d' * 64}")

    _refused(register, "permission_denied", status=403)
    _refused(forget, "permission_denied", status=403)
    assert Resource.objects.get(item_hash="d" * 64).status == ResourceStatus.PROCESSED


@pytest.mark.parametrize("path", ["/api/v1/credits/grants", "/api/v1/pending-deletions"])
def test_a_token_has_no_more_rights_than_an_owner_key(funded, path):
    _, token = funded

    response = bearer(token).post(path, {"address": ADDRESS, "amount": "1", "reference": "x"},
                                  format="json") if "grants" in path \
        else bearer(token).get(path)

    _refused(response, "permission_denied", status=403)


def test_a_token_stops_working_when_it_expires(funded, time_machine, settings):
    wallet, token = funded
    expiry = OwnerToken.objects.get().expiry_date
    assert expiry == NOW + timedelta(seconds=settings.SIWE_TOKEN_TTL_SECONDS)

    time_machine.move_to(expiry - timedelta(seconds=1), tick=False)
    before = bearer(token).get("/api/v1/api-keys")
    time_machine.move_to(expiry + timedelta(seconds=1), tick=False)
    after = bearer(token).get("/api/v1/api-keys")

    assert before.status_code == 200
    _refused(after, "authentication_failed")
    assert "expired" in after.json()["error"]["message"]


@pytest.mark.parametrize("presented", ["nonsense", "abcdefgh.wrongsecret", ""])
def test_an_unknown_token_is_refused(db, presented):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {presented}")

    response = client.get("/api/v1/api-keys")

    assert response.status_code == 401


def test_a_token_with_a_wrong_secret_is_refused(funded):
    _, token = funded
    prefix = token.partition(".")[0]

    _refused(bearer(f"{prefix}.{'x' * 32}").get("/api/v1/api-keys"), "authentication_failed")


# --- logout ---------------------------------------------------------------------------------------

def test_logging_out_ends_the_token_at_once(funded):
    wallet, token = funded

    response = bearer(token).post("/api/v1/auth/logout")

    assert response.status_code == 204
    assert OwnerToken.objects.get().revoked
    _refused(bearer(token).get("/api/v1/api-keys"), "authentication_failed")
    _refused(bearer(token).post("/api/v1/auth/logout"), "authentication_failed")


def test_logging_out_ends_only_that_token(funded):
    wallet, token = funded
    second = wallet.sign_in()

    bearer(token).post("/api/v1/auth/logout")

    assert bearer(second).get("/api/v1/api-keys").status_code == 200


def test_logout_needs_a_token(funded, client_as):
    _refused(APIClient().post("/api/v1/auth/logout"), "not_authenticated")
    _refused(client_as("owner").post("/api/v1/auth/logout"), "permission_denied", status=403)


# --- the worked example of docs/api.md ------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
DOC_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def _doc_block(marker: str) -> str:
    """The fenced block right after `<!-- marker -->` in docs/api.md."""
    found = re.search(rf"<!-- {marker} -->\n```\w*\n(.*?)\n```", DOC.read_text(), re.S)
    assert found, f"no block after <!-- {marker} --> in {DOC}"
    return found.group(1)


def _doc_sign_in_body() -> dict:
    curl = re.search(r"auth/siwe .*?-d '(\{.*?\})'", DOC.read_text(), re.S)
    assert curl, "no sign-in request in docs/api.md"
    return json.loads(curl.group(1))


def test_the_docs_example_is_signed_by_its_test_key():
    message, signature = _doc_block("siwe-message"), _doc_block("siwe-signature")
    wallet = Wallet(DOC_KEY)

    assert wallet.sign(message) == signature
    assert message_signer(message, signature) == wallet.address == message_parse(message).address
    assert _doc_sign_in_body() == {"message": message, "signature": signature}


def test_the_docs_example_signs_in_and_its_token_makes_an_api_key(time_machine, settings):
    # given: the service as the example shows it, at the example's time, with its nonce
    nonce_answer = json.loads(_doc_block("siwe-nonce"))
    settings.SIWE_DOMAIN, settings.SIWE_URI = nonce_answer["domain"], nonce_answer["uri"]
    settings.SIWE_CHAIN_IDS = nonce_answer["chain_ids"]
    parsed = message_parse(_doc_block("siwe-message"))
    time_machine.move_to(parsed.issued_at + timedelta(seconds=30), tick=False)
    SignInNonce.objects.create(nonce=nonce_answer["nonce"],
                               expires_at=datetime.fromisoformat(nonce_answer["expires_at"]))

    # when
    signed_in = APIClient().post("/api/v1/auth/siwe", _doc_sign_in_body(), format="json")
    token = signed_in.json()["token"]
    created = bearer(token).post("/api/v1/api-keys", {"name": "nightly script"}, format="json")

    # then
    assert signed_in.status_code == 200, signed_in.content[:500]
    assert signed_in.json()["address"] == parsed.address
    assert created.status_code == 201, created.content[:500]
    assert created.json()["name"] == "nightly script"
    assert created.json()["created_by"] == \
        f"owner-token:{token.partition('.')[0]} ({parsed.address})"


# --- the message format on its own ----------------------------------------------------------------

def test_a_message_reads_back_as_written(wallet):
    message = wallet.message("abcdefgh1234", statement=None, request_id="r-1", scheme="https",
                             resources=("ipfs://bafy", "https://example.org/a?b=c"),
                             not_before=NOW)

    assert message_parse(message.text()) == message


@pytest.mark.parametrize("line", ["Nonce: short", "Version: 1\nVersion: 1",
                                  "Chain ID: one", "Issued At: yesterday"])
def test_a_message_with_a_broken_line_is_malformed(wallet, line):
    text = wallet.message("abcdefgh1234").text()
    key = line.partition(":")[0]
    broken = re.sub(rf"^{key}: .*$", line, text, count=1, flags=re.M)
    assert broken != text

    with pytest.raises(MalformedMessage):
        message_parse(broken)
