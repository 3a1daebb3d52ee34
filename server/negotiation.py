"""What a request asks to get back: JSON, an htmx fragment, or a whole page. One place, so that every route and
every error answers a caller in the format it understands."""

from __future__ import annotations

from starlette.requests import HTTPConnection


def is_htmx(request: HTTPConnection, target: str | None = None) -> bool:
    """An htmx request (swaps a fragment into the page), optionally aimed at the element with id `target`."""
    if not request.headers.get("hx-request"):
        return False
    return target is None or request.headers.get("hx-target") == target


def wants_json(request: HTTPConnection) -> bool:
    """APIs, `.json` URLs, and clients that say they take or send JSON (the offline queues' fetch calls)."""
    path = request.url.path
    return (
        "/api/" in path
        or path.endswith(".json")
        or "application/json" in request.headers.get("accept", "")
        or "application/json" in request.headers.get("content-type", "")
    )
