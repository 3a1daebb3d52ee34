"""What a crew's phone keeps: its jobs, in full or changed since the phone's cursor (the field sync's other half,
server/services/field_sync.py, applies what the phone did)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from ..domain.errors import Invalid
from ..inputs import parse_datetime
from ..models import Activity, Photo, Service, ServiceRequest, Status, User, utcnow
from .photos import photo_url

CURSOR_OVERLAP = timedelta(seconds=60)  # a transaction that committed late is still seen by the next sync
HISTORY_LIMIT = 12


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
    """The device's cursor (ours, from its last sync). A value we could not have given (garbled, out of range, in
    the future) is no cursor: the device gets its full list again and a fresh cursor."""
    if not value or not isinstance(value, str):
        return None
    try:
        since = parse_datetime(value, "cursor")
    except Invalid:
        return None
    return since if since <= utcnow() else None
