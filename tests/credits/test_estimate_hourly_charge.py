"""A v1 estimate shows, beside the exact hourly rate, the whole credits metering takes per hour
for a credit-paid resource: PRICING.md's worked example E1 costs 14249.999999999999998800 an hour
exactly (its per-second rate is floored to 18 decimals) and is charged 14250 credits an hour."""
from datetime import timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

import pytest

from credits.models import Charge
from credits.selectors.ledger import account_balance
from credits.services.ledger import grant_create
from credits.services.lifecycle import lifecycle_run
from credits.services.resources import resource_register
from tests.pricing.contents import instance_content, store_content

from .conftest import ADDRESS, T0

pytestmark = pytest.mark.usefixtures("default_version")

# PRICING.md, default pricing: instance credit per CU-hour, storage credit per MiB-hour.
INSTANCE_CREDIT_PER_HOUR = Decimal(14250)
STORAGE_CREDIT_PER_MIB_HOUR = Decimal("0.17967489030626108")


def estimate(client, content, message_type="INSTANCE") -> dict:
    response = client.post("/api/v1/estimates", {"type": message_type, "content": content},
                           content_type="application/json")
    assert response.status_code == 200, response.content[:500]
    return response.json()


def metered_per_hour(price_per_hour: Decimal) -> int:
    """PRICING.md's rule from the price list: per second floored to 18 decimals, an hour of it
    rounded half-up to whole credits."""
    per_second = (price_per_hour / 3600).quantize(Decimal("1e-18"), rounding=ROUND_FLOOR)
    return int((per_second * 3600).to_integral_value(rounding=ROUND_HALF_UP))


def test_example_e1_paid_by_credit_shows_the_exact_rate_and_the_14250_credits_charged(client):
    body = estimate(client, instance_content(payment="credit"))

    assert body["cost"] == "3.958333333333333333"
    assert body["cost_per_hour"] == "14249.999999999999998800"  # a hair under the price list
    assert body["credits_charged_per_hour"] == "14250"
    assert int(body["credits_charged_per_hour"]) == metered_per_hour(INSTANCE_CREDIT_PER_HOUR)


@pytest.mark.parametrize(("size_mib", "charged"), [(25, "4"), (100, "18")])
def test_the_hour_charged_is_the_exact_hour_rounded_half_up_not_floored_or_ceiled(
        client, size_mib, charged):
    # given a stored file paid by credit: 4.49… credits an hour for 25 MiB, 17.96… for 100 MiB
    content = store_content(estimated_size_mib=size_mib, payment="credit")

    # when
    body = estimate(client, content, "STORE")

    # then
    assert body["credits_charged_per_hour"] == charged
    assert int(charged) == metered_per_hour(size_mib * STORAGE_CREDIT_PER_MIB_HOUR)
    assert abs(Decimal(body["cost_per_hour"]) - int(charged)) <= Decimal("0.5")


@pytest.mark.parametrize("payment", ["hold", "superfluid"])
def test_hold_and_stream_estimates_have_no_credits_charged_per_hour(client, payment):
    body = estimate(client, instance_content(payment=payment))

    assert body["payment_type"] == payment
    assert body["credits_charged_per_hour"] is None


def test_metering_charges_each_hour_what_the_estimate_said(client, settings, account):
    # given a resource registered with the content of an estimate, and credits for it
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    content = instance_content(payment="credit", address=ADDRESS)
    shown = int(estimate(client, content)["credits_charged_per_hour"])
    grant_create(address=ADDRESS, amount=10**7, expires_at=None, reference="hourly", actor="test",
                 at=T0)
    resource = resource_register(item_hash="e1" * 32, message_type="INSTANCE", content=content,
                                 actor="test", at=T0).resource
    before = account_balance(account=account, at=T0)

    # when three hours are metered
    lifecycle_run(at=T0 + timedelta(hours=3, minutes=1))

    # then
    charges = Charge.objects.filter(resource=resource)
    assert sorted(charge.amount_requested for charge in charges) == [shown] * 3
    assert account_balance(account=account, at=T0 + timedelta(hours=4)) == before - 3 * shown


def test_the_schema_documents_the_credits_charged_per_hour(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    fields = schema["components"]["schemas"]["EstimateResponse"]
    field = fields["properties"]["credits_charged_per_hour"]
    assert "credits_charged_per_hour" in fields["required"]
    assert field["type"] == "string" and field["nullable"] is True
    assert "rounded half-up" in field["description"]
    assert "hair under" in fields["properties"]["cost_per_hour"]["description"]


def test_the_network_compatible_estimate_keeps_the_networks_shape(client):
    response = client.post("/api/v0/price/estimate",
                           {"message": {"type": "INSTANCE",
                                        "content": instance_content(payment="credit")}},
                           content_type="application/json")

    assert set(response.json()) == {"required_tokens", "payment_type", "cost", "detail",
                                    "charged_address"}
