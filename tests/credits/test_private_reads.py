"""Account reads are public by default, as on the network's nodes; CREDITS_PUBLIC_ACCOUNT_READS
off makes them private: a key is needed, and an owner key reads only its own account. (Every
endpoint and caller under both values: test_authorization.py.)"""
import pytest
from django.contrib.auth.models import Permission

from credits.services.ledger import grant_create
from tests.test_settings import run_manage

from .conftest import ADDRESS, OTHER_ADDRESS

RESOURCE_HASH = "c" * 64


@pytest.fixture
def funded(account, other_account, ledger_resource_factory):
    grant_create(address=ADDRESS, amount=5000, expires_at=None, reference="private-reads",
                 actor="test")
    ledger_resource_factory(account, item_hash=RESOURCE_HASH, cost_credit_per_second="0.25")


@pytest.fixture
def private_reads(settings):
    settings.CREDITS_PUBLIC_ACCOUNT_READS = False


def _error_code(response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]["code"]


def test_by_default_anyone_reads_an_account_without_a_key(client_as, funded):
    response = client_as(None).get(f"/api/v1/accounts/{ADDRESS}/balance")

    assert response.status_code == 200
    assert response.json()["credits"] == "5000"


@pytest.mark.usefixtures("private_reads")
@pytest.mark.parametrize("path", [f"/api/v1/accounts/{ADDRESS}/balance",
                                  f"/api/v1/accounts/{ADDRESS}/credit-history",
                                  f"/api/v1/costs?address={ADDRESS}",
                                  f"/api/v1/resources/{RESOURCE_HASH}"])
def test_private_reads_refuse_an_anonymous_read_with_a_401_in_the_error_shape(
        client_as, funded, path):
    response = client_as(None).get(path)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Api-Key"
    assert _error_code(response) == "not_authenticated"


@pytest.mark.usefixtures("private_reads")
def test_private_reads_let_an_owner_key_read_its_own_account_in_any_case(client_as, funded):
    response = client_as("owner").get(f"/api/v1/accounts/{ADDRESS.lower()}/balance")

    assert response.status_code == 200
    assert response.json()["credits"] == "5000"


@pytest.mark.usefixtures("private_reads")
@pytest.mark.parametrize("path", [f"/api/v1/accounts/{ADDRESS}/balance",
                                  f"/api/v1/accounts/{ADDRESS}/credit-history",
                                  f"/api/v1/costs?address={ADDRESS}",
                                  f"/api/v1/resources/{RESOURCE_HASH}"])
def test_private_reads_refuse_an_owner_key_of_another_account(client_as, funded, path):
    response = client_as("other_owner").get(path)

    assert response.status_code == 403
    assert _error_code(response) == "permission_denied"


@pytest.mark.usefixtures("private_reads")
def test_private_reads_refuse_an_owner_key_the_costs_of_every_account(client_as, funded):
    own = client_as("other_owner").get(f"/api/v1/costs?address={OTHER_ADDRESS}")
    everyone = client_as("other_owner").get("/api/v1/costs")

    assert own.status_code == 200
    assert own.json()["resource_count"] == 0
    assert everyone.status_code == 403
    assert _error_code(everyone) == "permission_denied"


@pytest.mark.usefixtures("private_reads")
@pytest.mark.parametrize("caller", ["service", "operator"])
def test_private_reads_let_service_and_operator_keys_read_any_account(client_as, funded, caller):
    client = client_as(caller)

    balance = client.get(f"/api/v1/accounts/{ADDRESS}/balance")
    costs = client.get("/api/v1/costs")

    assert balance.status_code == 200
    assert balance.json()["credits"] == "5000"
    assert costs.status_code == 200
    assert costs.json()["totals"]["credit"] == "0.250000000000000000"


@pytest.mark.usefixtures("private_reads")
def test_private_reads_let_staff_read_what_the_admin_shows_them(
        api_client, funded, django_user_model):
    staff = django_user_model.objects.create_user(username="reader", password="unused",
                                                  is_staff=True)
    api_client.force_login(staff)
    path = f"/api/v1/accounts/{ADDRESS}/balance"
    refused = api_client.get(path)

    staff.user_permissions.add(Permission.objects.get(content_type__app_label="credits",
                                                      codename="view_account"))
    staff = django_user_model.objects.get(pk=staff.pk)  # a fresh permission cache
    api_client.force_login(staff)
    allowed = api_client.get(path)

    assert refused.status_code == 403
    assert allowed.status_code == 200


@pytest.mark.usefixtures("private_reads")
def test_private_reads_leave_estimates_public(client_as, default_version):
    from tests.pricing.contents import instance_content

    response = client_as(None).post(
        "/api/v1/estimates", {"type": "INSTANCE", "content": instance_content(payment="credit")},
        format="json")

    assert response.status_code == 200


@pytest.mark.usefixtures("private_reads")
def test_private_reads_make_the_schema_ask_for_a_key(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    operation = schema["paths"]["/api/v1/accounts/{address}/balance"]["get"]
    assert operation["security"] == [{"ApiKey": []}, {"OwnerToken": []}, {"StaffSession": []}]
    assert {"401", "403"} <= set(operation["responses"])


PRINT_SETTING = "from django.conf import settings; print(settings.CREDITS_PUBLIC_ACCOUNT_READS)"


@pytest.mark.parametrize(("raw", "expected"), [(None, "True"), ("1", "True"), ("0", "False"),
                                               ("false", "False")])
def test_public_account_reads_is_read_from_the_environment_and_on_by_default(
        tmp_path, raw, expected):
    env = {"CREDITS_VAR_DIR": str(tmp_path)}
    if raw is not None:
        env["CREDITS_PUBLIC_ACCOUNT_READS"] = raw

    result = run_manage("shell", "-v", "0", "-c", PRINT_SETTING, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
