"""The API documentation renders in a browser that can reach nothing but the service: Swagger UI
and its assets come from the project, not from a CDN."""
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture
def offline_page(page):
    """A page whose requests to any other host than the live server are refused (and noted)."""
    blocked: list[str] = []

    def only_local(route):
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.route("**/*", only_local)
    page.blocked = blocked
    return page


def test_the_api_docs_render_their_operations_without_internet(offline_page, live_server):
    # when
    offline_page.goto(f"{live_server.url}/api/docs/")

    # then Swagger UI lists the operations, the estimate among them
    estimate = offline_page.locator(".opblock", has=offline_page.locator(
        ".opblock-summary-path", has_text="/api/v1/estimates"))
    expect(estimate.first).to_be_visible()
    expect(offline_page.locator(".opblock-summary-path", has_text="/api/v1/pricing")
           .first).to_be_visible()
    assert offline_page.blocked == []


def test_an_operation_opens_with_its_answer_fields(offline_page, live_server):
    offline_page.goto(f"{live_server.url}/api/docs/")
    estimate = offline_page.locator(".opblock-post", has=offline_page.locator(
        ".opblock-summary-path", has_text="/api/v1/estimates")).first

    estimate.locator(".opblock-summary").click()

    expect(estimate.locator(".opblock-body")).to_be_visible()
    expect(estimate.get_by_text("credits_charged_per_hour").first).to_be_attached()
    assert offline_page.blocked == []
