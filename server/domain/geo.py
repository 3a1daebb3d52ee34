"""Positions: city bounds, distances, bounding boxes for 'near here' queries."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True)
class Bounds:
    south: float
    west: float
    north: float
    east: float

    def contains(self, lat: float, long: float) -> bool:
        return self.south <= lat <= self.north and self.west <= long <= self.east


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def box_around(lat: float, long: float, radius_m: float) -> Bounds:
    """A box that holds the circle: index-friendly pre-filter before the exact distance."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = math.degrees(radius_m / (EARTH_RADIUS_M * max(math.cos(math.radians(lat)), 1e-6)))
    return Bounds(lat - dlat, long - dlon, lat + dlat, long + dlon)
