"""Service requests: creation and every change, each with its timeline entry."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ..city import City
from ..domain.attributes import clean_answers
from ..domain.errors import Conflict, Invalid, NotFound
from ..domain.ids import format_public_id, parse_public_id
from ..domain.lifecycle import check_priority, check_transition
from ..domain.sla import expected_at
from ..inputs import parse_id
from ..models import (
    Activity,
    Channel,
    Crew,
    Service,
    ServiceRequest,
    Status,
    utcnow,
)
from .catalogue import service_by_code
from .followers import add_follower
from .notify import notify_crew_assignment, notify_request_change
from .timeline import RESIDENT, Actor, check_version, record

MAX_DESCRIPTION = 4000


@dataclass
class NewRequest:
    service_code: str
    description: str = ""
    lat: float | None = None
    long: float | None = None
    address: str = ""
    zipcode: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    channel: str = Channel.web
    reporter_name: str = ""
    reporter_email: str = ""
    reporter_phone: str = ""
    reporter_language: str = ""  # of their e-mail; empty: the language the request is made in
    idempotency_key: str | None = None
    api_key_id: int | None = None
    device_id: str = ""
    account_id: str = ""
    created_at: datetime | None = None


def by_idempotency_key(session: Session, key: str | None) -> ServiceRequest | None:
    """The request an idempotency key already made: a replay (an offline queue, a retried post) gets it."""
    if not key:
        return None
    return session.exec(select(ServiceRequest).where(ServiceRequest.idempotency_key == key)).first()


def validate_location(city: City, lat: float | None, long: float | None, address: str) -> None:
    if lat is None or long is None:
        if not address.strip():
            raise Invalid("Give a location: a point on the map or an address.", field="location")
        return
    if not city.bounds.contains(lat, long):
        raise Invalid(
            "This location is outside %(city)s. Choose a place inside the city.",
            field="location",
            city=city.name,
        )


def check_new_request(
    *, session: Session, city: City, new: NewRequest, location: bool = True
) -> tuple[Service, dict[str, Any]]:
    """Every check of a new request that needs no photo (the service, the description, the location unless
    `location` is false, the answers): cheap, so callers run it before decoding any photo."""
    service = service_by_code(session, new.service_code)
    if len((new.description or "").strip()) > MAX_DESCRIPTION:
        raise Invalid(
            "The description is too long (at most %(n)s characters).", field="description", n=MAX_DESCRIPTION
        )
    if location:
        validate_location(city, new.lat, new.long, new.address)
    return service, clean_answers(service.attributes, new.attributes)


def create_request(
    *, session: Session, city: City, new: NewRequest, actor: Actor = RESIDENT
) -> ServiceRequest:
    """Create and flush a request; idempotent on `new.idempotency_key` (returns the first one)."""
    existing = by_idempotency_key(session, new.idempotency_key)
    if existing is not None:
        return existing
    service, answers = check_new_request(session=session, city=city, new=new)
    description = (new.description or "").strip()
    now = new.created_at or utcnow()
    req = ServiceRequest(
        service_id=service.id,  # type: ignore[arg-type]
        description=description,
        lat=new.lat,
        long=new.long,
        address=new.address.strip()[:250],
        zipcode=new.zipcode.strip()[:10],
        attributes=answers,
        channel=Channel(new.channel),
        reporter_name=new.reporter_name.strip()[:200],
        reporter_email=new.reporter_email.strip()[:254],
        reporter_phone=new.reporter_phone.strip()[:40],
        created_at=now,
        updated_at=now,
        expected_at=expected_at(now, service.sla_hours),
        private_token=secrets.token_urlsafe(24),
        idempotency_key=new.idempotency_key,
        api_key_id=new.api_key_id,
        device_id=new.device_id[:100],
        account_id=new.account_id[:100],
    )
    try:
        # a savepoint: two replays of one offline report racing on PostgreSQL both find no row above; the
        # loser's insert waits for the winner's commit, fails on the unique key, and answers with its row
        with session.begin_nested():
            session.add(req)
            session.flush()
    except IntegrityError:
        existing = by_idempotency_key(session, new.idempotency_key)
        if existing is None:
            raise
        return existing
    req.public_id = format_public_id(city.public_id_prefix, now, req.id)  # type: ignore[arg-type]
    session.add(
        Activity(
            request_id=req.id,  # type: ignore[arg-type]
            created_at=now,
            actor_id=actor.user.id if actor.user else None,
            actor_label=actor.name,
            kind="created",
            public=True,
            note="",
            data={"channel": str(req.channel)},
        )
    )
    if req.reporter_email or req.reporter_phone:
        add_follower(
            session=session,
            req=req,
            name=req.reporter_name,
            email=req.reporter_email,
            phone=req.reporter_phone,
            language=new.reporter_language,
            announce=False,  # the "created" entry says it: no "follow" entry of its own
        )
    session.flush()
    return req


def find_request(session: Session, ref: str | int, *, for_update: bool = False) -> ServiceRequest:
    """By row id or public id."""
    row_id = parse_id(ref)
    rid = row_id or (parse_public_id(ref) if isinstance(ref, str) else None)
    stmt = select(ServiceRequest).where(ServiceRequest.id == rid)
    if for_update:
        stmt = stmt.with_for_update()
    req = session.exec(stmt).first() if rid else None
    if req is None or (row_id is None and req.public_id != str(ref).strip().upper()):
        raise NotFound("No such request.", code="request_not_found")
    return req


def change_status(
    *,
    session: Session,
    req: ServiceRequest,
    to: str,
    actor: Actor,
    note: str = "",
    close_reason: str | None = None,
    expected_version: int | None = None,
    public: bool = True,
) -> Activity:
    check_version(req, expected_version)
    check_transition(req.status, to, close_reason)
    before = str(req.status)
    req.status = Status(to)
    if to == Status.closed:
        req.close_reason = close_reason  # type: ignore[assignment]
        req.closed_at = utcnow()
    else:
        req.close_reason = None
        req.closed_at = None
    act = record(
        session=session,
        req=req,
        actor=actor,
        kind="status",
        note=note,
        public=public,
        data={"from": before, "to": to, "close_reason": close_reason},
    )
    notify_request_change(session, req, act)  # Outbox rows in this same transaction
    return act


def add_note(
    *,
    session: Session,
    req: ServiceRequest,
    actor: Actor,
    note: str,
    public: bool,
    expected_version: int | None = None,
) -> Activity:
    check_version(req, expected_version)
    if not note.strip():
        raise Invalid("Write a note first.", field="note")
    act = record(session=session, req=req, actor=actor, kind="note", note=note, public=public)
    if public:
        notify_request_change(session, req, act)
    return act


def assign_crew(
    *,
    session: Session,
    req: ServiceRequest,
    crew_id: int | None,
    actor: Actor,
    expected_version: int | None = None,
) -> Activity:
    check_version(req, expected_version)
    crew = session.get(Crew, crew_id) if crew_id else None
    if crew_id and crew is None:
        raise Invalid("No such crew.", field="crew")
    before = req.crew_id
    if before == crew_id:
        raise Conflict("The request is already assigned to this crew.", field="crew")
    req.crew_id = crew_id
    act = record(
        session=session,
        req=req,
        actor=actor,
        kind="assign",
        data={"from": before, "to": crew_id, "crew": crew.name if crew else None},
    )
    notify_crew_assignment(session, req, before, crew_id)
    return act


def set_priority(
    *, session: Session, req: ServiceRequest, priority: int, actor: Actor, expected_version: int | None = None
) -> Activity:
    check_version(req, expected_version)
    check_priority(priority)
    before = req.priority
    req.priority = priority
    return record(
        session=session, req=req, actor=actor, kind="priority", data={"from": before, "to": priority}
    )
