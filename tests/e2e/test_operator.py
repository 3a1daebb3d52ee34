"""The call center in Chromium: a pothole call filed by keyboard alone from a screen pop, an information
call answered from the knowledge base, a transfer, and axe on every operator page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from server.city import City
from server.config import ROOT
from server.models import Call, Department, ServiceRequest
from server.services.addresses import import_addresses
from tests.e2e.conftest import axe_violations
from tests.factories import PASSWORD, make_request, make_user

EMAIL = "olivia@e2e.example"


@pytest.fixture
def operator_page(page: Page, session: Session, city: City) -> Page:
    import_addresses(session=session, city=city, path=ROOT / "server/cities/haverhill_addresses.csv")
    session.commit()
    make_user(session, "operator", email=EMAIL, name="Olivia Operator")
    # log in with the keyboard too
    page.goto("/login")
    expect(page.get_by_label("E-mail")).to_be_focused()  # autofocus: typing starts where the cursor is
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/operator")
    return page


def test_pothole_call_filed_with_the_keyboard_alone(operator_page: Page, session: Session) -> None:
    page = operator_page
    page.goto("/operator/call?phone=9785550123")  # the phone system's screen pop
    expect(page.locator("#service-q")).to_be_focused()
    page.keyboard.type("hole in the road")
    expect(page.get_by_role("option", name=re.compile("^Pothole"))).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#address")).to_be_focused()
    expect(page.get_by_role("group", name=re.compile("How big is the pothole"))).to_be_visible()
    page.keyboard.type("98 Main")
    expect(page.get_by_role("option", name="98 Main St")).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.get_by_role("radio", name="Smaller than a dinner plate")).to_be_focused()
    page.keyboard.press("ArrowDown")  # moves to and checks "About the size of a car tire"
    expect(page.get_by_role("radio", name="About the size of a car tire")).to_be_checked()
    page.keyboard.press("Tab")  # the optional "where in the road" group
    page.keyboard.press("Tab")
    expect(page.locator("#description")).to_be_focused()
    page.keyboard.type("Deep hole in the right lane, cars swerving.")
    page.keyboard.press("Alt+n")
    expect(page.locator("#caller-name")).to_be_focused()
    page.keyboard.type("Rosa Perez")
    page.keyboard.press("Control+Enter")
    saved = page.locator("#saved-id")
    expect(saved).to_have_text(re.compile(r"\S+"))
    public_id = saved.inner_text().strip()
    session.expire_all()
    req = session.exec(select(ServiceRequest).where(ServiceRequest.public_id == public_id)).one()
    assert req.channel == "phone" and req.address == "98 Main St" and req.attributes == {"size": "medium"}
    assert req.reporter_phone == "978-555-0123" and req.reporter_name == "Rosa Perez"
    assert abs(req.lat - 42.778361) < 1e-6
    call = session.exec(select(Call)).one()
    assert call.outcome == "request_created" and call.request_id == req.id
    session.commit()
    assert axe_violations(page) == []


def test_information_call_answered_from_the_knowledge_base(operator_page: Page, session: Session) -> None:
    page = operator_page
    page.goto("/operator/call?phone=978-555-0777")
    page.keyboard.press("Alt+k")
    expect(page.locator("#kb-q")).to_be_focused()
    page.keyboard.type("what time does city hall close")
    page.keyboard.press("Enter")
    answer = page.get_by_role("button", name=re.compile("Answered with “City Hall hours"))
    expect(answer).to_be_visible()
    expect(page.locator("#kb-results")).to_contain_text("4:00 pm")
    answer.click()
    expect(page.locator("#result")).to_contain_text("Logged: information given (City Hall hours and address)")
    page.get_by_role("button", name="End call").click()
    page.wait_for_url("**/operator?ended=*")
    expect(page.locator("table.calls")).to_contain_text("Information given")
    session.expire_all()
    call = session.exec(select(Call)).one()
    assert call.outcome == "information" and call.ended_at and call.caller_phone == "978-555-0777"
    assert call.article_id is not None
    session.commit()
    assert axe_violations(page) == []


def test_transfer_logged(operator_page: Page, session: Session) -> None:
    page = operator_page
    page.goto("/operator/call?phone=978-555-0888")
    page.get_by_role("button", name="Transfer to City Clerk").click()
    expect(page.locator("#result")).to_contain_text("Transfer logged: City Clerk, 978-374-2312")
    session.expire_all()
    clerk = session.exec(select(Department).where(Department.code == "city-clerk")).one()
    call = session.exec(select(Call)).one()
    assert call.outcome == "transferred" and call.department_id == clerk.id and call.ended_at
    session.commit()


def test_operator_pages_are_accessible(operator_page: Page, session: Session, city: City) -> None:
    page = operator_page
    make_request(
        session, city, reporter_phone="978-555-0100", address="98 Main St", lat=42.778361, long=-71.077679
    )
    assert axe_violations(page) == []  # today's calls (empty)
    page.goto("/operator/call?phone=978-555-0100&kb=birth+certificate")
    expect(page.locator(".history")).to_contain_text("98 Main St")
    assert axe_violations(page) == []
    # with the listbox open, questions and nearby requests shown
    page.locator("#service-q").focus()
    page.keyboard.type("pothole")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#service-list")).to_be_visible()
    assert axe_violations(page) == []
    page.keyboard.press("Enter")
    page.keyboard.type("98 Main")
    expect(page.get_by_role("option", name="98 Main St")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("#nearby")).to_contain_text("Already reported nearby")
    assert axe_violations(page) == []
    page.get_by_role("button", name=re.compile("Add caller as follower")).click()
    expect(page.locator("#result")).to_contain_text("now follows")
    page.goto("/operator")
    expect(page.locator("table.calls")).to_contain_text("Caller added as follower")
    assert axe_violations(page) == []
