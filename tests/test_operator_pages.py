"""Operator pages over HTTP: the screen pop, partials, and every action as htmx and as a plain form."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup
from sqlmodel import Session, select

from server.city import City
from server.config import ROOT
from server.models import Call, Department, Follower, KnowledgeArticle, ServiceRequest
from server.services.addresses import import_addresses
from tests.factories import csrf, login, make_request, make_user

HX = {"HX-Request": "true"}


@pytest.fixture
def operator(client, session: Session):  # type: ignore[no-untyped-def]
    make_user(session, "operator", email="op@test.example")
    login(client, "op@test.example")
    return client


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def test_operator_pages_need_an_operator(client, session: Session) -> None:
    assert client.get("/operator/call?phone=1", follow_redirects=False).status_code == 303
    make_user(session, "crew", email="crew@test.example")
    login(client, "crew@test.example")
    assert client.get("/operator").status_code == 403
    assert client.get("/operator/services?service_q=hole").status_code == 403


def test_screen_pop_shows_the_callers_history(operator, session: Session, city: City) -> None:
    make_request(
        session, city, reporter_phone="978-555-0100", reporter_name="Maria Garcia", address="98 Main St"
    )
    page = soup(operator.get("/operator/call?phone=%2B19785550100").text)
    history = page.select_one(".history").get_text(" ", strip=True)
    assert "978-555-0100" in history and "Maria Garcia" in history and "98 Main St" in history
    assert page.select_one("#caller-phone")["value"] == "978-555-0100"
    assert page.select_one("#caller-name")["value"] == "Maria Garcia"
    assert page.select_one("#service-q").has_attr("autofocus")
    first = soup(operator.get("/operator/call?phone=978-555-0199").text)
    assert "First call from this number." in first.get_text()


def test_partials(operator, session: Session, city: City) -> None:
    import_addresses(session=session, city=city, path=ROOT / "server/cities/haverhill_addresses.csv")
    session.commit()
    opts = soup(operator.get("/operator/services?service_q=hole in the road", headers=HX).text)
    assert opts.select('[role="option"]')[0]["data-value"] == "pothole"
    addr = soup(operator.get("/operator/addresses?address=98 main", headers=HX).text).select(
        '[role="option"]'
    )
    assert addr[0]["data-label"] == "98 Main St" and float(addr[0]["data-lat"]) > 42
    qs = soup(operator.get("/operator/questions?service_code=pothole", headers=HX).text)
    assert {i["name"] for i in qs.select("input")} == {"attr_size", "attr_location_in_road"}
    kb = soup(operator.get("/operator/kb?kb=what time does city hall close", headers=HX).text)
    assert "City Hall hours" in kb.select_one(".kb-hits li summary").get_text()
    r = make_request(session, city)
    near = soup(
        operator.get(f"/operator/nearby?service_code=pothole&lat={r.lat}&long={r.long}", headers=HX).text
    )
    assert near.select_one('button[name="request_ref"]')["value"] == r.public_id


def _form(operator, phone: str = "978-555-0142") -> dict[str, str]:  # type: ignore[no-untyped-def]
    page = soup(operator.get(f"/operator/call?phone={phone}").text)
    fields = {
        i["name"]: i.get("value", "")
        for i in page.select("#call-form input[type=hidden]")
        if i.get("name") and i["name"] != "service_code"
    }
    return {**fields, "caller_phone": page.select_one("#caller-phone")["value"]}


def test_save_with_htmx_shows_the_public_id(operator, session: Session) -> None:
    data = {
        **_form(operator),
        "service_code": "pothole",
        "attr_size": "large",
        "address": "98 Main St",
        "lat": "42.778361",
        "long": "-71.077679",
        "description": "Deep one",
        "caller_name": "Rosa",
        "caller_phone": "978-555-0142",
    }
    r = operator.post("/operator/call/requests", data=data, headers=HX)
    assert r.status_code == 200
    req = session.exec(select(ServiceRequest)).one()
    assert req.channel == "phone" and req.reporter_phone == "978-555-0142"
    assert soup(r.text).select_one("#saved-id").get_text() == req.public_id
    call_id = soup(r.text).select_one("#call-id")["value"]
    session.commit()  # end the test's read: on SQLite it holds the write lock
    # the same form sent twice (double click) files nothing new
    operator.post("/operator/call/requests", data={**data, "call_id": call_id}, headers=HX)
    assert len(session.exec(select(ServiceRequest)).all()) == 1
    call = session.get(Call, int(call_id))
    assert call.outcome == "request_created" and call.request_id == req.id and call.ended_at is None
    # the reporter's contact never shows on the public page
    public = operator.get(f"/requests/{req.public_id}").text
    assert "978-555-0142" not in public and "Rosa" not in public


def test_save_errors_are_shown_in_place(operator) -> None:
    r = operator.post("/operator/call/requests", data={**_form(operator), "address": "1 Main St"}, headers=HX)
    assert r.status_code == 400 and 'role="alert"' in r.text and "Choose a service" in r.text
    r = operator.post(
        "/operator/call/requests",
        data={**_form(operator), "service_code": "pothole", "address": "1 Main"},
        headers=HX,
    )
    assert r.status_code == 400 and "How big is the pothole?" in r.text


def test_plain_form_save_redirects_back_with_the_id(operator, session: Session) -> None:
    data = {**_form(operator), "service_code": "pothole", "attr_size": "small", "address": "5 Elm St"}
    r = operator.post("/operator/call/requests", data=data, follow_redirects=False)
    assert r.status_code == 303
    page = soup(operator.get(r.headers["location"]).text)
    req = session.exec(select(ServiceRequest)).one()
    assert page.select_one(".public-id").get_text() == req.public_id


def test_follow_instead_of_duplicate(operator, session: Session, city: City) -> None:
    existing = make_request(session, city)
    data = {
        **_form(operator),
        "request_ref": existing.public_id,
        "caller_name": "Ana",
        "caller_phone": "9785550111",
    }
    r = operator.post("/operator/call/follow", data=data, headers=HX)
    assert r.status_code == 200 and existing.public_id in r.text
    assert (
        session.exec(select(Follower).where(Follower.phone == "978-555-0111")).one().request_id == existing.id
    )
    assert session.exec(select(Call)).one().outcome == "follower_added"


def test_the_callers_language_is_the_language_of_their_email(operator, session: Session, city: City) -> None:
    page = soup(operator.get("/operator/call?phone=9785550123").text)
    assert page.select_one("#caller-language option[selected]")["value"] == "en"  # the operator's page
    assert page.select_one('label[for="caller-language"]')
    existing = make_request(session, city)
    form = {**_form(operator), "request_ref": existing.public_id, "caller_email": "ana@example.org"}
    operator.post("/operator/call/follow", data={**form, "caller_language": "es"}, headers=HX)
    operator.post(
        "/operator/call/follow", data={**form, "caller_language": "xx"}, headers=HX
    )  # not ours: page's
    languages = session.exec(select(Follower.language).where(Follower.email == "ana@example.org")).all()
    assert sorted(languages) == ["en", "es"]


def test_information_call_answered_and_ended(operator, session: Session) -> None:
    art = session.exec(select(KnowledgeArticle).where(KnowledgeArticle.slug == "city-hall-hours")).one()
    session.commit()
    r = operator.post(
        "/operator/call/answer", data={**_form(operator), "article_id": str(art.id)}, headers=HX
    )
    assert r.status_code == 200 and "information given" in r.text
    call_id = soup(r.text).select_one("#call-id")["value"]
    r = operator.post("/operator/call/end", data={**_form(operator), "call_id": call_id}, headers=HX)
    assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/operator")
    call = session.get(Call, int(call_id))
    assert call.outcome == "information" and call.article_id == art.id and call.ended_at
    assert call.topic == art.title and call.caller_phone == "978-555-0142"
    today = soup(operator.get("/operator").text).select_one("table.calls").get_text(" ", strip=True)
    assert "Information given" in today and art.title in today


def test_transfer_logged_with_the_department(operator, session: Session) -> None:
    dept = session.exec(select(Department).where(Department.code == "city-clerk")).one()
    session.commit()
    r = operator.post(
        "/operator/call/transfer", data={**_form(operator), "department_id": str(dept.id)}, headers=HX
    )
    assert r.status_code == 200 and dept.phone in r.text
    call = session.exec(select(Call)).one()
    assert call.outcome == "transferred" and call.department_id == dept.id and call.ended_at
    session.commit()
    r = operator.post(
        "/operator/call/transfer",
        data={**_form(operator), "department_id": str(dept.id)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/operator?ended=")


def test_actions_need_the_csrf_token(operator) -> None:
    data = {k: v for k, v in _form(operator).items() if k != "csrf_token"}
    assert operator.post("/operator/call/end", data=data).status_code == 403


def test_someone_elses_call_cannot_be_changed(operator, client, session: Session) -> None:
    other = make_user(session, "operator", email="other@test.example")
    call = Call(operator_id=other.id, caller_phone="978-555-0100")
    session.add(call)
    session.commit()
    r = operator.post("/operator/call/end", data={**_form(operator), "call_id": str(call.id)}, headers=HX)
    assert r.status_code == 403


def test_plain_kb_search_renders_the_page(operator) -> None:
    r = operator.get("/operator/kb?kb=birth+certificate&phone=978-555-0100")
    assert r.status_code == 200 and "Birth certificates" in r.text and "978-555-0100" in r.text
    assert re.search(r'name="csrf-token" content="[^"]+"', r.text) and csrf(operator, "/operator")


def test_call_page_in_spanish(operator) -> None:
    page = operator.get("/operator/call?phone=978-555-0100&lang=es").text
    assert "Nueva solicitud" in page and "Base de conocimientos" in page
    assert "Todavía no hay llamadas hoy." in operator.get("/operator").text
