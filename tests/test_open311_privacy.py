"""Nothing private leaves through Open311, in either format: reporters, internal notes, non-public services."""

from __future__ import annotations

import pytest

from server.services.requests import Actor, add_note, change_status
from tests.factories import make_request
from tests.open311_helpers import V2, api_key, hide_service

STAFF = Actor(label="Dispatcher Dana")
SECRETS = (
    "Rosa Secretname",
    "rosa.secret@example.com",
    "555-0199",
    "INTERNAL-NOTE-XYZ",
    "HIDDEN-SERVICE-DESC",
)


@pytest.fixture
def private_world(session, city):  # type: ignore[no-untyped-def]
    hidden = hide_service(session, "abandoned-building")
    visible = make_request(
        session,
        city,
        reporter_name="Rosa Secretname",
        reporter_email="rosa.secret@example.com",
        reporter_phone="555-0199",
    )
    add_note(session=session, req=visible, actor=STAFF, note="INTERNAL-NOTE-XYZ", public=False)
    change_status(
        session=session, req=visible, to="in_progress", actor=STAFF, note="INTERNAL-NOTE-XYZ", public=False
    )
    secret = make_request(
        session,
        city,
        service_code=hidden.code,
        description="HIDDEN-SERVICE-DESC",
        commit=False,
        attributes={"conditions": ["fire_damage"]},
    )
    change_status(
        session=session,
        req=secret,
        to="closed",
        actor=STAFF,
        note="HIDDEN-SERVICE-DESC",
        close_reason="fixed",
    )
    session.commit()
    return visible, secret


def urls(visible, secret) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for fmt in ("json", "xml"):
        out += [
            f"{V2}/services.{fmt}",
            f"{V2}/requests.{fmt}",
            f"{V2}/requests.{fmt}?extensions=true",
            f"{V2}/requests.{fmt}?status=closed",
            f"{V2}/requests.{fmt}?service_code=abandoned-building",
            f"{V2}/requests.{fmt}?service_request_id={visible.public_id},{secret.public_id}",
            f"{V2}/requests/{visible.public_id}.{fmt}",
            f"{V2}/servicerequestupdates.{fmt}",
            f"{V2}/tokens/{visible.private_token}.{fmt}",
        ]
    return out


def test_no_reporter_no_internal_note_no_hidden_service(client, private_world) -> None:
    visible, secret = private_world
    for url in urls(visible, secret):
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.text)
        for s in SECRETS:
            assert s not in resp.text, (url, s)
        assert secret.public_id not in resp.text, url
        assert "abandoned-building" not in resp.text, url
    assert client.get("/open311/").status_code == 200
    assert "abandoned-building" not in client.get("/open311/").text


def test_hidden_service_is_unknown_everywhere(client, session, private_world) -> None:
    _visible, secret = private_world
    for fmt in ("json", "xml"):
        assert client.get(f"{V2}/services/abandoned-building.{fmt}").status_code == 404
        assert client.get(f"{V2}/requests/{secret.public_id}.{fmt}").status_code == 404
        assert client.get(f"{V2}/request/{secret.public_id}.{fmt}").status_code == 404
        assert client.get(f"{V2}/tokens/{secret.private_token}.{fmt}").status_code == 404
    key = api_key(session)
    resp = client.post(
        f"{V2}/requests.json",
        data={"api_key": key, "service_code": "abandoned-building", "address_string": "1 Main St"},
    )
    assert resp.status_code == 404


def test_visible_request_has_only_public_timeline(client, private_world) -> None:
    visible, _secret = private_world
    item = client.get(f"{V2}/requests/{visible.public_id}.json").json()[0]
    assert item["status_notes"] is None  # the only status note is internal
    ext = client.get(f"{V2}/requests.json?extensions=true").json()[0]
    assert [n["type"] for n in ext["notes"]] == ["created"]
    assert client.get(f"{V2}/servicerequestupdates.json").json() == []
