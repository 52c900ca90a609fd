"""Adding an account in a real browser: staff type a lowercase EVM address with an initial grant,
land on the new account's page (address checksummed, the grant in its balance), then grant more
credits from that page."""
import re

from playwright.sync_api import expect

from credits.models import Account, EntryKind, LedgerEntry

ADDRESS = "0x9319Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba"


def test_staff_add_an_account_with_an_initial_grant_and_see_its_balance(admin_page):
    # given the account list, with its "Add account" button
    admin_page.goto(f"{admin_page.base_url}/admin/credits/account/")
    admin_page.get_by_role("link", name=re.compile(r"Add account", re.I)).click()
    expect(admin_page.locator("h1")).to_have_text("Add an account")

    # when staff add the lowercase address with 1,500 credits and a reason
    admin_page.fill("#id_address", ADDRESS.lower())
    admin_page.fill("#id_grant_credits", "1500")
    admin_page.fill("#id_grant_reason", "Partner onboarding")
    admin_page.click("input[type=submit]")

    # then they are on the new account's page: checksummed, with the grant in its balance
    expect(admin_page.get_by_role("heading", name=ADDRESS, exact=True)).to_be_visible()
    expect(admin_page.locator(".messagelist .success")).to_contain_text(
        "added with a grant: 1,500 credits")
    expect(admin_page.locator(".field-balance_now .readonly")).to_have_text("1,500 credits")
    expect(admin_page.locator("#lots-group tbody tr.form-row")).to_have_count(1)

    # and a further grant from the account's page adds to it
    admin_page.get_by_role("link", name="Grant credits…").click()
    expect(admin_page.locator(".credits-balance")).to_have_text("1,500 credits")
    admin_page.fill("#id_amount", "250")
    admin_page.fill("#id_reason", "Goodwill")
    admin_page.click("input[type=submit]")
    expect(admin_page.locator(".field-balance_now .readonly")).to_have_text("1,750 credits")

    account = Account.objects.get(address=ADDRESS)
    assert list(LedgerEntry.objects.filter(account=account).order_by("pk")
                .values_list("kind", "amount", "created_by")) == [
        (EntryKind.GRANT, 1500, "staff:staff"), (EntryKind.GRANT, 250, "staff:staff")]
