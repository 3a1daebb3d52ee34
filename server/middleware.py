"""The page language and the security headers, as a plain ASGI middleware.

Not `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs every request through an extra task and
memory stream, which cost about as much as a whole cached Open311 answer.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import i18n


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
        cookie = self._lang_cookie(lang) if asked == lang else None

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if cookie:
                    headers.append("set-cookie", cookie)
                headers.setdefault("Content-Language", lang)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", self.csp)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _lang_cookie(self, lang: str) -> str:
        r = Response()
        r.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", secure=self.secure_cookies)
        return r.headers["set-cookie"]
