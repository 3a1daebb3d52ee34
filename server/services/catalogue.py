"""The catalogue: services, their questions and departments. The one place that looks a service up by its code,
lists services and matches what someone typed or said to a service; and loading a city file into the database.

Residents, operators, dispatchers, administrators and Open311 all read services through here; what differs
between them (public services only, active ones only) is a parameter, not another query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, overload

from sqlmodel import Session, col, select

from ..city import City
from ..domain.attributes import DATATYPES
from ..domain.errors import Invalid, NotFound
from ..domain.translated import translated
from ..i18n import LANGUAGES
from ..models import Crew, Department, KnowledgeArticle, Service, utcnow
from .knowledge import STOP_WORDS as KNOWLEDGE_STOP_WORDS

# the knowledge base's English stop words and the Spanish articles and prepositions residents type
STOP_WORDS = KNOWLEDGE_STOP_WORDS | {"el", "la", "los", "las", "en", "de", "del", "un", "una", "mi"}
MIN_SHARE_OF_BEST = 0.25
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


# --- services: by code, the list, the search ------------------------------------------------------------


@overload
def service_by_code(
    session: Session,
    code: str,
    *,
    public_only: bool = ...,
    active_only: bool = ...,
    required: Literal[True] = ...,
) -> Service: ...
@overload
def service_by_code(
    session: Session, code: str, *, public_only: bool = ..., active_only: bool = ..., required: Literal[False]
) -> Service | None: ...
def service_by_code(
    session: Session, code: str, *, public_only: bool = False, active_only: bool = True, required: bool = True
) -> Service | None:
    """The service with this code: only a public one for residents and Open311, only an active one for anything
    new. Missing, it is a 404 (NotFound on `service_code`), or None when not `required` (a page that shows
    "no service chosen yet")."""
    service = session.exec(select(Service).where(Service.code == code)).first() if code else None
    if service is not None and ((active_only and not service.active) or (public_only and not service.public)):
        service = None
    if service is None and required:
        raise NotFound(
            "Unknown service: %(service_code)s",
            field="service_code",
            code="service_not_found",
            service_code=code,
        )
    return service


def list_services(
    session: Session, *, public_only: bool = False, active_only: bool = False, by_group: bool = False
) -> list[Service]:
    """Services by name (by group, then name, for lists shown in groups)."""
    stmt = select(Service)
    if public_only:
        stmt = stmt.where(col(Service.public).is_(True))
    if active_only:
        stmt = stmt.where(col(Service.active).is_(True))
    order = (Service.group, Service.name) if by_group else (Service.name,)
    return list(session.exec(stmt.order_by(*order)).all())


def questions(service: Service) -> list[dict[str, Any]]:
    """The questions a person answers (Open311's `variable` attributes), in their order."""
    return sorted((a for a in service.attributes if a.get("variable", True)), key=lambda a: a.get("order", 0))


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


@dataclass(frozen=True)
class _Words:
    """A service's searchable words, normalised once: in every language the city file gives."""

    names: frozenset[str]  # whole names
    keywords: tuple[str, ...]  # whole keyword phrases
    name_words: frozenset[str]
    kw_words: frozenset[str]
    other_words: frozenset[str]  # of the group and the descriptions


_WORDS: dict[tuple[Any, ...], _Words] = {}


def _words_of(service: Service) -> _Words:
    """Cached by the texts themselves: an edit of the service is a new key. Normalising the descriptions on
    every keystroke would cost more than the scoring."""
    key = (
        service.code,
        service.name,
        service.keywords,
        service.group,
        service.description,
        repr(service.translations),
    )
    found = _WORDS.get(key)
    if found is None:
        names = frozenset(_norm(translated(service, "name", lang)) for lang in LANGUAGES)
        keywords = tuple(p for p in (_norm(k) for k in service.keywords.split(",")) if p)
        descriptions = " ".join(translated(service, "description", lang) for lang in LANGUAGES)
        found = _Words(
            names=names,
            keywords=keywords,
            name_words=frozenset(w for n in names for w in n.split()),
            kw_words=frozenset(w for p in keywords for w in p.split()),
            other_words=frozenset(_norm(f"{service.group} {descriptions}").split()),
        )
        if len(_WORDS) > 1000:  # edits over a long life: start again rather than grow
            _WORDS.clear()
        _WORDS[key] = found
    return found


def _score(service: Service, q: str, words: list[str]) -> int:
    """How well `q` (normalised; `words` its words without stop words) names this service.

    The whole query as the name in any language or the code scores most, then a name or keyword phrase
    equal to it or said inside it ("there's a big hole in the road"), then a phrase being typed ("potho"),
    then single words of names and keywords, then words of the group and descriptions."""
    known = _words_of(service)
    padded = f" {q} "
    score = 100 if q in known.names or q == service.code.lower() else 0
    for p in (*known.names, *known.keywords):
        if p == q:
            score += 60
        elif f" {p} " in padded:
            score += 10 + 5 * p.count(" ")  # the whole phrase inside what was said
        elif p.startswith(q) and len(q) >= 2:
            score += 8  # still typing
    for w in words:
        if w in known.name_words:
            score += 6
        elif len(w) >= 2 and any(n.startswith(w) for n in known.name_words):
            score += 4
        if w in known.kw_words:
            score += 3
        elif len(w) >= 3 and any(k.startswith(w) for k in known.kw_words):
            score += 2
        if w in known.other_words:
            score += 1
    return score


def search_services(
    session: Session, text: str, *, public_only: bool = False, limit: int | None = None
) -> list[Service]:
    """Active services matching what a resident typed or a caller said, best first ("hole in road" and
    "bache" find Pothole); nothing for nothing typed.

    The catalogue is small (tens of rows), so it is scored in Python, whatever the number of requests."""
    q = _norm(text)
    if not q:
        return []
    words = [w for w in q.split() if w not in STOP_WORDS] or q.split()
    scored = [
        (s, _score(s, q, words)) for s in list_services(session, public_only=public_only, active_only=True)
    ]
    best = max((n for _, n in scored), default=0)
    # weak echoes of the best match (one common word like "out") are noise in the list
    scored = [(s, n) for s, n in scored if n > 0 and n >= best * MIN_SHARE_OF_BEST]
    scored.sort(key=lambda sn: (-sn[1], sn[0].name))
    return [s for s, _ in scored[:limit]]


@dataclass(frozen=True)
class ServiceInfo:
    """What a list of many requests needs of each one's service, without loading every service row."""

    id: int
    code: str
    name: str
    public: bool
    agency: str | None


def service_infos(session: Session) -> dict[int, ServiceInfo]:
    """Every service with its department name (a few dozen rows: one small query)."""
    rows = session.exec(
        select(Service.id, Service.code, Service.name, Service.public, Department.name).outerjoin(
            Department, Department.id == Service.department_id
        )
    ).all()
    return {r[0]: ServiceInfo(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows}


# --- loading the city file ----------------------------------------------------------------------------


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
