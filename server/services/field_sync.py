"""Field crews' offline events: applied at most once each, in order, with written conflict rules.

Every event the device made offline carries a UUID (made on the device), the job, the user who made it and the
device's clock (`client_time`). The rules (also in the README):

1. An event is applied at most once: its UUID is `Activity.client_event_id` (UNIQUE). A replay is `duplicate`.
2. Events are applied in the order sent (the device's outbox order, so in order per job), in one transaction.
3. Stale versions never block field work: no `expected_version` is checked; `client_time` says when it happened.
4. A job never assigned to the crew, an unknown job, another user's event or a malformed event: `refused`, with a
   reason the device shows. Nothing is written.
5. A job reassigned away from the crew while they were offline: notes and photos are recorded on the timeline
   (`applied`); start, completion and "unable" are recorded as an internal `field_conflict` entry, not applied
   (`conflict-recorded`); completion and "unable" also flag the request `needs_review`.
6. A job closed (by a dispatcher) while the crew was offline: notes and photos are recorded; a completion or
   "unable" is recorded as a `field_conflict` note and the request is flagged `needs_review`; the job is never
   reopened by the field. A "start" on a closed job is recorded the same way, without the flag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from ..domain.errors import DomainError
from ..models import Activity, Photo, Service, ServiceRequest, Status, User, utcnow
from ..photos import ProcessedPhoto
from .notify import notify_request_change
from .photos import attach_photo, photo_url
from .requests import Actor, change_status, record

APPLIED, DUPLICATE, CONFLICT, REFUSED = "applied", "duplicate", "conflict-recorded", "refused"
KINDS = ("start", "note", "complete", "unable", "photo")
RESOLUTIONS = ("fixed", "could_not_find", "referred", "duplicate")
UNABLE_REASONS = ("no_access", "needs_equipment", "unsafe", "other")
MAX_BATCH = 500
MAX_NOTE = 4000
CURSOR_OVERLAP = timedelta(seconds=60)  # a transaction that committed late is still seen by the next sync
HISTORY_LIMIT = 12
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass
class Result:
    id: str
    status: str
    reason: str = ""
    job: int | None = None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.reason:
            d["reason"] = self.reason
        if self.job is not None:
            d["job"] = self.job
        return d


@dataclass
class Event:
    id: str
    job: int
    kind: str
    client_time: datetime
    user_id: int
    note: str = ""
    public: bool = False
    resolution: str = ""
    reason: str = ""


class Malformed(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise Malformed("bad_time")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Malformed("bad_time") from None
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return min(t, utcnow())  # a phone clock ahead of ours: never a time in the future


def parse_event(raw: Any) -> Event:
    """A device's event dict -> Event, or Malformed(reason). Never trusts a field it did not check."""
    if not isinstance(raw, dict):
        raise Malformed("malformed")
    eid = raw.get("id")
    if not isinstance(eid, str) or not UUID_RE.match(eid):
        raise Malformed("bad_id")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise Malformed("bad_kind")
    job, user_id = raw.get("job"), raw.get("user_id")
    if not isinstance(job, int) or isinstance(job, bool) or job <= 0:
        raise Malformed("bad_job")
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise Malformed("bad_user")
    note = raw.get("note") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise Malformed("bad_note")
    ev = Event(
        id=eid.lower(),
        job=job,
        kind=kind,
        client_time=_parse_time(raw.get("client_time")),
        user_id=user_id,
        note=note.strip(),
        public=raw.get("public") is True,
        resolution=str(raw.get("resolution") or ""),
        reason=str(raw.get("reason") or ""),
    )
    if kind == "note" and not ev.note:
        raise Malformed("empty_note")
    if kind == "complete" and ev.resolution not in RESOLUTIONS:
        raise Malformed("bad_resolution")
    if kind == "unable" and ev.reason not in UNABLE_REASONS:
        raise Malformed("bad_reason")
    return ev


@dataclass
class Batch:
    """One sync call's state: the requests it touched, locked once each."""

    session: Session
    user: User
    requests: dict[int, ServiceRequest | None] = field(default_factory=dict)
    seen: set[str] | None = None  # event ids already applied, looked up for the whole batch in one query

    def get(self, job: int) -> ServiceRequest | None:
        if job not in self.requests:
            stmt = select(ServiceRequest).where(ServiceRequest.id == job).with_for_update()
            self.requests[job] = self.session.exec(stmt).first()
        return self.requests[job]


def _seen(session: Session, event_id: str) -> bool:
    return session.exec(select(Activity.id).where(Activity.client_event_id == event_id)).first() is not None


def _relation(session: Session, req: ServiceRequest, crew_id: int | None) -> str:
    """'assigned' now, 'was_assigned' (reassigned away since), or 'never'."""
    if crew_id is None:
        return "never"
    if req.crew_id == crew_id:
        return "assigned"
    moves = session.exec(
        select(Activity.data).where(Activity.request_id == req.id, Activity.kind == "assign")
    ).all()
    if any(crew_id in (m.get("from"), m.get("to")) for m in moves if isinstance(m, dict)):
        return "was_assigned"
    return "never"


def _stamp(act: Activity, ev: Event) -> Activity:
    act.client_event_id = ev.id
    act.client_time = ev.client_time
    data = dict(act.data or {})
    data["field"] = ev.kind
    act.data = data
    return act


def _conflict(batch: Batch, req: ServiceRequest, ev: Event, why: str, flag: bool) -> Result:
    actor = Actor.of(batch.user)
    if flag:
        req.needs_review = True
    act = record(
        session=batch.session,
        req=req,
        actor=actor,
        kind="field_conflict",
        note=ev.note,
        public=False,
        data={"event": ev.kind, "why": why, "resolution": ev.resolution, "reason": ev.reason},
        client_event_id=ev.id,
        client_time=ev.client_time,
    )
    _stamp(act, ev)
    return Result(ev.id, CONFLICT, why, req.id)


def _refuse_checks(batch: Batch, ev: Event) -> tuple[ServiceRequest | None, str, Result | None]:
    """Common checks: duplicate, forged user, unknown or never-assigned job."""
    if ev.id in batch.seen if batch.seen is not None else _seen(batch.session, ev.id):
        return None, "", Result(ev.id, DUPLICATE, job=ev.job)
    if ev.user_id != batch.user.id:
        return None, "", Result(ev.id, REFUSED, "wrong_user", ev.job)
    req = batch.get(ev.job)
    if req is None:
        return None, "", Result(ev.id, REFUSED, "not_found", ev.job)
    rel = _relation(batch.session, req, batch.user.crew_id)
    if rel == "never":
        return None, "", Result(ev.id, REFUSED, "not_assigned", ev.job)
    return req, rel, None


def apply_event(batch: Batch, ev: Event) -> Result:
    """One non-photo event. Photos come with their bytes through `apply_photo`."""
    if ev.kind == "photo":
        return Result(ev.id, REFUSED, "photo_needs_upload", ev.job)
    req, rel, done = _refuse_checks(batch, ev)
    if done is not None:
        return done
    assert req is not None
    session, actor = batch.session, Actor.of(batch.user)
    closed = req.status == Status.closed
    if ev.kind == "note":
        act = record(session=session, req=req, actor=actor, kind="note", note=ev.note, public=ev.public)
        _stamp(act, ev)
        notify_request_change(session, req, act)  # a public note: followers are told (private: nothing queued)
        return Result(ev.id, APPLIED, job=req.id)
    if rel == "was_assigned":
        return _conflict(batch, req, ev, "reassigned", flag=ev.kind in ("complete", "unable"))
    if closed:
        return _conflict(batch, req, ev, "closed", flag=ev.kind in ("complete", "unable"))
    if ev.kind == "start":
        if req.status == Status.open:
            act = change_status(session=session, req=req, to="in_progress", actor=actor, note=ev.note)
        else:  # already started (by a teammate, or the dispatcher): keep the crew's entry anyway
            act = record(session=session, req=req, actor=actor, kind="field_start", note=ev.note)
        _stamp(act, ev)
        return Result(ev.id, APPLIED, job=req.id)
    if ev.kind == "complete":
        act = change_status(
            session=session, req=req, to="closed", actor=actor, note=ev.note, close_reason=ev.resolution
        )
        _stamp(act, ev)
        return Result(ev.id, APPLIED, job=req.id)
    # unable: back to the dispatcher's queue, flagged
    req.needs_review = True
    if req.status == Status.in_progress:
        act = change_status(session=session, req=req, to="open", actor=actor, note=ev.note, public=False)
    else:
        act = record(session=session, req=req, actor=actor, kind="field_unable", note=ev.note)
    act.data = {**(act.data or {}), "reason": ev.reason}
    _stamp(act, ev)
    return Result(ev.id, APPLIED, job=req.id)


def apply_batch(*, session: Session, user: User, events: list[Any]) -> list[Result]:
    """Apply the device's events in the order sent; a bad event is refused, the others still apply."""
    ids = [str(e["id"]).lower() for e in events if isinstance(e, dict) and isinstance(e.get("id"), str)]
    seen = set(
        session.exec(select(Activity.client_event_id).where(col(Activity.client_event_id).in_(ids))).all()
        if ids
        else []
    )
    batch = Batch(session=session, user=user, seen=seen)  # type: ignore[arg-type]
    results: list[Result] = []
    seen_in_batch: set[str] = set()
    for raw in events:
        try:
            ev = parse_event(raw)
        except Malformed as e:
            rid = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else ""
            results.append(Result(rid[:80], REFUSED, e.reason))
            continue
        if ev.id in seen_in_batch:
            results.append(Result(ev.id, DUPLICATE, job=ev.job))
            continue
        seen_in_batch.add(ev.id)
        try:
            results.append(apply_event(batch, ev))
        except DomainError as e:  # a rule we did not foresee: report it, never lose the batch
            results.append(Result(ev.id, REFUSED, e.code or "invalid", ev.job))
    return results


def photo_seen(session: Session, event_id: str) -> bool:
    """A resumed upload of a photo the server already has: answer before decoding it again."""
    eid = event_id.lower()
    return session.exec(select(Photo.id).where(Photo.idempotency_key == eid)).first() is not None


def apply_photo(
    *, session: Session, user: User, raw: dict[str, Any], photo: ProcessedPhoto, media_dir: Path
) -> Result:
    """One after-photo, idempotent on the event's UUID (both the timeline entry and the Photo row)."""
    ev = parse_event({**raw, "kind": "photo"})
    existing = session.exec(select(Photo.id).where(Photo.idempotency_key == ev.id)).first()
    if existing is not None:
        return Result(ev.id, DUPLICATE, job=ev.job)
    batch = Batch(session=session, user=user)
    req, _rel, done = _refuse_checks(batch, ev)
    if done is not None:
        return done
    assert req is not None
    act = record(
        session=session, req=req, actor=Actor.of(user), kind="photo", note=ev.note, public=True, data={}
    )
    _stamp(act, ev)
    row = attach_photo(
        session=session,
        media_dir=media_dir,
        req=req,
        photo=photo,
        kind="after",
        activity_id=act.id,
        idempotency_key=ev.id,
        limit=None,
    )
    act.data = {**act.data, "photo_id": row.id}
    session.add(act)
    session.flush()
    return Result(ev.id, APPLIED, job=req.id)


# -- what the device keeps: its jobs ----------------------------------------------------------------------


def _job_dicts(session: Session, reqs: list[ServiceRequest], crew_id: int | None) -> list[dict[str, Any]]:
    if not reqs:
        return []
    ids = [r.id for r in reqs]
    services = {
        s.id: s
        for s in session.exec(select(Service).where(col(Service.id).in_({r.service_id for r in reqs})))
    }
    photos: dict[int, list[Photo]] = {}
    for p in session.exec(select(Photo).where(col(Photo.request_id).in_(ids)).order_by(col(Photo.id))):
        photos.setdefault(p.request_id, []).append(p)
    history: dict[int, list[Activity]] = {}
    acts = session.exec(
        select(Activity)
        .where(col(Activity.request_id).in_(ids))
        .order_by(col(Activity.created_at), col(Activity.id))
    )
    for a in acts:
        history.setdefault(a.request_id, []).append(a)
    out = []
    for r in reqs:
        svc = services.get(r.service_id)
        labels = {a.get("code"): a for a in (svc.attributes if svc else [])}
        answers = []
        for code, value in (r.attributes or {}).items():
            attr = labels.get(code) or {}
            names = {v.get("key"): v.get("name") for v in attr.get("values") or []}
            shown = (
                ", ".join(str(names.get(v, v)) for v in value)
                if isinstance(value, list)
                else names.get(value, value)
            )
            answers.append({"label": attr.get("description") or code, "value": str(shown)})
        out.append(
            {
                "id": r.id,
                "public_id": r.public_id,
                "service": svc.name if svc else "",
                "status": str(r.status),
                "priority": r.priority,
                "address": r.address,
                "lat": r.lat,
                "long": r.long,
                "description": r.description,
                "expected_at": r.expected_at.isoformat() if r.expected_at else None,
                "created_at": r.created_at.isoformat(),
                "updated_at": r.updated_at.isoformat(),
                "version": r.version,
                "assigned": r.crew_id is not None and r.crew_id == crew_id,
                "needs_review": r.needs_review,
                "answers": answers,
                "photos": [
                    {"thumb": photo_url(p.thumb_key), "full": photo_url(p.display_key), "kind": p.kind}
                    for p in photos.get(r.id, [])  # type: ignore[arg-type]
                ],
                "history": [
                    {
                        "kind": a.kind,
                        "note": a.note,
                        "by": a.actor_label,
                        "at": (a.client_time or a.created_at).isoformat(),
                        "to": (a.data or {}).get("to") if a.kind == "status" else None,
                    }
                    for a in history.get(r.id, [])[-HISTORY_LIMIT:]  # type: ignore[index]
                ],
            }
        )
    return out


def jobs_since(session: Session, user: User, since: datetime | None) -> dict[str, Any]:
    """The crew's open jobs (since=None), or the jobs changed since the device's cursor, and the next cursor."""
    now = utcnow()
    crew_id = user.crew_id
    removed: list[int] = []
    if since is None:
        reqs = (
            list(
                session.exec(
                    select(ServiceRequest).where(
                        ServiceRequest.crew_id == crew_id, ServiceRequest.status != Status.closed
                    )
                )
            )
            if crew_id is not None
            else []
        )
    else:
        reqs = (
            list(
                session.exec(
                    select(ServiceRequest).where(
                        ServiceRequest.crew_id == crew_id, ServiceRequest.updated_at > since
                    )
                )
            )
            if crew_id is not None
            else []
        )
        moves = session.exec(
            select(Activity.request_id, Activity.data).where(
                Activity.kind == "assign", Activity.created_at > since
            )
        ).all()
        mine = {r.id for r in reqs}
        removed = sorted(
            {
                rid
                for rid, data in moves
                if isinstance(data, dict) and data.get("from") == crew_id and rid not in mine
            }
        )
    reqs.sort(key=lambda r: (r.priority, r.expected_at or now))
    return {
        "full": since is None,
        "jobs": _job_dicts(session, reqs, crew_id),
        "removed": removed,
        "cursor": (now - CURSOR_OVERLAP).isoformat(),
        "server_time": now.isoformat(),
    }


def parse_cursor(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        # a "+" that came unencoded in a query string arrives as a space
        t = datetime.fromisoformat(value.strip().replace(" ", "+").replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t
