"""Photo renditions, content-addressed: a key never changes meaning, so it is cached forever."""

from __future__ import annotations

import re

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ..deps import SettingsDep
from ..domain.errors import NotFound
from ..photos import media_path

router = APIRouter()
KEY = re.compile(r"^[0-9a-f]{64}\.jpg$")


@router.get("/media/{key}", include_in_schema=False)
def media(key: str, settings: SettingsDep) -> FileResponse:
    if not KEY.match(key):
        raise NotFound("No such photo.")
    path = media_path(settings.media_path, key)
    if not path.exists():
        raise NotFound("No such photo.")
    return FileResponse(
        path, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=31536000, immutable"}
    )
