"""Text PostgreSQL cannot hold (a NUL character, a lone UTF-16 surrogate), as a value or as a key,
anywhere in a body, a query string or an imported document: a 4xx in the error shape and
nothing stored, never a 500 from the database.

The body sweep takes every endpoint of the authorization table that accepts a body, with a
caller it allows, and puts the character into each of its strings and keys in turn."""
from __future__ import annotations

import copy
import json

import pytest
from django.urls import reverse

from pricing.aggregate import AggregateInvalid, aggregate_json_loads
from tests.credits.test_authorization import (
    ENDPOINTS,
    _assert_error_shape,
    _client,
    _state,
    world,  # noqa: F401 - the fixture the sweep runs in
)

pytestmark = pytest.mark.django_db

HOSTILE = {"nul": "\u0000", "lone high surrogate": "\ud800", "lone low surrogate": "\udfff"}


def _caller(endpoint) -> str:
    return next(caller for caller in ("service", "owner", "operator", "anonymous")
                if caller in endpoint.allowed)


def _places(value, path=()):
    """Every (path, kind) where a string can be planted: each string value and each key."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield path + (key,), "key"
            yield from _places(child, path + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _places(child, path + (index,))
    elif isinstance(value, str):
        yield path, "value"


def _planted(body, path, kind, text):
    body = copy.deepcopy(body)
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if kind == "key":
        parent[f"{last}{text}"] = parent.pop(last)
    else:
        parent[last] = f"{parent[last][:3]}{text}{parent[last][3:]}"
    return body


WITH_BODY = [endpoint for endpoint in ENDPOINTS if endpoint.body is not None]


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("endpoint", WITH_BODY, ids=lambda endpoint: endpoint.id)
def test_every_string_and_key_of_every_body_refuses_text_postgresql_cannot_store(
        world, endpoint, name):  # noqa: F811 - the imported fixture
    client = _client(world, _caller(endpoint), key_scope=endpoint.key_scope)
    places = list(_places(endpoint.body))
    assert len(places) >= 2

    for path, kind in places:
        before = _state()
        body = json.dumps(_planted(endpoint.body, path, kind, HOSTILE[name]))

        response = client.generic(endpoint.method.upper(), endpoint.path, data=body,
                                  content_type="application/json")

        where = f"{endpoint.id} with {name} in the {kind} at {path}"
        assert response.status_code == 400, f"{where}: {response.content[:300]}"
        _assert_error_shape(response)
        assert response.json()["error"]["code"] == "malformed_request", where
        assert _state() == before, where


def test_the_error_says_where_the_text_is(world):  # noqa: F811
    client = _client(world, "service")

    response = client.post("/api/v1/credits/grants", data=json.dumps(
        {"address": "0x9319Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba", "amount": "1",
         "reference": "a\u0000b"}), content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"path": "$.reference"}


def test_a_surrogate_pair_is_ordinary_text_and_is_stored(world):  # noqa: F811
    client = _client(world, "service")

    response = client.post("/api/v1/credits/grants", data=json.dumps(
        {"address": "0x9319Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba", "amount": "1",
         "reference": "emoji \U0001F600"}), content_type="application/json")

    assert response.status_code == 201, response.content[:300]


QUERIES = [
    "/api/v1/pending-deletions?owner=%00",
    "/api/v1/lifecycle-runs?cursor=%00",
    "/api/v1/costs?address=0x%00",
    "/api/v1/pricing?%00=1",
    "/api/v1/accounts/0x9319Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba/credit-history?kind=%00",
]


@pytest.mark.parametrize("path", QUERIES)
def test_a_nul_in_a_query_string_is_a_400_in_the_error_shape(world, path):  # noqa: F811
    response = _client(world, "operator").get(path)

    assert response.status_code == 400, response.content[:300]
    _assert_error_shape(response)


def test_a_nul_in_an_admin_search_is_a_400_not_a_500(client, admin_user):
    client.force_login(admin_user)

    response = client.get(reverse("admin:credits_account_changelist") + "?q=%00")

    assert response.status_code == 400


@pytest.mark.parametrize("text", ['{"name": "a\\u0000"}', '{"a\\ud800": 1}',
                                  '[{"products": ["\\udfff"]}]'])
def test_an_imported_pricing_document_with_such_text_is_refused_with_its_place(text):
    with pytest.raises(AggregateInvalid) as refused:
        aggregate_json_loads(text, label="pricing.json")

    assert len(refused.value.errors) == 1 and "cannot be stored" in refused.value.errors[0]
