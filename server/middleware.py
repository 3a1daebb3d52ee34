"""The page language and the security headers, as a plain ASGI middleware.

Not `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs every request through an extra task and
memory stream, which cost about as much as a whole cached Open311 answer.

It sits outside the session middleware (see create_app), so it sees every cookie the response sets.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import i18n

# Answers here carry personal data or a login: never kept by a browser or a shared cache. Any answer to a
# signed-in staff user (a route with a role dependency sets request.state.user) and any answer to a POST,
# PUT or DELETE is treated the same, so a new staff route is covered without being listed.
PRIVATE_PREFIXES = (
    "/admin",
    "/dispatch",
    "/operator",
    "/field/api/",
    "/r/",  # a resident's private link
    "/api/push/",  # push subscriptions and their follows
    "/notifications",
    "/login",
    "/logout",
    "/account/",
    "/staff",
    "/unfollow/",
)
PRIVATE_PATHS = frozenset(
    {"/field/"}
)  # the crew app's shell (its service worker and manifest stay cacheable)
SAFE_METHODS = ("GET", "HEAD")


class LanguageAndHeaders:
    """Picks the language (?lang=, then the cookie, then Accept-Language) and adds the headers every page needs."""

    def __init__(self, app: ASGIApp, *, csp: str, secure_cookies: bool) -> None:
        self.app, self.csp, self.secure_cookies = app, csp, secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        asked = conn.query_params.get("lang")
        lang = i18n.pick_language(asked, conn.cookies.get("lang"), conn.headers.get("accept-language"))
        i18n.set_language(lang)
        # scheme is https when the request came over TLS, here or at a trusted proxy (ProxyHeadersMiddleware)
        secure = self.secure_cookies or scope.get("scheme") in ("https", "wss")
        cookie = self._lang_cookie(lang, secure) if asked == lang else None
        state = scope.setdefault("state", {})  # the dict behind request.state, shared with the routes

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if cookie:
                    headers.raw.insert(0, (b"set-cookie", cookie.encode("latin-1")))  # before the session's
                if secure:
                    _secure_every_cookie(headers.raw)
                headers.setdefault("Content-Language", lang)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", self.csp)
                if _private(scope, state):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _lang_cookie(self, lang: str, secure: bool) -> str:
        r = Response()
        r.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", secure=secure)
        return r.headers["set-cookie"]


def _private(scope: Scope, state: dict) -> bool:
    return (
        scope["method"] not in SAFE_METHODS
        or scope["path"].startswith(PRIVATE_PREFIXES)
        or scope["path"] in PRIVATE_PATHS
        or state.get("user") is not None
    )


def _secure_every_cookie(raw: list[tuple[bytes, bytes]]) -> None:
    """Add `Secure` to each Set-Cookie that lacks it (the session's, the language's, any other), in place."""
    for i, (name, value) in enumerate(raw):
        if name.lower() == b"set-cookie":
            attributes = {part.strip().lower() for part in value.split(b";")[1:]}
            if b"secure" not in attributes:
                raw[i] = (name, value + b"; Secure")
