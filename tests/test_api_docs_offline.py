"""/api/docs/ works without internet: Swagger UI comes from drf-spectacular-sidecar's static files
(the pinned version), served by the project like the admin's, never from a CDN. (In a real
browser with every other host blocked: tests/e2e/test_api_docs_offline.py.)"""
import re
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

DOCS = "/api/docs/"


class _Assets(HTMLParser):
    """The URLs a page loads: scripts, stylesheets, icons."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"])
        elif tag == "link" and attributes.get("href"):
            self.urls.append(attributes["href"])


def docs_assets(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


@pytest.fixture
def docs_html(client) -> str:
    response = client.get(DOCS)
    assert response.status_code == 200
    return response.content.decode()


def test_the_docs_page_names_no_other_host(docs_html):
    assert re.search(r"https?://|//cdn|jsdelivr|unpkg", docs_html) is None


def test_the_docs_page_loads_swagger_ui_from_the_projects_static_files(docs_html):
    assets = docs_assets(docs_html)

    static = "/" + django_settings.STATIC_URL.strip("/") + "/drf_spectacular_sidecar/"
    assert {Path(url).name for url in assets} >= {
        "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}
    assert all(url.startswith(static) for url in assets), assets


def test_the_docs_page_does_not_ask_an_online_validator(docs_html):
    # Swagger UI's validator badge would send the schema's address to validator.swagger.io.
    assert re.search(r'"validatorUrl":\s*null', docs_html)


def test_every_asset_of_the_docs_page_is_served_by_the_server(live_server):
    with urllib.request.urlopen(f"{live_server.url}{DOCS}", timeout=30) as page:
        html = page.read().decode()
    assets = docs_assets(html)
    assert len(assets) >= 3

    answers = {}
    for url in assets:
        with urllib.request.urlopen(f"{live_server.url}{url}", timeout=30) as asset:
            answers[url] = (asset.status, len(asset.read()))

    assert all(status == 200 and size > 0 for status, size in answers.values()), answers


def test_collectstatic_gathers_every_asset_of_the_docs_page_for_production(
        docs_html, settings, tmp_path):
    # given production's way: collectstatic into STATIC_ROOT, which the web server serves
    settings.STATIC_ROOT = tmp_path

    # when
    call_command("collectstatic", interactive=False, verbosity=0)

    # then
    prefix = "/" + settings.STATIC_URL.strip("/") + "/"
    missing = [url for url in docs_assets(docs_html)
               if not (tmp_path / url.removeprefix(prefix)).is_file()]
    assert missing == []
