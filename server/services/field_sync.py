"""Field crews' offline events: applied at most once each, in order, with written conflict rules.

Every event the device made offline carries a UUID (made on the device), the job, the user who made it and the
device's clock (`client_time`). The rules (also in the README):

1. An event is applied at most once: its UUID is `Activity.client_event_id` (UNIQUE). A replay is `duplicate`.
2. Events are applied in the order sent (the device's outbox order, so in order per job), in one transaction,
   each in its own SAVEPOINT: an event the database refuses is rolled back alone and refused, the others apply.
3. Stale versions never block field work: no `expected_version` is checked; `client_time` says when it happened.
4. A job never assigned to the crew, an unknown job, another user's event or a malformed event: `refused`, with a
   reason the device shows. Nothing is written.
5. A job reassigned away from the crew while they were offline: notes and photos are recorded on the timeline
   (`applied`); start, completion and "unable" are recorded as an internal `field_conflict` entry, not applied
   (`conflict-recorded`); completion and "unable" also flag the request `needs_review`.
6. A job closed (by a dispatcher) while the crew was offline: notes and photos are recorded; a completion or
   "unable" is recorded as a `field_conflict` note and the request is flagged `needs_review`; the job is never
   reopened by the field. A "start" on a closed job is recorded the same way, without the flag.
7. A completion as "duplicate" does not close the job: a duplicate is closed only by merging it into its master,
   which a dispatcher does. It is recorded as a `field_conflict` (why: duplicate) and flags `needs_review`.

Rules 5-7 and what each event does in each state are `domain.lifecycle.field_event_effect`; this module reads
the device's events, finds the job and the crew's relation to it, and carries the effect out.

Whatever a batch holds, each event gets a result: the phone drops what was answered and keeps only what was not,
so an error that fails a whole batch would make it send the same batch for ever.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session, col, select

from ..domain.errors import DomainError, Invalid
from ..domain.lifecycle import FieldEffect, FieldKind, FieldResult, UnableReason, field_event_effect
from ..i18n import gettext as _
from ..inputs import forbidden_character, parse_datetime, parse_id, xml_safe
from ..models import Activity, Photo, ServiceRequest, User, utcnow
from ..photos import ProcessedPhoto
from .notify import notify_request_change
from .photos import attach_photo, process_upload
from .requests import Actor, change_status, record

log = logging.getLogger(__name__)

APPLIED, DUPLICATE, CONFLICT, REFUSED = "applied", "duplicate", "conflict-recorded", "refused"
STORED = (APPLIED, CONFLICT)  # results that wrote the event (its Activity row holds the UUID)
KINDS = tuple(k.value for k in FieldKind)
RESOLUTIONS = tuple(r.value for r in FieldResult)
UNABLE_REASONS = tuple(r.value for r in UnableReason)
MAX_BATCH = 500
MAX_NOTE = 4000
MAX_PHOTO_EVENT = 10_000  # the photo's event, as JSON text
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass
class Result:
    id: str
    status: str
    reason: str = ""
    job: int | None = None
    message: str = ""  # for a refused photo: why, in the crew's language

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.reason:
            d["reason"] = self.reason
        if self.job is not None:
            d["job"] = self.job
        if self.message:
            d["message"] = self.message
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


# -- parsing: what the phone sent, checked field by field -------------------------------------------------


def _stored_id(value: Any, reason: str) -> int:
    """A job or user id: a JSON whole number the database can hold (not "12", 12.0, true or 2**63)."""
    n = parse_id(value) if isinstance(value, int) else None
    if n is None:
        raise Malformed(reason)
    return n


def _time(value: Any) -> datetime:
    try:
        t = parse_datetime(value, "client_time")
    except Invalid:
        raise Malformed("bad_time") from None
    return min(t, utcnow())  # a phone clock ahead of ours: never a time in the future


def _note(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_NOTE:
        raise Malformed("bad_note")
    if forbidden_character(value):
        raise Malformed("bad_text")  # NUL, lone surrogates, U+FFFF...: refused, never silently changed
    return value.strip()


def _choice(value: Any, allowed: tuple[str, ...], reason: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise Malformed(reason)
    return value


def parse_event(raw: Any) -> Event:
    """A device's event dict -> Event, or Malformed(reason). Never trusts a field it did not check."""
    if not isinstance(raw, dict):
        raise Malformed("malformed")
    eid = raw.get("id")
    if not isinstance(eid, str) or not UUID_RE.fullmatch(eid):
        raise Malformed("bad_id")
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise Malformed("bad_kind")
    ev = Event(
        id=eid.lower(),
        job=_stored_id(raw.get("job"), "bad_job"),
        kind=kind,
        client_time=_time(raw.get("client_time")),
        user_id=_stored_id(raw.get("user_id"), "bad_user"),
        note=_note(raw.get("note")),
        public=raw.get("public") is True,
        # kept only where they mean something, so junk never reaches a timeline entry's data
        resolution=_choice(raw.get("resolution"), RESOLUTIONS, "bad_resolution")
        if kind == "complete"
        else "",
        reason=_choice(raw.get("reason"), UNABLE_REASONS, "bad_reason") if kind == "unable" else "",
    )
    if kind == "note" and not ev.note:
        raise Malformed("empty_note")
    return ev


def _echo_id(eid: Any) -> str:
    """The id of an event refused before it was parsed, as far as it can be sent back (as JSON, in UTF-8)."""
    if not isinstance(eid, str):
        return ""
    return eid.lower() if UUID_RE.fullmatch(eid) else xml_safe(eid)[:80]


# -- applying: one SAVEPOINT per event --------------------------------------------------------------------


@dataclass
class Batch:
    """One sync call's state: the requests it touched, locked once each, and the event ids already stored."""

    session: Session
    user: User
    stored: set[str] | None = None  # looked up for a whole batch in one query; None: ask per event
    requests: dict[int, ServiceRequest | None] = field(default_factory=dict)

    def get(self, job: int) -> ServiceRequest | None:
        if job not in self.requests:
            stmt = select(ServiceRequest).where(ServiceRequest.id == job).with_for_update()
            self.requests[job] = self.session.exec(stmt).first()
        return self.requests[job]

    def forget(self) -> None:
        """After a rolled-back savepoint: its row locks are gone (PostgreSQL) and its changes expired."""
        self.requests.clear()


def _seen(session: Session, event_id: str) -> bool:
    return session.exec(select(Activity.id).where(Activity.client_event_id == event_id)).first() is not None


def _stored_ids(session: Session, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    stmt = select(Activity.client_event_id).where(col(Activity.client_event_id).in_(ids))
    return {i for i in session.exec(stmt).all() if i}


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
    if ev.id in batch.stored if batch.stored is not None else _seen(batch.session, ev.id):
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
    """One non-photo event. Photos come with their bytes through `receive_photo`."""
    if ev.kind == "photo":
        return Result(ev.id, REFUSED, "photo_needs_upload", ev.job)
    req, rel, done = _refuse_checks(batch, ev)
    if done is not None:
        return done
    assert req is not None
    effect = field_event_effect(ev.kind, str(req.status), rel, ev.resolution)  # type: ignore[arg-type]
    if effect.action == "conflict":
        return _conflict(batch, req, ev, effect.why, flag=effect.flag)
    act = _carry_out(batch, req, ev, effect)
    if ev.kind == FieldKind.unable:
        act.data = {**(act.data or {}), "reason": ev.reason}
    _stamp(act, ev)
    return Result(ev.id, APPLIED, job=req.id)


def _carry_out(batch: Batch, req: ServiceRequest, ev: Event, effect: FieldEffect) -> Activity:
    """Write what the domain decided: a note, a status change or a timeline entry."""
    session, actor = batch.session, Actor.of(batch.user)
    if effect.flag:
        req.needs_review = True
    if effect.action == "note":
        act = record(session=session, req=req, actor=actor, kind="note", note=ev.note, public=ev.public)
        notify_request_change(
            session, req, act
        )  # a public note: followers are told (private: nothing queued)
        return act
    if effect.action == "status":
        assert effect.to is not None
        return change_status(
            session=session,
            req=req,
            to=effect.to.value,
            actor=actor,
            note=ev.note,
            close_reason=effect.close_reason.value if effect.close_reason else None,
            public=effect.public,
        )
    return record(session=session, req=req, actor=actor, kind=effect.entry, note=ev.note)


def _in_savepoint(batch: Batch, ev: Event, apply: Callable[[], Result]) -> Result:
    """Run one event's writes in a SAVEPOINT: whatever goes wrong in it is undone alone and answered.

    A unique-key clash is the same event committed meanwhile by another request (two tabs, or the service worker
    and the page): `duplicate`, as if it had been seen first. A value the database refuses, or a rule it breaks,
    is that event's `refused`. Only an error of the database itself (lost connection, lock timeout, deadlock)
    fails the call, so that the phone tries again later instead of dropping its work.
    """
    session = batch.session
    try:
        with session.begin_nested():
            result = apply()
            session.flush()
    except DomainError as e:
        batch.forget()
        return Result(ev.id, REFUSED, e.code or "invalid", ev.job, message=_(e.template, **e.params))
    except IntegrityError:
        batch.forget()
        if _seen(session, ev.id) or _photo_seen(session, ev.id):
            return Result(ev.id, DUPLICATE, job=ev.job)
        log.exception("field event %s refused by the database", ev.id)
        return Result(ev.id, REFUSED, "rejected", ev.job)
    except OperationalError:
        raise
    except (SQLAlchemyError, ValueError, OverflowError):  # a value that slipped through the parser
        batch.forget()
        log.exception("field event %s refused by the database", ev.id)
        return Result(ev.id, REFUSED, "rejected", ev.job)
    if result.status in STORED and batch.stored is not None:
        batch.stored.add(ev.id)
    return result


def _parsed(raw: Any) -> Event | Result:
    try:
        return parse_event(raw)
    except Malformed as e:
        return Result(_echo_id(raw.get("id") if isinstance(raw, dict) else None), REFUSED, e.reason)


def apply_batch(*, session: Session, user: User, events: list[Any]) -> list[Result]:
    """Apply the device's events in the order sent: one result per event, whatever the event holds."""
    parsed = [_parsed(raw) for raw in events]
    ids = [p.id for p in parsed if isinstance(p, Event)]  # checked UUIDs only reach the query
    stored = _stored_ids(session, ids)
    batch = Batch(session=session, user=user, stored=stored)
    results: list[Result] = []
    for p in parsed:
        if isinstance(p, Result):
            results.append(p)
        elif p.id in stored:  # stored before, or earlier in this batch (a copy refused is tried again)
            results.append(Result(p.id, DUPLICATE, job=p.job))
        else:
            results.append(_in_savepoint(batch, p, partial(apply_event, batch, p)))
    return results


# -- after-photos: one upload per event ---------------------------------------------------------------------


def _photo_seen(session: Session, event_id: str) -> bool:
    return session.exec(select(Photo.id).where(Photo.idempotency_key == event_id)).first() is not None


def _photo_event(event_id: str, event: str) -> Event | Result:
    """The upload's event: its JSON form field, with the id from the URL (the idempotency key)."""
    try:
        raw = json.loads(event) if len(event) <= MAX_PHOTO_EVENT else None
    except (ValueError, RecursionError):
        raw = None
    if not isinstance(raw, dict):
        return Result(_echo_id(event_id), REFUSED, "malformed")
    return _parsed({**raw, "id": event_id, "kind": "photo"})


def _apply_photo(batch: Batch, ev: Event, photo: ProcessedPhoto, media_dir: Path) -> Result:
    if _photo_seen(batch.session, ev.id):
        return Result(ev.id, DUPLICATE, job=ev.job)
    req, _rel, done = _refuse_checks(batch, ev)
    if done is not None:
        return done
    assert req is not None
    session = batch.session
    act = record(
        session=session, req=req, actor=Actor.of(batch.user), kind="photo", note=ev.note, public=True, data={}
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
    return Result(ev.id, APPLIED, job=req.id)


def receive_photo(
    *,
    session: Session,
    read: Session,
    user: User,
    event_id: str,
    event: str,
    photo: BinaryIO,
    max_bytes: int,
    max_pixels: int,
    media_dir: Path,
) -> Result:
    """One after-photo, idempotent on the event's UUID (both the timeline entry and the Photo row).

    A resumed upload is answered from `read` before the photo is decoded; on SQLite the write lock (`session`)
    is taken only after decoding. Every bad part (event, ids, time, text, bytes) is a refused result."""
    ev = _photo_event(event_id, event)
    if isinstance(ev, Result):
        return ev
    if _photo_seen(read, ev.id):
        return Result(ev.id, DUPLICATE, job=ev.job)
    try:
        processed = process_upload(photo.read(max_bytes + 1), max_bytes=max_bytes, max_pixels=max_pixels)
    except Invalid as e:
        return Result(ev.id, REFUSED, e.code, ev.job, message=_(e.template, **e.params))
    batch = Batch(session=session, user=user)
    return _in_savepoint(batch, ev, partial(_apply_photo, batch, ev, processed, media_dir))
