"""Open311 POST requests: what a client's post may cost is bounded before its body is read.

Every post counts against its address's limit whatever its key; the body's declared size is checked against a
cap; the api_key is checked (with its own limit) before anything else is done with the body, read from the
query string when it is there, else from a form parsed within bounds. Used by Open311PostRoute in open311.py.
"""

from __future__ import annotations

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import Message, Receive

from ..clientinfo import client_address
from ..db import readonly
from ..i18n import N_
from ..i18n import gettext as _
from ..models import ApiKey
from ..ratelimit import RateLimited, address_bucket, limiter_of
from ..services import open311 as svc
from ..services.apikeys import fingerprint

# What a post may weigh besides its photo: every field together (a description is at most 4,000 characters).
FORM_MAX_BYTES = 256 * 1024
FIELD_MAX_BYTES = 64 * 1024
MAX_FIELDS = 200
TOO_MANY_FROM_ADDRESS = N_("Too many requests from this address. Try again in %(seconds)s seconds.")
TOO_MANY_WITH_KEY = N_("Too many requests with this api_key. Try again in %(seconds)s seconds.")


async def admit_post(request: Request) -> Request:
    """Before any of the body is read: the per-address limit (every post counts, whatever its key), the api_key
    when it is in the query string (with its own limit), and the size declared by Content-Length. A key sent in
    the body can only be read by parsing it: the form is parsed within bounds (fields, parts, total bytes) and
    the key checked before anything else is done with it. Returns the request whose body reads are bounded."""
    state, settings = request.app.state, request.app.state.settings
    limiter = limiter_of(state)
    address = address_bucket(client_address(request))
    wait = await run_in_threadpool(
        limiter.wait, settings.open311_rate_limit_address, "open311-address", address
    )
    if wait:
        raise RateLimited(TOO_MANY_FROM_ADDRESS, retry_after=wait, seconds=wait)
    api_key = request.query_params.get("api_key")
    key = await run_in_threadpool(_authorize, request, api_key) if api_key is not None else None
    cap = FORM_MAX_BYTES + (settings.photo_max_bytes if _is_multipart(request) else 0)
    if _content_length(request) > cap:
        raise _too_large(cap)
    bounded = Request(request.scope, _bounded_receive(request.receive, cap))
    form = await bounded.form(max_files=1, max_fields=MAX_FIELDS, max_part_size=FIELD_MAX_BYTES)
    if key is None:
        value = form.get("api_key")
        key = await run_in_threadpool(_authorize, request, value if isinstance(value, str) else None)
    bounded.state.api_key = key
    return bounded


def _authorize(request: Request, api_key: str | None) -> ApiKey:
    """Counted before the key is checked, in a transaction of its own: guesses and failed posts count too."""
    state, settings = request.app.state, request.app.state.settings
    if api_key:
        bucket = ("open311", fingerprint(api_key))
        wait = limiter_of(state).wait(settings.open311_rate_limit, *bucket)
        if wait:
            raise RateLimited(TOO_MANY_WITH_KEY, retry_after=wait, seconds=wait)
    with Session(readonly(state.engine)) as session:
        return svc.authorize(session=session, api_key=api_key)


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


def _content_length(request: Request) -> int:
    """The declared length; 0 when the body comes in chunks (then the bounded reads stop it)."""
    declared = request.headers.get("content-length", "0").strip()
    if not declared.isdigit():
        raise StarletteHTTPException(400, _("Bad Content-Length."))
    return int(declared)


def _too_large(cap: int) -> StarletteHTTPException:
    return StarletteHTTPException(413, _("This request is too large: at most %(n)s bytes.", n=cap))


def _bounded_receive(receive: Receive, cap: int) -> Receive:
    """The body's messages, refused with a 413 as soon as more than `cap` bytes have come."""
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                raise _too_large(cap)
        return message

    return bounded
