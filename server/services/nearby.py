"""'Is this already reported?': open requests of a service near a point."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from ..domain.geo import box_around, distance_m
from ..models import ServiceRequest, Status


@dataclass(frozen=True)
class Nearby:
    request: ServiceRequest
    distance_m: float


def open_requests_near(
    *, session: Session, service_id: int, lat: float, long: float, radius_m: float, limit: int = 10
) -> list[Nearby]:
    """Index-friendly box first, then the exact distance; nearest first; duplicates of others left out."""
    box = box_around(lat, long, radius_m)
    rows = session.exec(
        select(ServiceRequest)
        .where(
            ServiceRequest.service_id == service_id,
            col(ServiceRequest.status).in_([Status.open, Status.in_progress]),
            col(ServiceRequest.lat).between(box.south, box.north),
            col(ServiceRequest.long).between(box.west, box.east),
            col(ServiceRequest.duplicate_of_id).is_(None),
        )
        .limit(200)
    ).all()
    found = [
        Nearby(r, distance_m(lat, long, r.lat, r.long))
        for r in rows
        if r.lat is not None and r.long is not None
    ]
    return sorted((n for n in found if n.distance_m <= radius_m), key=lambda n: n.distance_m)[:limit]
