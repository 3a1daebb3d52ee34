"""The human page at /open311/: accessible, and its example queries work when clicked."""

from __future__ import annotations

import json

from playwright.sync_api import Page

from tests.e2e.conftest import axe_violations
from tests.factories import make_request


def test_open311_page_is_accessible_and_examples_work(page: Page, session, city) -> None:
    make_request(session, city)
    page.goto("/open311/")
    assert page.get_by_role("heading", name="Open311 API").is_visible()
    assert axe_violations(page) == []
    page.get_by_role("link", name="services.json").click()
    services = json.loads(page.locator("body").inner_text())
    assert "pothole" in {s["service_code"] for s in services}
