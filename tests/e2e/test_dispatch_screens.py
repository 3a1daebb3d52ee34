"""What dispatchers met on their screens (issue "What people met when they used it")."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from server.models import Outbox, ServiceRequest
from tests.e2e.conftest import axe_violations, login_as
from tests.factories import make_request, make_user


def rows(engine, model):  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.exec(select(model)).all())


@pytest.fixture
def dispatcher(page: Page, session) -> Page:  # type: ignore[no-untyped-def]
    make_user(session, "dispatcher", email="disp@e2e.example", name="Dee Dispatcher")
    login_as(page, "disp@e2e.example")
    return page


def test_a_public_note_alone_leaves_the_status_and_tells_followers(
    dispatcher: Page, session, city, db
) -> None:
    req = make_request(session, city, reporter_email="follower@example.org")
    page = dispatcher
    page.goto(f"/dispatch/requests/{req.public_id}")
    page.get_by_label("Public note, the status unchanged").fill("Crew booked for Thursday morning.")
    page.get_by_role("button", name="Post a public note").click()
    expect(page.get_by_role("status")).to_have_text("Public note posted. Followers will be told.")
    expect(page.locator(".summary")).to_contain_text("Open")  # still open: the crew app still offers Start
    [after] = rows(db, ServiceRequest)
    assert after.status == "open"
    [mail] = rows(db, Outbox)
    assert mail.channel == "email" and mail.email == "follower@example.org"
    assert "Crew booked for Thursday morning." in mail.payload["body"]
    assert axe_violations(page) == []
    page.goto(f"/requests/{req.public_id}")  # the resident's public page
    expect(page.locator(".timeline")).to_contain_text("Crew booked for Thursday morning.")


def test_the_status_form_can_keep_the_status(dispatcher: Page, session, city, db) -> None:
    req = make_request(session, city, reporter_email="follower@example.org")
    page = dispatcher
    page.goto(f"/dispatch/requests/{req.public_id}")
    expect(page.get_by_label("Status", exact=True)).to_have_value("open")  # "Open (no change)" first
    page.get_by_label("Public note (followers are told)").fill("We are looking into it.")
    page.get_by_role("button", name="Change status").click()
    expect(page.get_by_role("status")).to_have_text("Public note posted. Followers will be told.")
    [after] = rows(db, ServiceRequest)
    assert after.status == "open" and len(rows(db, Outbox)) == 1
    # no change and no note: said plainly, nothing written
    page.get_by_role("button", name="Change status").click()
    expect(page.get_by_role("alert")).to_have_text("Write a note first.")
    assert len(rows(db, Outbox)) == 1


def test_answers_show_as_their_labels(dispatcher: Page, session, city) -> None:
    req = make_request(session, city, attributes={"size": "medium", "location_in_road": "travel_lane"})
    page = dispatcher
    page.goto(f"/dispatch/requests/{req.public_id}")
    facts = page.locator(".facts")
    expect(facts.locator("dt", has_text="How big is the pothole?").locator("+ dd")).to_have_text(
        "About the size of a car tire"
    )
    expect(facts.locator("dt", has_text="Where is it in the road?").locator("+ dd")).to_have_text(
        "In the travel lane"
    )
    assert "travel_lane" not in facts.inner_text() and "medium" not in facts.inner_text()


def test_the_dispatch_map_has_a_key_for_its_markers(dispatcher: Page, session, city) -> None:
    from datetime import timedelta

    from server.models import utcnow

    make_request(session, city, created_at=utcnow() - timedelta(days=40))  # long overdue
    make_request(session, city, lat=42.7790, long=-71.0790)
    page = dispatcher
    page.goto("/dispatch?view=map")
    key = page.get_by_role("list", name="Map key")
    expect(key.get_by_role("listitem")).to_have_text(
        ["Large red circle: overdue (1)", "Small blue circle: not overdue (1)"]
    )
    # the key's swatches are the markers' colours and sizes
    markers = page.locator("#queue-map path.leaflet-interactive")
    expect(markers).to_have_count(2)
    strokes = sorted(markers.evaluate_all("ps => ps.map(p => p.getAttribute('stroke'))"))
    assert strokes == ["#0b4f8a", "#a50e0e"]
    swatch = key.locator(".dot-overdue").evaluate("e => getComputedStyle(e).backgroundColor")
    assert swatch == "rgb(165, 14, 14)"
    assert axe_violations(page) == []


WIDER = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .slice(0, 5).map(e => e.outerHTML.slice(0, 80))"""


@pytest.mark.parametrize("width", [360, 412])
def test_staff_headers_are_one_line_on_a_phone_with_a_menu(
    browser, base_url: str, session, width: int
) -> None:
    make_user(session, "admin", email="adm@e2e.example", name="Ada Admin")
    ctx = browser.new_context(
        base_url=base_url,
        locale="en-US",
        bypass_csp=True,
        viewport={"width": width, "height": 800},
        is_mobile=True,
        has_touch=True,
    )
    page = ctx.new_page()
    login_as(page, "adm@e2e.example")
    pages = [("/dispatch", "Dashboard"), ("/admin", "Knowledge"), ("/operator", "New call")]
    for path, link in [*pages, ("/operator/call?phone=9785550100", "Today's calls")]:
        page.goto(path)
        header = page.locator("header.top")
        assert header.evaluate("e => e.getBoundingClientRect().height") < 60, path  # was up to 5 lines
        # no sideways scroll (the admin home once overflowed by the repr of a dict method, its length varying)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, page.evaluate(WIDER)
        menu = page.get_by_role("button", name="Menu")
        expect(menu).to_have_attribute("aria-expanded", "false")
        expect(page.get_by_role("link", name=link, exact=True)).to_be_hidden()
        menu.click()
        expect(page.get_by_role("link", name=link, exact=True)).to_be_visible()
        assert axe_violations(page) == [], path
        page.keyboard.press("Tab")
        page.keyboard.press("Escape")
        expect(page.get_by_role("link", name=link, exact=True)).to_be_hidden()
        expect(menu).to_be_focused()
    ctx.close()


def test_staff_header_on_a_desktop_shows_its_links(dispatcher: Page) -> None:
    dispatcher.goto("/dispatch")
    expect(dispatcher.get_by_role("button", name="Menu")).to_be_hidden()
    expect(dispatcher.get_by_role("link", name="Dashboard")).to_be_visible()
