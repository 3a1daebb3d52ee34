"""Reading requests for publication: GET requests, one request, tokens, and the updates feed.

Everything returned is already safe to publish (see the package docstring)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, select

from ...domain.errors import NotFound
from ...domain.geo import Bounds, box_around, distance_m
from ...domain.ids import parse_public_id
from ...domain.lifecycle import open311_status, open311_update_status
from ...models import Activity, Photo, ServiceRequest, utcnow
from ..catalogue import ServiceInfo, service_infos
from ..photos import photo_url
from .arguments import RequestQuery, dates, paging, parse_range

REQUEST_COLUMNS = (
    ServiceRequest.id,
    ServiceRequest.public_id,
    ServiceRequest.service_id,
    ServiceRequest.status,
    ServiceRequest.description,
    ServiceRequest.address,
    ServiceRequest.zipcode,
    ServiceRequest.lat,
    ServiceRequest.long,
)
EXTENDED_COLUMNS = (ServiceRequest.channel, ServiceRequest.duplicate_of_id)
W3C_SQLITE = "%Y-%m-%dT%H:%M:%SZ"
W3C_POSTGRESQL = 'YYYY-MM-DD"T"HH24:MI:SS"Z"'


def _w3c(col: Any, dialect: str) -> Any:
    """Datetimes written as W3C strings by the database itself: 1,000 rows need no Python date parsing."""
    if dialect == "sqlite":
        return func.strftime(W3C_SQLITE, col)
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", col), W3C_POSTGRESQL)
    return col  # other databases: the wire format writes datetime objects


def _columns(session: Session, extended: bool) -> tuple[Any, ...]:
    dialect = session.get_bind().dialect.name
    sr = ServiceRequest.__table__.c
    # the latest public status note and the first public photo, looked up per row by the database on their
    # indexes (activity (request_id, created_at), photo.request_id): no second query, no 1,000-value IN list
    status_note = (
        select(Activity.note)
        .where(Activity.request_id == sr.id, Activity.kind == "status", Activity.public, Activity.note != "")
        .order_by(Activity.created_at.desc(), Activity.id.desc())
        .limit(1)
        .correlate(ServiceRequest.__table__)
        .scalar_subquery()
    )
    media_key = (
        select(Photo.display_key)
        .where(Photo.request_id == sr.id, Photo.public)
        .order_by((Photo.kind == "before").desc(), Photo.id)
        .limit(1)
        .correlate(ServiceRequest.__table__)
        .scalar_subquery()
    )
    extra = (
        _w3c(ServiceRequest.created_at, dialect).label("requested"),
        _w3c(ServiceRequest.updated_at, dialect).label("updated"),
        _w3c(ServiceRequest.expected_at, dialect).label("expected"),
        # a status note implies a change, and every change bumps the version (services.requests.record):
        # requests never changed (most of a fresh day's) skip the lookup
        case((ServiceRequest.version > 1, status_note), else_=None).label("status_note"),
        media_key.label("media_key"),
    )
    return REQUEST_COLUMNS + extra + (EXTENDED_COLUMNS if extended else ())


def _visible(catalog: dict[int, ServiceInfo]) -> Any:
    hidden = [sid for sid, s in catalog.items() if not s.public]
    return ServiceRequest.service_id.not_in(hidden) if hidden else None


def find_requests(
    *, session: Session, query: RequestQuery, base_url: str, catalog: dict[int, ServiceInfo] | None = None
) -> list[dict[str, Any]]:
    """Newest first, one page; ids, codes, statuses, ranges and areas use the table's indexes."""
    catalog = catalog if catalog is not None else service_infos(session)
    stmt = select(*_columns(session, query.extensions))
    conds: list[Any] = []
    visible = _visible(catalog)
    if visible is not None:
        conds.append(visible)
    if query.ids:
        nums = [n for n in (parse_public_id(i) for i in query.ids) if n is not None]
        conds.append(ServiceRequest.id.in_(nums or [-1]))
        conds.append(ServiceRequest.public_id.in_([i.upper() for i in query.ids]))
    else:
        if query.service_codes:
            by_code = {s.code: sid for sid, s in catalog.items() if s.public}
            conds.append(ServiceRequest.service_id.in_([by_code.get(c, -1) for c in query.service_codes]))
        if query.statuses:
            conds.append(ServiceRequest.status.in_(query.statuses))
        if query.created:
            # with service_code, (service_id, status, created_at) serves the filter and the window together
            conds.append(ServiceRequest.created_at.between(*query.created))
        if query.updated:
            conds.append(ServiceRequest.updated_at.between(*query.updated))
        box = query.bbox
        if query.near:
            lat, long, radius = query.near
            around = box_around(lat, long, radius)
            box = around if box is None else _intersect(box, around)
        if box is not None:
            conds.append(ServiceRequest.lat.between(box.south, box.north))
            conds.append(ServiceRequest.long.between(box.west, box.east))
    stmt = stmt.where(and_(*conds)) if conds else stmt
    order = ServiceRequest.updated_at if query.updated and not query.created else ServiceRequest.created_at
    stmt = stmt.order_by(order.desc(), ServiceRequest.id.desc())
    if query.near:
        rows = _within(session.connection().execute(stmt), query.near, query.page, query.page_size)
    else:
        stmt = stmt.offset((query.page - 1) * query.page_size).limit(query.page_size)
        rows = session.connection().execute(stmt).all()
    return _to_wire(session, rows, catalog, base_url, extensions=query.extensions)


def _intersect(a: Bounds, b: Bounds) -> Bounds:
    return Bounds(max(a.south, b.south), max(a.west, b.west), min(a.north, b.north), min(a.east, b.east))


def _within(result: Iterable[Any], near: tuple[float, float, float], page: int, size: int) -> list[Any]:
    """The exact circle, after the index-friendly box; paging counts only rows inside the circle."""
    lat, long, radius = near
    skip, out = (page - 1) * size, []
    for row in result:
        if row.lat is None or distance_m(lat, long, row.lat, row.long) > radius:
            continue
        if skip:
            skip -= 1
            continue
        out.append(row)
        if len(out) >= size:
            break
    return out


def get_request(*, session: Session, public_id: str, base_url: str) -> dict[str, Any]:
    catalog = service_infos(session)
    num = parse_public_id(public_id)
    if num is not None:
        row = (
            session.connection()
            .execute(select(*_columns(session, True)).where(ServiceRequest.id == num))
            .first()
        )
        if row is not None and row.public_id == public_id.strip().upper() and catalog[row.service_id].public:
            return _to_wire(session, [row], catalog, base_url, extensions=False)[0]
    raise NotFound(f"No such request: {public_id}", field="service_request_id", code="request_not_found")


def _photos(session: Session, ids: list[int], base_url: str) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return out
    rows = session.execute(
        select(
            Photo.request_id,
            Photo.kind,
            Photo.display_key,
            Photo.thumb_key,
            Photo.width,
            Photo.height,
            Photo.thumb_width,
            Photo.thumb_height,
        )
        .where(Photo.request_id.in_(ids), Photo.public)
        .order_by(Photo.request_id, Photo.id)
    )
    for r in rows:
        out.setdefault(r.request_id, []).append(
            {
                "kind": r.kind,
                "url": base_url + photo_url(r.display_key),
                "width": r.width,
                "height": r.height,
                "thumb_url": base_url + photo_url(r.thumb_key),
                "thumb_width": r.thumb_width,
                "thumb_height": r.thumb_height,
            }
        )
    return out


def _public_notes(session: Session, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    rows = session.execute(
        select(Activity.request_id, Activity.created_at, Activity.kind, Activity.note, Activity.data)
        .where(Activity.request_id.in_(ids), Activity.public)
        .order_by(Activity.request_id, Activity.created_at, Activity.id)
    )
    for r in rows:
        item: dict[str, Any] = {"datetime": r.created_at, "type": r.kind, "description": r.note or None}
        if r.kind == "status":
            to = (r.data or {}).get("to")
            item["status"] = open311_status(to)
        out.setdefault(r.request_id, []).append(item)
    return out


def _to_wire(
    session: Session, rows: list[Any], catalog: dict[int, ServiceInfo], base_url: str, *, extensions: bool
) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    media_url = base_url + photo_url("")
    out = []
    # tuple unpacking: this loop runs 1,000 times per page (the order of _columns)
    for (
        _rid,
        public_id,
        service_id,
        status,
        description,
        address,
        zipcode,
        lat,
        long,
        req,
        upd,
        exp,
        note,
        key,
        *_,
    ) in rows:
        svc = catalog[service_id]
        out.append(
            {
                "service_request_id": public_id,
                "status": open311_status(status),
                "status_notes": note,
                "service_name": svc.name,
                "service_code": svc.code,
                "description": description or None,
                "agency_responsible": svc.agency,
                "service_notice": None,
                "requested_datetime": req,
                "updated_datetime": upd,
                "expected_datetime": exp,
                "address": address or None,
                "address_id": None,
                "zipcode": zipcode or None,
                "lat": lat,
                "long": long,
                "media_url": media_url + key if key else None,
            }
        )
    if extensions and rows:
        photos = _photos(session, ids, base_url)
        timeline = _public_notes(session, ids)
        dup_ids = [r.duplicate_of_id for r in rows if r.duplicate_of_id]
        dups: dict[int, str | None] = {}
        if dup_ids:
            for d in session.execute(
                select(ServiceRequest.id, ServiceRequest.public_id, ServiceRequest.service_id).where(
                    ServiceRequest.id.in_(dup_ids)
                )
            ):
                dups[d.id] = d.public_id if catalog[d.service_id].public else None
        for r, item in zip(rows, out, strict=True):
            item["extended_attributes"] = {
                "channel": str(r.channel),
                "duplicate_of": dups.get(r.duplicate_of_id) if r.duplicate_of_id else None,
                "photos": photos.get(r.id, []),
            }
            item["notes"] = timeline.get(r.id, [])
    return out


def request_for_token(*, session: Session, token: str) -> str:
    """A token is the request's private token; answers only with the public id."""
    row = session.execute(
        select(ServiceRequest.public_id, ServiceRequest.service_id).where(
            ServiceRequest.private_token == token.strip()
        )
    ).first()
    if row is None or not token.strip() or not service_infos(session)[row.service_id].public:
        raise NotFound(f"No such token: {token}", field="token", code="token_not_found")
    return row.public_id


# --- the updates feed -------------------------------------------------------------------------------------


def updates(
    *, session: Session, args: Mapping[str, str], base_url: str, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Public status changes and notes, newest first, as FixMyStreet-style clients read them."""
    now = now or utcnow()
    get = {k: v for k, v in args.items() if v is not None and str(v).strip() != ""}
    start, end = parse_range(*dates(get, "start_date", "end_date"), now, "date")
    page, size = paging(get)
    catalog = service_infos(session)
    hidden = [sid for sid, s in catalog.items() if not s.public]
    stmt = (
        select(
            Activity.id,
            Activity.request_id,
            Activity.created_at,
            Activity.kind,
            Activity.note,
            Activity.data,
            ServiceRequest.public_id,
            ServiceRequest.status,
            ServiceRequest.close_reason,
        )
        .join(ServiceRequest, ServiceRequest.id == Activity.request_id)
        .where(
            Activity.public,
            or_(Activity.kind == "status", and_(Activity.kind == "note", Activity.note != "")),
            Activity.created_at.between(start, end),
        )
        .order_by(Activity.created_at.desc(), Activity.id.desc())
        .offset((page - 1) * size)
        .limit(size)
    )
    if hidden:
        stmt = stmt.where(ServiceRequest.service_id.not_in(hidden))
    rows = session.execute(stmt).all()
    media: dict[int, str] = {}
    act_ids = [r.id for r in rows]
    if act_ids:
        for p in session.execute(
            select(Photo.activity_id, Photo.display_key)
            .where(Photo.activity_id.in_(act_ids), Photo.public)
            .order_by(Photo.id.desc())
        ):
            media[p.activity_id] = base_url + photo_url(p.display_key)
    out = []
    for r in rows:
        if r.kind == "status":
            to, reason = (r.data or {}).get("to"), (r.data or {}).get("close_reason")
        else:
            to, reason = str(r.status), r.close_reason
        status = open311_update_status(to, reason)
        out.append(
            {
                "update_id": str(r.id),
                "service_request_id": r.public_id,
                "status": status,
                "updated_datetime": r.created_at,
                "description": r.note or None,
                "media_url": media.get(r.id),
            }
        )
    return out
