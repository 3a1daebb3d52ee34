"""A point in words: the nearest known address (reverse geocoding from the city's own lists, no outside service).

The candidates are the city's imported address list (the one /operator/addresses suggests from) and the addresses
of earlier requests. Both are read inside a small box around the point (the box is the prefilter; requests use
their lat/long index), at most MAX_ROWS of each, then ranked by the exact distance.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from ..domain.geo import box_around, distance_m
from ..models import Address, ServiceRequest

NEAR_M = 150.0  # farther than this, "near <address>" would mislead: the coordinates alone are shown
MAX_ROWS = 500


@dataclass(frozen=True)
class Place:
    text: str
    distance_m: float


def nearest_address(session: Session, lat: float, long: float, within_m: float = NEAR_M) -> Place | None:
    box = box_around(lat, long, within_m)
    known = session.exec(
        select(Address.text, Address.lat, Address.long)
        .where(
            col(Address.lat).between(box.south, box.north),
            col(Address.long).between(box.west, box.east),
        )
        .limit(MAX_ROWS)
    ).all()
    earlier = session.exec(
        select(ServiceRequest.address, ServiceRequest.lat, ServiceRequest.long)
        .where(
            col(ServiceRequest.lat).between(box.south, box.north),
            col(ServiceRequest.long).between(box.west, box.east),
            ServiceRequest.address != "",
        )
        .limit(MAX_ROWS)
    ).all()
    best: Place | None = None
    for text, a_lat, a_long in [*known, *earlier]:
        if a_lat is None or a_long is None or not text.strip():
            continue
        d = distance_m(lat, long, a_lat, a_long)
        if d <= within_m and (best is None or d < best.distance_m):
            best = Place(text.strip(), d)
    return best


def place_of(session: Session, req: ServiceRequest) -> str:
    """What to call a request's place when it has a point and no address: the nearest known address, or ""."""
    if req.address or req.lat is None or req.long is None:
        return ""
    near = nearest_address(session, req.lat, req.long)
    return near.text if near else ""
