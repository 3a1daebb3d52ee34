"""Dispatch: triage queue, merging duplicates, bulk changes. Every change goes through services.requests."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, union_all
from sqlmodel import Session, select

from ..domain.errors import Conflict, Invalid
from ..domain.lifecycle import ACTIVE as ACTIVE_STATUSES
from ..domain.lifecycle import check_close_reason
from ..domain.sla import is_overdue
from ..i18n import N_
from ..inputs import parse_id
from ..models import (
    Channel,
    CloseReason,
    Crew,
    Photo,
    Service,
    ServiceRequest,
    Status,
    utcnow,
)
from .followers import move_followers
from .requests import Actor, assign_crew, change_status, record

PER_PAGE = 50
MAP_LIMIT = 1000
ACTIVE = tuple(s.value for s in ACTIVE_STATUSES)
STATUS_CHOICES = ("active", *(s.value for s in Status), "all")
SORTS = {  # shown names, translated where shown
    "newest": N_("Newest first"),
    "oldest": N_("Oldest first"),
    "due": N_("Due date"),
    "priority": N_("Priority"),
}
AGES = {"1d": 1, "3d": 3, "7d": 7, "30d": 30}  # "older than N days"; "new" = created within a day


@dataclass(frozen=True)
class QueueFilter:
    """What the queue page asks for; parsed from the query string and safe to echo back."""

    status: str = "active"
    service_id: int | None = None
    department_id: int | None = None
    crew: str = ""  # "" any, "none" unassigned, or a crew id
    age: str = ""  # "" any, "new" (< 1 day), or one of AGES: older than N days
    overdue: bool = False
    channel: str = ""
    sort: str = "newest"
    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def parse(cls, params: dict[str, Any]) -> QueueFilter:
        status = params.get("status") or "active"
        crew = str(params.get("crew") or "")
        age = str(params.get("age") or "")
        channel = str(params.get("channel") or "")
        sort = str(params.get("sort") or "newest")
        return cls(
            status=status if status in STATUS_CHOICES else "active",
            service_id=parse_id(params.get("service")),
            department_id=parse_id(params.get("department")),
            crew=crew if crew == "none" or parse_id(crew) else "",
            age=age if age == "new" or age in AGES else "",
            overdue=str(params.get("overdue") or "") in ("1", "on", "true", "yes"),
            channel=channel if channel in Channel.__members__ else "",
            sort=sort if sort in SORTS else "newest",
            page=min(parse_id(params.get("page")) or 1, 10_000),
        )

    def query_args(self, **changes: Any) -> dict[str, str]:
        """The filter as query-string pairs (for links: next page, another sort), defaults left out."""
        f = replace(self, **changes)
        out = {
            "status": f.status if f.status != "active" else "",
            "service": str(f.service_id or ""),
            "department": str(f.department_id or ""),
            "crew": f.crew,
            "age": f.age,
            "overdue": "1" if f.overdue else "",
            "channel": f.channel,
            "sort": f.sort if f.sort != "newest" else "",
            "page": str(f.page) if f.page > 1 else "",
        }
        return {k: v for k, v in out.items() if v}


@dataclass
class QueuePage:
    rows: list[tuple[ServiceRequest, Service]]
    filter: QueueFilter
    has_next: bool
    now: datetime
    crews: dict[int, str] = field(default_factory=dict)

    def overdue(self, req: ServiceRequest) -> bool:
        return is_overdue(req.expected_at, str(req.status), self.now)


def _statuses(f: QueueFilter) -> list[str] | None:
    """The statuses asked for; None means any."""
    if f.overdue:  # overdue implies not closed
        return [s for s in ACTIVE if f.status in ("active", "all", s)]
    if f.status == "active":
        return list(ACTIVE)
    return None if f.status == "all" else [f.status]


def _where(f: QueueFilter, now: datetime) -> list[Any]:
    """Every filter but the status (see _arms)."""
    R = ServiceRequest
    conds: list[Any] = []
    if f.overdue:
        conds.append(R.expected_at < now)  # type: ignore[operator]
    if f.service_id:
        conds.append(R.service_id == f.service_id)
    if f.department_id:
        in_dept = select(Service.id).where(Service.department_id == f.department_id)
        conds.append(R.service_id.in_(in_dept))  # type: ignore[attr-defined]
    if f.crew == "none":
        conds.append(R.crew_id.is_(None))  # type: ignore[union-attr]
    elif f.crew:
        conds.append(R.crew_id == int(f.crew))
    if f.age == "new":
        conds.append(R.created_at >= now - timedelta(days=1))
    elif f.age:
        conds.append(R.created_at < now - timedelta(days=AGES[f.age]))
    if f.channel:
        conds.append(R.channel == f.channel)
    return conds


def _order(sort: str) -> list[Any]:
    R = ServiceRequest
    if sort == "oldest":
        return [R.created_at.asc(), R.id.asc()]  # type: ignore[union-attr]
    if sort == "due":  # requests without a target come last, the same on both databases
        return [R.expected_at.is_(None), R.expected_at.asc(), R.id.asc()]  # type: ignore[union-attr]
    if sort == "priority":  # the most urgent first; within a priority, the longest waiting first
        return [R.priority.asc(), R.created_at.asc(), R.id.asc()]  # type: ignore[union-attr]
    return [R.created_at.desc(), R.id.desc()]  # type: ignore[union-attr]


def _arms(f: QueueFilter) -> list[tuple[list[Any], list[Any]]]:
    """(conditions, order) pieces that each read one index range already in order.

    `status IN ('open', 'in_progress') ORDER BY created_at` cannot walk the (status, created_at) index in
    order on either database, so it sorts every active row (slow with a million requests). One arm per
    status, each `status = ? ORDER BY created_at LIMIT n`, reads just n index entries; their union is small.
    """
    R = ServiceRequest
    statuses = _statuses(f)
    by_status: list[list[Any]] = [[]] if statuses is None else [[R.status == s] for s in statuses]
    order = _order(f.sort)
    if f.sort != "due":
        return [(c, order) for c in by_status]
    with_target = [([*c, R.expected_at.is_not(None)], order[1:]) for c in by_status]  # type: ignore[union-attr]
    if f.overdue:
        return with_target
    return with_target + [([*c, R.expected_at.is_(None)], [R.id.asc()]) for c in by_status]  # type: ignore[union-attr]


def _page_ids(f: QueueFilter, now: datetime, limit: int, offset: int) -> Any:
    """A statement selecting the ids of one page (before the final ordering), or None when nothing can match."""
    R = ServiceRequest
    arms = _arms(f)
    where = _where(f, now)
    if not arms or _statuses(f) == []:
        return None
    if len(arms) == 1:
        conds, order = arms[0]
        return select(R.id).where(*conds, *where).order_by(*order).offset(offset).limit(limit)
    parts = [
        select(R.id).where(*conds, *where).order_by(*order).limit(offset + limit).subquery()
        for conds, order in arms
    ]
    return union_all(*(select(p.c.id) for p in parts))


def queue(session: Session, f: QueueFilter, *, now: datetime | None = None) -> QueuePage:
    """One page of the triage queue. No total count: counting a million rows is the slow part."""
    now = now or utcnow()
    crews = {c.id: c.name for c in session.exec(select(Crew)).all() if c.id is not None}
    offset = (f.page - 1) * f.per_page
    ids = _page_ids(f, now, f.per_page + 1, offset)
    if ids is None:
        return QueuePage(rows=[], filter=f, has_next=False, now=now, crews=crews)
    stmt = (
        select(ServiceRequest, Service)
        .join(Service, Service.id == ServiceRequest.service_id)  # type: ignore[arg-type]
        .where(ServiceRequest.id.in_(ids))  # type: ignore[union-attr]
        .order_by(*_order(f.sort))
    )
    if len(_arms(f)) > 1:  # the union holds offset + limit rows per arm: page it here
        stmt = stmt.offset(offset).limit(f.per_page + 1)
    rows = [(r, s) for r, s in session.exec(stmt).all()]
    return QueuePage(rows=rows[: f.per_page], filter=f, has_next=len(rows) > f.per_page, now=now, crews=crews)


def map_points(session: Session, f: QueueFilter, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """The filtered requests with a location, newest first, at most MAP_LIMIT."""
    now = now or utcnow()
    R = ServiceRequest
    ids = _page_ids(f, now, MAP_LIMIT, 0)
    if ids is None:
        return []
    stmt = (
        select(R.public_id, R.lat, R.long, R.status, R.expected_at, Service.name)
        .join(Service, Service.id == R.service_id)  # type: ignore[arg-type]
        .where(R.id.in_(ids), R.lat.is_not(None), R.long.is_not(None))  # type: ignore[union-attr]
        .order_by(*_order(f.sort))
        .limit(MAP_LIMIT)
    )
    return [
        {
            "id": pid,
            "lat": lat,
            "long": long,
            "service": name,
            "status": str(status),
            "overdue": is_overdue(exp, str(status), now),
        }
        for pid, lat, long, status, exp, name in session.exec(stmt).all()
    ]


# ---------------------------------------------------------------- merging


def merge_duplicates(
    session: Session,
    duplicate: ServiceRequest,
    master: ServiceRequest,
    actor: Actor,
    *,
    expected_version: int | None = None,
    note: str = "",
) -> None:
    """Close `duplicate` as a duplicate of `master`; its followers and photos move to the master."""
    if duplicate.id == master.id:
        raise Invalid("A request cannot be a duplicate of itself.", field="master")
    if master.duplicate_of_id is not None:
        raise Invalid("That request is itself a duplicate: merge into its master instead.", field="master")
    if duplicate.status == Status.closed:
        raise Conflict("This request is already closed; reopen it first to merge it.", field="status")
    moved_followers = move_followers(session, duplicate=duplicate, master=master)
    photos = session.exec(select(Photo).where(Photo.request_id == duplicate.id)).all()
    for photo in photos:
        photo.request_id = master.id  # type: ignore[assignment]
        session.add(photo)
    for child in session.exec(
        select(ServiceRequest).where(ServiceRequest.duplicate_of_id == duplicate.id)
    ).all():
        child.duplicate_of_id = master.id  # keep one level: duplicates always point at a master
        session.add(child)
    duplicate.duplicate_of_id = master.id
    change_status(
        session=session,
        req=duplicate,
        to=Status.closed.value,
        actor=actor,
        close_reason=CloseReason.duplicate.value,  # the one close MERGE_ONLY allows
        note=note or f"Duplicate of {master.public_id}.",
        expected_version=expected_version,
        public=True,
    )
    record(
        session=session,
        req=master,
        actor=actor,
        kind="merge",
        public=False,
        note=f"{duplicate.public_id} merged into this request.",
        data={
            "duplicate": duplicate.public_id,
            "duplicate_id": duplicate.id,
            "followers": moved_followers,
            "photos": len(photos),
        },
    )


# ---------------------------------------------------------------- bulk


def parse_refs(values: list[str]) -> list[tuple[int, int | None]]:
    """Checkbox values "id:version" -> [(id, version)]."""
    out = []
    for v in values:
        rid, _, ver = v.partition(":")
        row_id = parse_id(rid)
        if row_id is None:
            raise Invalid("Choose requests from the list.", field="ids")
        out.append((row_id, parse_id(ver)))
    if not out:
        raise Invalid("Choose at least one request.", field="ids")
    if len(out) > 500:
        raise Invalid("At most 500 requests at once.", field="ids")
    return out


def _load(session: Session, refs: list[tuple[int, int | None]]) -> list[tuple[ServiceRequest, int | None]]:
    ids = [rid for rid, _ in refs]
    found = {r.id: r for r in session.exec(select(ServiceRequest).where(ServiceRequest.id.in_(ids))).all()}  # type: ignore[union-attr]
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid("Some of the chosen requests no longer exist. Reload the list.", field="ids")
    return [(found[rid], ver) for rid, ver in refs]


def bulk_assign(
    session: Session, refs: list[tuple[int, int | None]], crew_id: int | None, actor: Actor
) -> int:
    """Assign every chosen request; all or nothing (the caller's unit of work rolls back on any error)."""
    changed = 0
    for req, ver in _load(session, refs):
        if req.crew_id == crew_id:
            continue
        assign_crew(session=session, req=req, crew_id=crew_id, actor=actor, expected_version=ver)
        changed += 1
    return changed


def bulk_status(
    session: Session,
    refs: list[tuple[int, int | None]],
    to: str,
    actor: Actor,
    *,
    note: str = "",
    close_reason: str | None = None,
) -> int:
    check_close_reason(close_reason)
    changed = 0
    for req, ver in _load(session, refs):
        if str(req.status) == to:
            continue
        change_status(
            session=session,
            req=req,
            to=to,
            actor=actor,
            note=note,
            close_reason=close_reason,
            expected_version=ver,
        )
        changed += 1
    return changed


def overdue_filter(now: datetime) -> Any:
    """SQL condition for overdue requests, for other lists that want to highlight them."""
    R = ServiceRequest
    return and_(R.status.in_(ACTIVE), R.expected_at.is_not(None), R.expected_at < now)  # type: ignore[union-attr]


__all__ = [
    "MAP_LIMIT",
    "SORTS",
    "QueueFilter",
    "QueuePage",
    "bulk_assign",
    "bulk_status",
    "check_close_reason",
    "map_points",
    "merge_duplicates",
    "overdue_filter",
    "parse_refs",
    "queue",
]
