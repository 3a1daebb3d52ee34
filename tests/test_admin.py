"""Administration: catalogue, crews, staff, knowledge articles and Open311 keys (service layer and pages)."""

from __future__ import annotations

import json

import pytest
from bs4 import BeautifulSoup
from sqlmodel import select

from server.domain.errors import Conflict, Invalid
from server.models import ApiKey, Crew, Department, KnowledgeArticle, Service, User
from server.services import admin as svc
from server.services.apikeys import check_api_key
from tests.factories import csrf, login, make_user

QUESTIONS = [
    {"code": "depth", "description": "How deep?", "datatype": "singlevaluelist", "required": True,
     "values": [{"key": "shallow", "name": "Shallow"}, {"key": "deep", "name": "Deep"}]},
]  # fmt: skip


def test_parse_questions_keeps_translations_and_drops_anything_else() -> None:
    q = {
        "code": "size",
        "description": "How big?",
        "datatype": "singlevaluelist",
        "i18n": {"es": {"description": "¿Qué tamaño?", "junk": "x"}, "fr": "not a table"},
        "values": [{"key": "s", "name": "Small", "i18n": {"es": {"name": "Pequeño"}}}],
        "extra": "dropped",
    }
    [out] = svc.parse_questions(json.dumps([q]))
    assert out["i18n"] == {"es": {"description": "¿Qué tamaño?"}}
    assert out["values"] == [{"key": "s", "name": "Small", "i18n": {"es": {"name": "Pequeño"}}}]
    assert "extra" not in out
    [plain] = svc.parse_questions(json.dumps([{**q, "i18n": ["not", "a", "table"]}]))
    assert "i18n" not in plain


def test_parse_questions_checks_the_json() -> None:
    out = svc.parse_questions(json.dumps(QUESTIONS))
    assert out[0]["code"] == "depth" and out[0]["order"] == 1 and out[0]["variable"] is True
    for bad in ["{", "{}", '[{"code": "x"}]', '[{"code": "x", "description": "d", "datatype": "singlevaluelist"}]',
                '[{"code": "x", "description": "d", "datatype": "colour"}]']:  # fmt: skip
        with pytest.raises(Invalid):
            svc.parse_questions(bad)
    assert svc.parse_questions("  ") == []


def test_save_service_and_department(session) -> None:
    dept = svc.save_department(session, code="parks-new", name="New Parks", phone="978-000-0000")
    s = svc.save_service(
        session, code="fallen-tree", name="Fallen tree", department_id=dept.id, sla_hours="48",
        attributes=json.dumps(QUESTIONS),
    )  # fmt: skip
    assert (s.sla_hours, s.attributes[0]["code"], s.department_id) == (48, "depth", dept.id)
    with pytest.raises(Conflict):
        svc.save_service(session, code="pothole", name="Another")
    with pytest.raises(Invalid):
        svc.save_service(session, code="x", name="X", sla_hours="soon")
    with pytest.raises(Invalid):
        svc.save_department(session, code="Bad Code!", name="x")


def test_users_keep_an_admin(session) -> None:
    admin = make_user(session, "admin")
    with pytest.raises(Invalid):
        svc.update_user(session, user_id=admin.id, role="operator", crew_id=None, active=True, by=admin)
    crew = session.exec(select(Crew)).first()
    worker = svc.add_user(
        session, email="w@x.example", name="W", role="crew", password="long enough pw", crew_id=crew.id
    )
    with pytest.raises(Invalid):
        svc.add_user(session, email="v@x.example", name="V", role="crew", password="long enough pw")
    svc.update_user(session, user_id=worker.id, role="operator", crew_id=None, active=False, by=admin)
    assert (worker.role, worker.crew_id, worker.active) == ("operator", None, False)


@pytest.fixture
def admin_client(client, session):  # type: ignore[no-untyped-def]
    make_user(session, "admin", email="a@test.example")
    login(client, "a@test.example")
    return client


@pytest.mark.parametrize("page", ["", "/departments", "/services", "/crews", "/users", "/articles", "/keys"])
def test_admin_pages_render(admin_client, page: str) -> None:
    r = admin_client.get("/admin" + page)
    assert r.status_code == 200 and "<h1>" in r.text


def test_admin_forms_save(admin_client, session) -> None:
    token = csrf(admin_client, "/admin")
    dept = session.exec(select(Department)).first()
    session.commit()
    r = admin_client.post("/admin/services", data={
        "csrf_token": token, "code": "fallen-tree", "name": "Fallen tree", "department": dept.id,
        "sla_hours": "24", "attributes": json.dumps(QUESTIONS), "active": "1", "public": "1"})  # fmt: skip
    assert r.status_code == 200 and "Fallen tree" in r.text
    bad = admin_client.post(
        "/admin/services", data={"csrf_token": token, "code": "x", "name": "X", "attributes": "["}
    )
    assert bad.status_code == 400 and "not valid JSON" in bad.text
    admin_client.post(
        "/admin/crews", data={"csrf_token": token, "name": "Night crew", "department": dept.id, "active": "1"}
    )
    admin_client.post("/admin/users", data={"csrf_token": token, "name": "Nia", "email": "nia@x.example",
                                            "role": "dispatcher", "password": "long enough pw"})  # fmt: skip
    admin_client.post("/admin/articles", data={"csrf_token": token, "slug": "dog-licence", "title": "Dog licences",
                                               "body": "At the City Clerk.", "language": "en"})  # fmt: skip
    admin_client.post(
        "/admin/departments", data={"csrf_token": token, "code": "new-dept", "name": "New dept"}
    )
    session.expire_all()
    svc_row = session.exec(select(Service).where(Service.code == "fallen-tree")).one()
    assert svc_row.sla_hours == 24 and svc_row.attributes[0]["values"][1]["key"] == "deep"
    assert session.exec(select(Crew).where(Crew.name == "Night crew")).one()
    assert session.exec(select(User).where(User.email == "nia@x.example")).one().role == "dispatcher"
    assert session.exec(select(KnowledgeArticle).where(KnowledgeArticle.slug == "dog-licence")).one()
    assert session.exec(select(Department).where(Department.code == "new-dept")).one()


def test_api_key_is_shown_once_and_revocable(admin_client, session) -> None:
    token = csrf(admin_client, "/admin/keys")
    r = admin_client.post("/admin/keys", data={"csrf_token": token, "name": "SeeClickFix"})
    key = BeautifulSoup(r.text, "html.parser").select_one("#new-key").text.strip()
    assert r.headers["cache-control"] == "no-store"
    assert check_api_key(session=session, key=key) is not None
    listing = admin_client.get("/admin/keys").text
    assert key not in listing and "SeeClickFix" in listing
    row = session.exec(select(ApiKey)).one()
    session.commit()
    admin_client.post(f"/admin/keys/{row.id}/revoke", data={"csrf_token": token})
    session.expire_all()
    assert check_api_key(session=session, key=key) is None


def test_admin_home_counts_the_active_api_keys(admin_client) -> None:
    token = csrf(admin_client, "/admin/keys")
    admin_client.post("/admin/keys", data={"csrf_token": token, "name": "SeeClickFix"})
    home = BeautifulSoup(admin_client.get("/admin").text, "html.parser")
    figure = next(div for div in home.select("dl.figures div") if "API keys" in div.dt.text)
    assert figure.dd.text.strip() == "1"  # was the repr of a dict's keys() method
