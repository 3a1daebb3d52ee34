"""Open311 GeoReport v2 at /open311/v2/: every method in .xml and .json, plus the human page at /open311/.

Routes parse arguments and pick the format; queries live in server/services/open311/, the wire format in
open311_format.py. Domain errors become Open311 error bodies in the requested format (Open311Route below).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from .. import open311_format as wire
from ..city import City
from ..db import readonly
from ..deps import CityDep, ReadSessionDep, SessionDep, SettingsDep
from ..domain.errors import DomainError
from ..errors import localized
from ..i18n import gettext as _
from ..models import ApiKey, utcnow
from ..services import open311 as svc
from ..services.catalogue import service_by_code
from ..services.photos import process_upload
from ..templating import render
from .open311_admission import admit_post
from .open311_cache import Entry, FreshRead, ResponseCache, SingleFlight

PREFIX = "/open311/v2"


class Open311Route(APIRoute):
    """Domain errors and bad arguments on these routes become `errors` documents in the asked-for format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        admit = self.admit

        async def route(request: Request) -> Response:
            try:
                admitted = await admit(request)
            except (DomainError, StarletteHTTPException) as e:
                # refused before its body was read: close the connection rather than take in (and throw away)
                # the rest of an upload nobody will look at
                response = _refusal(request, e)
                response.headers["Connection"] = "close"
                return response
            try:
                return await handler(admitted)
            except (DomainError, StarletteHTTPException, RequestValidationError) as e:
                return _refusal(request, e)

        return route

    async def admit(self, request: Request) -> Request:
        """Runs before FastAPI reads anything of the request (its dependencies, its body)."""
        return request


def _refusal(request: Request, e: Exception) -> Response:
    fmt = wire.fmt_of_path(request.url.path)
    if isinstance(e, DomainError):
        status = e.status_code if e.status_code in (403, 404, 429, 503) else 400
        response = wire.error(fmt, status, localized(e))
        if retry_after := getattr(
            e, "retry_after", None
        ):  # over a rate limit (429), photo decoding busy (503)
            response.headers["Retry-After"] = str(retry_after)
        return response
    if isinstance(e, StarletteHTTPException):  # e.g. a malformed multipart body, a body over the cap
        return wire.error(fmt, e.status_code, str(e.detail))
    assert isinstance(e, RequestValidationError)
    where = ", ".join(".".join(str(p) for p in err.get("loc", ())[1:]) for err in e.errors())
    return wire.error(fmt, 400, _("Bad argument: %(where)s", where=where))


router = APIRouter(route_class=Open311Route)


class UnknownFormat(DomainError):
    status_code = 404


def _fmt(fmt: str) -> str:
    if fmt not in wire.FORMATS:
        raise UnknownFormat("Unknown format: use .xml or .json.")
    return fmt


def _base(settings: SettingsDep) -> str:
    return settings.base_url.rstrip("/")


def _args(request: Request) -> dict[str, str]:
    """Query arguments (the last of repeated ones), which take `jurisdiction_id` too."""
    return dict(request.query_params.items())


# --- the human page ---------------------------------------------------------------------------------------


@router.get("/open311/", include_in_schema=False)
@router.get("/open311", include_in_schema=False)
def index(request: Request, session: ReadSessionDep, city: CityDep) -> Response:
    services = svc.public_services(session)
    example = next((s["code"] for s in services if s["attributes"]), services[0]["code"] if services else "")
    recent = svc.find_requests(session=session, query=svc.RequestQuery(page_size=1), base_url="")
    return render(
        request,
        "open311/index.html",
        {
            "endpoint": PREFIX,
            "example_code": example,
            "example_id": recent[0]["service_request_id"]
            if recent
            else f"{city.public_id_prefix}-{utcnow().year}-000001",
            "bbox": f"{city.center[1] - 0.01:.4f},{city.center[0] - 0.01:.4f},"
            f"{city.center[1] + 0.01:.4f},{city.center[0] + 0.01:.4f}",
            "services": services,
        },
    )


# --- discovery and services -------------------------------------------------------------------------------


@router.get(PREFIX + "/discovery.{fmt}")
def discovery(fmt: str, city: CityDep, settings: SettingsDep, jurisdiction_id: str | None = None) -> Response:
    fmt = _fmt(fmt)
    svc.check_jurisdiction(city, jurisdiction_id)
    base = _base(settings)
    data = wire.discovery(
        base_url=base,
        contact=_("%(city)s 311: call %(phone)s", city=city.name, phone=city.phone),
        changeset=_changeset(city),
        key_service=base + "/open311/",
    )
    return wire.respond(fmt, "discovery", data, cors=True)


@lru_cache(maxsize=4)
def _file_time(path: str, mtime: float) -> datetime:
    return datetime.fromtimestamp(mtime, UTC)


def _changeset(city: City) -> datetime:
    """The catalogue comes from the city file: its modification time is when the service list last changed."""
    if city.path is not None and os.path.exists(city.path):
        return _file_time(str(city.path), os.path.getmtime(city.path))
    return utcnow()


@router.get(PREFIX + "/services.{fmt}")
def services(
    fmt: str, session: ReadSessionDep, city: CityDep, jurisdiction_id: str | None = None
) -> Response:
    fmt = _fmt(fmt)
    svc.check_jurisdiction(city, jurisdiction_id)
    data = [wire.service_item(s) for s in svc.public_services(session)]
    return wire.respond(fmt, "services", data, cors=True)


@router.get(PREFIX + "/services/{code}.{fmt}")
@router.get(PREFIX + "/service/{code}.{fmt}")
def service_definition(
    code: str, fmt: str, session: ReadSessionDep, city: CityDep, jurisdiction_id: str | None = None
) -> Response:
    fmt = _fmt(fmt)
    svc.check_jurisdiction(city, jurisdiction_id)
    service = service_by_code(session, code, public_only=True)
    return wire.respond(
        fmt, "service_definition", wire.service_definition(service.code, service.attributes), cors=True
    )


# --- requests ---------------------------------------------------------------------------------------------


@router.get(PREFIX + "/requests.{fmt}")
async def get_requests(request: Request, fmt: str, city: CityDep, settings: SettingsDep) -> Response:
    fmt = _fmt(fmt)
    args = _args(request)
    svc.check_jurisdiction(city, args.get("jurisdiction_id"))
    query = svc.parse_query(args)
    # Many clients poll the same lists: answered from a cache that any change to a request invalidates (see
    # open311_cache.py); a miss renders in the thread pool, once however many clients ask for it.
    key = (fmt, tuple(sorted(args.items())), await _data_version(request))
    cached = _LIST_CACHE.get(key)
    if cached is None:
        engine, base_url = readonly(request.app.state.engine), _base(settings)
        cached = await _RENDERING.run(key, lambda: _render_and_cache(key, engine, fmt, query, base_url))
    etag = f'"{hashlib.sha256(repr(key).encode()).hexdigest()[:24]}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=0", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={**headers, "Access-Control-Allow-Origin": "*"})
    body, gz = cached
    if gz is not None and "gzip" in request.headers.get("accept-encoding", ""):
        # compressed once per cached answer, not once per client (the gzip middleware skips encoded bodies)
        return wire.raw(fmt, gz, cors=True, headers={**headers, "Content-Encoding": "gzip"})
    return wire.raw(fmt, body, cors=True, headers=headers)


def _data_version(request: Request) -> Awaitable[tuple[Any, ...]]:
    state = request.app.state
    reader = getattr(state, "open311_data_version", None)
    if reader is None:
        engine = state.lookup_engine
        reader = state.open311_data_version = FreshRead(lambda: run_in_threadpool(svc.data_version, engine))
    return reader.get()


_LIST_CACHE = ResponseCache()
_RENDERING: SingleFlight[Entry] = SingleFlight()


async def _render_and_cache(key: Any, engine: Any, fmt: str, query: svc.RequestQuery, base_url: str) -> Entry:
    return _LIST_CACHE.put(key, await run_in_threadpool(_render_requests, engine, fmt, query, base_url))


def _render_requests(engine: Any, fmt: str, query: svc.RequestQuery, base_url: str) -> bytes:
    with Session(engine) as session:
        items = svc.find_requests(session=session, query=query, base_url=base_url)
    return wire.respond(fmt, "service_requests", items, cors=True).body


@router.get(PREFIX + "/requests/{request_id}.{fmt}")
@router.get(PREFIX + "/request/{request_id}.{fmt}")
def get_request(
    request_id: str,
    fmt: str,
    session: ReadSessionDep,
    city: CityDep,
    settings: SettingsDep,
    jurisdiction_id: str | None = None,
) -> Response:
    fmt = _fmt(fmt)
    svc.check_jurisdiction(city, jurisdiction_id)
    item = svc.get_request(session=session, public_id=request_id, base_url=_base(settings))
    return wire.respond(fmt, "service_requests", [item], cors=True)


@router.get(PREFIX + "/tokens/{token}.{fmt}")
def token(
    token: str, fmt: str, session: ReadSessionDep, city: CityDep, jurisdiction_id: str | None = None
) -> Response:
    fmt = _fmt(fmt)
    svc.check_jurisdiction(city, jurisdiction_id)
    public_id = svc.request_for_token(session=session, token=token)
    return wire.respond(
        fmt, "service_requests", [{"service_request_id": public_id, "token": token}], cors=True
    )


@router.get(PREFIX + "/servicerequestupdates.{fmt}")
def request_updates(
    request: Request, fmt: str, session: ReadSessionDep, city: CityDep, settings: SettingsDep
) -> Response:
    fmt = _fmt(fmt)
    args = _args(request)
    svc.check_jurisdiction(city, args.get("jurisdiction_id"))
    items = svc.updates(session=session, args=args, base_url=_base(settings))
    return wire.respond(fmt, "service_request_updates", items, cors=True)


POST_FIELDS = (
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "device_id",
    "account_id",
    "description",
    "media_url",
)


class Open311PostRoute(Open311Route):
    """POST requests: a client's cost is bounded before its body is read (see admit_post)."""

    async def admit(self, request: Request) -> Request:
        return await admit_post(request)


async def post_request(
    request: Request, fmt: str, session: SessionDep, city: CityDep, settings: SettingsDep
) -> Response:
    fmt = _fmt(fmt)
    key: ApiKey = request.state.api_key  # checked by admit_post, before the body was read
    form = await request.form()  # parsed within bounds by admit_post
    fields: dict[str, str] = dict(request.query_params.items())
    media: UploadFile | None = None
    for k, v in form.multi_items():
        if isinstance(v, UploadFile):
            if k == "media" and media is None:
                media = v
        elif not k.startswith("attribute["):
            fields[k] = v
    data = await media.read(settings.photo_max_bytes + 1) if media is not None else b""
    has_photo = bool(data) or bool(media and media.filename)  # a named file with no bytes is refused as empty
    await form.close()  # the uploaded file's temporary spool
    svc.check_jurisdiction(city, fields.get("jurisdiction_id"))
    attributes = svc.parse_attributes(
        [(k, v) for k, v in [*request.query_params.multi_items(), *form.multi_items()] if isinstance(v, str)]
    )
    post = svc.Open311Post(**{f: fields.get(f, "") or "" for f in POST_FIELDS}, attributes=attributes)

    def work() -> Response:
        # before the photo is decoded, so that a bad post costs no decoding
        checked = svc.check(session=session, city=city, post=post, key=key, photo_follows=has_photo)
        photo = (
            process_upload(data, max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels)
            if has_photo
            else None
        )
        req, agency = svc.create(
            session=session, city=city, post=checked, key=key, photo=photo, media_dir=settings.media_path
        )
        notice = (
            _(
                "%(agency)s will look at it. Expected by %(date)s.",
                agency=agency,
                date=req.expected_at.astimezone(city.tz).strftime("%Y-%m-%d"),
            )
            if req.expected_at and agency
            else None
        )
        item = {
            "service_request_id": req.public_id,
            "service_notice": notice,
            "account_id": post.account_id or None,
        }
        return wire.respond(fmt, "service_requests", [item])

    return await run_in_threadpool(work)


router.add_api_route(
    PREFIX + "/requests.{fmt}", post_request, methods=["POST"], route_class_override=Open311PostRoute
)


# --- anything else under the prefix ------------------------------------------------------------------------


@router.api_route(PREFIX + "/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
def not_found(rest: str, request: Request) -> Response:
    return wire.error(
        wire.fmt_of_path(request.url.path), 404, _("No such Open311 method: %(path)s", path=rest)
    )
