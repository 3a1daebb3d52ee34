"""The model's rules: public ids, versions, the timeline, idempotency, validation."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from server.domain.errors import Conflict, Invalid, InvalidTransition, NotFound
from server.models import Activity, Follower, ServiceRequest
from server.services.requests import (
    Actor,
    NewRequest,
    add_note,
    assign_crew,
    change_status,
    create_request,
    find_request,
    set_priority,
)
from tests.factories import make_request, make_user


def timeline(session, req: ServiceRequest) -> list[str]:
    return [
        a.kind
        for a in session.exec(select(Activity).where(Activity.request_id == req.id).order_by(Activity.id))
    ]


def test_public_id_has_the_city_prefix_year_and_six_digits(session, city) -> None:
    req = make_request(session, city)
    assert re.fullmatch(r"311-\d{4}-\d{6}", req.public_id)
    assert req.public_id.endswith(f"{req.id:06d}")
    assert req.public_id.split("-")[1] == str(req.created_at.year)
    assert find_request(session, req.public_id).id == req.id
    assert find_request(session, req.public_id.lower()).id == req.id


def test_unknown_public_id_is_not_found(session, city) -> None:
    with pytest.raises(NotFound):
        find_request(session, "311-2026-999999")
    req = make_request(session, city)
    wrong_year = req.public_id.replace(req.public_id.split("-")[1], "1999")
    with pytest.raises(NotFound):
        find_request(session, wrong_year)


def test_creation_sets_deadline_from_service_target_and_writes_the_timeline(session, city) -> None:
    req = make_request(session, city, reporter_email="maria@example.com", reporter_name="Maria")
    assert req.expected_at is not None
    hours = (req.expected_at - req.created_at).total_seconds() / 3600
    assert hours == 72
    assert timeline(session, req) == ["created"]
    followers = session.exec(select(Follower).where(Follower.request_id == req.id)).all()
    assert [f.email for f in followers] == ["maria@example.com"]


def test_every_change_bumps_the_version_and_writes_an_activity(session, city) -> None:
    user = make_user(session, "dispatcher")
    actor = Actor.of(user)
    req = make_request(session, city)
    assert req.version == 1
    crew_id = session.exec(select(ServiceRequest.crew_id)).first()  # None: unassigned
    assert crew_id is None
    from server.models import Crew

    crew = session.exec(select(Crew)).first()
    assign_crew(session=session, req=req, crew_id=crew.id, actor=actor, expected_version=1)
    set_priority(session=session, req=req, priority=1, actor=actor, expected_version=2)
    add_note(session=session, req=req, actor=actor, note="Checked on site", public=False, expected_version=3)
    change_status(
        session=session,
        req=req,
        to="closed",
        close_reason="fixed",
        actor=actor,
        note="Fixed",
        expected_version=4,
    )
    session.commit()
    assert req.version == 5
    assert timeline(session, req) == ["created", "assign", "priority", "note", "status"]
    assert req.closed_at is not None and req.close_reason == "fixed"
    last = session.exec(
        select(Activity).where(Activity.request_id == req.id).order_by(Activity.id.desc())
    ).first()
    assert last.actor_id == user.id and last.public and last.data["to"] == "closed"


def test_stale_version_is_a_conflict_and_changes_nothing(session, city) -> None:
    actor = Actor(label="Dispatcher")
    req = make_request(session, city)
    add_note(session=session, req=req, actor=actor, note="first", public=False, expected_version=1)
    session.commit()
    with pytest.raises(Conflict, match="changed since you opened it"):
        add_note(session=session, req=req, actor=actor, note="second", public=False, expected_version=1)
    session.rollback()
    assert timeline(session, req) == ["created", "note"]


def test_status_rules(session, city) -> None:
    actor = Actor(label="Dispatcher")
    req = make_request(session, city)
    with pytest.raises(InvalidTransition):
        change_status(session=session, req=req, to="open", actor=actor)
    with pytest.raises(Invalid, match="why"):
        change_status(session=session, req=req, to="closed", actor=actor)
    change_status(session=session, req=req, to="closed", close_reason="fixed", actor=actor)
    change_status(session=session, req=req, to="open", actor=actor, note="Reopened")
    assert req.closed_at is None and req.close_reason is None


def test_idempotency_key_returns_the_first_request(session, city) -> None:
    a = make_request(session, city, idempotency_key="device-uuid-1")
    b = make_request(session, city, idempotency_key="device-uuid-1")
    assert a.id == b.id
    assert len(session.exec(select(ServiceRequest)).all()) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lat": 42.36, "long": -71.06}, "outside Haverhill"),  # Boston
        ({"lat": None, "long": None, "address": ""}, "Give a location"),
        ({"description": "x" * 4001}, "too long"),
        ({"attributes": {}}, "Please answer"),
        ({"attributes": {"size": "enormous"}}, "not a choice"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(session, city, fields, message) -> None:
    with pytest.raises(Invalid, match=message):
        create_request(
            session=session,
            city=city,
            new=NewRequest(
                **{
                    "service_code": "pothole",
                    "lat": 42.777,
                    "long": -71.077,
                    "attributes": {"size": "small"},
                    **fields,
                }
            ),
        )
    session.rollback()
    assert session.exec(select(ServiceRequest)).all() == []
    assert session.exec(select(Activity)).all() == []


def test_unknown_service_is_not_found(session, city) -> None:
    with pytest.raises(NotFound):
        create_request(session=session, city=city, new=NewRequest(service_code="nope", address="4 Summer St"))


def test_times_are_utc_aware_on_both_databases(session, city) -> None:
    req = make_request(session, city)
    session.expire_all()
    again = session.get(ServiceRequest, req.id)
    assert again.created_at.tzinfo is not None and again.created_at.utcoffset().total_seconds() == 0
