"""Open311 GeoReport v2 use cases: the catalogue, the request queries and feed, and creation by API clients.

Everything returned here is already safe to publish: no reporter name, e-mail or phone, no internal note,
nothing of a non-public service. Values are wire-ready: request datetimes come back from the database as W3C
strings; other datetimes are objects that server/api/open311_format.py writes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Dialect, Engine, and_, case, func, or_
from sqlmodel import Session, select

from ..city import City
from ..domain.errors import Forbidden, Invalid, NotFound
from ..domain.geo import Bounds, box_around, distance_m
from ..domain.ids import parse_public_id
from ..models import Activity, Address, ApiKey, Department, Photo, Service, ServiceRequest, utcnow
from ..photos import ProcessedPhoto
from .apikeys import check_api_key
from .photos import attach_photo, photo_url
from .requests import Actor, NewRequest, create_request, record

MAX_SPAN = timedelta(days=90)
MAX_PAGE_SIZE = 1000
MAX_IDS = 1000
MAX_RADIUS_M = 50_000.0
WIRE_STATUSES = {"open": ("open", "in_progress"), "closed": ("closed",), "in_progress": ("in_progress",)}
# what FixMyStreet-style update consumers understand, from our status and close reason
UPDATE_STATUS = {"fixed": "fixed", "duplicate": "duplicate", "no_action": "no_further_action"}

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


# --- the catalogue ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceInfo:
    id: int
    code: str
    name: str
    public: bool
    agency: str | None


def catalogue(session: Session) -> dict[int, ServiceInfo]:
    """Every service with its department name (a few dozen rows: one small query)."""
    rows = session.exec(
        select(Service.id, Service.code, Service.name, Service.public, Department.name).outerjoin(
            Department, Department.id == Service.department_id
        )
    ).all()
    return {r[0]: ServiceInfo(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows}


@cache
def _data_version_sql(dialect: Dialect) -> str:
    visible = func.sum(case((Service.public, Service.id), else_=0))
    statement = select(
        select(func.max(ServiceRequest.updated_at)).scalar_subquery(),
        select(func.max(Photo.id)).scalar_subquery(),
        select(visible).scalar_subquery(),
        select(func.count(Service.id)).scalar_subquery(),
    )
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def data_version(engine: Engine) -> tuple[Any, ...]:
    """Changes whenever a published answer could: any request change (every change bumps updated_at through
    the timeline), a new photo, a service made public or private. Renames of services are caught by the
    cache's time limit.

    It runs on every cached Open311 answer, so it is one statement, compiled once, on a bare DB-API
    connection: no BEGIN/ROLLBACK around it (a lone SELECT reads one snapshot on both databases), and none
    of the ORM's per-call work, which cost ten times the query itself."""
    sql = _data_version_sql(engine.dialect)
    for attempt in (1, 2):
        conn = engine.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute(sql)
            row = cursor.fetchone()
            cursor.close()
            return tuple(row)
        except engine.dialect.loaded_dbapi.OperationalError:
            # a connection dropped while idle in the pool (the lookup engine does not pre-ping): once more
            conn.invalidate()
            if attempt == 2:
                raise
        finally:
            conn.close()
    raise AssertionError("unreachable")


def public_services(session: Session) -> list[dict[str, Any]]:
    services = session.exec(
        select(Service).where(Service.active, Service.public).order_by(Service.group, Service.name)
    ).all()
    return [
        {
            "code": s.code,
            "name": s.name,
            "description": s.description,
            "attributes": s.attributes,
            "keywords": s.keywords,
            "group": s.group,
        }
        for s in services
    ]


def public_service(session: Session, code: str) -> Service:
    service = session.exec(select(Service).where(Service.code == code)).first()
    if service is None or not service.active or not service.public:
        raise NotFound(f"Unknown service: {code}", field="service_code", code="service_not_found")
    return service


def check_jurisdiction(city: City, jurisdiction_id: str | None) -> None:
    """Absent or empty means this city; the city's own id is accepted; any other is unknown (404)."""
    if jurisdiction_id and jurisdiction_id.strip() and jurisdiction_id.strip() != city.jurisdiction_id:
        raise NotFound(f"Unknown jurisdiction: {jurisdiction_id.strip()}", field="jurisdiction_id")


# --- arguments --------------------------------------------------------------------------------------------


def parse_datetime(value: str, name: str) -> datetime:
    """W3C datetimes as clients send them: with Z or an offset, without seconds, or a bare date (UTC)."""
    text = value.strip().replace(" ", "+") if "T" in value else value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{name} is not a W3C date-time, e.g. 2026-01-31T12:00:00Z", field=name) from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _float(value: str, name: str) -> float:
    try:
        f = float(value)
    except ValueError:
        raise Invalid(f"{name} must be a number.", field=name) from None
    if not math.isfinite(f):
        raise Invalid(f"{name} must be a number.", field=name)
    return f


def _int(value: str, name: str, lo: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise Invalid(f"{name} must be a whole number.", field=name) from None
    if n < lo:
        raise Invalid(f"{name} must be at least {lo}.", field=name)
    return n


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _range(
    start: datetime | None, end: datetime | None, now: datetime, what: str
) -> tuple[datetime, datetime]:
    if start and end:
        pass
    elif start:
        end = min(now, start + MAX_SPAN) if start < now else start + MAX_SPAN
    elif end:
        start = end - MAX_SPAN
    else:
        start, end = now - MAX_SPAN, now
    assert start is not None and end is not None
    if end < start:
        raise Invalid(f"The {what} range ends before it starts.", field="end_date")
    if end - start > MAX_SPAN:
        raise Invalid(f"The {what} range may span at most 90 days.", field="end_date")
    return start, end


@dataclass
class RequestQuery:
    ids: list[str] = field(default_factory=list)
    service_codes: list[str] = field(default_factory=list)
    statuses: tuple[str, ...] = ()
    created: tuple[datetime, datetime] | None = None
    updated: tuple[datetime, datetime] | None = None
    bbox: Bounds | None = None
    near: tuple[float, float, float] | None = None  # lat, long, radius in metres
    page: int = 1
    page_size: int = MAX_PAGE_SIZE
    extensions: bool = False


def parse_query(args: Mapping[str, str], now: datetime | None = None) -> RequestQuery:
    """GET requests arguments; raises Invalid (400) naming the bad one."""
    now = now or utcnow()
    q = RequestQuery()
    get = {k: v for k, v in args.items() if v is not None and str(v).strip() != ""}
    q.ids = _csv(get.get("service_request_id"))[: MAX_IDS + 1]
    if len(q.ids) > MAX_IDS:
        raise Invalid(f"At most {MAX_IDS} service_request_id values at once.", field="service_request_id")
    q.extensions = get.get("extensions", "").lower() in ("true", "1", "yes")
    if "page" in get:
        q.page = _int(get["page"], "page", 1)
    if "page_size" in get:
        q.page_size = min(_int(get["page_size"], "page_size", 1), MAX_PAGE_SIZE)
    if q.ids:
        return q  # the ids override every other filter
    q.service_codes = _csv(get.get("service_code"))
    statuses: list[str] = []
    for s in _csv(get.get("status")):
        if s.lower() not in WIRE_STATUSES:
            raise Invalid(f"Unknown status: {s} (use open or closed).", field="status")
        statuses.extend(WIRE_STATUSES[s.lower()])
    q.statuses = tuple(dict.fromkeys(statuses))
    start = parse_datetime(get["start_date"], "start_date") if "start_date" in get else None
    end = parse_datetime(get["end_date"], "end_date") if "end_date" in get else None
    after = parse_datetime(get["updated_after"], "updated_after") if "updated_after" in get else None
    before = parse_datetime(get["updated_before"], "updated_before") if "updated_before" in get else None
    if after or before:
        q.updated = _range(after, before, now, "updated")
        if start or end:
            q.created = _range(start, end, now, "date")
    else:
        q.created = _range(start, end, now, "date")
    if "bbox" in get:
        parts = get["bbox"].split(",")
        if len(parts) != 4:
            raise Invalid("bbox is min_long,min_lat,max_long,max_lat.", field="bbox")
        west, south, east, north = (_float(p, "bbox") for p in parts)
        if south > north or west > east or abs(south) > 90 or abs(north) > 90:
            raise Invalid("bbox is min_long,min_lat,max_long,max_lat.", field="bbox")
        q.bbox = Bounds(south, west, north, east)
    if "radius" in get:
        if "lat" not in get or "long" not in get:
            raise Invalid("radius needs lat and long.", field="radius")
        radius = _float(get["radius"], "radius")
        if not 0 < radius <= MAX_RADIUS_M:
            raise Invalid(f"radius is in metres, at most {MAX_RADIUS_M:.0f}.", field="radius")
        q.near = (_float(get["lat"], "lat"), _float(get["long"], "long"), radius)
    return q


# --- reading requests -------------------------------------------------------------------------------------


def _visible(catalog: dict[int, ServiceInfo]) -> Any:
    hidden = [sid for sid, s in catalog.items() if not s.public]
    return ServiceRequest.service_id.not_in(hidden) if hidden else None


def find_requests(
    *, session: Session, query: RequestQuery, base_url: str, catalog: dict[int, ServiceInfo] | None = None
) -> list[dict[str, Any]]:
    """Newest first, one page; ids, codes, statuses, ranges and areas use the table's indexes."""
    catalog = catalog if catalog is not None else catalogue(session)
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
    catalog = catalogue(session)
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
            item["status"] = "closed" if to == "closed" else "open"
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
                "status": "closed" if status == "closed" else "open",
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
    if row is None or not token.strip() or not catalogue(session)[row.service_id].public:
        raise NotFound(f"No such token: {token}", field="token", code="token_not_found")
    return row.public_id


# --- the updates feed -------------------------------------------------------------------------------------


def updates(
    *, session: Session, args: Mapping[str, str], base_url: str, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Public status changes and notes, newest first, as FixMyStreet-style clients read them."""
    now = now or utcnow()
    get = {k: v for k, v in args.items() if v is not None and str(v).strip() != ""}
    start = parse_datetime(get["start_date"], "start_date") if "start_date" in get else None
    end = parse_datetime(get["end_date"], "end_date") if "end_date" in get else None
    start, end = _range(start, end, now, "date")
    page = _int(get["page"], "page", 1) if "page" in get else 1
    size = min(_int(get["page_size"], "page_size", 1), MAX_PAGE_SIZE) if "page_size" in get else MAX_PAGE_SIZE
    catalog = catalogue(session)
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
        status = UPDATE_STATUS.get(reason or "", "closed") if to == "closed" else (to or "open")
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


# --- creating requests ------------------------------------------------------------------------------------

ATTRIBUTE_RE = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")


def parse_attributes(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """`attribute[CODE]=v` and `attribute[CODE][]=v` (repeated for several values)."""
    out: dict[str, Any] = {}
    for key, value in items:
        m = ATTRIBUTE_RE.match(key)
        if not m:
            continue
        code = m.group(1)
        if m.group(2) or code in out:
            prev = out.get(code)
            out[code] = [*(prev if isinstance(prev, list) else [prev] if prev is not None else []), value]
        else:
            out[code] = value
    return out


@dataclass
class Open311Post:
    service_code: str = ""
    lat: str = ""
    long: str = ""
    address_string: str = ""
    address_id: str = ""
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    device_id: str = ""
    account_id: str = ""
    description: str = ""
    media_url: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)


def authorize(*, session: Session, api_key: str | None) -> ApiKey:
    key = check_api_key(session=session, key=api_key)
    if key is None:
        raise Forbidden("A valid api_key is required to create requests.", field="api_key", code="api_key")
    return key


def create(
    *,
    session: Session,
    city: City,
    post: Open311Post,
    key: ApiKey,
    photo: ProcessedPhoto | None = None,
    media_dir: Path | None = None,
) -> tuple[ServiceRequest, str]:
    """Create a request from an API client; returns it with the department's name (for the notice)."""
    if not post.service_code.strip():
        raise Invalid("service_code is required.", field="service_code")
    service = public_service(session, post.service_code.strip())
    lat = long = None
    address = post.address_string.strip()
    if post.lat.strip() or post.long.strip():
        if not (post.lat.strip() and post.long.strip()):
            raise Invalid("Give both lat and long.", field="lat")
        lat, long = _float(post.lat, "lat"), _float(post.long, "long")
    elif post.address_id.strip():
        addr = None
        if post.address_id.strip().isdigit():
            addr = session.get(Address, int(post.address_id.strip()))
        if addr is None:
            raise Invalid(f"Unknown address_id: {post.address_id.strip()}", field="address_id")
        lat, long, address = addr.lat, addr.long, address or addr.text
    if lat is None and not address:
        raise Invalid("A location is required: lat and long, address_string or address_id.", field="location")
    media_url = post.media_url.strip()
    if media_url and (urlsplit(media_url).scheme not in ("http", "https") or len(media_url) > 1000):
        raise Invalid("media_url must be an http or https URL.", field="media_url")
    req = create_request(
        session=session,
        city=city,
        new=NewRequest(
            service_code=service.code,
            description=post.description,
            lat=lat,
            long=long,
            address=address,
            attributes=post.attributes,
            channel="open311",
            reporter_name=f"{post.first_name.strip()} {post.last_name.strip()}".strip(),
            reporter_email=post.email,
            reporter_phone=post.phone,
            api_key_id=key.id,
            device_id=post.device_id.strip(),
            account_id=post.account_id.strip(),
        ),
        actor=Actor(label=f"Open311: {key.name}"[:200]),
    )
    if media_url:
        # shown to staff as a link; never fetched by the server (no requests to arbitrary URLs on a client's
        # behalf) and never republished (nobody has looked at what it points to)
        record(
            session=session,
            req=req,
            actor=Actor(label=f"Open311: {key.name}"[:200]),
            kind="media_url",
            public=False,
            data={"url": media_url},
        )
    if photo is not None and media_dir is not None:
        attach_photo(session=session, media_dir=media_dir, req=req, photo=photo, tz=city.tz)
    dept = session.get(Department, service.department_id) if service.department_id else None
    return req, dept.name if dept else ""
