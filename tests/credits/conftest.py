"""Fixtures shared by the credits tests: accounts, API keys of every scope, API clients."""
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from credits.models import Account, ApiKey, ApiKeyScope
from tests.credits.repricing_scenario import seed
from tests.credits.webhook_receiver import receiver  # noqa: F401 (a fixture: the webhook tests')

ADDRESS = "0x9319Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba"
OTHER_ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
THIRD_ADDRESS = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
# A fixed instant far from today, so no test depends on the date it runs.
T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def account(db):
    return Account.objects.create(address=ADDRESS)


@pytest.fixture
def other_account(db):
    return Account.objects.create(address=OTHER_ADDRESS)


@pytest.fixture
def api_keys(db, account, other_account):
    """One key per kind of caller: {"owner", "other_owner", "service", "operator"} → key."""
    keys = {}
    for label, scope, owner in [("owner", ApiKeyScope.OWNER, account),
                                ("other_owner", ApiKeyScope.OWNER, other_account),
                                ("service", ApiKeyScope.SERVICE, None),
                                ("operator", ApiKeyScope.OPERATOR, None)]:
        _, key = ApiKey.objects.create_key(name=f"test {label}", scope=scope, account=owner)
        keys[label] = key
    return keys


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_as(api_keys):
    """`client_as("service")`: an API client sending that key (None: anonymous)."""
    def make(label):
        client = APIClient()
        if label is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_keys[label]}")
        return client
    return make


@pytest.fixture
def ledger_resource_factory(default_version):
    """`make(owner, cost_credit_per_second=..., ...)`: a stored resource, without the cost engine
    (the ledger tests only need its owner, payment type, status and costs)."""
    from decimal import Decimal

    from credits.models import Resource, ResourceMeter, ResourceStatus
    from pricing.enums import MessageType, PaymentType, ProductType

    counter = iter(range(1, 10**6))

    def make(owner, *, cost_credit_per_second="0", payment_type=PaymentType.CREDIT,
             status=ResourceStatus.PROCESSED, cost_hold="0", payment_chain="", item_hash=None,
             charged_hours=0, **extra):
        number = next(counter)
        if status not in (ResourceStatus.PROCESSED, ResourceStatus.REMOVING):
            extra.setdefault("ended_at", T0)  # ended exactly when not live
        resource = Resource.objects.create(
            item_hash=item_hash or f"{number:064x}", type=MessageType.INSTANCE,
            content={"address": owner.address}, owner=owner,
            product_type=ProductType.INSTANCE, payment_type=payment_type,
            payment_chain=payment_chain, status=status, pricing_version=default_version,
            cost_hold=Decimal(cost_hold), cost_stream_per_second=Decimal(0),
            cost_credit_per_second=Decimal(cost_credit_per_second), **extra)
        if charged_hours:
            ResourceMeter.objects.create(resource=resource, charged_hours=charged_hours)
        return resource
    return make


# --- resources, token balances and costs (test_resource_*, test_token_balances, test_costs_api)

@pytest.fixture
def resources_grant(db):
    """`grant(address, credits, expires_at=None, at=None)`: credits for an account, through the
    ledger's own service."""
    import uuid

    from credits.services.ledger import grant_create

    def grant(address, amount, *, expires_at=None, at=None):
        return grant_create(address=address, amount=amount, expires_at=expires_at,
                            reference=f"resources-test-{uuid.uuid4()}", actor="test", at=at)
    return grant


@pytest.fixture
def repricing_seeded(default_version):
    """The repricing tests' data set (`repricing_scenario.seed`), with the default pricing."""
    return seed()
