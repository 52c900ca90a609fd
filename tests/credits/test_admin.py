"""The credits admin: accounts (search in any case, balance, lots, ledger, adjustments), the
read-only ledger, resources with cost rows and status history, token balances."""
import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from credits.models import (
    Account,
    ApiKey,
    ApiKeyScope,
    CostRow,
    EntryKind,
    LedgerEntry,
    Lot,
    Resource,
    ResourceStatus,
    ResourceStatusChange,
    StatusChangeReason,
    TokenBalance,
)
from pricing.enums import CostRowType, MessageType, PaymentType, ProductType
from tests.pricing.contents import instance_content

pytestmark = pytest.mark.django_db

CHECKSUMMED = "0x5c4E1b5D3ad6D0FE2DF5F13E2a2eE0Dd5b7a4a11"
OTHER = "0xA07B1214bAe0D5ccAA25449C3149c0aC83658874"
ITEM_HASH = "1" * 64
_keys = itertools.count()


def _url(model: str, name: str, *args) -> str:
    return reverse(f"admin:credits_{model}_{name}", args=args)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _grant(account, amount: int, *, expires_at=None, at=None) -> LedgerEntry:
    """A grant with its lot, as the ledger service writes them (the admin only reads them)."""
    at = at or timezone.now()
    entry = LedgerEntry.objects.create(account=account, kind=EntryKind.GRANT, amount=amount,
                                       expires_at=expires_at, effective_at=at,
                                       idempotency_key=f"test-grant-{next(_keys)}",
                                       reference=f"purchase-{amount}", created_by="api-key:test")
    Lot.objects.create(account=account, entry=entry, amount=amount, remaining=amount,
                       expires_at=expires_at, created_at=at)
    return entry


def _resource(account, version, *, item_hash=ITEM_HASH, status=ResourceStatus.PROCESSED,
              cost_credit_per_second=Decimal("0.01")) -> Resource:
    resource = Resource.objects.create(
        item_hash=item_hash, type=MessageType.INSTANCE,
        content=instance_content(payment="credit", address=account.address), owner=account,
        product_type=ProductType.INSTANCE, payment_type=PaymentType.CREDIT,
        payment_chain="ETH", status=status, pricing_version=version, cost_hold=Decimal(0),
        cost_stream_per_second=Decimal(0), cost_credit_per_second=cost_credit_per_second)
    CostRow.objects.create(resource=resource, position=0, type=CostRowType.EXECUTION,
                           name="instance", cost_hold=Decimal(0),
                           cost_stream_per_second=Decimal(0),
                           cost_credit_per_second=cost_credit_per_second,
                           pricing_version=version)
    ResourceStatusChange.objects.create(resource=resource, from_status="",
                                        to_status=ResourceStatus.PROCESSED,
                                        reason=StatusChangeReason.REGISTERED,
                                        actor="api-key:abc (owner: alice)")
    return resource


@pytest.fixture
def account():
    return Account.objects.create(address=CHECKSUMMED)


@pytest.fixture
def other_account():
    return Account.objects.create(address=OTHER)


# --- accounts: list and search -------------------------------------------------------------------

@pytest.mark.parametrize("typed", [CHECKSUMMED.lower(), CHECKSUMMED.upper().replace("0X", "0x"),
                                   f"  {CHECKSUMMED.lower()} "])
def test_searching_an_evm_address_in_any_case_finds_the_checksummed_account(
        admin_client, account, other_account, typed):
    response = admin_client.get(_url("account", "changelist"), {"q": typed})

    assert list(response.context["cl"].result_list) == [account]


def test_a_partial_address_is_searched_case_insensitively(admin_client, account, other_account):
    response = admin_client.get(_url("account", "changelist"), {"q": CHECKSUMMED[:12].lower()})

    assert list(response.context["cl"].result_list) == [account]


def test_the_account_list_shows_balance_and_runway_without_a_query_per_account(
        admin_client, account, other_account, default_version, django_assert_max_num_queries):
    _grant(account, 720)
    _grant(account, 1000, expires_at=timezone.now() - timedelta(hours=1))  # expired: not counted
    _resource(account, default_version, cost_credit_per_second=Decimal("0.01"))  # 36 credits/h
    for index in range(20):
        Account.objects.create(address=f"0x{index:040x}")

    with django_assert_max_num_queries(12):
        response = admin_client.get(_url("account", "changelist"))

    rows = {row.address: row for row in response.context["cl"].result_list}
    assert rows[CHECKSUMMED].balance_credits == 720
    assert rows[OTHER].balance_credits == 0
    page = response.content.decode()
    assert "720 credits" in page
    assert ">36 credits<" in page
    assert "20.0 h" in page  # 720 / 36


# --- accounts: the change page -------------------------------------------------------------------

def test_the_account_page_shows_balance_split_lots_ledger_and_links(admin_client, account,
                                                                    default_version):
    soon = timezone.now() + timedelta(days=3)
    _grant(account, 500, expires_at=soon)
    _grant(account, 250)
    drained = _grant(account, 40)
    Lot.objects.filter(entry=drained).update(remaining=0)  # spent: not an open lot
    _resource(account, default_version)
    TokenBalance.objects.create(account=account, chain="ETH", balance=Decimal("123.5"), height=7)

    response = admin_client.get(_url("account", "change", account.pk))

    assert response.status_code == 200
    page = response.content.decode()
    assert "750 credits" in page  # balance now: 500 + 250
    open_lots = [form.instance for inline in response.context["inline_admin_formsets"]
                 for form in inline.formset.forms if isinstance(form.instance, Lot)]
    assert [(lot.amount, lot.remaining) for lot in open_lots] == [(500, 500), (250, 250)]
    assert "purchase-500" in page and "purchase-40" in page  # recent ledger entries
    assert f"{_url('ledgerentry', 'changelist')}?account__id__exact={account.pk}" in page
    assert f"{_url('resource', 'changelist')}?owner__id__exact={account.pk}" in page
    assert "123.5" in page and "ETH" in page  # token balance
    assert "Adjust credits" in page


def test_the_account_page_is_read_only(admin_client, account):
    response = admin_client.get(_url("account", "change", account.pk))

    assert not response.context["adminform"].form.fields  # the address is shown, not a field
    assert admin_client.post(_url("account", "change", account.pk),
                             {"address": OTHER}).status_code == 403
    assert admin_client.get(_url("account", "delete", account.pk)).status_code == 403
    account.refresh_from_db()
    assert account.address == CHECKSUMMED


def test_the_ledger_of_an_account_is_paginated_newest_first_and_filtered(admin_client, account,
                                                                          other_account):
    start = timezone.now() - timedelta(days=30)
    LedgerEntry.objects.bulk_create(
        LedgerEntry(account=account, kind=EntryKind.GRANT, amount=1, effective_at=start
                    + timedelta(minutes=index), idempotency_key=f"bulk-{index}")
        for index in range(250))
    _grant(other_account, 5)

    response = admin_client.get(_url("ledgerentry", "changelist"),
                                {"account__id__exact": account.pk})

    cl = response.context["cl"]
    shown = list(cl.result_list)
    assert len(shown) == cl.list_per_page < 250
    assert {entry.account_id for entry in shown} == {account.pk}
    assert shown[0].idempotency_key == "bulk-249"
    assert [e.effective_at for e in shown] == sorted((e.effective_at for e in shown),
                                                     reverse=True)


def test_the_ledger_filters_by_kind(admin_client, account):
    _grant(account, 5)

    response = admin_client.get(_url("ledgerentry", "changelist"), {"kind__exact": "expense"})

    assert list(response.context["cl"].result_list) == []


# --- adjustments ---------------------------------------------------------------------------------

def _adjust(admin_client, account, **data):
    page = admin_client.get(_url("account", "adjust", account.pk))
    reference = page.context["form"]["reference"].value()
    body = {"amount": "", "reason": "", "expires_at": "", "reference": reference, **data}
    return admin_client.post(_url("account", "adjust", account.pk), body, follow=True)


def test_an_adjustment_writes_an_adjustment_entry_with_the_reason_and_the_staff_actor(
        admin_client, admin_user, account):
    _grant(account, 100)

    # when
    response = _adjust(admin_client, account, amount="25", reason="Goodwill after outage #12")

    # then
    entry = LedgerEntry.objects.get(kind=EntryKind.ADJUSTMENT)
    assert (entry.account, entry.amount, entry.reason) == (account, 25,
                                                          "Goodwill after outage #12")
    assert entry.created_by == f"staff:{admin_user.get_username()}"
    assert response.redirect_chain[-1][0] == _url("account", "change", account.pk)
    assert any("+25 credits" in message and "125 credits" in message
               for message in _messages(response))


def test_a_negative_adjustment_removes_credits(admin_client, account):
    _grant(account, 100)

    _adjust(admin_client, account, amount="-30", reason="Refunded outside")

    entry = LedgerEntry.objects.get(kind=EntryKind.ADJUSTMENT)
    assert entry.amount == -30
    assert Lot.objects.get(entry__kind=EntryKind.GRANT).remaining == 70


def test_a_positive_adjustment_can_expire(admin_client, account):
    expires_at = (timezone.localtime() + timedelta(days=10)).replace(second=0, microsecond=0)

    _adjust(admin_client, account, amount="10", reason="Trial",
            expires_at=expires_at.strftime("%Y-%m-%d %H:%M"))

    lot = Lot.objects.get(entry__kind=EntryKind.ADJUSTMENT)
    assert (lot.amount, lot.expires_at) == (10, expires_at)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"amount": "10", "reason": ""}, "reason", "This field is required."),
    ({"amount": "10", "reason": "   "}, "reason", "This field is required."),
    ({"amount": "0", "reason": "why not"}, "amount",
     "An adjustment of zero credits changes nothing."),
    ({"amount": "", "reason": "why not"}, "amount", "This field is required."),
    ({"amount": "1.5", "reason": "why not"}, "amount", "Enter a whole number."),
    ({"amount": "-5", "reason": "x", "expires_at": "2999-01-01 00:00"}, "expires_at",
     "Only added credits can expire; leave the expiry empty for a negative amount."),
    ({"amount": "5", "reason": "x", "expires_at": "2001-01-01 00:00"}, "expires_at",
     "The expiry must be in the future."),
])
def test_an_invalid_adjustment_is_refused_and_writes_nothing(admin_client, account, data, field,
                                                             message):
    response = _adjust(admin_client, account, **data)

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert not LedgerEntry.objects.exists()


def test_submitting_the_same_adjustment_form_twice_writes_one_entry(admin_client, account):
    page = admin_client.get(_url("account", "adjust", account.pk))
    body = {"amount": "7", "reason": "double click", "expires_at": "",
            "reference": page.context["form"]["reference"].value()}

    admin_client.post(_url("account", "adjust", account.pk), body)
    admin_client.post(_url("account", "adjust", account.pk), body)

    assert LedgerEntry.objects.filter(kind=EntryKind.ADJUSTMENT).count() == 1


def test_staff_without_the_ledger_permission_cannot_adjust(client, django_user_model, account):
    viewer = django_user_model.objects.create_user(username="viewer", password="x",
                                                   is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_account"))
    client.force_login(viewer)

    page = client.get(_url("account", "change", account.pk))
    refused = client.post(_url("account", "adjust", account.pk),
                          {"amount": "1000", "reason": "me", "reference": "r"})

    assert page.status_code == 200 and "Adjust credits" not in page.content.decode()
    assert refused.status_code == 403
    assert not LedgerEntry.objects.exists()


# --- read-only ledger, lots, resources, token balances -------------------------------------------

@pytest.mark.parametrize("model", ["ledgerentry", "lot", "resource", "tokenbalance"])
def test_service_written_rows_cannot_be_added_changed_or_deleted(admin_client, account,
                                                                 default_version, model):
    entry = _grant(account, 10)
    objects = {
        "ledgerentry": entry,
        "lot": Lot.objects.get(entry=entry),
        "resource": _resource(account, default_version),
        "tokenbalance": TokenBalance.objects.create(account=account, chain="ETH",
                                                    balance=Decimal(1), height=1),
    }
    obj = objects[model]

    listing = admin_client.get(_url(model, "changelist"))
    assert listing.status_code == 200
    assert listing.context["action_form"] is None  # no actions, not even "delete selected"
    assert admin_client.get(_url(model, "add")).status_code == 403
    assert admin_client.get(_url(model, "delete", obj.pk)).status_code == 403
    view = admin_client.get(_url(model, "change", obj.pk))
    assert view.status_code == 200
    assert not view.context["adminform"].form.fields
    assert admin_client.post(_url(model, "change", obj.pk), {}).status_code == 403


def test_resources_are_searched_by_item_hash_or_owner_in_any_case(admin_client, account,
                                                                  other_account, default_version):
    mine = _resource(account, default_version)
    theirs = _resource(other_account, default_version, item_hash="2" * 64)

    by_owner = admin_client.get(_url("resource", "changelist"), {"q": CHECKSUMMED.lower()})
    by_hash = admin_client.get(_url("resource", "changelist"), {"q": "2" * 20})

    assert list(by_owner.context["cl"].result_list) == [mine]
    assert list(by_hash.context["cl"].result_list) == [theirs]


def test_resources_are_filtered_by_status_and_payment_type(admin_client, account,
                                                          default_version):
    _resource(account, default_version)
    removing = _resource(account, default_version, item_hash="3" * 64,
                         status=ResourceStatus.PROCESSED)
    Resource.objects.filter(pk=removing.pk).update(
        status=ResourceStatus.REMOVING, removing_since=timezone.now(),
        delete_after=timezone.now() + timedelta(hours=24))

    response = admin_client.get(_url("resource", "changelist"),
                                {"status__exact": "removing", "payment_type__exact": "credit"})

    assert list(response.context["cl"].result_list) == [removing]


def test_the_resource_page_shows_cost_rows_and_status_history(admin_client, account,
                                                             default_version):
    resource = _resource(account, default_version)

    response = admin_client.get(_url("resource", "change", resource.pk))

    inlines = {inline.opts.model: list(inline.formset.forms)
               for inline in response.context["inline_admin_formsets"]}
    assert [form.instance.name for form in inlines[CostRow]] == ["instance"]
    assert [form.instance.reason for form in inlines[ResourceStatusChange]] == [
        StatusChangeReason.REGISTERED]
    page = response.content.decode()
    assert ITEM_HASH in page and "0.01" in page


def test_the_ledger_entry_page_shows_the_lot_it_opened(admin_client, account):
    entry = _grant(account, 33)

    response = admin_client.get(_url("ledgerentry", "change", entry.pk))

    lots = [form.instance for inline in response.context["inline_admin_formsets"]
            for form in inline.formset.forms if isinstance(form.instance, Lot)]
    assert [(lot.amount, lot.remaining) for lot in lots] == [(33, 33)]


def test_the_account_page_links_lead_to_its_own_resources_and_keys(admin_client, account,
                                                                   other_account,
                                                                   default_version):
    mine = _resource(account, default_version)
    _resource(other_account, default_version, item_hash="4" * 64)
    key, _ = ApiKey.objects.create_key(name="alice", scope=ApiKeyScope.OWNER, account=account)
    ApiKey.objects.create_key(name="bob", scope=ApiKeyScope.OWNER, account=other_account)

    resources = admin_client.get(_url("resource", "changelist"), {"owner__id__exact": account.pk})
    keys = admin_client.get(_url("apikey", "changelist"), {"account__id__exact": account.pk})

    assert list(resources.context["cl"].result_list) == [mine]
    assert list(keys.context["cl"].result_list) == [key]


def test_an_address_stored_without_checksum_is_still_found(admin_client, account):
    legacy = Account.objects.create(address=OTHER.lower())  # written outside the services

    response = admin_client.get(_url("account", "changelist"), {"q": OTHER.upper()
                                                                 .replace("0X", "0x")})

    assert list(response.context["cl"].result_list) == [legacy]


def test_the_account_page_counts_resources_in_their_grace_period_apart_from_running_ones():
    from credits.admin.accounts import _resources_count_text

    assert _resources_count_text(total=1, running=0, removing=1) == (
        "1 resource (1 in its grace period)")
    assert _resources_count_text(total=5, running=2, removing=2) == (
        "5 resources (2 running, 2 in their grace period)")
    assert _resources_count_text(total=2, running=0, removing=0) == "2 resources"


def test_a_zero_charge_shows_what_it_could_not_drain():
    from credits.admin.accounts import _entry_credits_text
    from credits.models import LedgerEntry

    assert _entry_credits_text(LedgerEntry(amount=0, shortfall=14_250)) == "0 (14,250 short)"
    assert _entry_credits_text(LedgerEntry(amount=-1_000, shortfall=0)) == "−1,000"
    assert _entry_credits_text(LedgerEntry(amount=500, shortfall=0)) == "+500"


def test_a_resource_page_shows_the_whole_credits_an_hour_is_charged_beside_the_exact_rate():
    from decimal import Decimal

    from credits.admin.display import hourly_charge_html

    # one compute unit at 15 000 per hour: the per-second rate floored to 18 decimals
    html = hourly_charge_html(Decimal("4.166666666666666666"))
    assert ">15,000<" in html and 'title="exact rate: 14999.9999999999999976 credits' in html
    assert hourly_charge_html(Decimal(0)) == "-"


def test_the_admin_writes_an_exact_decimal_with_all_its_38_digits():
    from decimal import Decimal

    from credits.admin.display import decimal_html, decimal_text, exact_text

    value = Decimal("12345678901234567890.123456789012345678")  # numeric(38, 18) in full

    assert exact_text(value) == "12345678901234567890.123456789012345678"
    assert decimal_text(value) == "12,345,678,901,234,567,890.123456789012345678"
    html = decimal_html(value)
    assert 'title="12345678901234567890.123456789012345678"' in html
    assert ">12,345,678,901,234,567,890.123456…<" in html
    assert exact_text(Decimal("1000.000000000000000000")) == "1000"


def test_the_operators_refusal_names_a_38_digit_shortfall_in_full():
    from decimal import Decimal

    from credits.services.operator import _amount_text, _plain

    value = Decimal("12345678901234567890.123456789012345678")
    assert _plain(value) == "12345678901234567890.123456789012345678"
    assert _amount_text(value) == "12,345,678,901,234,567,890.123456789012345678"
