"""Every malformed, hostile or oversized body gets a 4xx in the one error shape, never a 5xx."""
import json

import pytest

ADDRESS = "0x9319Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba"
HASH = "a" * 64
ENDPOINTS = ["/api/v1/estimates", "/api/v0/price/estimate"]


def instance(**overrides):
    content = {
        "address": ADDRESS, "time": 1, "allow_amend": False,
        "environment": {"internet": True},
        "resources": {"vcpus": 1, "memory": 2048, "seconds": 30},
        "rootfs": {"parent": {"ref": HASH, "use_latest": True}, "persistence": "host",
                   "size_mib": 20480},
        "volumes": [],
        "payment": {"type": "credit", "chain": "ETH"},
    }
    content.update(overrides)
    return content


def wrap(endpoint, message_type, content):
    if endpoint.startswith("/api/v0/"):
        return {"message": {"type": message_type, "item_hash": HASH, "content": content}}
    return {"type": message_type, "content": content}


def post_raw(client, endpoint, raw, content_type="application/json"):
    return client.generic("POST", endpoint, raw, content_type=content_type)


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


pytestmark = pytest.mark.usefixtures("default_version")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("raw", [b"not json", b"{", b"[1, 2", b'{"type": NaN}',
                                 b"\xff\xfe\x00", b'{"a": Infinity}', b"1" * 5000])
def test_a_body_that_is_not_json_is_a_400(client, endpoint, raw):
    assert_error(post_raw(client, endpoint, raw), 400, "malformed_request")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_empty_body_is_a_400_saying_what_is_required(client, endpoint):
    error = assert_error(post_raw(client, endpoint, b""), 400, "invalid_request")
    assert "required" in str(error["details"])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("body", [[], "text", 12, None, {"type": 5, "content": "x"},
                                  {"type": "FOO", "content": {}}, {"content": {}},
                                  {"message": "x"}])
def test_a_body_with_wrong_types_is_a_400_naming_the_fields(client, endpoint, body):
    error = assert_error(post_raw(client, endpoint, json.dumps(body)), 400, "invalid_request")
    assert error["details"]


def assert_network_refusal(response):
    """The network's node refuses a v0 estimate message with a 422 and this text alone."""
    assert response.status_code == 422, response.content[:500]
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content == b"InvalidMessageFormat"


def test_a_v0_message_field_of_a_wrong_type_is_the_networks_422(client):
    assert_network_refusal(post_raw(client, "/api/v0/price/estimate",
                                    json.dumps({"message": {"type": []}})))


INVALID_CONTENTS = [
    instance(resources={"vcpus": -1, "memory": 2048}),
    instance(resources={"vcpus": 1, "memory": -5}),
    instance(resources={"vcpus": 10**9, "memory": 2048}),
    instance(resources={"vcpus": 1, "memory": 10**30}),
    instance(resources={"vcpus": 1.5, "memory": 2048}),
    instance(resources={"vcpus": "1", "memory": "lots"}),
    instance(rootfs={"parent": {"ref": HASH}, "persistence": "host", "size_mib": 10**40}),
    instance(rootfs={"parent": {"ref": HASH}, "persistence": "host", "size_mib": 0}),
    instance(rootfs={"parent": {"ref": "not-a-hash"}, "persistence": "host", "size_mib": 10}),
    instance(volumes=[{"mount": "/a", "persistence": "host", "size_mib": -1, "name": "a"}]),
    instance(volumes=[{"mount": "/a", "persistence": "host", "size_mib": 1, "name": "a"}] * 300),
    instance(payment={"type": "gold", "chain": "ETH"}),
    instance(payment="credit"),
    instance(address=None),
    instance(unexpected_field=1),
    instance(environment={"internet": True, "trusted_execution": {"firmware": 7}}),
]


@pytest.mark.parametrize("content", INVALID_CONTENTS, ids=lambda c: json.dumps(c)[:60])
def test_invalid_content_is_a_422_listing_what_is_wrong(client, content):
    endpoint = "/api/v1/estimates"
    response = post_raw(client, endpoint, json.dumps(wrap(endpoint, "INSTANCE", content)))
    error = assert_error(response, 422, "invalid_content")
    assert error["details"]["errors"] or "content" in error["message"]


@pytest.mark.parametrize("content", INVALID_CONTENTS, ids=lambda c: json.dumps(c)[:60])
def test_invalid_content_is_the_networks_422_on_v0(client, content):
    endpoint = "/api/v0/price/estimate"
    assert_network_refusal(post_raw(client, endpoint,
                                    json.dumps(wrap(endpoint, "INSTANCE", content))))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_unknown_gpu_device_is_a_422_naming_the_device(client, endpoint):
    content = instance(
        environment={"internet": True, "hypervisor": "qemu"},
        requirements={"node": {"node_hash": HASH},
                      "gpu": [{"vendor": "NVIDIA", "device_name": "X", "device_class": "0300",
                               "device_id": "ffff:0001"}]})
    body = json.dumps(wrap(endpoint, "INSTANCE", content))
    error = assert_error(post_raw(client, endpoint, body), 422, "unknown_gpu_device")
    assert "ffff:0001" in error["message"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("estimated", [-1, 10**40, "many", [], {}])
def test_a_store_with_an_absurd_estimated_size_is_a_422(client, endpoint, estimated):
    content = {"address": ADDRESS, "time": 1, "item_type": "storage", "item_hash": HASH,
               "estimated_size_mib": estimated}
    response = post_raw(client, endpoint, json.dumps(wrap(endpoint, "STORE", content)))
    if endpoint.startswith("/api/v0/"):
        assert_network_refusal(response)
    else:
        assert_error(response, 422, "invalid_content")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_deeply_nested_json_is_refused_without_recursing(client, endpoint):
    deep = "[" * 100_000 + "]" * 100_000
    assert_error(post_raw(client, endpoint, deep), 400, "malformed_request")
    nested: dict = {}
    node = nested
    for _ in range(60):
        node["a"] = {}
        node = node["a"]
    content = instance(metadata=nested)
    assert_error(post_raw(client, endpoint, json.dumps(wrap(endpoint, "INSTANCE", content))),
                 400, "malformed_request")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_multi_megabyte_body_is_a_413(client, endpoint):
    content = instance(metadata={"blob": "x" * (3 * 1024 * 1024)})
    assert_error(post_raw(client, endpoint, json.dumps(wrap(endpoint, "INSTANCE", content))),
                 413, "request_too_large")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_body_that_is_not_declared_json_is_a_415(client, endpoint):
    assert_error(post_raw(client, endpoint, "type=INSTANCE", "text/plain"), 415,
                 "unsupported_media_type")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_wrong_method_is_a_405_in_the_error_shape(client, endpoint):
    assert_error(client.put(endpoint, "{}", content_type="application/json"), 405,
                 "method_not_allowed")


def test_an_unknown_api_path_is_a_404_in_the_error_shape(client):
    assert_error(client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_a_v0_inline_item_content_that_is_not_json_is_a_422(client):
    body = {"message": {"type": "INSTANCE", "item_type": "inline", "item_content": "{nope"}}
    assert_network_refusal(post_raw(client, "/api/v0/price/estimate", json.dumps(body)))


def test_a_v0_message_without_content_is_a_422(client):
    body = {"message": {"type": "INSTANCE", "item_type": "storage", "item_hash": HASH}}
    assert_error(post_raw(client, "/api/v0/price/estimate", json.dumps(body)), 422,
                 "invalid_content")


# --- every field of a content, replaced by a hostile value -------------------------------------

HOSTILE_VALUES = [10**100, -1, 0, 1.5, True, None, "x", [], {}, "9" * 500, 2**63, -(2**63) - 1,
                  1e308, "\u0000", "\ud800"]


def _field_paths(node, path=()):
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, child in items:
        yield path + (key,)
        yield from _field_paths(child, path + (key,))


def _replaced(content, path, value):
    content = json.loads(json.dumps(content))
    parent = content
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return content


@pytest.mark.django_db
def test_no_field_of_a_content_breaks_an_estimate_or_a_registration(client, default_version,
                                                                    settings):
    """Each field of a full instance content (volumes, GPU, payment…), replaced in turn by
    each hostile value, posted to both estimates, the v0 estimate's inline item_content and a
    registration by the owner: every answer is below 500, in the error shape when an error."""
    from credits.models import Account, ApiKey, ApiKeyScope
    from tests.pricing.contents import instance_content

    settings.ESTIMATE_THROTTLE_RATE = "off"
    _, key = ApiKey.objects.create_key(name="owner", scope=ApiKeyScope.OWNER,
                                       account=Account.objects.create(address=ADDRESS))
    owner = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
    base = instance_content(payment="credit", address=ADDRESS)
    paths = list(_field_paths(base))
    assert len(paths) > 20
    failures = []
    for number, (path, value) in enumerate((p, v) for p in paths for v in HOSTILE_VALUES):
        content = _replaced(base, path, value)
        for endpoint, body, headers in [
                ("/api/v1/estimates", {"type": "INSTANCE", "content": content}, {}),
                ("/api/v0/price/estimate", {"message": {"type": "INSTANCE", "content": content}},
                 {}),
                ("/api/v0/price/estimate", {"message": {
                    "type": "INSTANCE", "item_type": "inline",
                    "item_content": json.dumps(content)}}, {}),
                ("/api/v1/resources", {"item_hash": f"{number:064x}", "type": "INSTANCE",
                                       "content": content}, owner)]:
            response = client.post(endpoint, json.dumps(body), content_type="application/json",
                                   **headers)
            # v0 answers the network node's own refusals in its plain text
            node_text = endpoint.startswith("/api/v0/") \
                and response["Content-Type"] == "text/plain; charset=utf-8"
            if response.status_code >= 500 or (response.status_code >= 400 and not node_text
                                               and set(response.json()) != {"error"}):
                failures.append((endpoint, path, value, response.status_code))
    assert failures == []


@pytest.mark.parametrize("text", ["\ud800", "\u0000"])
def test_a_v0_inline_item_content_with_a_lone_surrogate_or_a_nul_is_a_422(client, text):
    content = json.dumps(instance(metadata={"name": f"a{text}b"}))

    response = client.post("/api/v0/price/estimate", json.dumps(
        {"message": {"type": "INSTANCE", "item_type": "inline", "item_content": content}}),
        content_type="application/json")

    error = assert_error(response, 422, "invalid_content")
    assert error["details"] == {"path": "$.metadata.name"}
