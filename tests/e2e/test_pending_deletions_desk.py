"""An operator at the pending-deletions desk, in a real browser: restores a resource whose owner
is funded again while the confirmation says that the unfunded one selected with it will be
refused (with the shortfall) and leaves it out, cannot confirm a restore that nothing can come
of, extends a grace and deletes one now; each leaves an audit row. The desk's screenshot is saved
for the README."""
import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from credits.models import RemovalReason, Resource, ResourceStatus, ResourceStatusChange
from credits.selectors.ledger import account_balance
from credits.services.ledger import grant_create
from credits.services.lifecycle import lifecycle_run
from credits.services.resources import resource_register
from credits.services.token_balances import token_balance_set
from tests.e2e.conftest import screenshot
from tests.pricing.contents import instance_content

FUNDED_OWNER = "0x9319Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba"
SHORT_OWNER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
DOOMED_OWNER = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
HOLD_OWNER = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
HOUR = timedelta(hours=1)
ONE_DAY_OF_E1 = 342_000  # credits that fund one day of the PRICING.md E1 instance
OPERATOR_ACTOR = "staff:staff"  # the e2e staff user's name


@pytest.fixture(autouse=True)
def _time_travel_allowed(settings):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True


def _register(*, address, at, item_hash, payment="credit"):
    content = instance_content(payment=payment)
    content["address"] = address
    return resource_register(item_hash=item_hash, message_type="INSTANCE", content=content,
                             actor="seed", at=at).resource


def _flagged_by_the_lifecycle(default_version):
    """Four resources flagged by real lifecycle runs at past instants, so their deadlines
    spread over the next day: the doomed one in 30 min, the short one in 4 h, the hold one in
    18 h, the funded one in 23 h (its owner topped up since)."""
    now = timezone.now()
    plan = [("doomed", DOOMED_OWNER, now - timedelta(hours=23, minutes=30)),
            ("short", SHORT_OWNER, now - timedelta(hours=20)),
            ("hold", HOLD_OWNER, now - timedelta(hours=6)),
            ("funded", FUNDED_OWNER, now - HOUR)]
    resources = {}
    for number, (name, address, flagged_at) in enumerate(plan, start=1):
        registered_at = flagged_at - HOUR
        if name == "hold":
            token_balance_set(address=address, chain="ETH", balance=Decimal(10**6), height=1,
                              actor="oracle")
            resources[name] = _register(address=address, at=registered_at, payment="hold",
                                        item_hash=f"{number:02x}" + "d5" * 31)
            token_balance_set(address=address, chain="ETH",
                              balance=resources[name].cost_hold - Decimal(3), height=2,
                              actor="oracle")
        else:
            grant_create(address=address, amount=ONE_DAY_OF_E1, expires_at=None,
                         reference=f"e2e-desk-{name}", actor="seed", at=registered_at)
            resources[name] = _register(address=address, at=registered_at,
                                        item_hash=f"{number:02x}" + "c4" * 31)
        lifecycle_run(at=flagged_at)
    # the funded one's owner buys credits again: funded for a day, still pending deletion
    grant_create(address=FUNDED_OWNER, amount=100_000, expires_at=None,
                 reference="e2e-desk-top-up", actor="seed", at=now - timedelta(minutes=1))
    for resource in resources.values():
        resource.refresh_from_db()
        assert resource.status == ResourceStatus.REMOVING
    assert resources["hold"].removal_reason == RemovalReason.BALANCE_INSUFFICIENT
    return resources


def _credits_short(resource: Resource) -> int:
    """By hand: one day of the owner's only live credit resource, minus its balance now,
    rounded up to whole credits."""
    one_day = resource.cost_credit_per_second * 86_400
    return math.ceil(one_day - account_balance(account=resource.owner))


def _run_action(page, resource: Resource, action: str, *also: Resource) -> None:
    for selected in (resource, *also):
        page.check(f'input[name="_selected_action"][value="{selected.pk}"]')
    page.select_option('select[name="action"]', action)
    page.click('button[name="index"]')
    page.wait_for_selector(".pd-confirm-table")


def _operator_rows(resource: Resource):
    return list(ResourceStatusChange.objects.filter(resource=resource, actor=OPERATOR_ACTOR))


def test_an_operator_restores_is_refused_extends_and_deletes_at_the_desk(admin_page,
                                                                          default_version):
    page = admin_page
    seeded = _flagged_by_the_lifecycle(default_version)
    desk_url = f"{page.base_url}/admin/credits/pendingdeletion/"

    # the desk: soonest deadline first, with a countdown that runs (on a common desktop width)
    page.set_viewport_size({"width": 1600, "height": 900})
    page.goto(desk_url)
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(4)
    order = [rows.nth(i).locator("input[name=_selected_action]").get_attribute("value")
             for i in range(4)]
    assert order == [str(seeded[name].pk) for name in ("doomed", "short", "hold", "funded")]
    countdown = page.locator(f'tr:has(input[value="{seeded["doomed"].pk}"]) .pd-countdown')
    page.wait_for_function(
        "el => el.classList.contains('pd-live') && / s$/.test(el.textContent)",
        arg=countdown.element_handle())
    first = countdown.inner_text()
    page.wait_for_function("([el, before]) => el.textContent !== before",
                           arg=[countdown.element_handle(), first])
    assert "min" in first and "pd-soon" in countdown.get_attribute("class")
    funded_row = page.locator(f'tr:has(input[value="{seeded["funded"].pk}"])')
    assert "funded" in funded_row.inner_text()
    short_by = _credits_short(seeded["short"])
    assert short_by > 0
    assert f"{short_by:,} credits" in page.locator(
        f'tr:has(input[value="{seeded["short"].pk}"])').inner_text()
    assert "3 tokens on ETH" in page.locator(
        f'tr:has(input[value="{seeded["hold"].pk}"])').inner_text()
    screenshot(page, "pending-deletions")

    # restore the funded one and the unfunded one: the confirmation says the first will be
    # restored, the second refused (by how much its owner is short), and offers only the first
    _run_action(page, seeded["funded"], "restore_selected", seeded["short"])
    outcomes = page.locator(".pd-confirm-table td.pd-will")
    expect(outcomes).to_have_count(2)
    row_of = {name: page.locator(f'tr[data-item-hash="{seeded[name].item_hash}"] td.pd-will')
              for name in ("funded", "short")}
    expect(row_of["funded"]).to_have_text("will be restored")
    expect(row_of["short"]).to_have_text(
        f"will be refused: its owner is short by {short_by:,} credits")
    confirm = page.locator('input[name="confirm"]')
    expect(confirm).to_have_value("Yes, restore 1 resource")
    confirm.click()
    success = page.locator(".messagelist .success")
    assert f"Restored {seeded['funded'].item_hash}" in success.inner_text()
    expect(page.locator(".messagelist .error")).to_have_count(0)
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    # restore the unfunded one alone: nothing can come of it, so nothing to confirm
    _run_action(page, seeded["short"], "restore_selected")
    expect(page.locator('input[name="confirm"]')).to_have_count(0)
    expect(page.locator(".pd-nothing")).to_have_text(
        "Nothing can be restored now: 1 resource will be refused (see why above).")
    page.click("text=Back to the pending deletions")
    expect(page.locator("#result_list tbody tr")).to_have_count(3)

    # extend the unfunded one's grace by 12 h, with a reason
    before = seeded["short"].delete_after
    _run_action(page, seeded["short"], "extend_grace_selected")
    page.fill('input[name="hours"]', "12")
    page.fill('input[name="reason"]', "owner's payment is on its way")
    page.click('input[name="confirm"]')
    assert f"Extended the grace of {seeded['short'].item_hash} by 12 h" in page.inner_text(
        ".messagelist .success")

    # delete the doomed one now, with a reason
    _run_action(page, seeded["doomed"], "delete_now_selected")
    page.fill('input[name="reason"]', "abuse report #7")
    page.click('input[name="confirm"]')
    assert f"Deleted {seeded['doomed'].item_hash} now" in page.inner_text(
        ".messagelist .success")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    # the database: each operation left its audit row, the refusal none
    for resource in seeded.values():
        resource.refresh_from_db()
    assert seeded["funded"].status == ResourceStatus.PROCESSED
    assert seeded["short"].status == ResourceStatus.REMOVING
    assert seeded["short"].delete_after == before + 12 * HOUR
    assert seeded["doomed"].status == ResourceStatus.REMOVED
    assert [(row.from_status, row.to_status) for row in _operator_rows(seeded["funded"])] \
        == [("removing", "processed")]
    [extension] = _operator_rows(seeded["short"])
    assert (extension.from_status, extension.to_status) == ("removing", "removing")
    assert extension.reason.startswith("grace extended by 12 h to ")
    assert extension.reason.endswith(": owner's payment is on its way")
    [deletion] = _operator_rows(seeded["doomed"])
    assert (deletion.to_status, deletion.reason) == ("removed", "deleted now: abuse report #7")
    assert _operator_rows(seeded["hold"]) == []
