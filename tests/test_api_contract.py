"""The API does what its OpenAPI schema says, at the edges the schema cannot leave vague: who may
call each operation, which bodies are parsed, what amounts are accepted."""
import json
import re
import socket

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st
from rest_framework.exceptions import ValidationError

from credits.addresses import ADDRESS_PATTERN, InvalidAddress, normalize_address
from credits.serializers.ledger import CREDIT_AMOUNT_PATTERN, CreditAmountField
from credits.services.ledger import MAX_CREDITS
from tests.pricing.contents import instance_content


@pytest.fixture
def schema(client):
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def _security(schema, path, method):
    return schema["paths"][path][method]["security"]


def test_the_schema_says_who_may_call_each_operation(schema):
    key, token, staff = {"ApiKey": []}, {"OwnerToken": []}, {"StaffSession": []}
    anyone, owner, service, operator = [{}, key, token], [key, token], [key], [key, staff]
    assert _security(schema, "/api/v1/estimates", "post") == anyone
    assert _security(schema, "/api/v1/accounts/{address}/balance", "get") == anyone
    assert _security(schema, "/api/v1/resources/{item_hash}", "get") == anyone
    assert _security(schema, "/api/v1/resources/{item_hash}", "delete") == owner
    assert _security(schema, "/api/v1/resources", "post") == owner
    assert _security(schema, "/api/v1/credits/transfers", "post") == owner
    assert _security(schema, "/api/v1/credits/grants", "post") == service
    assert _security(schema, "/api/v1/pending-deletions", "get") == operator
    assert _security(schema, "/api/v1/lifecycle-runs", "get") == operator
    assert _security(schema, "/api/v1/auth/nonce", "post") == anyone
    assert _security(schema, "/api/v1/auth/siwe", "post") == anyone
    assert _security(schema, "/api/v1/auth/logout", "post") == [token]
    assert _security(schema, "/api/v1/api-keys", "get") == owner
    assert _security(schema, "/api/v1/api-keys", "post") == owner
    assert _security(schema, "/api/v1/api-keys/{prefix}", "delete") == owner
    assert _security(schema, "/api/v1/events", "get") == operator
    assert _security(schema, "/api/v1/webhooks", "post") == operator
    assert _security(schema, "/api/v1/webhooks/{webhook_id}", "delete") == operator


def test_the_schema_documents_the_owner_token_scheme_and_the_sign_in(schema):
    scheme = schema["components"]["securitySchemes"]["OwnerToken"]
    sign_in = schema["paths"]["/api/v1/auth/siwe"]["post"]

    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "/api/v1/auth/siwe" in scheme["description"]
    assert {"200", "400", "401", "429"} <= set(sign_in["responses"])
    assert "EIP-1271" in sign_in["description"]
    for code in ("siwe_replayed", "siwe_nonce_used", "siwe_expired", "siwe_wrong_domain",
                 "siwe_wrong_uri", "siwe_wrong_chain", "siwe_wrong_signer",
                 "siwe_issued_in_future"):
        assert code in sign_in["responses"]["401"]["description"], code
    assert schema["components"]["schemas"]["SignInRequestRequest"]["properties"]["signature"][
        "pattern"] == "^0x[0-9a-fA-F]{130}$"


def test_every_request_body_is_documented_as_json_only(schema):
    bodies = [operation["requestBody"] for operations in schema["paths"].values()
              for operation in operations.values() if "requestBody" in operation]

    assert bodies and all(set(body["content"]) == {"application/json"} for body in bodies)


def _estimate(client, content_type, **extra):
    body = json.dumps({"type": "INSTANCE", "content": instance_content(payment="credit")})
    return client.generic("POST", "/api/v1/estimates", body, content_type=content_type, **extra)


@pytest.mark.parametrize("content_type", ["*/*", "application/*", "*/json", "text/plain",
                                          "application/x-www-form-urlencoded",
                                          "application/jsonx", "application/json-patch+json"])
def test_a_body_is_parsed_only_when_its_content_type_is_application_json(
        client, default_version, content_type):
    response = _estimate(client, content_type)

    assert response.status_code == 415, response.content[:300]
    assert response.json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON"])
def test_application_json_with_or_without_parameters_is_parsed(client, default_version,
                                                                content_type):
    assert _estimate(client, content_type).status_code == 200


def test_a_chunked_body_is_refused_with_411_in_the_error_shape(client, default_version):
    response = _estimate(client, "application/json", HTTP_TRANSFER_ENCODING="chunked")

    assert response.status_code == 411
    assert response.json()["error"]["code"] == "length_required"


@pytest.mark.django_db(transaction=True)
def test_a_chunked_request_on_the_wire_gets_a_clear_411(live_server, default_version):
    body = json.dumps({"type": "INSTANCE", "content": instance_content(payment="credit")})
    chunk = body.encode()
    request = (b"POST /api/v1/estimates HTTP/1.1\r\nHost: localhost\r\n"
               b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n"
               + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n")
    host, port = live_server.url.removeprefix("http://").split(":")

    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"411", answer[:300]
    assert b'"length_required"' in rest


def _server_accepts(value) -> bool:
    try:
        CreditAmountField().to_internal_value(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("text", ["0", "00", "01", "1", "10", str(MAX_CREDITS),
                                  str(MAX_CREDITS + 1), str(MAX_CREDITS - 1), "9" * 16,
                                  "1" + "0" * 16, "-1", "+1", "1e3", "1.0", " 1", "١"])
def test_the_credit_amount_pattern_of_the_schema_is_exactly_what_the_server_accepts(text):
    assert bool(re.fullmatch(CREDIT_AMOUNT_PATTERN, text)) == _server_accepts(text)


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=18))
def test_any_string_of_digits_matches_the_pattern_exactly_when_the_server_takes_it(text):
    assert bool(re.fullmatch(CREDIT_AMOUNT_PATTERN, text)) == _server_accepts(text)


def test_the_schema_publishes_that_pattern_for_every_credit_amount(schema):
    requests = [schema["components"]["schemas"][name] for name in
                ("GrantRequestRequest", "ExpenseRequestRequest", "TransferRequestRequest")
                if name in schema["components"]["schemas"]]
    amounts = [request["properties"]["amount"] for request in requests]

    assert amounts, sorted(schema["components"]["schemas"])
    for amount in amounts:
        assert {"type": "string", "pattern": CREDIT_AMOUNT_PATTERN} in amount["oneOf"]
        assert {"type": "integer", "minimum": 1, "maximum": MAX_CREDITS} in amount["oneOf"]


def _address_accepted(text) -> bool:
    try:
        normalize_address(text)
    except InvalidAddress:
        return False
    return True


@hypothesis_settings(max_examples=500, deadline=None)
@given(st.one_of(
    st.text(alphabet="0123456789abcdefABCDEFxX:_.-", min_size=18, max_size=50),
    st.from_regex(r"0x[0-9a-fA-F]{40}", fullmatch=True),
    st.from_regex(r"[0-9A-Za-z]{1,30}(?:[:_.-][0-9A-Za-z]{1,30}){0,3}", fullmatch=True)))
def test_every_address_the_server_takes_matches_the_schema_pattern(text):
    if _address_accepted(text):
        assert re.fullmatch(ADDRESS_PATTERN, text) and 20 <= len(text) <= 128, text


def test_the_schema_publishes_the_address_pattern_for_paths_and_bodies(schema):
    path = schema["paths"]["/api/v1/accounts/{address}/balance"]["get"]["parameters"]
    address = next(parameter for parameter in path if parameter["name"] == "address")
    grant = schema["components"]["schemas"]["GrantRequestRequest"]["properties"]["address"]

    assert address["schema"] == {"type": "string", "pattern": ADDRESS_PATTERN, "minLength": 20,
                                 "maxLength": 128}
    assert grant["pattern"] == rf"^\s*{ADDRESS_PATTERN[1:-1]}\s*$"
    for hostile in ("....................", "--------------------", "a" * 20 + "--"):
        assert not re.fullmatch(ADDRESS_PATTERN, hostile)
