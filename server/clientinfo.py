"""Who is asking: the client's address (minimal stand-in; the sessions work adds trusted proxies)."""

from __future__ import annotations

from starlette.requests import Request


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
