"""The pricing editor in a real browser: staff copy the version in force to a draft, change a
price, see the difference and the impact on the live resources, publish, and the next estimate
uses the new price; then the existing resources are recalculated with it."""
import os
import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from credits.models import Recalculation, Resource
from credits_project.celery import app as celery_app
from pricing.models import PricingVersion
from pricing.selectors import pricing_version_in_force
from tests.credits.repricing_scenario import RICH, SHORT, TWO, grant, register
from tests.e2e.conftest import screenshot
from tests.pricing.contents import instance_content

E1_CREDIT_PER_SECOND_DOUBLED = "7.916666666666666666"


@pytest.fixture
def live_resources(default_version):
    """Four credit-paid E1 of three accounts: after doubling the price, SHORT's and TWO's
    second resource are no longer funded for a day."""
    grant(RICH, 1_000_000)
    grant(SHORT, 500_000)
    grant(TWO, 800_000)
    register(1, instance_content(payment="credit", address=RICH))
    register(2, instance_content(payment="credit", address=SHORT))
    register(3, instance_content(payment="credit", address=TWO))
    register(4, instance_content(payment="credit", address=TWO))


@pytest.fixture
def celery_eager(settings):
    """The live server runs in this process: its tasks run eagerly here too."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = saved


def _product_row_index(page, product_type: str) -> str:
    """The inline form index of a product, from the product type selects as rendered."""
    selects = page.locator("select[name^='products-'][name$='-product_type']")
    for i in range(selects.count()):
        select = selects.nth(i)
        if select.input_value() == product_type:
            return re.match(r"products-(\d+)-", select.get_attribute("name")).group(1)
    raise AssertionError(f"no {product_type} row in the products inline")


def _estimate(page, live_server) -> dict:
    """An API client's estimate of E1 paid by credit (an anonymous context: the staff session
    cookie would make DRF ask for a CSRF token)."""
    context = page.context.browser.new_context()
    try:
        response = context.request.post(f"{live_server.url}/api/v1/estimates", data={
            "type": "INSTANCE", "content": instance_content(payment="credit")})
        assert response.status == 200, response.text()
        return response.json()
    finally:
        context.close()


def test_staff_change_a_price_see_the_diff_and_impact_publish_and_estimates_follow(
        admin_page, live_server, default_version, live_resources):
    page = admin_page
    assert _estimate(page, live_server)["cost"] == "3.958333333333333333"

    # given: the version in force, copied to a new draft
    page.goto(f"{live_server.url}/admin/pricing/pricingversion/{default_version.pk}/change/")
    page.click("a.pricing-copy")
    page.fill("#id_name", "Instances at 28500")
    page.click("input[type=submit][value='Create the draft']")
    page.wait_for_url(re.compile(r"/admin/pricing/pricingversion/\d+/change/$"))
    draft = PricingVersion.objects.get(name="Instances at 28500")
    assert "copied from" in page.inner_text(".messagelist")

    # when: the instance credit price per CU-hour goes from 14250 to 28500, saved
    index = _product_row_index(page, "instance")
    price = page.locator(f"input[name='products-{index}-price_cu_credit_per_hour']")
    assert price.input_value() == "14250"
    price.fill("28500")
    page.click("input[name=_continue]")
    page.wait_for_url(f"{live_server.url}/admin/pricing/pricingversion/{draft.pk}/change/")

    # then: the draft's page shows the difference, old → new, without trailing zeros
    diff = page.locator("#pricing-diff")
    row = diff.locator("tr.diff-changed", has_text="credit / CU / h")
    assert row.locator("td.what").inner_text() == "product instance"
    assert row.locator("td.old").inner_text() == "14250"
    assert row.locator("td.new").inner_text() == "28500"
    assert "14250.000000000000000000" not in diff.inner_text()

    # when: staff open the publish page
    page.click("a.pricing-publish")
    page.wait_for_url(f"{live_server.url}/admin/pricing/pricingversion/{draft.pk}/publish/")

    # then: it shows the difference and the impact on the four live resources
    expect(page.locator("#pricing-diff td.new", has_text="28500")).to_have_count(1)
    impact = page.locator("#pricing-impact")
    assert impact.locator("#impact-resources").inner_text() == "4"
    assert impact.locator("#impact-cost-changed").inner_text() == "4"
    assert impact.locator("#impact-newly-unfunded").inner_text() == "2"
    assert impact.locator("#impact-newly-unfunded-accounts").inner_text() == "2"
    assert impact.locator("#impact-burn").inner_text() == "57,000 → 114,000"
    assert impact.locator("#impact-cannot-price").inner_text() == "0"
    unfunded = impact.locator("#impact-unfunded-list").inner_text()
    assert SHORT in unfunded and TWO in unfunded and RICH not in unfunded

    # when: the effective date is set to now and the draft is published
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    page.fill("#id_effective_from", now)
    page.evaluate("document.activeElement.blur()")
    screenshot(page, "pricing-editor")
    page.click("input[name=publish]")
    page.wait_for_url(f"{live_server.url}/admin/pricing/pricingversion/{draft.pk}/change/")

    # then: it is in force, and a new estimate uses the new price
    assert "is published and in force now" in page.inner_text(".messagelist")
    assert pricing_version_in_force().pk == draft.pk
    body = _estimate(page, live_server)
    assert body["cost"] == E1_CREDIT_PER_SECOND_DOUBLED
    assert body["pricing_version"]["id"] == draft.pk
    # existing resources keep their cost until they are recalculated on purpose
    assert {r.pricing_version_id for r in Resource.objects.all()} == {default_version.pk}


def test_staff_recalculate_the_existing_resources_with_the_version_in_force(
        admin_page, live_server, default_version, live_resources, celery_eager):
    from pricing.services import pricing_version_copy, pricing_version_publish

    draft = pricing_version_copy(version=default_version, name="Instances at 28500")
    draft.products.filter(product_type="instance").update(price_cu_credit_per_hour=28500)
    version = pricing_version_publish(version=draft)
    page = admin_page

    # when: staff open the version in force and ask to recalculate the existing resources
    page.goto(f"{live_server.url}/admin/pricing/pricingversion/{version.pk}/change/")
    page.click("a.pricing-recalculate")
    assert page.locator("#impact-newly-unfunded").inner_text() == "2"
    page.click("#recalculate-start")
    page.wait_for_url(re.compile(r"/admin/credits/recalculation/\d+/change/$"))

    # then: the job ran (eagerly here) and its page shows the summary
    job = Recalculation.objects.get()
    assert page.locator("#job-status").inner_text() == "Succeeded"
    assert page.locator("#job-progress").inner_text() == "4 / 4"
    assert page.locator("#job-recalculated").inner_text() == "4"
    assert page.locator("#job-failed").inner_text() == "0"
    assert "3.958333333333333333 → 7.916666666666666666" in page.inner_text("#job-lines")
    assert job.created_by.username == "staff"
    assert {r.pricing_version_id for r in Resource.objects.all()} == {version.pk}
    if os.environ.get("PRICING_JOB_SCREENSHOT"):
        page.screenshot(path=os.environ["PRICING_JOB_SCREENSHOT"], full_page=True)
