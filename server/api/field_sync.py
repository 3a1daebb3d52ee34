"""The field crews' JSON API: their jobs, the sync of offline events, and after-photos one by one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

from ..auth import CrewUser, csrf_token
from ..deps import ReadSessionDep, SessionDep, SettingsDep
from ..domain.errors import Invalid
from ..services import field_jobs as fj
from ..services import field_sync as fs

router = APIRouter(prefix="/field/api", tags=["field"])


class SyncIn(BaseModel):
    cursor: Any = None  # a bad cursor is no cursor (a full list), not a refused batch
    events: list[Any] = Field(default_factory=list)


@router.get("/session")
def field_session(request: Request, user: CrewUser) -> dict[str, Any]:
    """Who is logged in, and a fresh CSRF token (the cached app shell's meta tag may be old)."""
    return {"user_id": user.id, "name": user.name, "crew_id": user.crew_id, "csrf": csrf_token(request)}


@router.get("/jobs")
def field_jobs(user: CrewUser, session: ReadSessionDep, cursor: str | None = None) -> dict[str, Any]:
    return fj.jobs_since(session, user, fj.parse_cursor(cursor))


@router.post("/sync")
def field_sync(body: SyncIn, user: CrewUser, session: SessionDep) -> dict[str, Any]:
    """One result per event, in order, whatever each event holds (the phone sends at most 100 at a time)."""
    if len(body.events) > fs.MAX_BATCH:
        raise Invalid(
            "Too many events in one sync (at most %(n)s).",
            field="events",
            code="batch_too_large",
            n=fs.MAX_BATCH,
        )
    results = fs.apply_batch(session=session, user=user, events=body.events)
    return {
        "results": [r.as_dict() for r in results],
        **fj.jobs_since(session, user, fj.parse_cursor(body.cursor)),
    }


@router.post("/photos/{event_id}")
def field_photo(
    event_id: str,
    user: CrewUser,
    session: SessionDep,
    read: ReadSessionDep,
    settings: SettingsDep,
    photo: Annotated[UploadFile, File()],
    event: Annotated[str, Form()] = "",  # FastAPI reads an empty field as a missing one: refused below
) -> dict[str, Any]:
    """One after-photo; a bad event or file is a refused result (the form parser bounds the event's size)."""
    result = fs.receive_photo(
        session=session,
        read=read,
        user=user,
        event_id=event_id,
        event=event,
        photo=photo.file,
        max_bytes=settings.photo_max_bytes,
        max_pixels=settings.photo_max_pixels,
        media_dir=settings.media_path,
    )
    return {"result": result.as_dict()}
