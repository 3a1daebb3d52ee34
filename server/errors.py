"""Errors to HTTP, in one place: domain errors, bad arguments, unknown addresses and, last of all, bugs.

Each answers in the caller's format and language: an Open311 `errors` document under /open311/v2/, JSON
`{"error", "message", "field"}` for APIs, a fragment for htmx (it swaps 4xx bodies in, see base.html), or the
HTML error page.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import open311_format as wire
from .auth import CsrfFailed, NotAuthenticated
from .domain.errors import DomainError, Invalid
from .i18n import gettext as _
from .negotiation import is_htmx, wants_json
from .templating import render

log = logging.getLogger("civic311.errors")
OPEN311 = "/open311/v2/"


def localized(exc: DomainError) -> str:
    """The message in the request's language: the English template translated, then filled in."""
    return _(exc.template, **exc.params)


def _page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "error.html", {"title": title, "message": message}, status_code=status)


def answer(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error in the caller's format."""
    if request.url.path.startswith(OPEN311):
        response = wire.error(wire.fmt_of_path(request.url.path), status, message)
    elif wants_json(request):
        response = JSONResponse({"error": code, "message": message, "field": field}, status)
    elif is_htmx(request):
        response = Response(
            f'<p class="error" role="alert">{_escape(message)}</p>', status, media_type="text/html"
        )
    else:
        response = _page(request, status, title or _("Sorry"), message)
    response.headers.update(headers or {})
    return response


def bad_argument(exc: RequestValidationError) -> Invalid:
    """FastAPI's 422 (a list of pydantic details) as one clear 400 naming the first bad argument."""
    first: dict[str, Any] = next(iter(exc.errors()), {})
    loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body", "header", "cookie")]
    name = ".".join(loc) or "body"
    kind = str(first.get("type", ""))
    if kind == "missing":
        return Invalid("%(name)s is required.", field=name, code="required", name=name)
    if kind == "json_invalid":
        return Invalid("The request body is not valid JSON.", field="body", code="bad_json")
    if kind.startswith("int_"):
        return Invalid("%(name)s must be a whole number.", field=name, code="bad_number", name=name)
    if kind.startswith("float_"):
        return Invalid("%(name)s must be a number.", field=name, code="bad_number", name=name)
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return Invalid("%(name)s is out of range.", field=name, code="out_of_range", name=name)
    if kind in ("string_too_long", "too_long"):
        return Invalid("%(name)s is too long.", field=name, code="too_long", name=name)
    return Invalid("%(name)s is not valid.", field=name, code="invalid", name=name)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if getattr(exc, "retry_after", None) else None
        return answer(request, exc.status_code, exc.code, localized(exc), field=exc.field, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        e = bad_argument(exc)
        return answer(request, 400, e.code, localized(e), field=e.field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        code, message = _http_message(exc)
        return answer(request, exc.status_code, code, message, headers=dict(exc.headers or {}))

    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, exc: NotAuthenticated) -> Response:
        if wants_json(request) or request.method != "GET":
            return JSONResponse({"error": "not_authenticated", "message": _("Please log in.")}, 401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", 303)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        message = _("This form has expired or did not come from this site. Reload the page and try again.")
        return answer(request, 403, "csrf", message, title=_("Form expired"))


def _http_message(exc: StarletteHTTPException) -> tuple[str, str]:
    if exc.status_code == 404:
        return "not_found", _("There is nothing at this address.")
    if exc.status_code == 405:
        return "method_not_allowed", _("This address does not take this kind of request.")
    if exc.status_code == 413:
        return "too_large", _("What was sent is too large.")
    # e.g. a malformed multipart body (400): Starlette's own words, which name what is wrong
    return f"http_{exc.status_code}", str(exc.detail)


class LastResort:
    """The outermost middleware: a bug answers a 500 in the caller's format and the connection lives on.

    An exception that leaves the application makes the server drop the keep-alive connection, even after
    Starlette's ServerErrorMiddleware has sent its 500 (uvicorn closes any connection whose application raised
    once the response had started). So the exception stops here: logged with its traceback, answered, done.
    Only a response already under way cannot be mended: then the exception goes on and the server closes it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except ClientDisconnect:
            return  # the caller left while sending: nobody to answer, nothing went wrong here
        except Exception:
            log.exception("Unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await _server_error(Request(scope))(scope, receive, send)


def _server_error(request: Request) -> Response:
    message = _("Something went wrong on our side. Please try again; if it keeps happening, tell us.")
    try:
        return answer(request, 500, "server_error", message)
    except Exception:  # the error page itself may be what is broken
        log.exception("The error page failed too")
        return Response(message, 500, media_type="text/plain; charset=utf-8")


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
