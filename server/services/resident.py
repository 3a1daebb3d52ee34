"""What residents see and send: typed addresses, the public list and the public page of a request, the report.

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
from ..models import Activity, Photo, Service, ServiceRequest, Status
from ..photos import ProcessedPhoto
from .addresses import geocode, place_of
from .catalogue import list_services, search_services, service_by_code
from .followers import email_follows
from .photos import MAX_PER_REQUEST, attach_photo, process_upload
from .requests import NewRequest, by_idempotency_key, check_new_request, create_request, find_request

RECENT_LIMIT = 50
NEAR_ME_M = 1000.0


def chosen_service(session: Session, code: str) -> Service:
    """The public service a report is for; a form sent before one was chosen (no JavaScript, or an old page)
    is told to choose first."""
    if not code.strip():
        raise Invalid(
            "Choose what the problem is first: search or pick a service from the list.",
            field="service_code",
            code="service_required",
        )
    return service_by_code(session, code, public_only=True)


def services_matching(session: Session, query: str) -> list[Service]:
    """The report page's list: every public service, by group, or the ones matching what was typed."""
    if not query.strip():
        return list_services(session, public_only=True, active_only=True, by_group=True)
    return search_services(session, query, public_only=True)


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
    if not email_follows(session, req, email):
        return ""
    local, _, domain = email.rpartition("@")
    return f"{local[:2]}•••@{domain}" if local else email


def check_private_token(req: ServiceRequest, token: str) -> None:
    if not token or not secrets.compare_digest(req.private_token.encode(), token.encode()):
        raise NotFound("No such request.", code="request_not_found")


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
    done = by_idempotency_key(session, new.idempotency_key)
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
