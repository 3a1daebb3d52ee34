"""GET requests arguments as clients send them, parsed and checked into a RequestQuery."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ...domain.errors import Invalid
from ...domain.geo import Bounds
from ...models import utcnow

MAX_SPAN = timedelta(days=90)
MAX_PAGE_SIZE = 1000
MAX_IDS = 1000
MAX_RADIUS_M = 50_000.0
WIRE_STATUSES = {"open": ("open", "in_progress"), "closed": ("closed",), "in_progress": ("in_progress",)}


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


def parse_number(value: str, name: str) -> float:
    try:
        f = float(value)
    except ValueError:
        raise Invalid(f"{name} must be a number.", field=name) from None
    if not math.isfinite(f):
        raise Invalid(f"{name} must be a number.", field=name)
    return f


def parse_whole(value: str, name: str, lo: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise Invalid(f"{name} must be a whole number.", field=name) from None
    if n < lo:
        raise Invalid(f"{name} must be at least {lo}.", field=name)
    return n


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def parse_range(
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
        q.page = parse_whole(get["page"], "page", 1)
    if "page_size" in get:
        q.page_size = min(parse_whole(get["page_size"], "page_size", 1), MAX_PAGE_SIZE)
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
        q.updated = parse_range(after, before, now, "updated")
        if start or end:
            q.created = parse_range(start, end, now, "date")
    else:
        q.created = parse_range(start, end, now, "date")
    if "bbox" in get:
        parts = get["bbox"].split(",")
        if len(parts) != 4:
            raise Invalid("bbox is min_long,min_lat,max_long,max_lat.", field="bbox")
        west, south, east, north = (parse_number(p, "bbox") for p in parts)
        if south > north or west > east or abs(south) > 90 or abs(north) > 90:
            raise Invalid("bbox is min_long,min_lat,max_long,max_lat.", field="bbox")
        q.bbox = Bounds(south, west, north, east)
    if "radius" in get:
        if "lat" not in get or "long" not in get:
            raise Invalid("radius needs lat and long.", field="radius")
        radius = parse_number(get["radius"], "radius")
        if not 0 < radius <= MAX_RADIUS_M:
            raise Invalid(f"radius is in metres, at most {MAX_RADIUS_M:.0f}.", field="radius")
        q.near = (parse_number(get["lat"], "lat"), parse_number(get["long"], "long"), radius)
    return q
