"""The network's own client, aleph-sdk-python, against this service's v0 message endpoints over
HTTP: a registered resource's price, and its status through the whole lifecycle, parsed by the
SDK into its own response models."""
from __future__ import annotations

import math
import uuid
from datetime import timedelta
from decimal import Decimal

import aiohttp
import pytest
from aleph.sdk.client import AlephHttpClient
from aleph.sdk.exceptions import InvalidHashError, MessageNotFoundError
from aleph.sdk.query.responses import PriceResponse
from aleph_message.status import MessageStatus

from credits.models import Resource
from credits.selectors.resources import account_affordability
from credits.services.ledger import grant_create
from credits.services.lifecycle import lifecycle_run
from credits.services.resources import resource_forget, resource_register
from pricing.costs import format_amount
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0
from tests.network.sdk import run_sdk
from tests.pricing.contents import instance_content

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("default_version")]

HOUR = timedelta(hours=1)


def sdk(live_server, call):
    """`call(client)` with the SDK's HTTP client pointed at the live server."""
    async def run():
        async with AlephHttpClient(api_server=live_server.url) as client:
            return await call(client)
    return run_sdk(run())


def status_of(live_server, item_hash: str) -> MessageStatus:
    return sdk(live_server, lambda client: client.get_message_status(item_hash))


def grant(address: str, amount: int, at) -> None:
    grant_create(address=address, amount=amount, expires_at=None,
                 reference=f"sdk-{uuid.uuid4()}", actor="test", at=at)


def register(number: int, address: str, at=None) -> Resource:
    return resource_register(item_hash=f"{number:064x}", message_type="INSTANCE",
                             content=instance_content(payment="credit", address=address),
                             actor="test", at=at).resource


def test_the_sdk_reads_a_registered_resources_price(live_server):
    # given
    grant(ADDRESS, 10**9, at=None)
    resource = register(1, ADDRESS)

    # when
    price = sdk(live_server, lambda client: client.get_program_price(resource.item_hash))

    # then
    assert isinstance(price, PriceResponse)
    assert price.payment_type == "credit"
    assert price.cost == format_amount(resource.cost_credit_per_second)
    # The SDK reads the JSON number as a float: equal to the stored rate within a float's digits.
    assert abs(price.required_tokens - resource.cost_credit_per_second) < Decimal("1e-15")


def test_the_sdk_follows_a_resource_through_its_whole_lifecycle(live_server, settings):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    content = instance_content(payment="credit", address=ADDRESS)
    # given an owner funded for exactly the one day registration asks for
    one_day = account_affordability(address=ADDRESS, message_type="INSTANCE",
                                    content=content, at=T0).requirement.required
    grant(ADDRESS, math.ceil(one_day), at=T0)
    vm = register(1, ADDRESS, at=T0)
    assert status_of(live_server, vm.item_hash) == MessageStatus.PROCESSED

    # when an hour is metered, the rest no longer funds a day: flagged
    lifecycle_run(at=T0 + HOUR)
    vm.refresh_from_db()
    assert vm.delete_after is not None
    assert status_of(live_server, vm.item_hash) == MessageStatus.REMOVING
    # still billed while flagged: the network keeps pricing a removing resource
    price = sdk(live_server, lambda client: client.get_program_price(vm.item_hash))
    assert price.cost == format_amount(vm.cost_credit_per_second)

    # when its grace is over, it is removed, and an ended VM has no price any more
    lifecycle_run(at=vm.delete_after + timedelta(minutes=1))
    assert status_of(live_server, vm.item_hash) == MessageStatus.REMOVED
    with pytest.raises(aiohttp.ClientResponseError) as gone:
        sdk(live_server, lambda client: client.get_program_price(vm.item_hash))
    assert gone.value.status == 410


def test_the_sdk_sees_a_forgotten_resource_as_forgotten(live_server):
    grant(OTHER_ADDRESS, 10**9, at=None)
    vm = register(2, OTHER_ADDRESS)

    resource_forget(item_hash=vm.item_hash, actor="owner")

    assert status_of(live_server, vm.item_hash) == MessageStatus.FORGOTTEN


def test_the_sdk_raises_its_own_errors_for_unknown_and_malformed_hashes(live_server):
    unknown = "e" * 64

    with pytest.raises(MessageNotFoundError):
        status_of(live_server, unknown)
    with pytest.raises(MessageNotFoundError):  # no message bodies here: unknown, as on a node
        sdk(live_server, lambda client: client.get_message_error(unknown))
    with pytest.raises(InvalidHashError):
        sdk(live_server, lambda client: client.get_program_price("not-a-hash"))
