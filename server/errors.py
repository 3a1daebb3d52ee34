"""Domain errors to HTTP, in one place."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from .domain.errors import DomainError
from .i18n import gettext as _


class NotAuthenticated(Exception):
    pass


class CsrfFailed(Exception):
    pass


def localized(exc: DomainError) -> str:
    """The message in the request's language: the English template translated, then filled in."""
    return _(exc.template, **exc.params)


def wants_json(request: Request) -> bool:
    path = request.url.path
    return (
        "/api/" in path
        or path.endswith(".json")
        or "application/json" in request.headers.get("accept", "")
        or "application/json" in request.headers.get("content-type", "")
    )


def _page(request: Request, status: int, title: str, message: str) -> Response:
    from .templating import render

    return render(request, "error.html", {"title": title, "message": message}, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        response = _domain_error(request, exc)
        if retry_after := getattr(exc, "retry_after", None):  # e.g. every photo decode slot is busy (503)
            response.headers["Retry-After"] = str(retry_after)
        return response

    def _domain_error(request: Request, exc: DomainError) -> Response:
        message = localized(exc)
        if wants_json(request):
            return JSONResponse({"error": exc.code, "message": message, "field": exc.field}, exc.status_code)
        if request.headers.get("hx-request"):
            # htmx swaps 4xx bodies in too (see htmx config in base.html): show the message where it was asked
            return Response(
                f'<p class="error" role="alert">{_escape(message)}</p>',
                exc.status_code,
                media_type="text/html",
            )
        return _page(request, exc.status_code, _("Sorry"), message)

    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, exc: NotAuthenticated) -> Response:
        if wants_json(request) or request.method != "GET":
            return JSONResponse({"error": "not_authenticated", "message": _("Please log in.")}, 401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", 303)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        message = _("This form has expired or did not come from this site. Reload the page and try again.")
        if wants_json(request):
            return JSONResponse({"error": "csrf", "message": message}, 403)
        return _page(request, 403, _("Form expired"), message)


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
