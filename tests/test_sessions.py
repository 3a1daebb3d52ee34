"""Sessions that end: log-out, a password change, a role change and deactivation end every session of that user,
on every web process (two apps on one database stand for two processes behind a load balancer)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlmodel import select

from server.models import AuditEvent, User
from tests.factories import PASSWORD, csrf, csrf_from, login, make_user

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def other_process(settings) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """A second web process: its own app, engine and pools, the same database and SECRET_KEY."""
    from server.main import create_app

    app = create_app(settings)
    yield app
    app.state.engine.dispose()
    app.state.lookup_engine.dispose()


def copy_of_session(source: TestClient, app: Any) -> TestClient:
    """Someone who copied the cookie (another tab, another device, or a thief) using another web process."""
    thief = TestClient(app)
    thief.cookies.set("civic311_session", source.cookies["civic311_session"])
    return thief


def opens_dispatch(c: TestClient) -> bool:
    r = c.get("/dispatch", follow_redirects=False)
    assert r.status_code in (200, 303)
    return r.status_code == 200


@pytest.fixture
def dispatcher(client, session) -> TestClient:  # type: ignore[no-untyped-def]
    make_user(session, "dispatcher", email="d@x.example", name="Dee Spatcher")
    assert login(client, "d@x.example").status_code == 303
    return client


@pytest.fixture
def admin(app, session) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    make_user(session, "admin", email="a@x.example")
    with TestClient(app) as c:
        assert login(c, "a@x.example").status_code == 303
        yield c


def _dispatcher_id(session) -> int:  # type: ignore[no-untyped-def]
    user_id = session.exec(select(User.id).where(User.email == "d@x.example")).one()
    session.commit()  # end the read: on SQLite the test's session would hold the write lock
    return user_id


def test_a_cookie_copied_before_log_out_no_longer_opens_dispatch(dispatcher, other_process) -> None:
    copy = copy_of_session(dispatcher, other_process)
    assert opens_dispatch(copy)  # the copy works on the other process, as any session does
    token = csrf_from(dispatcher.get("/dispatch").text)
    assert dispatcher.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert not opens_dispatch(copy)
    assert not opens_dispatch(dispatcher)
    # and a fresh log-in works again
    assert login(dispatcher, "d@x.example").status_code == 303 and opens_dispatch(dispatcher)


def test_changing_ones_password_ends_the_other_sessions_but_not_this_one(
    dispatcher, other_process, client, session
) -> None:
    copy = copy_of_session(dispatcher, other_process)
    page = dispatcher.get("/account/password")
    assert page.status_code == 200
    r = dispatcher.post(
        "/account/password",
        data={
            "csrf_token": csrf_from(page.text),
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/account/password?done=1"
    assert "You were logged out everywhere else" in dispatcher.get(r.headers["location"]).text
    assert opens_dispatch(dispatcher)
    assert not opens_dispatch(copy)
    with TestClient(other_process) as fresh:
        assert login(fresh, "d@x.example").status_code == 401
        assert login(fresh, "d@x.example", NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"current_password": "not my password"}, "Your current password is not right."),
        ({"confirm": "something else entirely"}, "The two new passwords are not the same."),
        ({"password": "short", "confirm": "short"}, "The password must be at least 10 characters."),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(
    dispatcher, other_process, fields, message
) -> None:
    copy = copy_of_session(dispatcher, other_process)
    data = {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD, **fields}
    r = dispatcher.post(
        "/account/password", data={"csrf_token": csrf(dispatcher, "/account/password"), **data}
    )
    assert r.status_code == 400
    alert = BeautifulSoup(r.text, "html.parser").find(id="password-error")
    assert alert is not None and alert.get_text(strip=True) == message
    assert opens_dispatch(copy)  # nothing changed, nobody was logged out


def test_guessing_the_current_password_is_throttled(dispatcher) -> None:
    token = csrf(dispatcher, "/account/password")
    data = {
        "csrf_token": token,
        "current_password": "guess",
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }
    statuses = [dispatcher.post("/account/password", data=data).status_code for _ in range(6)]
    assert statuses == [400] * 4 + [429] * 2
    right = dispatcher.post("/account/password", data={**data, "current_password": PASSWORD})
    assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1


def _admin_post(admin: TestClient, path: str, **data: str) -> None:
    r = admin.post(path, data={"csrf_token": csrf(admin, "/admin/users"), **data}, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_a_role_change_by_the_admin_ends_the_users_sessions(
    dispatcher, admin, other_process, session
) -> None:
    copy = copy_of_session(dispatcher, other_process)
    _admin_post(admin, f"/admin/users/{_dispatcher_id(session)}", role="operator", active="1")
    assert not opens_dispatch(copy)
    r = dispatcher.get("/operator", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")  # logged out, not just demoted


def test_saving_a_user_without_changes_keeps_their_sessions(
    dispatcher, admin, other_process, session
) -> None:
    copy = copy_of_session(dispatcher, other_process)
    _admin_post(admin, f"/admin/users/{_dispatcher_id(session)}", role="dispatcher", active="1")
    assert opens_dispatch(copy) and opens_dispatch(dispatcher)


def test_deactivation_ends_the_sessions_and_reactivation_does_not_revive_them(
    dispatcher, admin, other_process, session
) -> None:
    copy = copy_of_session(dispatcher, other_process)
    uid = _dispatcher_id(session)
    _admin_post(admin, f"/admin/users/{uid}", role="dispatcher")  # no "active": deactivated
    assert not opens_dispatch(copy)
    _admin_post(admin, f"/admin/users/{uid}", role="dispatcher", active="1")
    assert not opens_dispatch(copy) and not opens_dispatch(dispatcher)
    assert login(dispatcher, "d@x.example").status_code == 303


def test_a_password_set_by_the_admin_ends_the_users_sessions(
    dispatcher, admin, other_process, session
) -> None:
    copy = copy_of_session(dispatcher, other_process)
    _admin_post(admin, f"/admin/users/{_dispatcher_id(session)}/password", password=NEW_PASSWORD)
    assert not opens_dispatch(copy) and not opens_dispatch(dispatcher)
    assert login(dispatcher, "d@x.example", NEW_PASSWORD).status_code == 303
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "password_changed")).all()
    assert [e.details for e in events] == [{"by_self": False}]


def test_a_session_made_before_the_upgrade_is_refused(dispatcher, app) -> None:
    """Cookies signed before session versions existed carry none: they must not count as version 0."""
    import base64
    import json

    from itsdangerous import TimestampSigner

    signer = TimestampSigner(app.state.settings.session_secret)
    raw = dispatcher.cookies["civic311_session"]
    data = json.loads(base64.b64decode(signer.unsign(raw)))
    assert "sv" in data
    del data["sv"]
    old = signer.sign(base64.b64encode(json.dumps(data).encode())).decode()
    with TestClient(app) as c:
        c.cookies.set("civic311_session", old)
        assert not opens_dispatch(c)
