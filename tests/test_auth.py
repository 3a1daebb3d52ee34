"""Login, logout, wrong passwords, CSRF, session hygiene."""

from __future__ import annotations

from sqlmodel import select

from server.models import User
from tests.factories import PASSWORD, csrf, csrf_from, login, make_user


def test_login_redirects_each_role_to_its_home(client, session) -> None:
    for role, home in {
        "admin": "/admin",
        "dispatcher": "/dispatch",
        "operator": "/operator",
        "crew": "/field/",
    }.items():
        make_user(session, role, email=f"{role}@x.example")
        client.cookies.clear()
        r = login(client, f"{role}@x.example")
        assert r.status_code == 303 and r.headers["location"] == home


def test_password_is_stored_as_argon2(session) -> None:
    user = make_user(session, "operator")
    stored = session.exec(select(User.password_hash).where(User.id == user.id)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_wrong_password_and_unknown_email_get_the_same_clear_message(client, session) -> None:
    make_user(session, "operator", email="op@x.example")
    wrong = login(client, "op@x.example", "wrong password!")
    unknown = login(client, "nobody@x.example", "wrong password!")
    assert wrong.status_code == unknown.status_code == 401
    for r in (wrong, unknown):
        assert "The e-mail or password is not right." in r.text
    assert "civic311_session" not in wrong.headers.get("set-cookie", "") or "uid" not in wrong.text


def test_empty_login_form_is_a_400_with_a_message(client, db) -> None:
    token = csrf(client, "/login")
    r = client.post("/login", data={"email": "", "password": "", "csrf_token": token})
    assert r.status_code == 400 and "Enter your e-mail and password." in r.text


def test_inactive_user_cannot_log_in(client, session) -> None:
    user = make_user(session, "operator", email="gone@x.example")
    user.active = False
    session.add(user)
    session.commit()
    assert login(client, "gone@x.example").status_code == 401


def test_logout_ends_the_session(client, session) -> None:
    make_user(session, "dispatcher", email="d@x.example")
    assert login(client, "d@x.example").status_code == 303
    assert client.get("/dispatch", follow_redirects=False).status_code == 200
    token = csrf_from(client.get("/dispatch").text)
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    r = client.get("/dispatch", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_post_without_csrf_token_is_refused(client, session) -> None:
    make_user(session, "operator", email="op@x.example")
    r = client.post("/login", data={"email": "op@x.example", "password": PASSWORD})
    assert r.status_code == 403
    assert "expired" in r.text
    r = client.post("/login", data={"email": "op@x.example", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403


def test_csrf_header_works_for_htmx_and_json(client, session) -> None:
    make_user(session, "operator", email="op@x.example")
    token = csrf(client, "/login")
    r = client.post(
        "/login",
        data={"email": "op@x.example", "password": PASSWORD},
        headers={"X-CSRF-Token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_login_rotates_the_csrf_token(client, session) -> None:
    make_user(session, "operator", email="op@x.example")
    before = csrf(client, "/login")
    login(client, "op@x.example")
    after = csrf_from(client.get("/operator").text)
    assert before != after


def test_open_redirect_is_refused(client, session) -> None:
    make_user(session, "operator", email="op@x.example")
    token = csrf(client, "/login")
    r = client.post(
        "/login",
        data={"email": "op@x.example", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/operator"


def test_session_cookie_is_httponly_and_samesite(client, session) -> None:
    make_user(session, "operator", email="op@x.example")
    r = login(client, "op@x.example")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_healthz_checks_the_database(client, db) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok"}


def test_openapi_docs_are_served(client, db) -> None:
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "civic311"


def test_login_redirect_keeps_the_query_of_the_page_asked_for(client, session) -> None:
    make_user(session, "operator", email="op@x.example")
    r = client.get("/operator/call?phone=978-555-0100", follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    token = csrf_from(page.text)
    assert 'value="/operator/call?phone=978-555-0100"' in page.text
    r = client.post(
        "/login",
        data={
            "email": "op@x.example",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/operator/call?phone=978-555-0100",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/operator/call?phone=978-555-0100"
