"""Attaching photos to requests: every channel (resident app, Open311, field crews) goes through here.

Decoding is the costly part of an upload (a 49-megapixel photo is decoded into hundreds of megabytes), so
each process lets at most PHOTO_DECODE_CONCURRENCY decodes run at once, holding at most
PHOTO_DECODE_BUDGET_MB between them (``DecodeGate``); a photo that would need more than the whole budget
is refused, and one that finds no room within PHOTO_DECODE_WAIT_S gets a 503 with Retry-After.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, tzinfo
from pathlib import Path

from sqlmodel import Session, select

from ..domain.errors import DomainError, Invalid
from ..models import Photo, ServiceRequest
from ..photos import PhotoRejected, ProcessedPhoto, process_photo
from . import media

MAX_PER_REQUEST = 5


class PhotosBusy(DomainError):
    """Every decode slot is taken: the client should send the photo again in `retry_after` seconds."""

    status_code = 503

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "The server is busy with other photos. Please try again in a few seconds.", code="photos_busy"
        )
        self.retry_after = retry_after


class DecodeGate:
    """At most `slots` decodes at once, together holding at most `budget` bytes (each decode's estimate)."""

    def __init__(self, *, budget: int, slots: int, wait_s: float) -> None:
        self.budget, self.slots, self.wait_s = budget, max(1, slots), wait_s
        self._cond = threading.Condition()
        self._used = 0
        self._active = 0

    @contextmanager
    def admit(self, cost: int) -> Iterator[None]:
        cost = min(cost, self.budget)  # a photo over the whole budget was refused before it got here
        deadline = time.monotonic() + self.wait_s
        with self._cond:
            while self._active >= self.slots or self._used + cost > self.budget:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PhotosBusy(retry_after=max(1, math.ceil(self.wait_s)))
                self._cond.wait(left)
            self._active += 1
            self._used += cost
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._used -= cost
                self._cond.notify_all()


# One gate per process, as the setting says (uvicorn's workers are processes). create_app() sets it from
# the settings; these defaults match Settings' own.
_gate = DecodeGate(budget=512 << 20, slots=2, wait_s=10.0)


def configure_decoding(*, budget_mb: int, concurrency: int, wait_s: float) -> None:
    global _gate
    _gate = DecodeGate(budget=budget_mb << 20, slots=concurrency, wait_s=wait_s)


def decode_gate() -> DecodeGate:
    return _gate


def process_upload(data: bytes, *, max_bytes: int, max_pixels: int) -> ProcessedPhoto:
    """Decode, strip metadata and shrink; a bad file becomes a 400 with a clear message and nothing stored."""
    gate = _gate
    try:
        return process_photo(
            data, max_bytes=max_bytes, max_pixels=max_pixels, max_decode_bytes=gate.budget, admit=gate.admit
        )
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
    """Idempotent on `idempotency_key`. The files appear when the session commits (``media.stage``)."""
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
    media.stage(session, media_dir, (photo.display, photo.thumb))
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
