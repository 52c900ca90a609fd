"""/api/v1/webhooks: operators manage every endpoint, owners their own account's; the secret is
shown once; URLs that lead to private, loopback or link-local addresses are refused."""
import pytest

from credits.errors import WebhookTargetRefused
from credits.models import Account, WebhookEndpoint
from credits.services.webhooks import webhook_url_check
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, THIRD_ADDRESS

pytestmark = pytest.mark.django_db
RECEIVER = "http://127.0.0.1:9/hook"


@pytest.fixture(autouse=True)
def _private_targets_allowed(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost:8000/", "http://10.1.2.3/", "http://192.168.0.1/",
    "http://172.16.5.5/", "http://169.254.169.254/latest/meta-data", "http://[::1]/",
    "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://100.64.0.1/",
    "ftp://example.org/", "file:///etc/passwd", "http:///nohost", "http://user:pw@8.8.8.8/",
    "gopher://8.8.8.8/", "not a url",
])
def test_urls_that_are_not_public_http_targets_are_refused(settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False

    with pytest.raises(WebhookTargetRefused):
        webhook_url_check(url)


def test_a_public_address_is_accepted_and_private_ones_only_when_the_setting_allows(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    assert webhook_url_check("https://8.8.8.8/hook") == "https://8.8.8.8/hook"
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    assert webhook_url_check("http://127.0.0.1:9/hook") == "http://127.0.0.1:9/hook"
    with pytest.raises(WebhookTargetRefused):  # the scheme, whatever the setting
        webhook_url_check("ftp://127.0.0.1/")


def test_the_api_refuses_a_private_target_with_a_422_in_the_error_shape(client_as, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False

    response = client_as("operator").post("/api/v1/webhooks",
                                          {"url": "http://169.254.169.254/"}, format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "webhook_url_refused"
    assert not WebhookEndpoint.objects.exists()


def test_an_operator_subscribes_every_account_and_sees_the_secret_only_once(client_as):
    operator = client_as("operator")

    created = operator.post("/api/v1/webhooks", {
        "url": RECEIVER, "event_types": ["resource.removed", "resource.flagged"],
        "description": "compute nodes"}, format="json")

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["account"] is None
    assert body["event_types"] == ["resource.flagged", "resource.removed"]
    assert body["created_by"].startswith("api-key:")
    shown = operator.get(f"/api/v1/webhooks/{body['id']}").json()
    assert "secret" not in shown and shown["url"] == RECEIVER
    assert [item["id"] for item in operator.get("/api/v1/webhooks").json()["results"]] \
        == [body["id"]]


def test_an_owner_subscribes_its_own_account_only(client_as, account):
    owner = client_as("owner")

    created = owner.post("/api/v1/webhooks", {"url": RECEIVER}, format="json")
    refused = owner.post("/api/v1/webhooks", {"url": RECEIVER, "account": OTHER_ADDRESS},
                         format="json")

    assert created.status_code == 201 and created.json()["account"] == ADDRESS
    assert refused.status_code == 403
    assert WebhookEndpoint.objects.get().account == account


def test_owners_see_and_change_only_their_own_endpoints(client_as, account, other_account):
    operator = client_as("operator")
    operators = operator.post("/api/v1/webhooks", {"url": RECEIVER}, format="json").json()
    others = client_as("other_owner").post("/api/v1/webhooks", {"url": RECEIVER},
                                           format="json").json()
    owner = client_as("owner")
    mine = owner.post("/api/v1/webhooks", {"url": RECEIVER}, format="json").json()

    assert [item["id"] for item in owner.get("/api/v1/webhooks").json()["results"]] \
        == [mine["id"]]
    assert owner.get(f"/api/v1/webhooks/{others['id']}").status_code == 403
    assert owner.patch(f"/api/v1/webhooks/{operators['id']}", {"enabled": False},
                       format="json").status_code == 403
    assert owner.delete(f"/api/v1/webhooks/{others['id']}").status_code == 403
    assert len(operator.get("/api/v1/webhooks").json()["results"]) == 3


def test_patch_changes_and_re_enabling_clears_the_failing_streak(client_as):
    from django.utils import timezone

    operator = client_as("operator")
    created = operator.post("/api/v1/webhooks", {"url": RECEIVER}, format="json").json()
    WebhookEndpoint.objects.filter(pk=created["id"]).update(
        enabled=False, failing_since=timezone.now(), disabled_at=timezone.now(),
        disabled_reason="Disabled: failing")

    changed = operator.patch(f"/api/v1/webhooks/{created['id']}",
                             {"enabled": True, "event_types": ["resource.removed"]},
                             format="json")

    assert changed.status_code == 200
    body = changed.json()
    assert body["enabled"] and body["failing_since"] is None and body["disabled_reason"] == ""
    assert body["event_types"] == ["resource.removed"]
    assert operator.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204
    assert operator.get(f"/api/v1/webhooks/{created['id']}").status_code == 404


def test_a_service_key_may_not_manage_webhooks(client_as):
    assert client_as("service").get("/api/v1/webhooks").status_code == 403


def test_unknown_event_types_and_accounts_are_refused(client_as):
    operator = client_as("operator")
    bad_type = operator.post("/api/v1/webhooks", {"url": RECEIVER, "event_types": ["nope"]},
                             format="json")
    no_account = operator.post("/api/v1/webhooks", {"url": RECEIVER,
                                                    "account": THIRD_ADDRESS}, format="json")

    assert bad_type.status_code == 400
    assert no_account.status_code == 422
    assert not Account.objects.filter(address=THIRD_ADDRESS).exists()
