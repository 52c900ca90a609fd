"""Webhooks in the admin: staff create an endpoint and see its secret once, a disabled endpoint
says why, the delivery log shows each attempt and resends, the dashboard lists endpoints failing
now."""
from datetime import timedelta

import pytest
from django.utils import timezone

from credits.models import (
    Account,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    EventType,
    WebhookEndpoint,
)
from credits.services.webhooks import webhook_endpoint_create
from tests.credits.conftest import ADDRESS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_targets_allowed(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True


@pytest.fixture
def delivery(db):
    account = Account.objects.create(address=ADDRESS)
    endpoint, _ = webhook_endpoint_create(url="http://127.0.0.1:9/hook", actor="test")
    event = Event.objects.create(type=EventType.RESOURCE_REGISTERED, occurred_at=timezone.now(),
                                 account=account, payload={"item_hash": "a" * 64})
    now = timezone.now()
    delivery = Delivery.objects.create(event=event, endpoint=endpoint, attempts=2,
                                       status=DeliveryStatus.FAILED,
                                       retry_until=now, last_status_code=500)
    for code in (500, 503):
        DeliveryAttempt.objects.create(delivery=delivery, attempted_at=now, status_code=code,
                                       latency_ms=42, response_excerpt=f"boom {code}",
                                       error=f"HTTP {code}")
    return delivery


def test_staff_create_an_endpoint_and_see_its_secret_once(admin_client):
    response = admin_client.post("/admin/credits/webhookendpoint/add/", {
        "url": "http://127.0.0.1:9/hook", "description": "nodes", "event_types":
        "resource.removed", "enabled": "on", "account": ""}, follow=True)

    endpoint = WebhookEndpoint.objects.get()
    page = response.content.decode()
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in page
    assert endpoint.created_by.startswith("staff:")
    assert endpoint.event_types == ["resource.removed"]
    assert endpoint.secret not in admin_client.get(
        f"/admin/credits/webhookendpoint/{endpoint.pk}/change/").content.decode()


def test_the_admin_refuses_a_private_target_when_not_allowed(admin_client, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False

    response = admin_client.post("/admin/credits/webhookendpoint/add/", {
        "url": "http://10.0.0.1/hook", "event_types": "", "enabled": "on", "account": ""})

    assert response.status_code == 200 and "not a public address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_disabled_for_failing_says_why(admin_client, delivery):
    WebhookEndpoint.objects.update(enabled=False, disabled_at=timezone.now(),
                                   failing_since=timezone.now() - timedelta(days=6),
                                   disabled_reason="Disabled: every attempt failed since …")

    page = admin_client.get("/admin/credits/webhookendpoint/").content.decode()

    assert "Disabled: every attempt failed since" in page


def test_the_delivery_log_shows_attempts_and_resend_makes_it_pending(admin_client, delivery):
    page = admin_client.get(f"/admin/credits/delivery/{delivery.pk}/change/").content.decode()
    assert "boom 500" in page and "boom 503" in page and "42" in page

    admin_client.post("/admin/credits/delivery/", {"action": "resend",
                                                   "_selected_action": [delivery.pk]})

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.retry_until > timezone.now()


def test_the_dashboard_lists_the_endpoints_failing_now(admin_client, delivery):
    page = admin_client.get("/admin/").content.decode()
    assert "Every webhook endpoint is answering." in page

    WebhookEndpoint.objects.update(failing_since=timezone.now() - timedelta(hours=3))
    page = admin_client.get("/admin/").content.decode()

    assert 'id="credits-webhooks-failing"' in page
    assert "http://127.0.0.1:9/hook" in page and "retrying" in page


def test_events_are_read_only_in_the_admin(admin_client, delivery):
    event = Event.objects.get()
    page = admin_client.get(f"/admin/credits/event/{event.pk}/change/")
    assert page.status_code == 200 and event.public_id in page.content.decode()
    assert admin_client.get("/admin/credits/event/add/").status_code == 403
