"""What operators met on the call screens (issue "What people met when they used it")."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from server.city import City
from server.services.calls import log_call
from tests.e2e.conftest import axe_violations, login_as
from tests.factories import make_request, make_user


@pytest.fixture
def operator(page: Page, session: Session) -> Page:
    make_user(session, "operator", email="olivia@e2e.example", name="Olivia Operator")
    login_as(page, "olivia@e2e.example")
    return page


def test_call_log_shows_the_public_id_read_to_the_caller(page: Page, session: Session, city: City) -> None:
    user = make_user(session, "dispatcher", email="dee@e2e.example", name="Dee Dispatcher")
    req = make_request(session, city, reporter_phone="978-555-0100")
    log_call(
        session=session,
        operator=user,
        outcome="request_created",
        caller_phone="9785550100",
        request_id=req.id,
        end=True,
    )
    session.commit()
    login_as(page, "dee@e2e.example")
    page.goto("/operator")
    row = page.locator("table.calls tbody tr").first
    expect(row).not_to_contain_text(f"Request #{req.id}")
    link = row.get_by_role("link", name=req.public_id)
    expect(link).to_have_attribute("href", f"/dispatch/requests/{req.public_id}")
    link.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(req.public_id)
    assert axe_violations(page) == []


def test_operators_without_dispatch_get_the_public_page(operator: Page, session: Session, city: City) -> None:
    from sqlmodel import select

    from server.models import User

    me = session.exec(select(User).where(User.email == "olivia@e2e.example")).one()
    req = make_request(session, city)
    log_call(session=session, operator=me, outcome="request_created", request_id=req.id, end=True)
    session.commit()
    operator.goto("/operator")
    link = operator.locator("table.calls").get_by_role("link", name=req.public_id)
    expect(link).to_have_attribute("href", f"/requests/{req.public_id}")  # a page they may open


def test_alt_n_selects_the_name_the_screen_pop_filled_in(operator: Page, session: Session, city) -> None:
    make_request(session, city, reporter_phone="978-555-0142", reporter_name="Rosa Perez")
    page = operator
    page.goto("/operator/call?phone=978-555-0142")
    expect(page.get_by_label("Name")).to_have_value("Rosa Perez")
    page.keyboard.press("Alt+n")
    page.keyboard.type("Ana Lopez")  # a different person calls from that number
    expect(page.get_by_label("Name")).to_have_value("Ana Lopez")


def test_a_transfer_ends_the_call_and_takes_the_end_call_panel_away(operator: Page) -> None:
    page = operator
    page.goto("/operator/call?phone=978-555-0888")
    expect(page.get_by_role("button", name="End call")).to_be_visible()
    page.get_by_role("button", name="Transfer to City Clerk").click()
    expect(page.locator("#result")).to_contain_text("Transfer logged: City Clerk")
    expect(page.get_by_role("button", name="End call")).to_have_count(0)
    expect(page.get_by_role("group", name="End the call (Alt+E)")).to_have_count(0)
    assert axe_violations(page) == []


def test_knowledge_base_answers_in_the_page_language(operator: Page) -> None:
    page = operator
    page.goto("/operator/call?phone=978-555-0777")
    page.get_by_placeholder("The caller's question (Alt+K)").fill("city hall hours")
    page.keyboard.press("Enter")
    hits = page.locator("#kb-results summary")
    expect(hits.first).to_have_text("City Hall hours and address")
    expect(page.locator("#kb-results")).not_to_contain_text("Horario y dirección")
    # a word only the Spanish articles hold: an answer in Spanish beats none
    page.get_by_placeholder("The caller's question (Alt+K)").fill("alcaldía")
    page.keyboard.press("Enter")
    expect(hits.first).to_have_text("Horario y dirección de la Alcaldía (City Hall)")
    # on the Spanish page, the Spanish article
    page.goto("/operator/call?phone=978-555-0777&lang=es")
    page.locator("#kb-q").fill("city hall")
    page.keyboard.press("Enter")
    expect(hits.first).to_have_text("Horario y dirección de la Alcaldía (City Hall)")
    expect(page.locator("#kb-results")).not_to_contain_text("City Hall hours and address")
