"""Jinja2 with gettext, the city's timezone and versioned static URLs."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from . import i18n
from .auth import csrf_token
from .config import ROOT
from .domain.lifecycle import BY_KIND, words
from .domain.translated import translated
from .negotiation import is_htmx

WEB = ROOT / "web"
FIELD = ROOT / "field"

_env = Environment(
    loader=ChoiceLoader(
        [FileSystemLoader(str(WEB / "templates")), FileSystemLoader(str(FIELD / "templates"))]
    ),
    extensions=["jinja2.ext.i18n"],
    autoescape=select_autoescape(["html", "xml", "js", "webmanifest"]),
)
templates = Jinja2Templates(env=_env)
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    lambda s, **kw: i18n.gettext(s, **kw), lambda s, p, n, **kw: i18n.ngettext(s, p, n, **kw), newstyle=True
)
templates.env.policies["ext.i18n.trimmed"] = True


@lru_cache(maxsize=512)
def _file_hash(path: str, mtime: float) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:10]


def asset(url_path: str) -> str:
    """`/static/css/app.css` -> `/static/css/app.css?v=<hash>`: safe to cache forever."""
    for prefix, base in (("/static/", WEB / "static"), ("/field/static/", FIELD / "static")):
        if url_path.startswith(prefix):
            f = base / url_path[len(prefix) :]
            if f.exists():
                return f"{url_path}?v={_file_hash(str(f), f.stat().st_mtime)}"
    return url_path


def local_time(request: Request, value: datetime | None, fmt: str = "%b %d, %Y %I:%M %p") -> str:
    if value is None:
        return ""
    return value.astimezone(request.app.state.city.tz).strftime(fmt)


def lifecycle_words(kind: str, audience: str = "label") -> dict[str, str]:
    """{value: shown name} of a lifecycle enum (domain.lifecycle: "status", "close_reason", ...), translated."""
    return {value: i18n.gettext(msgid) for value, msgid in words(BY_KIND[kind], audience).items()}


def said(kind: str, value: Any, audience: str = "label") -> str:
    """One lifecycle word in the page's language; a value the lifecycle does not know, as it is."""
    text = "" if value is None else str(value)
    return lifecycle_words(kind, audience).get(text, text)


templates.env.globals.update(
    asset=asset, languages=i18n.LANGUAGES, said=said, lifecycle_words=lifecycle_words
)
# {{ service|tr("name") }}, {{ question|tr("description") }}: city data in the page's language when translated
templates.env.filters["tr"] = lambda item, field: translated(item, field, i18n.current_language())


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    ctx = {
        "city": request.app.state.city,
        "settings": request.app.state.settings,
        "lang": i18n.current_language(),
        "csrf_token": csrf_token(request),
        "user": getattr(request.state, "user", None),
        "local_time": lambda v, fmt="%b %d, %Y %I:%M %p": local_time(request, v, fmt),
        "is_htmx": is_htmx(request),
        **(context or {}),
    }
    return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)
