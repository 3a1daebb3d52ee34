"""Staff log-in throttling: per account and per address, shared by every web process, growing lockouts, no
account-exists oracle; trusted proxies; Secure cookies over HTTPS; the staff page's log-in columns."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from server import cli
from server.models import AuditEvent, User
from tests.factories import PASSWORD, csrf_from, login, make_user

WRONG = "not the password at all"


@contextmanager
def app_client(
    settings: Any, client: tuple[str, int] = ("testclient", 50000), **changes: Any
) -> Iterator[TestClient]:
    """Another web process on the same database (a second app), with its own settings."""
    from server.main import create_app

    app = create_app(settings.model_copy(update=changes))
    try:
        with TestClient(app, client=client) as c:
            yield c
    finally:
        app.state.engine.dispose()
        app.state.lookup_engine.dispose()


def answer(r: httpx.Response) -> tuple[int, str, str]:
    """What a visitor can see of a log-in answer: status, Retry-After, and the message."""
    soup = BeautifulSoup(r.text, "html.parser")
    alert = soup.find(id="login-error")
    return r.status_code, r.headers.get("retry-after", ""), alert.get_text(strip=True) if alert else ""


def test_fifty_wrong_passwords_then_the_right_one_does_not_log_in(client, session) -> None:
    make_user(session, "dispatcher", email="d@x.example")
    statuses = [login(client, "d@x.example", WRONG).status_code for _ in range(50)]
    assert statuses[:4] == [401] * 4 and set(statuses[4:]) == {429}
    right = login(client, "d@x.example", PASSWORD)
    status, retry_after, message = answer(right)
    assert status == 429 and 1 <= int(retry_after) <= 60
    assert message == "Too many failed log-in attempts. Try again in 1 minute."
    assert "location" not in right.headers
    r = client.get("/dispatch", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_the_wait_is_told_in_spanish_too(client, session) -> None:
    make_user(session, "operator", email="op@x.example")
    client.get("/login?lang=es")
    for _ in range(5):
        last = login(client, "op@x.example", WRONG)
    assert last.status_code == 429
    assert (
        answer(last)[2]
        == "Demasiados intentos fallidos de inicio de sesión. Vuelva a intentarlo en 1 minuto."
    )


def test_the_throttle_does_not_tell_whether_an_account_exists(client, session) -> None:
    make_user(session, "operator", email="real@x.example")
    real = [answer(login(client, "real@x.example", WRONG)) for _ in range(7)]
    made_up = [answer(login(client, "made-up@x.example", WRONG)) for _ in range(7)]
    assert real == made_up
    assert [a[0] for a in real] == [401] * 4 + [429] * 3


def test_a_success_starts_the_account_afresh(client, session) -> None:
    make_user(session, "operator", email="op@x.example")
    for _ in range(4):
        assert login(client, "op@x.example", WRONG).status_code == 401
    assert login(client, "op@x.example").status_code == 303
    client.cookies.clear()
    # without the reset the first of these would be the fifth failure and lock the account
    assert [login(client, "op@x.example", WRONG).status_code for _ in range(4)] == [401] * 4


def test_lockouts_grow_and_stop_at_the_maximum(settings, session) -> None:
    make_user(session, "operator", email="op@x.example")
    waits = []
    with app_client(settings, login_rate_limit="2/15minutes", login_lockout_s=1, login_lockout_max_s=2) as c:
        for _ in range(3):
            assert login(c, "op@x.example", WRONG).status_code == 401
            locked = login(c, "op@x.example", WRONG)
            assert locked.status_code == 429
            waits.append(int(locked.headers["retry-after"]))
            refused = login(c, "op@x.example", PASSWORD)  # the right password, during the lockout
            assert refused.status_code == 429
            time.sleep(waits[-1] + 0.1)
        assert waits == [1, 2, 2]
        assert login(c, "op@x.example").status_code == 303  # once the wait is over, the right password works


def test_one_address_trying_many_accounts_is_locked_out(settings, session) -> None:
    make_user(session, "operator", email="op@x.example")
    with app_client(settings, login_address_rate_limit="3/15minutes") as c:
        statuses = [login(c, f"guess{i}@x.example", WRONG).status_code for i in range(3)]
        assert statuses == [401, 401, 429]
        assert login(c, "op@x.example").status_code == 429  # a real account, the right password, same address
    with app_client(settings, client=("192.0.2.50", 1234), login_address_rate_limit="3/15minutes") as other:
        assert login(other, "op@x.example").status_code == 303  # another address is not affected


def test_the_count_is_shared_by_every_web_process(client, settings, session) -> None:
    make_user(session, "dispatcher", email="d@x.example")
    with app_client(settings) as second:
        for c in (client, second, client, second):
            assert login(c, "d@x.example", WRONG).status_code == 401
        assert login(second, "d@x.example", WRONG).status_code == 429
        assert login(client, "d@x.example").status_code == 429
        assert login(second, "d@x.example").status_code == 429


def test_lockouts_are_in_the_audit_log_with_their_length(client, session) -> None:
    make_user(session, "operator", email="op@x.example")
    for _ in range(5):
        login(client, "op@x.example", WRONG)
    locked = session.exec(select(AuditEvent).where(AuditEvent.action == "login_locked")).one()
    assert (locked.target_type, locked.details["seconds"], locked.details["email"]) == (
        "account",
        60,
        "op@x.example",
    )
    failed = session.exec(select(AuditEvent).where(AuditEvent.action == "login_failed")).all()
    assert len(failed) == 5 and all(e.actor_address == "testclient" for e in failed)


def test_the_staff_page_shows_last_log_in_and_failures_since(client, session) -> None:
    make_user(session, "admin", email="a@x.example")
    clerk = make_user(session, "operator", email="clerk@x.example", name="Clerk Kent")
    for _ in range(2):
        login(client, "clerk@x.example", WRONG)

    def clerk_row() -> list[str]:
        client.cookies.clear()
        assert login(client, "a@x.example").status_code == 303
        soup = BeautifulSoup(client.get("/admin/users").text, "html.parser")
        headers = [th.get_text(strip=True) for th in soup.select("table.admin-list thead th")]
        row = next(tr for tr in soup.select("table.admin-list tbody tr") if "Clerk Kent" in tr.get_text())
        cells = dict(zip(headers, (td.get_text(" ", strip=True) for td in row.find_all("td")), strict=False))
        return [cells["Last log-in"], cells["Failed log-ins since"]]

    assert clerk_row() == ["Never", "2"]
    client.cookies.clear()
    assert login(client, "clerk@x.example").status_code == 303
    last, failures = clerk_row()
    session.refresh(clerk)
    assert (
        failures == "0" and clerk.last_login_at is not None and last.startswith(str(clerk.last_login_at.year))
    )


# ---------------------------------------------------------------- proxies and HTTPS


def _failed_login_address(c: TestClient, session: Session, **headers: str) -> str:
    token = csrf_from(c.get("/login").text)
    c.post("/login", data={"email": "x@x.example", "password": WRONG, "csrf_token": token}, headers=headers)
    session.expire_all()
    event = session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc())).first()
    session.commit()  # ends the read: on SQLite this test's session would hold the write lock
    assert event is not None and event.action == "login_failed"
    return event.actor_address


def test_forwarded_headers_are_believed_only_from_trusted_proxies(settings, session) -> None:
    spoof = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    with app_client(settings, client=("10.0.0.5", 4000)) as direct:  # default: trust nobody
        assert _failed_login_address(direct, session, **spoof) == "10.0.0.5"
        direct.cookies.clear()
        assert "secure" not in direct.get("/login", headers=spoof).headers["set-cookie"].lower()
    with app_client(settings, client=("10.0.0.5", 4000), trusted_proxies="192.0.2.1, 10.0.0.0/24") as behind:
        assert _failed_login_address(behind, session, **spoof) == "203.0.113.9"
        behind.cookies.clear()
        assert "secure" in behind.get("/login", headers=spoof).headers["set-cookie"].lower()
        # a client cannot pass for another by writing its own X-Forwarded-For before the proxy's entry
        two = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
        assert _failed_login_address(behind, session, **two) == "203.0.113.9"
    with app_client(settings, client=("10.0.1.5", 4000), trusted_proxies="10.0.0.0/24") as outsider:
        assert _failed_login_address(outsider, session, **spoof) == "10.0.1.5"


def test_a_bad_trusted_proxy_setting_is_refused_at_start_up(settings) -> None:
    import pydantic
    import pytest

    for bad in ("proxy.example", "10.0.0.0/33", "*"):
        with pytest.raises(pydantic.ValidationError):
            settings.model_validate({**settings.model_dump(), "trusted_proxies": bad})


def test_spoofed_addresses_do_not_escape_the_address_lockout(settings, session) -> None:
    with app_client(settings, login_address_rate_limit="3/15minutes") as c:
        statuses = []
        for i in range(5):
            token = csrf_from(c.get("/login").text)
            r = c.post(
                "/login",
                data={"email": f"g{i}@x.example", "password": WRONG, "csrf_token": token},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
            statuses.append(r.status_code)
        assert statuses == [401, 401, 429, 429, 429]


def test_serve_does_not_let_uvicorn_believe_forwarded_headers(monkeypatch, settings) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setattr("server.migrations.upgrade", lambda s: None)
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    assert cli.cmd_serve(settings, argparse.Namespace(host="127.0.0.1", port=8123, workers=1)) == 0
    assert seen["proxy_headers"] is False and "forwarded_allow_ips" not in seen


def test_cookies_are_secure_over_https_without_the_setting(settings, session) -> None:
    make_user(session, "operator", email="op@x.example")
    from server.main import create_app

    app = create_app(settings)
    try:
        with TestClient(app, base_url="https://testserver") as tls:
            r = login(tls, "op@x.example")
            assert r.status_code == 303
            assert "secure" in r.headers["set-cookie"].lower().split("; ")
            lang = tls.get("/?lang=es").headers.get_list("set-cookie")
            assert lang and all("; secure" in c.lower() for c in lang)
        with TestClient(app, base_url="http://testserver") as plain:
            r = login(plain, "op@x.example")
            assert "secure" not in r.headers["set-cookie"].lower()
    finally:
        app.state.engine.dispose()
        app.state.lookup_engine.dispose()
    with app_client(settings, secure_cookies=True) as always:
        assert "secure" in login(always, "op@x.example").headers["set-cookie"].lower()


def test_stored_counts_hold_no_e_mail(client, session) -> None:
    from sqlalchemy import text

    login(client, "someone@x.example", WRONG)
    keys = [k for (k,) in session.exec(text("SELECT key FROM rate_counter")).all()]  # type: ignore[call-overload]
    assert keys and not any("someone" in k for k in keys)


def test_failures_of_a_real_user_are_counted_on_the_user(client, session) -> None:
    user = make_user(session, "crew", email="c@x.example")
    login(client, "c@x.example", WRONG)
    login(client, "c@x.example", WRONG)
    session.expire_all()
    assert session.get(User, user.id).failed_logins == 2
