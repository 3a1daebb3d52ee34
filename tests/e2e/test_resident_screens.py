"""What residents met on their screens (issue "What people met when they used it"), on a 412×915 phone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import axe_violations

PHONE_412 = {
    "viewport": {"width": 412, "height": 915},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}


@pytest.fixture
def phone(browser, base_url: str) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    ctx: BrowserContext = browser.new_context(base_url=base_url, locale="en-US", bypass_csp=True, **PHONE_412)
    yield ctx.new_page()
    ctx.close()


def test_report_page_is_short_until_a_service_is_chosen(phone: Page, db) -> None:
    page = phone
    page.goto("/report")
    expect(page.get_by_role("heading", name="1. What is the problem?")).to_be_visible()
    # the form waits for a service: no "Send report", no contact fields, no photo picker yet
    expect(page.locator("#report")).to_be_hidden()
    expect(page.get_by_role("button", name="Send report")).to_be_hidden()
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 1.5 * 915, f"the first screen is {height} px long"
    page.locator("#service-list").get_by_role("link", name="Pothole").click()
    expect(page.get_by_role("button", name="Send report")).to_be_visible()
    expect(page.locator("#choose")).to_be_hidden()
    assert axe_violations(page) == []
