"""Registrations sent at once by real threads on PostgreSQL: the account lock lets exactly as many
pass as the credits fund for one day, never one more."""
import functools
import time
from datetime import timedelta

import pytest
from django.db import connection  # noqa: F401 - read by the skipif conditions
from rest_framework.test import APIClient

from credits.errors import InsufficientCredit, ResourceConflict
from credits.models import Account, ApiKey, ApiKeyScope, Resource
from credits.selectors.ledger import account_balance
from credits.selectors.resources import account_credit_cost_per_second
from credits.services.ledger import grant_create
from credits.services.resources import resource_register
from pricing.content import parse_content
from pricing.costs import DAY_SECONDS, amount_for_seconds, compute_costs
from pricing.selectors import pricing_in_force
from tests.pricing.contents import instance_content
from tests.threads import in_threads

from .conftest import ADDRESS, T0

THREADS = 50
AFFORDABLE = 7

pytestmark = [
    # serialized_rollback: a plain flush would re-create content types that the next
    # serialized_rollback test (tests/pricing) restores again, and collide.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("default_version"),
]


def small_instance(number: int) -> dict:
    return instance_content(payment="credit", address=ADDRESS,
                            metadata={"name": f"vm-{number}"})


def credits_for_exactly(count: int) -> int:
    """Whole credits that fund `count` small instances for one day and not one more: one day of
    their summed per-second cost, rounded up to a whole credit."""
    _, table = pricing_in_force()
    rate = compute_costs(parse_content("INSTANCE", small_instance(0), estimate=False),
                         table).credit_per_second
    needed = amount_for_seconds(rate * count, DAY_SECONDS)
    whole = int(needed.to_integral_value(rounding="ROUND_CEILING"))
    assert whole < amount_for_seconds(rate * (count + 1), DAY_SECONDS)
    return whole


def run_at_once(worker, count: int) -> tuple[list, float]:
    """Run `worker(i)` in `count` real threads released together; results and elapsed time."""
    started = time.perf_counter()
    results = in_threads(*[functools.partial(worker, index) for index in range(count)])
    return results, time.perf_counter() - started


def assert_never_overdrawn(account: Account) -> None:
    rate = account_credit_cost_per_second(account=account)
    assert amount_for_seconds(rate, DAY_SECONDS) <= account_balance(account=account, at=T0)


def test_only_the_funded_registrations_pass_when_sent_at_once_to_the_service():
    # given: credits for exactly 7 small instances
    grant = credits_for_exactly(AFFORDABLE)
    grant_create(address=ADDRESS, amount=grant, expires_at=None, reference="concurrency-grant",
                 actor="test", at=T0 - timedelta(hours=1))

    # when: 50 registrations at once
    def register(index):
        return resource_register(item_hash=f"{index + 1:064x}", message_type="INSTANCE",
                                 content=small_instance(index), actor="test", at=T0)

    results, elapsed = run_at_once(register, THREADS)

    # then
    unexpected = [r for r in results if not hasattr(r, "created")
                  and not isinstance(r, InsufficientCredit)]
    assert not unexpected, unexpected[:3]
    created = [r for r in results if hasattr(r, "created") and r.created]
    refused = [r for r in results if isinstance(r, InsufficientCredit)]
    assert (len(created), len(refused)) == (AFFORDABLE, THREADS - AFFORDABLE)
    account = Account.objects.get(address=ADDRESS)
    assert Resource.objects.filter(owner=account).count() == AFFORDABLE
    assert_never_overdrawn(account)
    print(f"\n{THREADS} concurrent registrations (service): {elapsed:.2f} s")


def test_only_the_funded_registrations_pass_when_sent_at_once_through_the_api():
    # given: credits for exactly 7 small instances and the owner's key
    grant = credits_for_exactly(AFFORDABLE)
    grant_create(address=ADDRESS, amount=grant, expires_at=None, reference="concurrency-grant",
                 actor="test")
    account = Account.objects.get(address=ADDRESS)
    _, key = ApiKey.objects.create_key(name="owner", scope=ApiKeyScope.OWNER, account=account)

    # when: 50 POST /resources at once, one client per thread
    def post(index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        response = client.post("/api/v1/resources", {
            "item_hash": f"{index + 1:064x}", "type": "INSTANCE",
            "content": small_instance(index)}, format="json")
        return response.status_code, response.json()

    results, elapsed = run_at_once(post, THREADS)

    # then
    statuses = sorted(r[0] if isinstance(r, tuple) else repr(r) for r in results)
    assert statuses.count(201) == AFFORDABLE, statuses
    assert statuses.count(402) == THREADS - AFFORDABLE, statuses
    refusals = [body for code, body in results if code == 402]
    assert {body["error"]["code"] for body in refusals} == {"insufficient_credit"}
    assert {body["error"]["details"]["account_credits"] for body in refusals} == {str(grant)}
    assert Resource.objects.filter(owner=account).count() == AFFORDABLE
    assert_never_overdrawn(account)
    print(f"\n{THREADS} concurrent registrations (API): {elapsed:.2f} s")


def test_concurrent_replays_of_one_registration_store_it_once():
    grant_create(address=ADDRESS, amount=10**7, expires_at=None, reference="replay-grant",
                 actor="test", at=T0 - timedelta(hours=1))

    def register(index):
        return resource_register(item_hash="ab" * 32, message_type="INSTANCE",
                                 content=small_instance(0), actor="test", at=T0)

    results, _ = run_at_once(register, 10)

    assert all(hasattr(r, "created") for r in results), results
    assert sum(r.created for r in results) == 1
    assert Resource.objects.count() == 1


def test_one_item_hash_registered_at_once_by_two_owners_is_stored_once():
    other = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    contents = [small_instance(0), instance_content(payment="superfluid", address=other)]
    grant_create(address=ADDRESS, amount=10**7, expires_at=None, reference="two-owners",
                 actor="test", at=T0 - timedelta(hours=1))

    def register(index):
        return resource_register(item_hash="cd" * 32, message_type="INSTANCE",
                                 content=contents[index % 2], actor="test", at=T0)

    results, _ = run_at_once(register, 10)

    stored = Resource.objects.select_related("owner").get()
    for index, result in enumerate(results):
        same_owner = contents[index % 2]["address"] == stored.owner.address
        if same_owner:  # the first registration or its replay
            assert hasattr(result, "created"), result
        else:
            assert isinstance(result, ResourceConflict), result
    assert sum(r.created for r in results if hasattr(r, "created")) == 1
