"""GET requests arguments as clients send them, parsed and checked into a RequestQuery.

Each value is parsed by server/inputs.py: dates are bounded there (years 1900..2200), so the 90-day window
arithmetic below never leaves what datetime and the databases can hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ...domain.errors import Invalid
from ...domain.geo import Bounds
from ...domain.lifecycle import OPEN311_QUERY
from ...inputs import MAX_PAGE, latitude, longitude, parse_datetime, parse_float, parse_int
from ...models import utcnow

MAX_SPAN = timedelta(days=90)
MAX_PAGE_SIZE = 1000
MAX_IDS = 1000
MAX_RADIUS_M = 50_000.0
WIRE_STATUSES = {k: tuple(s.value for s in v) for k, v in OPEN311_QUERY.items()}  # domain.lifecycle


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def paging(get: Mapping[str, str]) -> tuple[int, int]:
    """`page` (1..MAX_PAGE) and `page_size` (1.., at most MAX_PAGE_SIZE: larger asks get the largest page)."""
    page = parse_int(get["page"], "page", 1, MAX_PAGE) if "page" in get else 1
    size = (
        min(parse_int(get["page_size"], "page_size", 1), MAX_PAGE_SIZE)
        if "page_size" in get
        else MAX_PAGE_SIZE
    )
    return page, size


def dates(get: Mapping[str, str], *names: str) -> list[datetime | None]:
    """The named date arguments that were given, parsed (None for those that were not)."""
    return [parse_datetime(get[n], n) if n in get else None for n in names]


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
    q.page, q.page_size = paging(get)
    if q.ids:
        return q  # the ids override every other filter
    q.service_codes = _csv(get.get("service_code"))
    statuses: list[str] = []
    for s in _csv(get.get("status")):
        if s.lower() not in WIRE_STATUSES:
            raise Invalid(f"Unknown status: {s} (use open or closed).", field="status")
        statuses.extend(WIRE_STATUSES[s.lower()])
    q.statuses = tuple(dict.fromkeys(statuses))
    start, end, after, before = dates(get, "start_date", "end_date", "updated_after", "updated_before")
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
        west, east = (parse_float(parts[i], "bbox", -180.0, 180.0) for i in (0, 2))
        south, north = (parse_float(parts[i], "bbox", -90.0, 90.0) for i in (1, 3))
        if south > north or west > east:
            raise Invalid("bbox is min_long,min_lat,max_long,max_lat.", field="bbox")
        q.bbox = Bounds(south, west, north, east)
    if "radius" in get:
        if "lat" not in get or "long" not in get:
            raise Invalid("radius needs lat and long.", field="radius")
        radius = parse_float(get["radius"], "radius")
        if not 0 < radius <= MAX_RADIUS_M:
            raise Invalid(f"radius is in metres, at most {MAX_RADIUS_M:.0f}.", field="radius")
        lat, long = latitude(get["lat"]), longitude(get["long"])
        assert lat is not None and long is not None  # present and not blank: `get` holds no empty value
        q.near = (lat, long, radius)
    return q
