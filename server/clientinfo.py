"""Who is on the other end of a request: the one place every throttle asks.

Proxy headers (`X-Forwarded-For`, `X-Forwarded-Proto`) are applied before any route runs, and only when the
connection comes from an address in `TRUSTED_PROXIES` (uvicorn's ProxyHeadersMiddleware, installed by
`server.main.create_app`). So `request.client` is already the real client here; anyone else's forwarded
headers were ignored and cannot pick a fresh address per request to dodge a throttle.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

UNKNOWN = "unknown"
MAX_LENGTH = 64  # an IPv6 address with a zone fits; a forwarded value is never longer in a rate key


def client_address(request: HTTPConnection) -> str:
    """The client's address as a string, after the trusted-proxy step ("unknown" when the server has none)."""
    client = request.client
    host = client.host if client is not None else ""
    return host[:MAX_LENGTH] or UNKNOWN


def is_https(request: HTTPConnection) -> bool:
    """Whether the request reached us (or the trusted proxy in front of us) over HTTPS."""
    return request.url.scheme in ("https", "wss")
