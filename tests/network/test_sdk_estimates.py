"""The network's own Python SDK (aleph-sdk-python) pointed at this service: its estimates of an
instance, a program and a file are answered over HTTP, parse into the SDK's response model and
equal the cost engine's numbers (PRICING.md's worked examples)."""
from __future__ import annotations

import json
import time
from decimal import Decimal

import aiohttp
import pytest
from aleph.sdk.client import AlephHttpClient
from aleph.sdk.conf import settings as sdk_settings
from aleph.sdk.query.responses import PriceResponse
from aleph.sdk.utils import compute_sha256, extended_json_encoder
from aleph_message import parse_message
from aleph_message.models import Chain, InstanceContent, ItemType, MessageType, ProgramContent

from pricing.content import parse_content
from pricing.costs import compute_costs, format_amount
from tests.network.sdk import run_sdk
from tests.pricing.contents import instance_content, store_content

from .test_v0_estimates import (
    E6_FILE_SIZES_MIB,
    STORE_25_MIB_CREDIT,
    e6_program,
    register_files,
)

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("default_version")]


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    settings.ESTIMATE_THROTTLE_RATE = "off"


def sdk_estimate(server_url: str, content) -> PriceResponse:
    """`AlephHttpClient.get_estimated_price`, the SDK's own call, against this service."""
    async def call():
        async with AlephHttpClient(api_server=server_url) as client:
            return await client.get_estimated_price(content)

    return run_sdk(call())


def sdk_file_estimate(server_url: str, content: dict) -> PriceResponse:
    """A STORE estimate through the SDK's HTTP session. The SDK has no call for a file, so the
    message is built as its `get_estimated_price` builds one (inline `item_content`, aleph-
    message's parsed `content`, a dummy signature) and the answer read as it reads one."""
    item_content = json.dumps(content, separators=(",", ":"), default=extended_json_encoder)
    message = parse_message(dict(
        sender=content["address"], chain=Chain.ETH, type=MessageType.store, content=content,
        item_content=item_content, time=time.time(), channel=sdk_settings.DEFAULT_CHANNEL,
        item_type=ItemType.inline, item_hash=compute_sha256(item_content),
        signature="0x" + "0" * 130))

    async def call():
        async with AlephHttpClient(api_server=server_url) as client:
            async with client.http_session.post("/api/v0/price/estimate",
                                                json=dict(message=message)) as response:
                response.raise_for_status()
                body = await response.json()
                return PriceResponse(cost=body.get("cost"),
                                     required_tokens=body["required_tokens"],
                                     payment_type=body["payment_type"])

    return run_sdk(call())


def engine_total(message_type, content, table, **kwargs):
    return compute_costs(parse_content(message_type, content, estimate=True), table,
                         **kwargs).total


def assert_answers(price: PriceResponse, *, cost: str, payment_type: str, engine) -> None:
    """The SDK's model holds the cost to the last of 18 decimals, and `required_tokens` as the
    SDK reads a JSON number (a float)."""
    assert isinstance(price, PriceResponse)
    assert price.cost == cost == format_amount(engine)
    assert price.payment_type == payment_type
    assert float(price.required_tokens) == float(engine)


def test_the_sdk_estimates_an_instance_as_example_e1(live_server, default_table):
    content = instance_content(payment="credit")

    price = sdk_estimate(live_server.url, InstanceContent.model_validate(content))

    assert_answers(price, cost="3.958333333333333333", payment_type="credit",
                   engine=engine_total("INSTANCE", content, default_table))


def test_the_sdk_estimates_a_program_with_registered_files_as_example_e6(live_server,
                                                                          default_table):
    register_files(E6_FILE_SIZES_MIB)
    content = e6_program()

    price = sdk_estimate(live_server.url, ProgramContent.model_validate(content))

    # 2 × 200 + (6656 − 2048) × 0.05
    assert_answers(price, cost="630.400000000000000000", payment_type="hold",
                   engine=engine_total("PROGRAM", content, default_table,
                                       ref_sizes_mib={ref: Decimal(size) for ref, size
                                                      in E6_FILE_SIZES_MIB.items()}))


def test_the_sdk_estimates_a_small_file_paid_by_credit_for_25_mib(live_server, default_table):
    content = store_content(estimated_size_mib=10, payment="credit")

    price = sdk_file_estimate(live_server.url, content)

    assert_answers(price, cost=STORE_25_MIB_CREDIT, payment_type="credit",
                   engine=engine_total("STORE", content, default_table))


def test_the_sdk_estimates_a_file_paid_by_hold_from_its_estimated_size(live_server,
                                                                        default_table):
    content = store_content(estimated_size_mib=100, payment="hold")

    price = sdk_file_estimate(live_server.url, content)

    # 100 MiB × 0.333333333
    assert_answers(price, cost="33.333333300000000000", payment_type="hold",
                   engine=engine_total("STORE", content, default_table))


def test_the_sdk_sees_an_unpriceable_program_as_an_http_error(live_server):
    content = ProgramContent.model_validate(e6_program())  # no file registered

    with pytest.raises(aiohttp.ClientResponseError) as raised:
        sdk_estimate(live_server.url, content)

    assert raised.value.status == 422
