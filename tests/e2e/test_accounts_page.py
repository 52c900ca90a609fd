"""An account in a real browser: staff searches it by its lowercase EVM address, opens it and
finds its balance, the balance split by expiry, its runway, its open lots, its ledger and its
resources."""
import re
import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from playwright.sync_api import expect

from credits.models import Account, Resource, ResourceStatus
from credits.services.ledger import expense_create, grant_create
from pricing.enums import MessageType, PaymentType, ProductType

ADDRESS = "0x9319Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba"
OTHER = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"


def _resource(account, version, *, status=ResourceStatus.PROCESSED) -> Resource:
    return Resource.objects.create(
        item_hash=uuid.uuid4().hex * 2, type=MessageType.INSTANCE,
        content={"address": account.address}, owner=account,
        product_type=ProductType.INSTANCE, payment_type=PaymentType.CREDIT, status=status,
        pricing_version=version, cost_hold=Decimal(0), cost_stream_per_second=Decimal(0),
        cost_credit_per_second=Decimal("0.01"))  # 36 credits an hour


def test_staff_finds_an_account_by_its_lowercase_address_and_reads_it_whole(admin_page,
                                                                             default_version):
    # given an account with expiring and permanent credits, a spend and a running VM
    soon = timezone.now() + timedelta(days=3)
    account = Account.objects.create(address=ADDRESS)
    Account.objects.create(address=OTHER)
    grant_create(address=ADDRESS, amount=500, expires_at=soon, reference=f"e2e-{uuid.uuid4()}",
                 actor="test")
    grant_create(address=ADDRESS, amount=250, expires_at=None,
                 reference=f"e2e-{uuid.uuid4()}", actor="test")
    expense_create(address=ADDRESS, amount=30, reference=f"e2e-{uuid.uuid4()}", actor="test")
    vm = _resource(account, default_version)

    # when staff searches the lowercase address and opens the one account found
    admin_page.goto(f"{admin_page.base_url}/admin/credits/account/")
    admin_page.fill("#searchbar", ADDRESS.lower())
    admin_page.press("#searchbar", "Enter")
    results = admin_page.locator("#result_list tbody tr")
    expect(results).to_have_count(1)
    results.first.get_by_role("link", name=ADDRESS).click()

    # then: balance, its split by expiry (the expense drained the expiring lot first), runway
    assert admin_page.inner_text("h2") == ADDRESS
    assert admin_page.inner_text(".field-balance_now .readonly") == "720 credits"
    split = admin_page.inner_text(".field-balance_by_expiry .readonly")
    assert re.search(r"470\s*$", split.splitlines()[1]) and re.search(r"250\s*$", split)
    assert re.match(r"20\.0 h \(≈ 0\.8 days\)",
                    admin_page.inner_text(".field-runway_now .readonly"))
    # the open lots, drained top to bottom
    lots = admin_page.locator("#lots-group")
    assert "open lots" in lots.inner_text().lower()
    expect(lots.locator("tbody tr.form-row")).to_have_count(2)
    # the resources, listed and linked
    resources = admin_page.locator(".field-resources_link")
    assert vm.item_hash in resources.inner_text()
    assert "1 resource (1 running)" in resources.inner_text()

    # the ledger link opens this account's entries only
    admin_page.click("text=All ledger entries of this account")
    entries = admin_page.locator("#result_list tbody tr")
    expect(entries).to_have_count(3)
    assert all(ADDRESS in text for text in entries.all_inner_texts())
    admin_page.go_back()

    # the resources link opens this account's resources
    admin_page.click("text=1 resource (1 running)")
    expect(admin_page.locator("#result_list tbody tr")).to_have_count(1)
    assert vm.item_hash in admin_page.inner_text("#result_list")
