"""Attaching photos to requests: every channel (resident app, Open311, field crews) goes through here."""

from __future__ import annotations

from datetime import UTC, tzinfo
from pathlib import Path

from sqlmodel import Session, select

from ..domain.errors import Invalid
from ..models import Photo, ServiceRequest
from ..photos import PhotoRejected, ProcessedPhoto, process_photo, store_renditions

MAX_PER_REQUEST = 5


def process_upload(data: bytes, *, max_bytes: int, max_pixels: int) -> ProcessedPhoto:
    """Decode, strip metadata and shrink; a bad file becomes a 400 with a clear message and nothing stored."""
    try:
        return process_photo(data, max_bytes=max_bytes, max_pixels=max_pixels)
    except PhotoRejected as e:
        raise Invalid(e.message, field="photo", code=f"photo_{e.code}") from None


def attach_photo(
    *,
    session: Session,
    media_dir: Path,
    req: ServiceRequest,
    photo: ProcessedPhoto,
    kind: str = "before",
    activity_id: int | None = None,
    idempotency_key: str | None = None,
    public: bool = True,
    limit: int | None = MAX_PER_REQUEST,
    tz: tzinfo = UTC,
) -> Photo:
    """Idempotent on `idempotency_key`; files are content-addressed, so a retried upload writes nothing new."""
    if idempotency_key:
        existing = session.exec(select(Photo).where(Photo.idempotency_key == idempotency_key)).first()
        if existing is not None:
            return existing
    if limit is not None and kind == "before":
        count = len(
            session.exec(select(Photo.id).where(Photo.request_id == req.id, Photo.kind == "before")).all()
        )
        if count >= limit:
            raise Invalid("At most %(n)s photos per report.", field="photo", code="too_many_photos", n=limit)
    store_renditions(photo, media_dir)
    row = Photo(
        request_id=req.id,  # type: ignore[arg-type]
        activity_id=activity_id,
        kind=kind,
        sha256=photo.sha256,
        display_key=photo.display.key,
        thumb_key=photo.thumb.key,
        width=photo.display.width,
        height=photo.display.height,
        thumb_width=photo.thumb.width,
        thumb_height=photo.thumb.height,
        # EXIF times are the camera's wall clock: read them in the city's timezone
        taken_at=photo.taken_at.replace(tzinfo=tz).astimezone(UTC) if photo.taken_at else None,
        idempotency_key=idempotency_key,
        public=public,
    )
    session.add(row)
    session.flush()
    return row


def photo_url(key: str) -> str:
    return f"/media/{key}"
