"""The admin opens in a real browser for a staff member, with the default pricing in it."""
from tests.e2e.conftest import screenshot


def test_staff_logs_in_and_sees_the_pricing_version_in_force(admin_page, default_version):
    admin_page.goto(f"{admin_page.base_url}/admin/pricing/pricingversion/")

    assert admin_page.locator("#result_list").is_visible()
    assert default_version.name in admin_page.inner_text("#result_list")
    screenshot(admin_page, "pricing-versions")
