"""Phone intake: the caller's history, and filing the request (or following an existing one) with the call
logged. A composition of requests, followers, addresses and calls; services come from catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from ..city import City
from ..models import Call, CallOutcome, Service, ServiceRequest, User
from .addresses import learn_address
from .calls import calls_from, log_call, normalise_phone
from .followers import add_follower, followed_by_phone
from .nearby import Nearby, open_requests_near
from .requests import Actor, NewRequest, create_request, find_request

NEARBY_RADIUS_M = 150.0


# --- the caller ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallerHistory:
    phone: str
    requests: list[ServiceRequest]
    followed: list[ServiceRequest]
    calls: list[Call]
    name: str  # the name the caller gave last time, if any


def caller_history(session: Session, phone: str, limit: int = 10) -> CallerHistory:
    phone = normalise_phone(phone)
    if not phone:
        return CallerHistory("", [], [], [], "")
    requests = list(
        session.exec(
            select(ServiceRequest)
            .where(ServiceRequest.reporter_phone == phone)
            .order_by(col(ServiceRequest.created_at).desc())
            .limit(limit)
        ).all()
    )
    own = {r.id for r in requests}
    followed = [r for r in followed_by_phone(session, phone, limit) if r.id not in own]
    calls = calls_from(session, phone, limit)
    name = next((c.caller_name for c in calls if c.caller_name), "") or next(
        (r.reporter_name for r in requests if r.reporter_name), ""
    )
    return CallerHistory(phone, requests, followed, calls, name)


def nearby_open(
    session: Session, service: Service, lat: float, long: float, radius_m: float = NEARBY_RADIUS_M
) -> list[Nearby]:
    return open_requests_near(
        session=session,
        service_id=service.id,
        lat=lat,
        long=long,
        radius_m=radius_m,  # type: ignore[arg-type]
    )


@dataclass
class PhoneRequest:
    service_code: str
    description: str = ""
    address: str = ""
    lat: float | None = None
    long: float | None = None
    attributes: dict[str, Any] | None = None
    caller_name: str = ""
    caller_phone: str = ""
    caller_email: str = ""
    caller_language: str = ""  # what the caller speaks: their e-mail comes in it
    idempotency_key: str | None = None


def file_request(
    *,
    session: Session,
    city: City,
    operator: User,
    form: PhoneRequest,
    call_id: int | None = None,
    started_at: Any = None,
) -> tuple[ServiceRequest, Call]:
    """Create the request (channel phone, the caller's contact kept private) and log the call."""
    phone = normalise_phone(form.caller_phone)
    req = create_request(
        session=session,
        city=city,
        new=NewRequest(
            service_code=form.service_code,
            description=form.description,
            lat=form.lat,
            long=form.long,
            address=form.address,
            attributes=form.attributes or {},
            channel="phone",
            reporter_name=form.caller_name,
            reporter_email=form.caller_email,
            reporter_phone=phone,
            reporter_language=form.caller_language,
            idempotency_key=form.idempotency_key or None,
        ),
        actor=Actor.of(operator),
    )
    learn_address(session, city, form.address, form.lat, form.long)
    call = _log_call_about(
        session, operator, req, CallOutcome.request_created, phone, form.caller_name, call_id, started_at
    )
    return req, call


def follow_request(
    *,
    session: Session,
    operator: User,
    ref: str | int,
    caller_name: str = "",
    caller_phone: str = "",
    caller_email: str = "",
    caller_language: str = "",
    call_id: int | None = None,
    started_at: Any = None,
) -> tuple[ServiceRequest, Call]:
    """The caller reports something already reported: they follow it instead of filing a duplicate."""
    req = find_request(session, ref)
    phone = normalise_phone(caller_phone)
    add_follower(
        session=session,
        req=req,
        name=caller_name,
        email=caller_email,
        phone=phone,
        language=caller_language,
        actor=Actor.of(operator),
    )
    call = _log_call_about(
        session, operator, req, CallOutcome.follower_added, phone, caller_name, call_id, started_at
    )
    return req, call


def _log_call_about(
    session: Session,
    operator: User,
    req: ServiceRequest,
    outcome: CallOutcome,
    phone: str,
    caller_name: str,
    call_id: int | None,
    started_at: Any,
) -> Call:
    """The call log entry of a call that ended on `req`: its topic is the request's service."""
    service = session.get(Service, req.service_id)
    return log_call(
        session=session,
        operator=operator,
        outcome=outcome,
        call_id=call_id,
        caller_phone=phone,
        caller_name=caller_name,
        started_at=started_at,
        topic=service.name if service else "",
        request_id=req.id,
    )
