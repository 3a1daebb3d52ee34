"""GET requests is answered from a cache: every change that could alter an answer must show at once."""

from __future__ import annotations

from server.services.requests import Actor, change_status
from tests.factories import make_request
from tests.open311_helpers import V2, hide_service
from tests.own_loop import in_own_loop

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


def test_many_clients_missing_the_same_answer_render_it_once() -> None:
    import asyncio

    from server.api.open311_cache import SingleFlight

    calls: list[int] = []

    async def slow_render() -> bytes:
        calls.append(1)
        await asyncio.sleep(0.2)
        return b"[]" * 1000

    async def many() -> list[bytes]:
        flight: SingleFlight[bytes] = SingleFlight()
        return await asyncio.gather(*(flight.run("same key", slow_render) for _ in range(8)))

    results = in_own_loop(many)
    assert len(calls) == 1
    assert results == [b"[]" * 1000] * 8


def test_version_lookups_are_shared_but_never_older_than_the_question() -> None:
    """A client that changed something and then asks must see its change, even when other clients' lookup
    was already running; clients asking together share one lookup."""
    import asyncio

    from server.api.open311_cache import FreshRead

    version = 0
    started: list[int] = []

    async def lookup() -> int:
        started.append(version)
        seen = version
        await asyncio.sleep(0.05)
        return seen

    async def scenario() -> tuple[int, list[int], list[int]]:
        nonlocal version
        reader: FreshRead[int] = FreshRead(lookup)
        first = asyncio.ensure_future(reader.get())  # a lookup starts, reading version 0
        await asyncio.sleep(0.01)
        version = 1  # a change commits while that lookup is in flight...
        later = await asyncio.gather(*(reader.get() for _ in range(20)))  # ...then twenty clients ask
        return await first, later, list(started)

    first, later, started_at = in_own_loop(scenario)
    assert first == 0
    assert later == [1] * 20  # none got the lookup that began before they asked
    assert started_at == [0, 1]  # and the twenty shared one lookup


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
