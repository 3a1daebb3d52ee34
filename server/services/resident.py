"""What residents see: the service search, typed addresses, the public list and the public page of a request.

Nothing here returns reporter details: public views are built from public fields only.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, col, select

from ..city import City
from ..domain.errors import Invalid, NotFound
from ..domain.geo import box_around, distance_m
from ..domain.translated import translated
from ..i18n import LANGUAGES
from ..models import Activity, Address, Follower, Photo, PushSubscription, Service, ServiceRequest, Status
from ..photos import ProcessedPhoto
from .catalog import normalise_address
from .photos import MAX_PER_REQUEST, attach_photo, process_upload
from .places import place_of
from .requests import (
    RESIDENT,
    NewRequest,
    add_follower,
    check_new_request,
    create_request,
    find_request,
    record,
)

STOP_WORDS = {"a", "an", "the", "in", "on", "of", "my", "is", "at", "to", "el", "la", "en", "de", "un", "una"}
RECENT_LIMIT = 50
NEAR_ME_M = 1000.0


def public_services(session: Session) -> list[Service]:
    return list(
        session.exec(
            select(Service).where(Service.active, Service.public).order_by(Service.group, Service.name)
        ).all()
    )


def search_services(session: Session, query: str) -> list[Service]:
    """Match the name, group, description and keywords: "hole in road" finds Pothole. Best matches first."""
    services = public_services(session)
    q = " ".join(query.lower().split())
    if not q:
        return services
    words = [w for w in q.split() if w not in STOP_WORDS] or q.split()
    scored: list[tuple[int, Service]] = []
    for s in services:
        # the name and description in every language the city file gives: "bache" finds Pothole too
        names = " | ".join(translated(s, "name", lang) for lang in LANGUAGES).lower()
        texts = " ".join(translated(s, "description", lang) for lang in LANGUAGES).lower()
        keywords = s.keywords.lower()
        hay = " ".join((names, s.group.lower(), keywords, texts))
        if q in names:
            score = 0
        elif any(q in k.strip() for k in keywords.split(",")):
            score = 1
        elif all(w in hay for w in words):
            score = 2
        else:
            continue
        scored.append((score, s))
    return [s for _, s in sorted(scored, key=lambda t: (t[0], t[1].name))]


def get_public_service(session: Session, code: str) -> Service:
    if not code.strip():  # a form sent before a service was chosen (no JavaScript, or an old page)
        raise Invalid(
            "Choose what the problem is first: search or pick a service from the list.",
            field="service_code",
            code="service_required",
        )
    s = session.exec(select(Service).where(Service.code == code, Service.active, Service.public)).first()
    if s is None:
        raise NotFound(
            "Unknown service: %(service_code)s",
            field="service_code",
            code="service_not_found",
            service_code=code,
        )
    return s


def geocode(session: Session, text: str) -> tuple[float, float] | None:
    """A typed address to a point, from the city's list of known addresses (exact, then prefix)."""
    key = normalise_address(text)
    if not key:
        return None
    for cond in (Address.search == key, col(Address.search).startswith(key)):
        row = session.exec(select(Address).where(cond).order_by(Address.search).limit(1)).first()
        if row is not None:
            return row.lat, row.long
    return None


@dataclass
class PublicItem:
    request: ServiceRequest
    service: Service
    distance_m: float | None = None
    thumb_key: str | None = None


def recent_requests(
    session: Session,
    *,
    service_code: str = "",
    status: str = "",
    lat: float | None = None,
    long: float | None = None,
    limit: int = RECENT_LIMIT,
) -> list[PublicItem]:
    """Recent requests of public services, newest first; near a point (1 km) when one is given."""
    stmt = (
        select(ServiceRequest, Service)
        .join(Service, col(Service.id) == ServiceRequest.service_id)
        .where(Service.public, col(ServiceRequest.duplicate_of_id).is_(None))
    )
    if service_code:
        stmt = stmt.where(Service.code == service_code)
    if status in {s.value for s in Status}:
        stmt = stmt.where(ServiceRequest.status == Status(status))
    if lat is not None and long is not None:
        box = box_around(lat, long, NEAR_ME_M)
        stmt = stmt.where(
            col(ServiceRequest.lat).between(box.south, box.north),
            col(ServiceRequest.long).between(box.west, box.east),
        )
    rows = session.exec(stmt.order_by(col(ServiceRequest.created_at).desc()).limit(limit)).all()
    items = [PublicItem(r, s) for r, s in rows]
    if lat is not None and long is not None:
        for it in items:
            if it.request.lat is not None and it.request.long is not None:
                it.distance_m = distance_m(lat, long, it.request.lat, it.request.long)
        items = [it for it in items if it.distance_m is not None and it.distance_m <= NEAR_ME_M]
    add_thumbs(session, items)
    return items


def add_thumbs(session: Session, items: list[PublicItem]) -> None:
    ids = [it.request.id for it in items]
    if not ids:
        return
    photos = session.exec(
        select(Photo)
        .where(col(Photo.request_id).in_(ids), Photo.public, Photo.kind == "before")
        .order_by(col(Photo.id))
    ).all()
    first: dict[int, str] = {}
    for p in photos:
        first.setdefault(p.request_id, p.thumb_key)
    for it in items:
        it.thumb_key = first.get(it.request.id)  # type: ignore[arg-type]


@dataclass
class PublicView:
    """A request as anyone may see it: no reporter details, only public timeline entries and photos."""

    request: ServiceRequest
    service: Service
    timeline: list[Activity] = field(default_factory=list)
    before: list[Photo] = field(default_factory=list)
    after: list[Photo] = field(default_factory=list)
    place: str = ""  # the nearest known address, for a request placed by a point alone


def public_view(session: Session, public_id: str) -> PublicView:
    req = find_request(session, public_id)
    service = session.get(Service, req.service_id)
    if service is None or not service.public:
        raise NotFound("No such request.", code="request_not_found")
    timeline = session.exec(
        select(Activity)
        .where(Activity.request_id == req.id, Activity.public)
        .order_by(col(Activity.created_at), col(Activity.id))
    ).all()
    photos = session.exec(
        select(Photo).where(Photo.request_id == req.id, Photo.public).order_by(col(Photo.id))
    ).all()
    return PublicView(
        request=req,
        service=service,
        timeline=list(timeline),
        before=[p for p in photos if p.kind == "before"],
        after=[p for p in photos if p.kind == "after"],
        place=place_of(session, req),
    )


def reporter_email_followed(session: Session, req: ServiceRequest) -> str:
    """The reporter's e-mail, masked ("ja•••@example.org"), when it still follows the request; else "".

    The private page says where updates go instead of offering an empty follow form; masked, because
    the private link may be shared on purpose (its Share button) and the address is the reporter's.
    """
    email = req.reporter_email.strip()
    if not email:
        return ""
    follows = session.exec(
        select(Follower.id).where(Follower.request_id == req.id, Follower.email == email).limit(1)
    ).first()
    if follows is None:
        return ""
    local, _, domain = email.rpartition("@")
    return f"{local[:2]}•••@{domain}" if local else email


def check_private_token(req: ServiceRequest, token: str) -> None:
    if not token or not secrets.compare_digest(req.private_token.encode(), token.encode()):
        raise NotFound("No such request.", code="request_not_found")


def follow(
    *,
    session: Session,
    public_id: str,
    name: str = "",
    email: str = "",
    phone: str = "",
    push_endpoint: str = "",
) -> Follower:
    """'Follow this request'. Push hook: a subscription already saved (issue 7) is linked by its endpoint."""
    req = find_request(session, public_id, for_update=True)
    sub_id = None
    if push_endpoint:
        sub = session.exec(select(PushSubscription).where(PushSubscription.endpoint == push_endpoint)).first()
        sub_id = sub.id if sub else None
    return add_follower(
        session=session, req=req, name=name, email=email, phone=phone, push_subscription_id=sub_id
    )


def unfollow(*, session: Session, token: str) -> ServiceRequest:
    follower = session.exec(select(Follower).where(Follower.token == token)).first() if token else None
    if follower is None:
        raise NotFound("You are not following this request.", code="follower_not_found")
    req = find_request(session, follower.request_id, for_update=True)
    session.delete(follower)
    record(session=session, req=req, actor=RESIDENT, kind="unfollow", public=False, data={})
    return req


def accepted_report(session: Session, idempotency_key: str | None) -> ServiceRequest | None:
    """The request an idempotency key already made: a replay from the offline queue is answered with it."""
    if not idempotency_key:
        return None
    return session.exec(
        select(ServiceRequest).where(ServiceRequest.idempotency_key == idempotency_key)
    ).first()


def check_report(*, session: Session, city: City, new: NewRequest, photo_count: int) -> None:
    """Everything about a report that needs no photo decoded (the number of photos, the service, the answers,
    the description, the location unless it is to come from a photo's GPS). Cheap, so it runs first: a report
    missing a required answer is refused before its photos cost seconds of decoding."""
    if photo_count > MAX_PER_REQUEST:
        raise Invalid(
            "At most %(n)s photos per report.", field="photo", code="too_many_photos", n=MAX_PER_REQUEST
        )
    located = (new.lat is not None and new.long is not None) or bool(new.address.strip())
    check_new_request(session=session, city=city, new=new, location=located or not photo_count)


def decode_photos(uploads: Sequence[bytes], *, max_bytes: int, max_pixels: int) -> list[ProcessedPhoto]:
    """Every photo checked and made into renditions (the expensive part), before anything is stored: one bad
    photo refuses the whole report."""
    return [process_upload(data, max_bytes=max_bytes, max_pixels=max_pixels) for data in uploads]


def submit_report(
    *,
    session: Session,
    city: City,
    new: NewRequest,
    photos: Sequence[ProcessedPhoto],
    media_dir: Path,
) -> ServiceRequest:
    """A resident's report with its decoded photos, in one unit of work; idempotent on `new.idempotency_key`.

    With no location given, the first photo's GPS position (inside the city) is used; a typed known address
    gets its point.
    """
    done = accepted_report(session, new.idempotency_key)
    if done is not None:  # a replay from the offline queue: answer with the first one, change nothing
        return done
    if (new.lat is None or new.long is None) and not new.address.strip():
        gps = next((p.gps for p in photos if p.gps and city.bounds.contains(*p.gps)), None)
        if gps:
            new.lat, new.long = gps
    if (new.lat is None or new.long is None) and new.address.strip():
        point = geocode(session, new.address)
        if point:
            new.lat, new.long = point
    req = create_request(session=session, city=city, new=new)
    for i, photo in enumerate(photos):
        attach_photo(
            session=session,
            media_dir=media_dir,
            req=req,
            photo=photo,
            kind="before",
            idempotency_key=f"{new.idempotency_key}:{i}" if new.idempotency_key else None,
            tz=city.tz,
        )
    return req
