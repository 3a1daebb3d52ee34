"""GET requests is answered from a cache: every change that could alter an answer must show at once."""

from __future__ import annotations

from server.services.requests import Actor, change_status
from tests.factories import make_request
from tests.open311_helpers import V2, hide_service

STAFF = Actor(label="Dispatcher")


def statuses(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    r = client.get(f"{V2}/requests.json")
    assert r.status_code == 200
    return {item["service_request_id"]: item["status"] for item in r.json()}


def test_a_status_change_shows_in_the_next_answer(client, session, city) -> None:
    req = make_request(session, city)
    assert statuses(client) == {req.public_id: "open"}
    assert statuses(client) == {req.public_id: "open"}  # served from the cache
    change_status(session=session, req=req, to="closed", close_reason="fixed", actor=STAFF, note="Fixed")
    session.commit()
    assert statuses(client) == {req.public_id: "closed"}


def test_a_new_request_and_a_service_made_private_show_at_once(client, session, city) -> None:
    first = make_request(session, city)
    assert set(statuses(client)) == {first.public_id}
    second = make_request(session, city, description="Another hole")
    assert set(statuses(client)) == {first.public_id, second.public_id}
    hide_service(session, "pothole")
    assert statuses(client) == {}


def test_etag_lets_a_client_skip_an_unchanged_list(client, session, city) -> None:
    make_request(session, city)
    r = client.get(f"{V2}/requests.json")
    etag = r.headers["etag"]
    again = client.get(f"{V2}/requests.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = client.get(f"{V2}/requests.xml", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.text.startswith("<?xml")


def test_many_clients_missing_the_same_answer_render_it_once(monkeypatch) -> None:
    import asyncio
    import threading
    import time

    from server.api import open311 as api

    calls: list[int] = []

    def slow_render(engine, fmt, query, base_url) -> bytes:  # type: ignore[no-untyped-def]
        calls.append(1)
        time.sleep(0.2)
        return b"[]" * 1000

    monkeypatch.setattr(api, "_render_requests", slow_render)

    async def many() -> list:  # type: ignore[type-arg]
        key = ("json", ("single-flight-test",), object())
        return await asyncio.gather(*(api._render_once(key, None, "json", None, "") for _ in range(8)))

    # a thread of its own: the browser tests leave an event loop running in this one
    out: list = []  # type: ignore[type-arg]
    worker = threading.Thread(target=lambda: out.append(asyncio.run(many())))
    worker.start()
    worker.join(10)
    results = out[0]
    assert len(calls) == 1
    assert all(r == results[0] for r in results) and results[0][0] == b"[]" * 1000


def test_a_dropped_lookup_connection_is_retried(client, session, city, app) -> None:
    """The lookup pool does not ping before use (one round trip per cache hit); a connection the database
    dropped while idle costs one retry, not an error."""
    from sqlalchemy import text

    if app.state.settings.is_sqlite:
        import pytest

        pytest.skip("PostgreSQL only: SQLite connections do not drop")
    req = make_request(session, city)
    assert set(statuses(client)) == {req.public_id}
    session.execute(
        text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    )
    session.commit()
    assert set(statuses(client)) == {req.public_id}
