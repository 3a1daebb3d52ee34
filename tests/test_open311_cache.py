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
