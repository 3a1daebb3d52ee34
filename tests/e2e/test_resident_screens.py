"""What residents met on their screens (issue "What people met when they used it"), on a 412×915 phone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from server.config import ROOT
from server.services.addresses import import_addresses
from tests import photo_samples
from tests.e2e.conftest import axe_violations
from tests.factories import make_request

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


def test_confirmation_gives_the_number_the_public_page_and_a_link_to_copy_or_share(
    browser, base_url: str, session, city
) -> None:
    req = make_request(session, city, reporter_email="jane.doe@example.org")
    ctx = browser.new_context(base_url=base_url, locale="en-US", bypass_csp=True, **PHONE_412)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"])
    page = ctx.new_page()
    private = f"/r/{req.public_id}?t={req.private_token}"
    page.goto(private + "&new=1")
    number = page.locator("#report-number")
    expect(number).to_have_text(req.public_id)
    assert float(number.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 28  # large type
    # no raw URL on the screen: a labelled link instead
    expect(page.get_by_role("link", name=f"Private link to {req.public_id}")).to_have_attribute(
        "href", private
    )
    assert "?t=" not in page.locator("main").inner_text()
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("status").filter(has_text="Link copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == base_url + private
    # this browser has no Web Share API: no Share button
    expect(page.get_by_role("button", name="Share…")).to_be_hidden()
    # an e-mail was left: no empty follow form, where updates go instead
    expect(page.get_by_text("We will e-mail you at ja•••@example.org when it changes.")).to_be_visible()
    expect(page.get_by_role("heading", name="Follow this request")).to_have_count(0)
    assert axe_violations(page) == []
    page.get_by_role("link", name="See its public page").click()
    page.wait_for_url(f"**/requests/{req.public_id}")
    expect(page.get_by_role("heading", name="Follow this request")).to_be_visible()  # for everyone else
    ctx.close()


def test_share_button_where_the_browser_can_share(browser, base_url: str, session, city) -> None:
    req = make_request(session, city)  # no e-mail left: the follow form is offered
    ctx = browser.new_context(base_url=base_url, locale="en-US", bypass_csp=True, **PHONE_412)
    # a phone's share sheet lies outside the browser under test: record what would be shared
    ctx.add_init_script("navigator.share = (d) => { window.SHARED = d; return Promise.resolve(); };")
    page = ctx.new_page()
    page.goto(f"/r/{req.public_id}?t={req.private_token}&new=1")
    page.get_by_role("button", name="Share…").click()
    shared = page.evaluate("window.SHARED")
    assert shared == {
        "title": f"My report {req.public_id}",
        "url": f"{base_url}/r/{req.public_id}?t={req.private_token}",
    }
    expect(page.get_by_role("heading", name="Follow this request")).to_be_visible()
    ctx.close()


@pytest.fixture
def addresses(session, city):  # type: ignore[no-untyped-def]
    import_addresses(session=session, city=city, path=ROOT / "server" / "cities" / "haverhill_addresses.csv")
    session.commit()


def test_a_location_reads_as_the_nearest_address(browser, base_url: str, session, city, addresses) -> None:
    ctx = browser.new_context(base_url=base_url, locale="en-US", bypass_csp=True, **PHONE_412)
    ctx.grant_permissions(["geolocation"])
    ctx.set_geolocation({"latitude": 42.77845, "longitude": -71.07770})  # about 10 m from 98 Main St
    page = ctx.new_page()
    page.goto("/report?service=pothole")
    page.get_by_role("button", name="Use my location").click()
    msg = page.locator("#location-msg")
    expect(msg).to_contain_text("Near 98 Main St")
    expect(msg).to_contain_text("(42.77845, -71.07770)")  # the coordinates come second
    # the request placed by that point alone: its public page names the place too
    req = make_request(session, city, lat=42.77845, long=-71.07770)
    page.goto(f"/requests/{req.public_id}")
    expect(page.locator(".facts")).to_contain_text("Near 98 Main St (42.77845, -71.07770)")
    ctx.close()


def test_chosen_photos_show_as_thumbnails_each_with_remove(phone: Page, db, tmp_path) -> None:
    page = phone
    page.goto("/report?service=pothole")
    files = []
    for i in (1, 2):
        f = tmp_path / f"p{i}.jpg"
        f.write_bytes(photo_samples.phone_jpeg(800, 600, orientation=1))
        files.append(str(f))
    page.get_by_label("Add photos").set_input_files(files)
    expect(page.get_by_role("img", name="Photo 2 you chose")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="2 of 5 photos added.")).to_be_visible()
    # the native picker (emptied after each choice) no longer says "No file chosen": it lies, transparent,
    # under the label that now offers another photo; still the one control, labelled, for keyboards
    picker = page.get_by_label("Add another photo")
    assert picker.evaluate("e => e.type === 'file' && getComputedStyle(e).opacity === '0'")
    page.get_by_role("button", name="Remove photo 1").click()
    expect(page.locator("#photo-list img")).to_have_count(1)
    expect(page.get_by_role("status").filter(has_text="1 of 5 photos added.")).to_be_visible()
    picker.focus()
    assert page.evaluate("document.activeElement.id") == "photos"
    assert axe_violations(page) == []
