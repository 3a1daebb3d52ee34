"""Loading a city file into the database: departments, services, crews, knowledge articles."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from ..city import City
from ..domain.attributes import DATATYPES
from ..domain.errors import Invalid
from ..models import Address, Crew, Department, KnowledgeArticle, Service, utcnow


def _upsert(session: Session, model: type, key: str, value: Any, fields: dict[str, Any]) -> tuple[Any, bool]:
    row = session.exec(select(model).where(getattr(model, key) == value)).first()
    if row is None:
        row = model(**{key: value, **fields})
        session.add(row)
        session.flush()
        return row, True
    changed = False
    for name, new in fields.items():
        if getattr(row, name) != new:
            setattr(row, name, new)
            changed = True
    if changed:
        session.add(row)
    return row, changed


def _check_attributes(service_code: str, attrs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, a in enumerate(attrs):
        dtype = a.get("datatype", "string")
        if dtype not in DATATYPES:
            raise Invalid(f"Service {service_code}: attribute {a.get('code')} has unknown datatype {dtype}")
        if dtype.endswith("valuelist") and not a.get("values"):
            raise Invalid(f"Service {service_code}: attribute {a.get('code')} needs values")
        out.append(attribute_record(a, i + 1))
    return out


def departments(session: Session) -> list[Department]:
    """Every department, by name: where a caller is transferred, what a request or article belongs to."""
    return list(session.exec(select(Department).order_by(Department.name)).all())


def attribute_record(a: dict[str, Any], position: int) -> dict[str, Any]:
    """One checked question as stored: Open311's attribute fields and its translations, nothing else."""
    return {
        "code": str(a["code"]).strip(),
        "variable": bool(a.get("variable", True)),
        "datatype": a.get("datatype", "string"),
        "required": bool(a.get("required", False)),
        "datatype_description": str(a.get("datatype_description", "")),
        "order": int(a.get("order", position)),
        "description": str(a.get("description", a["code"])),
        "values": [
            {"key": str(v["key"]), "name": str(v["name"]), **i18n_of(v, ("name",))}
            for v in a.get("values") or []
        ],
        **i18n_of(a, ("description", "datatype_description")),
    }


def i18n_of(item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The city file's `i18n.LANG.FIELD` translations of `fields`, as {"i18n": {lang: {field: text}}}, if any."""
    raw = item.get("i18n")
    out = {
        str(lang): {f: str(t[f]) for f in fields if t.get(f)}
        for lang, t in (raw.items() if isinstance(raw, dict) else ())
        if isinstance(t, dict)
    }
    out = {lang: t for lang, t in out.items() if t}
    return {"i18n": out} if out else {}


def import_city(*, session: Session, city: City) -> dict[str, int]:
    """Idempotent: a second run with the same file changes nothing."""
    changed = {"departments": 0, "services": 0, "crews": 0, "articles": 0}
    dept_ids: dict[str, int] = {}
    for d in city.departments:
        row, ch = _upsert(
            session,
            Department,
            "code",
            d["code"],
            {k: d.get(k, "") for k in ("name", "phone", "extension", "email", "hours", "description")},
        )
        dept_ids[d["code"]] = row.id
        changed["departments"] += ch
    for s in city.services:
        fields = {
            "name": s["name"],
            "description": s.get("description", ""),
            "group": s.get("group", ""),
            "keywords": ", ".join(s.get("keywords", [])),
            "department_id": dept_ids.get(s.get("department", "")),
            "attributes": _check_attributes(s["code"], s.get("attributes", [])),
            "translations": i18n_of(s, ("name", "description")).get("i18n", {}),
            "sla_hours": s.get("sla_hours"),
            "active": s.get("active", True),
            "public": s.get("public", True),
        }
        _, ch = _upsert(session, Service, "code", s["code"], fields)
        changed["services"] += ch
    for c in city.crews:
        _, ch = _upsert(
            session, Crew, "name", c["name"], {"department_id": dept_ids.get(c.get("department", ""))}
        )
        changed["crews"] += ch
    for a in city.articles:
        fields = {
            "title": a["title"],
            "body": a["body"].strip(),
            "keywords": ", ".join(a.get("keywords", [])),
            "department_id": dept_ids.get(a.get("department", "")),
            "language": a.get("language", "en"),
        }
        row, ch = _upsert(session, KnowledgeArticle, "slug", a["slug"], fields)
        if ch:
            row.updated_at = utcnow()
        changed["articles"] += ch
    session.flush()
    return changed


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
