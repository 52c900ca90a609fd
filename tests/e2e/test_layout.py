"""The pages staff and operators use fit the window at 1280 and 1920 px, on the demo data: no
horizontal scrolling of the page or of a table, and no column cut off at the window's edge."""
import json

import pytest
from django.core.management import call_command

from credits.models import Account, PendingDeletion
from pricing.enums import VersionStatus
from pricing.models import PricingVersion
from pricing.selectors import pricing_version_in_force
from pricing.services import pricing_version_copy
from tests.e2e.conftest import STAFF_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (1280, 1920)

# Everything inside the admin's content whose content is wider than its box, or which reaches
# past the window's right edge. Text cut on purpose with an ellipsis (the full text on hover)
# is not a problem.
OVERFLOWS_JS = """
() => {
  const width = document.documentElement.clientWidth;
  const problems = [];
  if (document.documentElement.scrollWidth > width + 1) {
    problems.push(`the page is ${document.documentElement.scrollWidth} px wide`);
  }
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (el.classList.length ? '.' + [...el.classList].join('.') : '');
  for (const el of document.querySelectorAll('#content, #content *')) {
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    const box = el.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;  // nothing shown, or visually hidden
    if (style.textOverflow === 'ellipsis') continue;
    if (['auto', 'scroll', 'hidden', 'clip'].includes(style.overflowX)
        && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${name(el)} holds ${el.scrollWidth} px in ${el.clientWidth} px`);
    } else if (box.right > width + 1) {
      problems.push(`${name(el)} ends at ${Math.round(box.right)} px`);
    }
    if (problems.length > 5) break;
  }
  return problems;
}
"""


@pytest.fixture
def demo(default_version):
    call_command("load_demo_data", force=True, verbosity=0)
    draft = (PricingVersion.objects.filter(status=VersionStatus.DRAFT).first()
             or pricing_version_copy(version=pricing_version_in_force(), name="Draft"))
    return {"account": Account.objects.filter(resources__isnull=False).first(),
            "pending": PendingDeletion.objects.filter(status="removing").first(),
            "draft": draft}


def _pages(demo) -> list[str]:
    return ["/admin/",
            "/admin/credits/pendingdeletion/",
            f"/admin/credits/pendingdeletion/{demo['pending'].pk}/change/",
            "/admin/credits/resource/",
            "/admin/credits/ledgerentry/",
            "/admin/credits/account/",
            f"/admin/credits/account/{demo['account'].pk}/change/",
            "/admin/credits/lifecyclerun/",
            "/admin/credits/lifecyclesettings/",
            "/admin/credits/lifecyclesettings/forecast/",
            "/admin/credits/resourcestatuschange/",
            "/admin/credits/lot/",
            "/admin/credits/tokenbalance/",
            "/admin/pricing/pricingversion/",
            f"/admin/pricing/pricingversion/{demo['draft'].pk}/change/"]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_people_use_fits_the_window(browser, live_server, staff_user, demo, width):
    context = browser.new_context(viewport={"width": width, "height": 1000}, locale="en-US",
                                  timezone_id="UTC")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", staff_user.username)
        page.fill("#id_password", STAFF_PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")

        found = {}
        for path in _pages(demo):
            response = page.goto(f"{live_server.url}{path}")
            assert response.status == 200, path
            problems = page.evaluate(OVERFLOWS_JS)
            if problems:
                found[path] = problems
        # then
        assert found == {}, json.dumps(found, indent=1)
    finally:
        context.close()
