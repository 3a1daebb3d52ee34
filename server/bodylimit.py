"""A cap on every request body (MAX_BODY_BYTES), as a plain ASGI middleware.

A body announced larger than the cap (Content-Length) is refused with 413 before a byte of it is read. A
body without a length (chunked) is counted as it arrives: when it passes the cap the 413 is sent at once and
the application, which is still reading, is told the client went away; whatever it answers to that is
dropped. The 413 speaks the caller's format: Open311's error list, JSON for the JSON APIs, HTML otherwise.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import open311_format as wire
from .i18n import gettext as _
from .negotiation import is_htmx, wants_json


class BodyLimit:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(scope, send)
            return
        received = 0
        started = refused = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    if not started:
                        await self._refuse(scope, send)
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused and not started:
                return  # the application's answer to the "disconnect": the 413 went out instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise  # the application's own failure; a failure to read a refused body is expected

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = too_large(Request(scope), self.limit)
        response.headers["Connection"] = "close"  # the rest of the body is not read
        await response(scope, _no_receive, send)


def too_large(request: Request, limit: int) -> Response:
    message = _(
        "This upload is too large: at most %(mb)s MB can be sent at once. Please send smaller or fewer photos.",
        mb=f"{limit / 1_000_000:g}",
    )
    path = request.url.path
    if path.startswith("/open311/"):
        return wire.error(wire.fmt_of_path(path), 413, message)
    if wants_json(request):
        return JSONResponse({"error": "body_too_large", "message": message}, 413)
    if is_htmx(request):
        return Response(f'<p class="error" role="alert">{_escape(message)}</p>', 413, media_type="text/html")
    from .templating import render

    return render(request, "error.html", {"title": _("Too large"), "message": message}, status_code=413)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before we see it
    return None


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
