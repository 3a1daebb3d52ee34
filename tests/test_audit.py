"""The audit log: what is recorded (and with whom, from where), in the same transaction as the change; no secrets;
read by administrators at /admin/audit with strict filters; nothing can change or delete it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from server.domain.errors import Conflict
from server.models import AuditEvent, Crew, Department, User
from server.models.audit import AppendOnly
from server.services import admin as svc
from server.services.audit import ACTIONS, AuditActor, record
from tests.factories import PASSWORD, csrf, login, make_user

NEW_PASSWORD = "another long passphrase"


@pytest.fixture
def admin(client, session) -> TestClient:  # type: ignore[no-untyped-def]
    make_user(session, "admin", email="a@x.example", name="Ada Admin")
    assert login(client, "a@x.example").status_code == 303
    return client


def events(session: Session) -> list[AuditEvent]:
    session.expire_all()
    rows = list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all())
    session.commit()  # end the read: on SQLite the test's session would hold the write lock
    return rows


def post(c: TestClient, path: str, **data: Any) -> Any:
    return c.post(path, data={"csrf_token": csrf(c, "/admin"), **data}, follow_redirects=False)


def test_every_kind_of_change_is_recorded_with_who_and_from_where(admin, session) -> None:
    me = session.exec(select(User).where(User.email == "a@x.example")).one()
    dept = session.exec(select(Department)).first()
    crew = session.exec(select(Crew)).first()
    session.commit()
    assert post(admin, "/admin/users", name="Nia", email="nia@x.example", role="dispatcher",
                password=PASSWORD).status_code == 303  # fmt: skip
    nia = session.exec(select(User).where(User.email == "nia@x.example")).one()
    session.commit()
    post(admin, f"/admin/users/{nia.id}", role="crew", crew=str(crew.id), active="1")
    post(admin, f"/admin/users/{nia.id}", role="crew", crew=str(crew.id))  # deactivated
    post(admin, f"/admin/users/{nia.id}", role="crew", crew=str(crew.id), active="1")
    post(admin, f"/admin/users/{nia.id}/password", password=NEW_PASSWORD)
    key_page = post(admin, "/admin/keys", name="Civic app")
    new_key = BeautifulSoup(key_page.text, "html.parser").find(id="new-key").get_text(strip=True)
    key_id = session.exec(text("SELECT id FROM api_key")).scalar_one()  # type: ignore[call-overload]
    session.commit()
    post(admin, f"/admin/keys/{key_id}/revoke")
    post(admin, f"/admin/keys/{key_id}/revoke")  # already revoked: nothing more to record
    unchanged = {k: getattr(dept, k) for k in ("code", "phone", "extension", "email", "hours", "description")}
    post(admin, "/admin/departments", id=str(dept.id), name="Renamed department", **unchanged)
    post(admin, "/admin/services", code="fallen-tree", name="Fallen tree", active="1", public="1")
    post(admin, "/admin/crews", name="Night crew", active="1")
    post(admin, "/admin/articles", slug="dog-licence", title="Dog licences", body="At the City Clerk.")

    mine = [(e.action, e.actor_id, e.actor_address) for e in events(session) if e.actor_id == me.id]
    assert all(address == "testclient" for _, _, address in mine)
    assert [a for a, _, _ in mine] == [
        "login", "user_created", "role_changed", "crew_changed", "user_deactivated", "user_activated",
        "password_changed", "api_key_created", "api_key_revoked", "department_saved", "service_saved",
        "crew_saved", "article_saved",
    ]  # fmt: skip
    by_action = {e.action: e for e in events(session)}
    assert by_action["role_changed"].details == {"before": "dispatcher", "after": "crew"}
    assert (by_action["role_changed"].target_type, by_action["role_changed"].target_id) == (
        "user",
        str(nia.id),
    )
    assert by_action["department_saved"].details == {
        "created": False, "changed": ["name"], "code": dept.code,
    }  # fmt: skip
    assert by_action["service_saved"].details["created"] is True

    # nothing secret in any record: passwords, hashes, the API key
    dump = json.dumps([e.details for e in events(session)])
    for secret in (PASSWORD, NEW_PASSWORD, new_key, "$argon2"):
        assert secret not in dump


def test_logins_failures_and_logouts_are_recorded(client, session) -> None:
    user = make_user(session, "operator", email="op@x.example")
    login(client, "op@x.example", "wrong password!")
    login(client, "nobody@x.example", "wrong password!")
    login(client, "op@x.example")
    client.post("/logout", data={"csrf_token": csrf(client, "/operator")})
    rows = [(e.action, e.actor_id, e.target_id, e.details.get("email")) for e in events(session)]
    assert rows == [
        ("login_failed", None, str(user.id), "op@x.example"),
        ("login_failed", None, "", "nobody@x.example"),
        ("login", user.id, str(user.id), None),
        ("logout", user.id, str(user.id), None),
    ]


def test_own_password_change_is_recorded_as_by_the_user(client, session) -> None:
    make_user(session, "operator", email="op@x.example")
    login(client, "op@x.example")
    token = csrf(client, "/account/password")
    client.post("/account/password", data={"csrf_token": token, "current_password": PASSWORD,
                                          "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})  # fmt: skip
    changed = [e for e in events(session) if e.action == "password_changed"]
    assert len(changed) == 1 and changed[0].details == {"by_self": True}


def test_a_change_and_its_record_commit_or_roll_back_together(admin, session) -> None:
    actor = AuditActor(None, "test")
    svc.save_crew(session, name="Ghost crew", department_id=None, actor=actor)
    session.rollback()
    assert session.exec(select(Crew).where(Crew.name == "Ghost crew")).first() is None
    assert [e.action for e in events(session)] == ["login"]
    # a refused edit records nothing, in the service and over HTTP
    taken = session.exec(select(Crew.name)).first()
    session.commit()
    with pytest.raises(Conflict):
        svc.save_crew(session, name=taken, department_id=None, actor=actor)
    session.rollback()
    assert post(admin, "/admin/crews", name=taken).status_code == 409
    assert [e.action for e in events(session)] == ["login"]


def test_record_drops_secret_looking_details(session) -> None:
    record(session, actor=AuditActor(), action="logout", password="x", password_hash="y", api_key="z", ok=1)
    session.commit()
    assert events(session)[0].details == {"ok": 1}
    with pytest.raises(ValueError):
        record(session, actor=AuditActor(), action="made_up")


def test_the_log_cannot_be_edited_or_deleted_through_the_application(session) -> None:
    record(session, actor=AuditActor(), action="logout")
    session.commit()
    event = events(session)[0]
    event.action = "login"
    session.add(event)
    with pytest.raises(AppendOnly):
        session.flush()
    session.rollback()
    with pytest.raises(AppendOnly):
        session.delete(session.get(AuditEvent, event.id))
        session.flush()
    session.rollback()


def test_the_database_refuses_to_update_a_recorded_event(db) -> None:
    with Session(db) as s:
        record(s, actor=AuditActor(), action="logout")
        s.commit()
    with db.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("UPDATE audit_event SET action = 'login'"))
    with Session(db) as s:
        assert [e.action for e in s.exec(select(AuditEvent)).all()] == ["logout"]


# ---------------------------------------------------------------- /admin/audit


def _many_events(session: Session, user: User, n: int) -> None:
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    for i in range(n):
        e = record(session, actor=AuditActor(user.id if i % 2 else None, f"192.0.2.{i % 250}"),
                   action="login" if i % 2 else "login_failed", target_type="user", target_id=user.id)  # fmt: skip
        e.at = start + timedelta(hours=i)
    session.commit()


def rows_of(page: str) -> list[dict[str, str]]:
    soup = BeautifulSoup(page, "html.parser")
    table = soup.select_one("table.audit")
    assert table is not None
    headers = [th.get_text(strip=True) for th in table.select("thead th")]
    assert all(th.get("scope") == "col" for th in table.select("thead th"))
    out = []
    for tr in table.select("tbody tr"):
        cells = tr.find_all("td")
        if len(cells) == len(headers):
            out.append(dict(zip(headers, (c.get_text(" ", strip=True) for c in cells), strict=True)))
    return out


def test_admins_read_the_log_newest_first_with_filters_and_pages(admin, session) -> None:
    me = session.exec(select(User).where(User.email == "a@x.example")).one()
    session.commit()
    _many_events(session, me, 120)
    first = rows_of(admin.get("/admin/audit").text)
    assert len(first) == 50 and first[0]["Action"] == "Logged in" and first[0]["Who"] == "Ada Admin"
    page = admin.get("/admin/audit?action=login_failed&page=2")
    soup = BeautifulSoup(page.text, "html.parser")
    rows = rows_of(page.text)
    assert len(rows) == 10 and {r["Action"] for r in rows} == {"Failed log-in"} and rows[0]["Who"] == "—"
    assert soup.select_one("a[rel=prev]")["href"] == "/admin/audit?action=login_failed"
    assert soup.select_one("a[rel=next]") is None
    # the city's calendar days, both ends included: 2025-03-01 12:00 UTC is 07:00 in Haverhill
    day = rows_of(admin.get("/admin/audit?from=2025-03-01&to=2025-03-01").text)
    assert len(day) == 17  # 12:00 UTC to 04:00 UTC the next day: midnight in Haverhill is 05:00 UTC
    assert [r["When"][:10] for r in day] == ["2025-03-01"] * 17
    mine = rows_of(admin.get(f"/admin/audit?actor={me.id}&to=2025-03-02").text)
    assert mine and {r["Who"] for r in mine} == {"Ada Admin"}
    nobody = rows_of(admin.get("/admin/audit?actor=none&action=login").text)
    assert nobody == []


def test_the_audit_page_in_spanish(admin, session) -> None:
    page = admin.get("/admin/audit?lang=es")
    soup = BeautifulSoup(page.text, "html.parser")
    assert soup.h1.get_text(strip=True) == "Registro de auditoría"
    assert rows_of(page.text)[0]["Acción"] == "Inició sesión"
    for field in soup.select("form.filters select, form.filters input"):
        assert soup.find("label", attrs={"for": field["id"]}) is not None


@pytest.mark.parametrize(
    "query",
    [
        "action=<script>", "action=DROP TABLE audit_event", "actor=abc", "actor=-1", "actor=1.5",
        "actor=99999999999999999999", "actor=%C2%B2", "from=2025-13-01", "from=2025-02-30", "from=99999-01-01",
        "from=0001-01-01", "to=9999-12-31", "from=2025-03-02&to=2025-03-01", "from=20250301", "page=0",
        "page=-1", "page=abc", "page=10001", "page=1e3", "page=99999999999999999999", "from=2025-03-01%00",
        "action=login%00",
    ],
)  # fmt: skip
def test_hostile_filter_values_are_a_400_not_a_500(admin, query: str) -> None:
    r = admin.get(f"/admin/audit?{query}")
    assert r.status_code == 400, query
    assert r.headers["cache-control"] == "no-store"


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(["action", "actor", "from", "to", "page", "other"]),
        st.one_of(st.text(max_size=30), st.sampled_from([*ACTIONS, "none", "1", "2025-03-01"])),
        max_size=5,
    )
)
def test_any_filter_values_get_a_page_or_a_400(admin, params: dict[str, str]) -> None:
    r = admin.get("/admin/audit", params=params)
    assert r.status_code in (200, 400)


def test_the_command_line_is_recorded_too(settings, session) -> None:
    from tests.test_cli import run

    created = run(settings, "create-api-key", "Bridge")
    assert created.returncode == 0, created.stderr
    key_id = session.exec(text("SELECT id FROM api_key")).scalar_one()  # type: ignore[call-overload]
    session.commit()
    assert run(settings, "revoke-api-key", str(key_id)).returncode == 0
    made = run(settings, "create-user", "--email", "n@x.example", "--name", "N", "--role", "operator",
               "--password", PASSWORD)  # fmt: skip
    assert made.returncode == 0, made.stderr
    rows = [(e.action, e.actor_id, e.actor_address) for e in events(session)]
    assert rows == [
        ("api_key_created", None, "command line"),
        ("api_key_revoked", None, "command line"),
        ("user_created", None, "command line"),
    ]
    assert created.stdout.strip().splitlines()[-1] not in json.dumps([e.details for e in events(session)])


def test_a_password_typed_into_the_e_mail_field_is_not_kept(client, session) -> None:
    login(client, "MySecretPassphrase2025", "whatever was typed here")
    [failed] = events(session)
    assert failed.action == "login_failed" and failed.details == {"email": ""}
    assert "MySecret" not in json.dumps(failed.details)
