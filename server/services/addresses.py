"""Addresses: the city's list of known addresses (imported from a CSV, learned from operators), typed text to
known addresses (suggestions as one types, and to a point), and a point in words (the nearest known address).

Reverse geocoding uses the city's own lists, no outside service: the candidates are the imported list and the
addresses of earlier requests, read inside a small box around the point (the box is the prefilter; requests use
their lat/long index), at most MAX_ROWS of each, then ranked by the exact distance.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ..city import City
from ..domain.errors import Invalid
from ..domain.geo import box_around, distance_m
from ..inputs import parse_id
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


def normalise_address(text: str) -> str:
    return " ".join(text.lower().replace(",", " ").replace(".", " ").split())


def import_addresses(*, session: Session, city: City, path: Path) -> int:
    """CSV of number,street,lat,long. Idempotent; rows outside the city are refused."""
    added = 0
    with open(path, newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.DictReader(f), start=2):
            try:
                number, street = row["number"].strip(), row["street"].strip()
                lat, long = float(row["lat"]), float(row["long"])
            except (KeyError, ValueError, AttributeError) as e:
                raise Invalid(f"{path.name} line {lineno}: expected number,street,lat,long ({e})") from None
            if not city.bounds.contains(lat, long):
                raise Invalid(f"{path.name} line {lineno}: {number} {street} is outside {city.name}")
            text = f"{number} {street}".strip()
            if session.exec(select(Address.id).where(Address.text == text)).first():
                continue
            session.add(
                Address(
                    number=number,
                    street=street,
                    text=text,
                    search=normalise_address(text),
                    lat=lat,
                    long=long,
                )
            )
            added += 1
    session.flush()
    return added


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


@dataclass(frozen=True)
class AddressSuggestion:
    text: str
    lat: float | None
    long: float | None
    source: str  # "address" (the city's list) or "request" (an earlier request)


def _successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with prefix (code point order, which is UTF-8
    byte and C collation order), or None when there is none (the prefix is all U+10FFFF: no upper bound).
    Never a surrogate: U+D7FF is followed by U+E000, as no database can store what lies between."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = 0xE000 if 0xD7FF <= last <= 0xDFFF else last + 1
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None


def _below(column: Any, bound: str | None) -> list[Any]:
    return [] if bound is None else [column < bound]


def suggest_addresses(session: Session, text: str, limit: int = 8) -> list[AddressSuggestion]:
    """Known addresses starting with what was typed: index range scans only (prefix, not LIKE '%x%').

    1. the city's address list (Address.search, normalised, indexed);
    2. if the text is a street name, addresses on that street (Address is the city's list: small);
    3. earlier requests' addresses (ServiceRequest.address, indexed): one index seek per distinct value,
       as typed and in Title Case, so a million requests cost a handful of seeks.
    """
    q = normalise_address(text)
    if not q or (len(q) < 2 and parse_id(q) is None) or limit <= 0:
        return []
    out: list[AddressSuggestion] = []
    seen: set[str] = set()

    def add(t: str, lat: float | None, long: float | None, source: str) -> None:
        key = normalise_address(t)
        if key and key not in seen and len(out) < limit:
            seen.add(key)
            out.append(AddressSuggestion(t, lat, long, source))

    rows = session.exec(
        select(Address.text, Address.lat, Address.long)
        .where(Address.search >= q, *_below(Address.search, _successor(q)))
        .order_by(Address.search)
        .limit(limit)
    ).all()
    for t, lat, long in rows:
        add(t, lat, long, "address")
    if len(out) < limit and not ("0" <= q[0] <= "9"):
        street_rows = session.exec(
            select(Address.text, Address.lat, Address.long)
            .where(col(Address.search).like(f"% {q}%"))
            .order_by(Address.street, Address.number)
            .limit(limit * 4)
        ).all()
        # house numbers in numeric order
        street_rows = sorted(street_rows, key=lambda r: (r[0].split(" ", 1)[-1], _house_number(r[0])))
        for t, lat, long in street_rows:
            add(t, lat, long, "address")
    if len(out) < limit:
        typed = " ".join(text.split())
        variants = dict.fromkeys([typed, typed.title(), typed.upper()])
        for prefix in variants:
            _request_addresses(session, prefix, limit, add)
    return out


def _house_number(text: str) -> int:
    return parse_id(text.split(" ", 1)[0]) or 0  # ASCII digits: "²" or "٣" is no house number


def _request_addresses(session: Session, prefix: str, limit: int, add: Any) -> None:
    if not prefix:
        return
    hi = _successor(prefix)
    lo, inclusive = prefix, True
    for _ in range(limit):
        cond = ServiceRequest.address >= lo if inclusive else ServiceRequest.address > lo
        row = session.exec(
            select(ServiceRequest.address, ServiceRequest.lat, ServiceRequest.long)
            .where(cond, *_below(ServiceRequest.address, hi))
            .order_by(ServiceRequest.address)
            .limit(1)
        ).first()
        if row is None:
            return
        add(row[0], row[1], row[2], "request")
        lo, inclusive = row[0], False


def learn_address(session: Session, city: City, text: str, lat: float | None, long: float | None) -> None:
    """An address an operator confirmed with a position joins the city's list of known addresses."""
    text = " ".join(text.split())[:250]
    if not text or lat is None or long is None or not city.bounds.contains(lat, long):
        return
    if session.exec(select(Address.id).where(Address.text == text)).first():
        return
    number, _, street = text.partition(" ")
    if parse_id(number) is None:
        number, street = "", text
    try:
        with session.begin_nested():
            session.add(
                Address(
                    number=number[:20],
                    street=street[:200],
                    text=text,
                    search=normalise_address(text),
                    lat=lat,
                    long=long,
                )
            )
    except IntegrityError:
        pass  # another operator learned it at the same moment
