"""Every error under /api/ is in the API's error shape, with DEBUG on as off: a path nothing
serves (Django answers it, not a view: with DEBUG on, its technical 404 page), a method a view
does not take, a view that fails (with DEBUG on, the technical 500 page). Outside /api/, Django's
own pages stay."""
import pytest
from django.test import Client

import pricing.api

pytestmark = pytest.mark.django_db

DEBUG_VALUES = pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])


@pytest.fixture
def raw_client():
    """A client that sees the answer a browser would, also when a view raises."""
    return Client(raise_request_exception=False)


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


@DEBUG_VALUES
@pytest.mark.parametrize("path", ["/api/nope", "/api/v1/pricing/", "/api/v1/nope/",
                                  "/api/v1/accounts/0x1/balance/extra", "/api/", "/api/v2/x"])
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_a_path_nothing_serves_under_api_is_a_404_in_the_error_shape(
        raw_client, settings, debug, path, method):
    settings.DEBUG = debug

    response = getattr(raw_client, method)(path)

    error = assert_error_shape(response, 404, "not_found")
    assert path in error["message"]


@DEBUG_VALUES
@pytest.mark.parametrize(("method", "path"), [("delete", "/api/v1/pricing"),
                                              ("put", "/api/v1/estimates"),
                                              ("post", "/api/v1/health")])
def test_a_method_an_endpoint_does_not_take_is_a_405_in_the_error_shape(
        raw_client, settings, debug, method, path):
    settings.DEBUG = debug

    response = getattr(raw_client, method)(path)

    assert_error_shape(response, 405, "method_not_allowed")
    assert response.headers["Allow"]


@DEBUG_VALUES
def test_a_view_that_fails_under_api_is_a_500_in_the_error_shape(
        raw_client, settings, monkeypatch, debug):
    # given the pricing view failing in a way no handler knows
    settings.DEBUG = debug

    def broken():
        raise RuntimeError("the database went away")
    monkeypatch.setattr(pricing.api, "pricing_in_force", broken)

    # when
    response = raw_client.get("/api/v1/pricing")

    # then nothing of the failure leaks, whatever DEBUG says
    error = assert_error_shape(response, 500, "server_error")
    assert "database" not in response.content.decode()
    assert error["details"] == {}


@DEBUG_VALUES
def test_a_host_not_allowed_under_api_is_a_400_in_the_error_shape(raw_client, settings, debug):
    settings.DEBUG = debug

    response = raw_client.get("/api/v1/health", HTTP_HOST="evil.example.org")

    assert_error_shape(response, 400, "bad_request")


@DEBUG_VALUES
def test_a_path_without_its_slash_still_redirects_to_the_docs(raw_client, settings, debug):
    settings.DEBUG = debug

    response = raw_client.get("/api/docs")

    assert response.status_code == 301
    assert response.headers["Location"] == "/api/docs/"


@DEBUG_VALUES
def test_outside_api_an_unknown_path_keeps_djangos_html_page(raw_client, settings, debug):
    settings.DEBUG = debug

    response = raw_client.get("/nope")

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")


@DEBUG_VALUES
def test_the_api_answers_are_left_alone(raw_client, settings, debug, default_version):
    settings.DEBUG = debug

    health = raw_client.get("/api/v1/health")
    docs = raw_client.get("/api/docs/")

    assert health.json() == {"status": "ok"}
    assert docs.status_code == 200
    assert docs.headers["Content-Type"].startswith("text/html")
