"""Who a client is for the estimate throttle (the socket, or what trusted proxies appended to
X-Forwarded-For, never what the client wrote there), and the schema and docs pages answering
OPTIONS, HEAD and other methods without a 500."""
import pytest
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from credits_project.throttles import EstimateThrottle
from tests.test_hostile_inputs import ADDRESS, instance
from tests.test_settings import run_manage

PROXY = "10.0.0.1"
CLIENT = "198.51.100.7"
OTHER_CLIENT = "198.51.100.8"

# Every endpoint the estimate throttle guards, with a body it answers 200 to.
THROTTLED = {
    "estimates": ("/api/v1/estimates", {"type": "INSTANCE", "content": instance()}),
    "v0 estimate": ("/api/v0/price/estimate",
                    {"message": {"type": "INSTANCE", "content": instance()}}),
    "affordability": (f"/api/v1/accounts/{ADDRESS}/affordability",
                      {"type": "INSTANCE", "content": instance()}),
}


def post(client, endpoint, **headers):
    path, body = THROTTLED[endpoint]
    return client.post(path, body, content_type="application/json", **headers)


def forwarded_for(header: str):
    return {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": header}


def trust_proxies(settings, count: int) -> None:
    """What TRUSTED_PROXY_COUNT sets at start (the settings module reads it once)."""
    settings.TRUSTED_PROXY_COUNT = count
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}


# --- the estimate throttle ---------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", THROTTLED)
def test_a_new_forged_x_forwarded_for_on_every_request_does_not_escape_the_throttle(
        client, settings, default_version, endpoint):
    # given no trusted proxy (the default) and a client that never sends the same header twice
    settings.ESTIMATE_THROTTLE_RATE = "3/min"
    for n in range(3):
        assert post(client, endpoint, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code == 200

    # when
    refused = post(client, endpoint, HTTP_X_FORWARDED_FOR="203.0.113.99")

    # then
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"


def test_behind_one_trusted_proxy_each_client_has_its_own_bucket_whatever_it_forges(
        client, settings, default_version):
    # given one proxy that appends the address it saw, and a client that used its two requests
    trust_proxies(settings, 1)
    settings.ESTIMATE_THROTTLE_RATE = "2/min"
    for _ in range(2):
        assert post(client, "estimates", **forwarded_for(CLIENT)).status_code == 200

    # when it forges entries left of the proxy's, and another client behind the proxy asks
    forged = [post(client, "estimates", **forwarded_for(f"203.0.113.{n}, {CLIENT}"))
              for n in range(3)]
    other = post(client, "estimates", **forwarded_for(f"{CLIENT}, {OTHER_CLIENT}"))

    # then the first stays refused, and the other is counted apart from it
    assert [response.status_code for response in forged] == [429, 429, 429]
    assert other.status_code == 200


@pytest.mark.parametrize(("proxy_count", "header", "client_address"), [
    (0, None, PROXY),
    (0, CLIENT, PROXY),  # no proxy: anyone could have written the header
    (1, None, PROXY),  # sent straight to the service, past the proxy
    (1, CLIENT, CLIENT),
    (1, f"203.0.113.9, {CLIENT}", CLIENT),
    (1, f"203.0.113.9,,{CLIENT} ", CLIENT),
    (2, f"203.0.113.9, {CLIENT}, 10.0.0.2", CLIENT),
    (2, CLIENT, CLIENT),  # fewer hops than proxies: the left-most
])
def test_the_client_is_the_entry_that_many_trusted_proxies_from_the_right(
        settings, proxy_count, header, client_address):
    trust_proxies(settings, proxy_count)
    headers = {"REMOTE_ADDR": PROXY}
    if header is not None:
        headers["HTTP_X_FORWARDED_FOR"] = header
    request = RequestFactory().post("/api/v1/estimates", **headers)

    assert EstimateThrottle().get_ident(request) == client_address


# --- the TRUSTED_PROXY_COUNT setting -----------------------------------------------------------

PRINT_PROXY_SETTINGS = ("from django.conf import settings; "
                        "print(settings.TRUSTED_PROXY_COUNT, "
                        "settings.REST_FRAMEWORK['NUM_PROXIES'])")


@pytest.mark.parametrize(("raw", "expected"), [(None, "0 0"), ("", "0 0"), ("1", "1 1"),
                                               (" 2 ", "2 2")])
def test_trusted_proxy_count_is_read_from_the_environment_and_is_0_by_default(
        tmp_path, raw, expected):
    env = {"CREDITS_VAR_DIR": str(tmp_path)}
    if raw is not None:
        env["TRUSTED_PROXY_COUNT"] = raw

    result = run_manage("shell", "-v", "0", "-c", PRINT_PROXY_SETTINGS, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(("raw", "message"), [
    ("-1", "TRUSTED_PROXY_COUNT must be 0 or more, got -1"),
    ("one", "TRUSTED_PROXY_COUNT must be an integer, got 'one'"),
])
def test_a_bad_trusted_proxy_count_stops_the_service_at_start(tmp_path, raw, message):
    result = run_manage("check", env={"TRUSTED_PROXY_COUNT": raw,
                                      "CREDITS_VAR_DIR": str(tmp_path)})

    assert result.returncode != 0
    assert message in result.stderr


# --- the schema and docs pages -----------------------------------------------------------------

DOCUMENTS = ["/api/docs/", "/api/schema/"]


@pytest.mark.parametrize("accept", [None, "application/json", "text/html"])
@pytest.mark.parametrize("path", DOCUMENTS)
def test_options_on_the_api_documents_lists_their_methods_without_a_body(client, path, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}

    response = client.options(path, **headers)

    assert response.status_code == 200
    assert {method.strip() for method in response.headers["Allow"].split(",")} == {
        "GET", "HEAD", "OPTIONS"}
    assert response.content == b""


@pytest.mark.parametrize("path", DOCUMENTS)
def test_head_on_the_api_documents_answers_as_get_without_a_body(client, path):
    response = client.head(path)

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Type"] == client.get(path).headers["Content-Type"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", DOCUMENTS)
def test_another_method_on_the_api_documents_is_a_405_in_the_error_shape(client, path, method):
    response = getattr(client, method)(path)

    assert response.status_code == 405
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "method_not_allowed"


def parameterless_paths(patterns=None, prefix=""):
    """Every URL of the project that needs no argument (admin pages, API lists, documents)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if any(mark in route for mark in "<>()^$\\"):
            continue
        if isinstance(pattern, URLResolver):
            yield from parameterless_paths(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield "/" + route


@pytest.mark.parametrize("staff", [False, True], ids=["anonymous", "superuser"])
def test_no_page_answers_options_or_head_with_a_server_error(db, django_user_model, staff):
    # given every page that needs no argument, with errors answered as a browser would see them
    client = Client(raise_request_exception=False)
    if staff:
        client.force_login(django_user_model.objects.create_superuser(
            username="probe", email="probe@example.org", password="not-used-in-tests"))
    paths = sorted(set(parameterless_paths()))
    assert {"/admin/login/", "/api/docs/", "/api/schema/"} <= set(paths)

    # when
    answers = {(method, path): getattr(client, method)(path).status_code
               for path in paths for method in ("options", "head")}

    # then
    assert {key: status for key, status in answers.items() if status >= 500} == {}
