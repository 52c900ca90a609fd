"""The network's own client, aleph-sdk-python, reads balances and credit histories from this
service over HTTP (a live server), and parses them into its own response models."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import aiohttp
import pytest
from aleph.sdk.client import AlephHttpClient
from aleph.sdk.query.filters import BalanceFilter
from aleph.sdk.query.responses import BalanceResponse, CreditsHistoryResponse
from aleph_message.models import Chain
from django.utils import timezone

from credits.models import Account, LedgerEntry
from credits.selectors.ledger import (
    account_balance,
    account_hold_locked_by_chain,
    account_token_balances,
)
from credits.services.ledger import expense_create, grant_create, transfer_create
from credits.services.token_balances import token_balance_set
from pricing.enums import PaymentType
from tests.credits import conftest as credits_fixtures
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS
from tests.network.sdk import run_sdk

pytestmark = pytest.mark.django_db(transaction=True)

account = credits_fixtures.account
ledger_resource_factory = credits_fixtures.ledger_resource_factory


@pytest.fixture
def funded(default_version, account, ledger_resource_factory):
    """ADDRESS with credits in, out and expiring, tokens on two chains and a hold-paid
    resource; the time of each entry apart, so the history has one order."""
    start = timezone.now() - timedelta(hours=6)
    expiry = timezone.now() + timedelta(days=30)
    resource = ledger_resource_factory(account, item_hash="d" * 64)
    grant_create(address=ADDRESS, amount=1_000_000, expires_at=None, reference="sdk-purchase",
                 actor="test", at=start)
    grant_create(address=ADDRESS, amount=25_000, expires_at=expiry, reference="sdk-promo",
                 actor="test", at=start + timedelta(hours=1))
    expense_create(address=ADDRESS, amount=3_600, reference="sdk-usage",
                   resource_item_hash=resource.item_hash, actor="test",
                   at=start + timedelta(hours=2))
    transfer_create(sender_address=ADDRESS, recipient_address=OTHER_ADDRESS, amount=500,
                    expires_at=None, reference="sdk-gift", actor="test",
                    at=start + timedelta(hours=3))
    grant_create(address=ADDRESS, amount=77, expires_at=None, reference="sdk-bonus",
                 actor="test", at=start + timedelta(hours=4))
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal("1500.25"), height=10,
                      actor="test")
    token_balance_set(address=ADDRESS, chain="SOL", balance=Decimal("42.5"), height=3,
                      actor="test")
    ledger_resource_factory(account, payment_type=PaymentType.HOLD, payment_chain="ETH",
                            cost_hold="1000.5")
    return Account.objects.get(address=ADDRESS)


def sdk(live_server, read):
    """Runs `read(client)` with the SDK's HTTP client pointed at the live server."""
    async def run():
        async with AlephHttpClient(api_server=live_server.url) as client:
            return await read(client)
    return run_sdk(run())


def test_the_sdk_reads_the_balance_into_its_own_model(live_server, funded):
    async def read(client):
        return (await client.get_balances(ADDRESS),
                await client.get_balances(ADDRESS, BalanceFilter(chain=Chain.SOL)))

    every_chain, on_sol = sdk(live_server, read)

    tokens = {token.chain: token.balance for token in account_token_balances(account=funded)}
    assert isinstance(every_chain, BalanceResponse)
    assert every_chain.address == ADDRESS
    assert every_chain.balance == sum(tokens.values())
    assert every_chain.details == tokens
    assert every_chain.locked_amount == sum(
        account_hold_locked_by_chain(account=funded).values())
    assert every_chain.credit_balance == account_balance(account=funded)
    assert every_chain.credit_balance == 1_000_000 + 25_000 - 3_600 - 500 + 77
    assert (on_sol.balance, on_sol.details) == (tokens["SOL"], {})


def test_the_sdk_reads_the_credit_balance_details_the_node_adds_on_request(live_server,
                                                                          funded):
    # The SDK has no parameter for them: its session asks as the explorer does.
    async def read(client):
        async with client.http_session.get(f"/api/v0/addresses/{ADDRESS}/balance",
                                           params={"include_credit_details": "true"}) as resp:
            resp.raise_for_status()
            return BalanceResponse.model_validate(await resp.json()), await resp.json()

    typed, raw = sdk(live_server, read)

    # the expense and the transfer drained the expiring lot first; never-expiring credits first
    assert [(detail["expiration_date"] is None, detail["amount"])
            for detail in raw["credit_balance_details"]] == [
        (True, 1_000_000 + 77), (False, 25_000 - 3_600 - 500)]
    assert typed.credit_balance == account_balance(account=funded) == sum(
        detail["amount"] for detail in raw["credit_balance_details"])


def test_the_sdk_pages_through_the_credit_history_into_its_own_model(live_server, funded):
    async def read(client):
        first = await client.get_credit_history(ADDRESS, page_size=2, page=1)
        pages = [first]
        for page in range(2, -(-first.pagination_total // 2) + 1):
            pages.append(await client.get_credit_history(ADDRESS, page_size=2, page=page))
        return pages

    pages = sdk(live_server, read)

    entries = list(LedgerEntry.objects.filter(account=funded).order_by("-effective_at", "-id"))
    assert all(isinstance(page, CreditsHistoryResponse) for page in pages)
    assert [page.pagination_page for page in pages] == [1, 2, 3]
    assert {(page.pagination_total, page.pagination_per_page, page.address)
            for page in pages} == {(len(entries), 2, ADDRESS)}
    records = [record for page in pages for record in page.credit_history]
    assert [(record.amount, record.credit_ref, record.credit_index, record.message_timestamp,
             record.expiration_date) for record in records] == [
        (entry.amount, entry.reference, entry.pk, entry.effective_at, entry.expires_at)
        for entry in entries]
    by_ref = {record.credit_ref: record for record in records}
    assert (by_ref["sdk-usage"].payment_method, by_ref["sdk-usage"].origin_ref) == (
        "credit_expense", "d" * 64)
    assert (by_ref["sdk-gift"].payment_method, by_ref["sdk-gift"].origin) == (
        "credit_transfer", OTHER_ADDRESS)


def test_the_sdk_sees_the_networks_404_past_the_last_page(live_server, funded):
    async def read(client):
        await client.get_credit_history(ADDRESS, page_size=200, page=2)

    with pytest.raises(aiohttp.ClientResponseError) as raised:
        sdk(live_server, read)

    assert raised.value.status == 404
