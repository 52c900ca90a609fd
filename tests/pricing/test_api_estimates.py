"""POST /api/v1/estimates and GET /api/v1/pricing: exact numbers, errors, cache, throttling."""
from decimal import Decimal

import pytest
from django.utils import timezone

from pricing.models import Product
from pricing.selectors import pricing_in_force
from tests.test_hostile_inputs import ADDRESS, HASH, instance

pytestmark = pytest.mark.usefixtures("default_version")

E1_ROWS = [
    {"type": "EXECUTION", "name": "instance", "ref": None,
     "cost_hold": "1000.000000000000000000", "cost_stream": "0.000015277777777777",
     "cost_credit": "3.958333333333333333", "size_mib": None},
    {"type": "EXECUTION_INSTANCE_VOLUME_ROOTFS", "name": "EXECUTION_INSTANCE_VOLUME_ROOTFS",
     "ref": HASH, "cost_hold": "1024.000000000000000000", "cost_stream": "0.000005558044444444",
     "cost_credit": "1.022150487075618588", "size_mib": "20480"},
    {"type": "EXECUTION_VOLUME_DISCOUNT", "name": "EXECUTION_VOLUME_DISCOUNT", "ref": None,
     "cost_hold": "-1024.000000000000000000", "cost_stream": "-0.000005558044444444",
     "cost_credit": "-1.022150487075618588", "size_mib": None},
]


def estimate(client, content, message_type="INSTANCE"):
    return client.post("/api/v1/estimates", {"type": message_type, "content": content},
                       content_type="application/json")


def gpu_instance(*device_ids, vcpus=8, memory=16384, payment="hold"):
    return instance(
        environment={"internet": True, "hypervisor": "qemu"},
        resources={"vcpus": vcpus, "memory": memory, "seconds": 30},
        requirements={"node": {"node_hash": HASH},
                      "gpu": [{"vendor": "NVIDIA", "device_name": "card", "device_class": "0300",
                               "device_id": device_id} for device_id in device_ids]},
        payment={"type": payment, "chain": "ETH"},
    )


def test_credit_estimate_of_example_e1_is_exact_to_18_decimals(client, default_version):
    response = estimate(client, instance())

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "product_type": "instance",
        "payment_type": "credit",
        "charged_address": ADDRESS,
        "cost": "3.958333333333333333",
        "cost_per_hour": "14249.999999999999998800",
        "credits_charged_per_hour": "14250",
        "payment_type_accepted": True,
        "cost_per_day": "341999.999999999999971200",
        "required_balance": "341999.999999999999971200",
        "pricing_version": {"id": default_version.pk, "name": default_version.name,
                            "effective_from": default_version.effective_from.isoformat()},
        "detail": E1_ROWS,
    }


def test_hold_estimate_requires_the_hold_cost_and_has_no_hourly_rate(client):
    body = estimate(client, instance(payment={"type": "hold", "chain": "ETH"})).json()

    assert body["payment_type"] == "hold"
    assert body["cost"] == "1000.000000000000000000"
    assert body["required_balance"] == "1000.000000000000000000"
    assert body["cost_per_hour"] is None and body["cost_per_day"] is None


def test_a_content_without_payment_is_priced_as_hold(client):
    content = instance()
    del content["payment"]
    assert estimate(client, content).json()["payment_type"] == "hold"


def test_stream_estimate_gives_tokens_per_second_hour_and_day_and_requires_nothing(client):
    body = estimate(client, instance(payment={"type": "superfluid", "chain": "BASE",
                                              "receiver": ADDRESS})).json()

    assert body["payment_type"] == "superfluid"
    assert body["cost"] == "0.000015277777777777"
    assert body["cost_per_hour"] == "0.054999999999997200"  # 0.000015277777777777 × 3600
    assert body["cost_per_day"] == "1.319999999999932800"  # × 86400
    assert body["required_balance"] is None


def test_gpu_example_g1_costs_2240_in_one_standard_row(client):
    body = estimate(client, gpu_instance("10de:2684")).json()

    assert body["product_type"] == "instance_gpu_standard"
    assert body["cost"] == "2240.000000000000000000"
    assert body["detail"][0]["name"] == "instance_gpu_standard"


def test_an_on_demand_program_with_estimated_sizes_matches_example_e6(client):
    content = {
        "address": ADDRESS, "time": 1, "allow_amend": False, "type": "vm-function",
        "environment": {"internet": True},
        "resources": {"vcpus": 1, "memory": 128, "seconds": 30},
        "code": {"encoding": "zip", "entrypoint": "main:app", "ref": HASH, "use_latest": False,
                 "estimated_size_mib": 2048},
        "runtime": {"ref": HASH, "use_latest": True, "comment": "", "estimated_size_mib": 1024},
        "data": {"encoding": "zip", "mount": "/data", "ref": HASH, "use_latest": False,
                 "estimated_size_mib": 2048},
        "on": {"http": True, "persistent": False},
        "volumes": [
            {"ref": HASH, "mount": "/opt", "use_latest": True, "estimated_size_mib": 512},
            {"persistence": "host", "mount": "/var/lib", "size_mib": 1024, "name": "cache"},
        ],
    }

    body = estimate(client, content, "PROGRAM").json()

    assert body["product_type"] == "program"
    assert body["cost"] == "630.400000000000000000"


def test_a_store_estimate_of_a_small_file_paid_by_credit_is_billed_as_25_mib(client):
    content = {"address": ADDRESS, "time": 1, "item_type": "storage", "item_hash": HASH,
               "estimated_size_mib": "1", "payment": {"type": "credit", "chain": "ETH"}}

    body = estimate(client, content, "STORE").json()

    # 25 MiB × 0.17967489030626108 / 3600 per second
    assert body["cost"] == format(
        (Decimal(25) * (Decimal("0.17967489030626108") / 3600)).quantize(
            Decimal("1e-18"), rounding="ROUND_FLOOR"), "f")
    assert body["detail"][0]["ref"] == HASH


@pytest.mark.parametrize(("device_id", "code"), [("ffff:0001", "unknown_gpu_device"),
                                                 ("10de:2687", "gpu_model_not_priced")])
def test_a_gpu_that_cannot_be_priced_is_a_clear_422(client, device_id, code):
    response = estimate(client, gpu_instance(device_id))

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"]["device_id"] == device_id


def test_a_program_whose_code_size_is_unknown_is_a_422_not_a_silent_zero(client):
    content = {
        "address": ADDRESS, "time": 1, "allow_amend": False, "type": "vm-function",
        "environment": {"internet": False}, "resources": {"vcpus": 1, "memory": 128},
        "code": {"encoding": "zip", "entrypoint": "main:app", "ref": HASH, "use_latest": False},
        "runtime": {"ref": HASH, "use_latest": True, "comment": "", "estimated_size_mib": 1},
        "on": {"http": True},
    }

    response = estimate(client, content, "PROGRAM")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_volume_size"


def test_a_warm_estimate_makes_no_database_query(client, django_assert_num_queries):
    assert estimate(client, instance()).status_code == 200  # warms the pricing cache

    with django_assert_num_queries(0):
        response = estimate(client, instance())

    assert response.status_code == 200


def test_an_estimate_uses_a_new_price_as_soon_as_it_is_published(
        client, default_version, django_capture_on_commit_callbacks):
    from pricing.services import pricing_version_copy, pricing_version_publish

    assert estimate(client, instance()).json()["cost"] == "3.958333333333333333"
    draft = pricing_version_copy(version=default_version)
    Product.objects.filter(version=draft, product_type="instance").update(
        price_cu_credit_per_hour=Decimal("36000"))

    with django_capture_on_commit_callbacks(execute=True):
        pricing_version_publish(version=draft, effective_from=timezone.now())

    body = estimate(client, instance()).json()
    assert body["pricing_version"]["id"] == draft.pk
    assert body["cost"] == "10.000000000000000000"  # 36000 / 3600; the rootfs is discounted


def test_an_estimate_is_throttled_per_client(client, settings):
    settings.ESTIMATE_THROTTLE_RATE = "3/min"
    for _ in range(3):
        assert estimate(client, instance()).status_code == 200

    throttled = estimate(client, instance())

    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert int(throttled.headers["Retry-After"]) > 0
    other_client = client.post("/api/v1/estimates", {"type": "INSTANCE", "content": instance()},
                               content_type="application/json", REMOTE_ADDR="10.1.2.3")
    assert other_client.status_code == 200


def test_without_a_version_in_force_estimates_and_pricing_are_503(client, default_version):
    from pricing.models import PricingVersion
    from pricing.selectors import pricing_cache_invalidate

    PricingVersion.objects.all().delete()
    pricing_cache_invalidate()

    assert estimate(client, instance()).status_code == 503
    response = client.get("/api/v1/pricing")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "pricing_unavailable"


def test_pricing_lists_the_version_in_force_with_prices_as_strings(client, default_version):
    body = client.get("/api/v1/pricing").json()

    assert body["version"]["id"] == default_version.pk
    products = {product["product_type"]: product for product in body["products"]}
    assert products["instance"]["price"]["compute_unit"] == {
        "hold": "1000.000000000000000000", "payg_per_hour": "0.055000000000000000",
        "credit_per_hour": "14250.000000000000000000"}
    assert products["instance"]["price"]["storage"]["credit_per_mib_hour"] == \
        "0.179674890306261080"
    assert products["instance"]["compute_unit"] == {"vcpus": 1, "memory_mib": 2048,
                                                    "disk_mib": 20480}
    assert products["web3_hosting"]["price"]["fixed"] == "50.000000000000000000"
    premium = [tier["model"] for tier in products["instance_gpu_premium"]["tiers"]]
    assert premium == ["A100", "H100"]
    catalogue = {gpu["device_id"]: gpu["model"] for gpu in body["gpu_catalogue"]}
    assert catalogue["10de:2685"] == "RTX 4090"
    assert len(catalogue) == 18


def test_a_version_effective_later_takes_over_when_its_date_comes(
        client, default_version, time_machine, django_capture_on_commit_callbacks):
    from pricing.services import pricing_version_copy, pricing_version_publish

    start = timezone.now()
    draft = pricing_version_copy(version=default_version)
    Product.objects.filter(version=draft, product_type="instance").update(
        price_cu_credit_per_hour=Decimal("7200"))
    with django_capture_on_commit_callbacks(execute=True):
        pricing_version_publish(version=draft,
                                effective_from=start + timezone.timedelta(hours=1))

    assert pricing_in_force()[0].pk == default_version.pk
    assert estimate(client, instance()).json()["cost"] == "3.958333333333333333"

    time_machine.move_to(start + timezone.timedelta(hours=1, seconds=1))

    assert estimate(client, instance()).json()["cost"] == "2.000000000000000000"


def test_the_throttle_window_counts_per_api_key_not_per_address(client, settings, db):
    from credits.models import ApiKey, ApiKeyScope

    settings.ESTIMATE_THROTTLE_RATE = "2/hour"
    _, first_key = ApiKey.objects.create_key(name="a", scope=ApiKeyScope.SERVICE)
    _, second_key = ApiKey.objects.create_key(name="b", scope=ApiKeyScope.SERVICE)

    def as_key(key):
        return client.post("/api/v1/estimates", {"type": "INSTANCE", "content": instance()},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert [as_key(first_key).status_code for _ in range(3)] == [200, 200, 429]
    assert as_key(second_key).status_code == 200  # same address, another key
