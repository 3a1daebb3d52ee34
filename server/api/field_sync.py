"""The field crews' JSON API: their jobs, the sync of offline events, and after-photos one by one."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from ..auth import CrewUser, csrf_token
from ..deps import ReadSessionDep, SessionDep, SettingsDep
from ..domain.errors import Invalid
from ..errors import localized
from ..services import field_sync as fs
from ..services.photos import process_upload

router = APIRouter(prefix="/field/api", tags=["field"])


class SyncIn(BaseModel):
    cursor: str | None = None
    events: list[Any] = Field(default_factory=list)


@router.get("/session")
def field_session(request: Request, user: CrewUser) -> dict[str, Any]:
    """Who is logged in, and a fresh CSRF token (the cached app shell's meta tag may be old)."""
    return {"user_id": user.id, "name": user.name, "crew_id": user.crew_id, "csrf": csrf_token(request)}


@router.get("/jobs")
def field_jobs(user: CrewUser, session: ReadSessionDep, cursor: str | None = None) -> dict[str, Any]:
    return fs.jobs_since(session, user, fs.parse_cursor(cursor))


@router.post("/sync")
def field_sync(body: SyncIn, user: CrewUser, session: SessionDep) -> dict[str, Any]:
    if len(body.events) > fs.MAX_BATCH:
        raise Invalid("Too many events in one sync.", field="events", code="batch_too_large")
    try:
        results = fs.apply_batch(session=session, user=user, events=body.events)
    except IntegrityError:
        # the same event arrived twice at once (two tabs, or the service worker and the page): once more,
        # now the other copy is committed and shows up as a duplicate
        session.rollback()
        results = fs.apply_batch(session=session, user=user, events=body.events)
    session.flush()
    return {
        "results": [r.as_dict() for r in results],
        **fs.jobs_since(session, user, fs.parse_cursor(body.cursor)),
    }


@router.post("/photos/{event_id}")
def field_photo(
    event_id: str,
    user: CrewUser,
    session: SessionDep,
    read: ReadSessionDep,
    settings: SettingsDep,
    photo: Annotated[UploadFile, File()],
    event: Annotated[str, Form(max_length=10_000)],
) -> dict[str, Any]:
    try:
        raw = json.loads(event)
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        return {"result": fs.Result(event_id[:80], fs.REFUSED, "malformed").as_dict()}
    raw["id"] = event_id
    try:
        fs.parse_event({**raw, "kind": "photo"})
    except fs.Malformed as e:
        return {"result": fs.Result(event_id[:80], fs.REFUSED, e.reason).as_dict()}
    # the read session: on SQLite the write lock is taken only after the photo is decoded
    if fs.photo_seen(read, event_id):
        return {"result": fs.Result(event_id.lower(), fs.DUPLICATE, job=raw.get("job")).as_dict()}
    data = photo.file.read(settings.photo_max_bytes + 1)
    try:
        processed = process_upload(
            data, max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels
        )
    except Invalid as e:
        return {"result": {**fs.Result(event_id, fs.REFUSED, e.code).as_dict(), "message": localized(e)}}
    try:
        result = fs.apply_photo(
            session=session, user=user, raw=raw, photo=processed, media_dir=settings.media_path
        )
    except IntegrityError:
        session.rollback()
        result = fs.apply_photo(
            session=session, user=user, raw=raw, photo=processed, media_dir=settings.media_path
        )
    return {"result": result.as_dict()}
