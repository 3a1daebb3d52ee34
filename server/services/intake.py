"""Phone intake: typed text to known addresses, the caller's history, and filing the request (or following an
existing one) with the call logged. A composition: services come from catalogue, follows from followers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ..city import City
from ..inputs import parse_id
from ..models import Address, Call, CallOutcome, Service, ServiceRequest, User
from .calls import calls_from, log_call, normalise_phone
from .catalogue import normalise_address
from .followers import add_follower, followed_by_phone
from .nearby import Nearby, open_requests_near
from .requests import Actor, NewRequest, create_request, find_request

NEARBY_RADIUS_M = 150.0


# --- addresses -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressSuggestion:
    text: str
    lat: float | None
    long: float | None
    source: str  # "address" (the city's list) or "request" (an earlier request)


def _successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with prefix (code point order, which is UTF-8
    byte and C collation order), or None when there is none (the prefix is all U+10FFFF: no upper bound).
    Never a surrogate: U+D7FF is followed by U+E000, as no database can store what lies between."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = 0xE000 if 0xD7FF <= last <= 0xDFFF else last + 1
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None


def _below(column: Any, bound: str | None) -> list[Any]:
    return [] if bound is None else [column < bound]


def suggest_addresses(session: Session, text: str, limit: int = 8) -> list[AddressSuggestion]:
    """Known addresses starting with what was typed: index range scans only (prefix, not LIKE '%x%').

    1. the city's address list (Address.search, normalised, indexed);
    2. if the text is a street name, addresses on that street (Address is the city's list: small);
    3. earlier requests' addresses (ServiceRequest.address, indexed): one index seek per distinct value,
       as typed and in Title Case, so a million requests cost a handful of seeks.
    """
    q = normalise_address(text)
    if not q or (len(q) < 2 and parse_id(q) is None) or limit <= 0:
        return []
    out: list[AddressSuggestion] = []
    seen: set[str] = set()

    def add(t: str, lat: float | None, long: float | None, source: str) -> None:
        key = normalise_address(t)
        if key and key not in seen and len(out) < limit:
            seen.add(key)
            out.append(AddressSuggestion(t, lat, long, source))

    rows = session.exec(
        select(Address.text, Address.lat, Address.long)
        .where(Address.search >= q, *_below(Address.search, _successor(q)))
        .order_by(Address.search)
        .limit(limit)
    ).all()
    for t, lat, long in rows:
        add(t, lat, long, "address")
    if len(out) < limit and not ("0" <= q[0] <= "9"):
        street_rows = session.exec(
            select(Address.text, Address.lat, Address.long)
            .where(col(Address.search).like(f"% {q}%"))
            .order_by(Address.street, Address.number)
            .limit(limit * 4)
        ).all()
        # house numbers in numeric order
        street_rows = sorted(street_rows, key=lambda r: (r[0].split(" ", 1)[-1], _house_number(r[0])))
        for t, lat, long in street_rows:
            add(t, lat, long, "address")
    if len(out) < limit:
        typed = " ".join(text.split())
        variants = dict.fromkeys([typed, typed.title(), typed.upper()])
        for prefix in variants:
            _request_addresses(session, prefix, limit, add)
    return out


def _house_number(text: str) -> int:
    return parse_id(text.split(" ", 1)[0]) or 0  # ASCII digits: "²" or "٣" is no house number


def _request_addresses(session: Session, prefix: str, limit: int, add: Any) -> None:
    if not prefix:
        return
    hi = _successor(prefix)
    lo, inclusive = prefix, True
    for _ in range(limit):
        cond = ServiceRequest.address >= lo if inclusive else ServiceRequest.address > lo
        row = session.exec(
            select(ServiceRequest.address, ServiceRequest.lat, ServiceRequest.long)
            .where(cond, *_below(ServiceRequest.address, hi))
            .order_by(ServiceRequest.address)
            .limit(1)
        ).first()
        if row is None:
            return
        add(row[0], row[1], row[2], "request")
        lo, inclusive = row[0], False


def learn_address(session: Session, city: City, text: str, lat: float | None, long: float | None) -> None:
    """An address an operator confirmed with a position joins the city's list of known addresses."""
    text = " ".join(text.split())[:250]
    if not text or lat is None or long is None or not city.bounds.contains(lat, long):
        return
    if session.exec(select(Address.id).where(Address.text == text)).first():
        return
    number, _, street = text.partition(" ")
    if parse_id(number) is None:
        number, street = "", text
    try:
        with session.begin_nested():
            session.add(
                Address(
                    number=number[:20],
                    street=street[:200],
                    text=text,
                    search=normalise_address(text),
                    lat=lat,
                    long=long,
                )
            )
    except IntegrityError:
        pass  # another operator learned it at the same moment


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
