"""The city file (TOML): a city is data, not code."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .domain.geo import Bounds


@dataclass(frozen=True)
class City:
    name: str
    state: str
    timezone: str
    jurisdiction_id: str
    public_id_prefix: str
    phone: str
    center: tuple[float, float]
    zoom: int
    bounds: Bounds
    languages: tuple[str, ...]
    departments: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    crews: list[dict[str, Any]] = field(default_factory=list)
    articles: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_city(data: dict[str, Any], path: Path | None = None) -> City:
    c = data["city"]
    (south, west), (north, east) = c["bounds"]
    return City(
        name=c["name"],
        state=c.get("state", ""),
        timezone=c["timezone"],
        jurisdiction_id=c["jurisdiction_id"],
        public_id_prefix=c.get("public_id_prefix", "311"),
        phone=c.get("phone", "311"),
        center=(float(c["center"][0]), float(c["center"][1])),
        zoom=int(c.get("zoom", 13)),
        bounds=Bounds(float(south), float(west), float(north), float(east)),
        languages=tuple(c.get("languages", ["en"])),
        departments=data.get("departments", []),
        services=data.get("services", []),
        crews=data.get("crews", []),
        articles=data.get("articles", []),
        path=path,
    )


@lru_cache(maxsize=8)
def load_city(path: Path) -> City:
    with open(path, "rb") as f:
        return parse_city(tomllib.load(f), path)
