"""Dispatch in Chromium: assign, merge duplicates, a concurrent edit, the dashboard's figures, accessibility."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from server.models import Call, Crew, utcnow
from tests.e2e.conftest import axe_violations, login_as
from tests.factories import make_request, make_user

STALE = "This request changed since you opened it. Reload to see the changes."


@pytest.fixture
def dispatcher(page: Page, session) -> Page:  # type: ignore[no-untyped-def]
    make_user(session, "dispatcher", email="disp@e2e.example", name="Dee Dispatcher")
    login_as(page, "disp@e2e.example")
    return page


def test_dispatcher_assigns_a_request_to_a_crew(dispatcher: Page, session, city) -> None:
    req = make_request(session, city, description="Crater on Main Street")
    crew = session.exec(select(Crew).order_by(Crew.name)).first()
    session.commit()
    page = dispatcher
    page.goto("/dispatch")
    page.get_by_role("link", name=req.public_id).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(req.public_id)
    page.get_by_label("Assign to crew").select_option(label=crew.name)
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator(".facts")).to_contain_text(crew.name)
    expect(page.locator(".timeline li").last).to_contain_text(crew.name)
    page.goto(f"/dispatch?crew={crew.id}")
    expect(page.get_by_role("link", name=req.public_id)).to_be_visible()


def test_dispatcher_merges_two_duplicates(dispatcher: Page, session, city) -> None:
    master = make_request(session, city, reporter_email="a@example.com")
    dup = make_request(session, city, reporter_email="b@example.com")
    page = dispatcher
    page.goto(f"/dispatch/requests/{dup.public_id}")
    page.get_by_label("Merge as a duplicate of (request id to keep)").fill(master.public_id)
    page.get_by_role("button", name="Merge duplicate").click()
    expect(page).to_have_url(f"/dispatch/requests/{master.public_id}?done=merge")
    expect(page.locator(".facts")).to_contain_text(dup.public_id)  # "Duplicates merged here"
    expect(page.locator(".facts")).to_contain_text("Followers")
    expect(page.locator(".timeline")).to_contain_text(f"{dup.public_id} merged into this request.")
    page.get_by_role("link", name=dup.public_id).click()
    expect(page.locator(".summary")).to_contain_text("Duplicate")
    expect(page.locator(".notice")).to_contain_text(master.public_id)


def test_concurrent_edit_gets_the_conflict_message(
    dispatcher: Page, browser: Browser, session, city, base_url
) -> None:
    req = make_request(session, city)
    make_user(session, "dispatcher", email="disp2@e2e.example", name="Second Dispatcher")
    other_ctx = browser.new_context(base_url=base_url, locale="en-US", bypass_csp=True)
    try:
        other = other_ctx.new_page()
        login_as(other, "disp2@e2e.example")
        first = dispatcher
        first.goto(f"/dispatch/requests/{req.public_id}")
        other.goto(f"/dispatch/requests/{req.public_id}")
        other.get_by_label("Internal note (staff only)").fill("Checked the site")
        other.get_by_role("button", name="Add internal note").click()
        expect(other.get_by_role("status")).to_have_text("Saved.")
        # the first dispatcher still has the old version in the form
        first.get_by_label("Priority").select_option("1")
        first.get_by_role("button", name="Set priority").click()
        expect(first.get_by_role("alert")).to_have_text(STALE)
        first.goto(f"/dispatch/requests/{req.public_id}")
        expect(first.locator(".timeline")).to_contain_text("Checked the site")
        expect(first.locator(".facts")).to_contain_text("2")  # priority unchanged
    finally:
        other_ctx.close()


def test_dashboard_figures_match_the_data(dispatcher: Page, session, city) -> None:
    now = utcnow()
    for outcome in ["information", "request_created", "request_created", "transferred"]:
        session.add(Call(outcome=outcome, started_at=now - timedelta(seconds=30)))
    for channel in ["phone", "phone", "app"]:
        make_request(session, city, channel=channel, commit=False)
    session.commit()
    page = dispatcher
    page.goto("/dispatch/dashboard")
    expect(page.locator("#fig-calls dd")).to_have_text("4")
    expect(page.locator("#fig-fcr dd")).to_have_text("75%")
    expect(page.locator("#fig-backlog dd")).to_have_text("3")
    calls = page.get_by_role("img", name="Calls today by outcome")
    expect(calls).to_be_visible()
    page.locator("#chart-calls summary").click()
    expect(page.locator("#chart-calls table")).to_contain_text("Request created")
    row = page.locator("#chart-calls tr", has_text="Request created")
    expect(row.locator("td")).to_have_text("2")
    page.locator("#chart-days summary").click()
    today = page.locator("#chart-days tbody tr").last
    expect(today.locator("td").last).to_have_text("3")


def test_map_view_lists_requests_even_without_tiles(dispatcher: Page, session, city) -> None:
    req = make_request(session, city)
    page = dispatcher
    page.goto("/dispatch?view=map")
    expect(page.locator("#queue-map.leaflet-container")).to_be_visible()
    expect(page.locator("#queue-map path.leaflet-interactive")).to_have_count(1)
    expect(page.get_by_role("link", name=req.public_id)).to_be_visible()


def test_bulk_assign_from_the_queue(dispatcher: Page, session, city) -> None:
    a, b = make_request(session, city), make_request(session, city)
    crew = session.exec(select(Crew).order_by(Crew.name)).first()
    session.commit()
    page = dispatcher
    page.goto("/dispatch")
    page.get_by_label(f"Choose {a.public_id}").check()
    page.get_by_label(f"Choose {b.public_id}").check()
    page.locator("#b-crew").select_option(label=crew.name)
    page.get_by_role("button", name="Apply to chosen").click()
    expect(page.get_by_role("status")).to_have_text("2 requests changed.")


def test_dispatch_and_admin_pages_are_accessible(page: Page, session, city) -> None:
    req = make_request(session, city, created_at=utcnow() - timedelta(days=30))  # overdue: highlighted row
    session.add(Call(outcome="information"))
    session.commit()
    make_user(session, "admin", email="adm@e2e.example", name="Ada Admin")
    login_as(page, "adm@e2e.example")
    pages = [
        "/dispatch",
        "/dispatch?view=map",
        f"/dispatch/requests/{req.public_id}",
        "/dispatch/dashboard",
        "/admin",
        "/admin/departments",
        "/admin/services",
        "/admin/services?edit=1",
        "/admin/crews",
        "/admin/users",
        "/admin/articles",
        "/admin/keys",
    ]
    failures = {}
    for url in pages:
        page.goto(url)
        if found := axe_violations(page):
            failures[url] = found
    page.goto("/admin/keys")
    page.get_by_label("Client name").fill("Test client")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key")).to_contain_text("c311_")
    if found := axe_violations(page):
        failures["/admin/keys (new key)"] = found
    assert failures == {}
