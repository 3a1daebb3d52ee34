"""The resident app: report a problem (htmx steps), duplicates, follow, public pages, PWA manifest and worker."""

from __future__ import annotations

import json
import math
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile

from ..auth import OptionalUser
from ..city import City
from ..clientinfo import client_address
from ..config import Settings
from ..deps import CityDep, ReadSessionDep, SessionDep, SettingsDep
from ..i18n import N_, current_language
from ..i18n import gettext as _
from ..inputs import latitude, longitude
from ..models import Channel, Service, Status
from ..negotiation import is_htmx, wants_json
from ..ratelimit import RateLimited, address_bucket, limiter_of
from ..services import followers
from ..services import resident as svc
from ..services.addresses import geocode, nearest_address
from ..services.catalogue import list_services
from ..services.nearby import open_requests_near
from ..services.photos import MAX_PER_REQUEST
from ..services.requests import NewRequest, by_idempotency_key, find_request
from ..templating import asset, render

router = APIRouter(tags=["resident"])

ICONS = ("/static/icons/icon-192.png", "/static/icons/icon-512.png", "/static/icons/maskable-512.png")
# The app shell the service worker keeps: everything the report page needs with no network (Leaflet is
# fetched only when the map is opened, then cached at run time).
SHELL_PAGES = ("/report", "/offline")
SHELL_ASSETS = (
    "/static/css/app.css",
    "/static/css/resident.css",
    "/static/vendor/htmx.min.js",
    "/static/js/report.js",
    "/static/js/offline-queue.js",
    ICONS[0],
)
PUSH_WORKER_SCRIPT = "/static/js/sw-push.js"  # the web push handlers, imported by the worker


# -- the report flow ----------------------------------------------------------------------------------


@router.get("/report")
def report_page(
    request: Request, session: ReadSessionDep, settings: SettingsDep, service: str = "", q: str = ""
) -> Response:
    chosen = svc.chosen_service(session, service) if service else None
    return render(
        request,
        "resident/report.html",
        {
            "services": svc.services_matching(session, q),
            "q": q,
            "service": chosen,
            "radius_m": int(settings.duplicate_radius_m),
            "max_photos": MAX_PER_REQUEST,
        },
    )


@router.get("/report/services")
def report_services(request: Request, session: ReadSessionDep, q: str = "") -> Response:
    services = svc.services_matching(session, q[:100])
    if not is_htmx(request):
        return RedirectResponse(f"/report?{urlencode({'q': q[:100]})}", 303)
    return render(request, "resident/_services.html", {"services": services, "q": q})


@router.get("/report/questions")
def report_questions(request: Request, session: ReadSessionDep, service: str) -> Response:
    chosen = svc.chosen_service(session, service)
    if not is_htmx(request):
        return RedirectResponse(f"/report?service={chosen.code}", 303)
    return render(request, "resident/_questions.html", {"service": chosen})


@router.get("/report/nearby")
def report_nearby(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    city: CityDep,
    service: str,
    lat: str = "",
    long: str = "",
    address: str = "",
) -> Response:
    """'Is this already reported?': open requests of this service near the point (or the typed address)."""
    chosen = svc.chosen_service(session, service)
    la, lo = latitude(lat), longitude(long)
    if (la is None or lo is None) and address.strip():
        point = geocode(session, address)
        la, lo = point if point else (None, None)
    items: list[svc.PublicItem] = []
    outside = la is not None and lo is not None and not city.bounds.contains(la, lo)
    # a point (pin, my location, photo GPS: the form sends no address then) is named by the nearest known address
    pinned = la is not None and lo is not None and not outside and not address.strip()
    place = nearest_address(session, la, lo) if pinned else None  # type: ignore[arg-type]
    if la is not None and lo is not None and not outside:
        near = open_requests_near(
            session=session,
            service_id=chosen.id,
            lat=la,
            long=lo,
            radius_m=settings.duplicate_radius_m,  # type: ignore[arg-type]
        )
        items = [svc.PublicItem(n.request, chosen, n.distance_m) for n in near]
        svc.add_thumbs(session, items)
    return render(
        request,
        "resident/_nearby.html",
        {
            "items": items,
            "outside": outside,
            "radius_m": int(settings.duplicate_radius_m),
            "lat": la,
            "long": lo,
            "place": place,
        },
    )


@router.get("/report/csrf", include_in_schema=False)
def report_csrf(request: Request) -> JSONResponse:
    """The offline queue asks for a current token before it replays (the cached page may hold an old one)."""
    from ..auth import csrf_token

    return JSONResponse({"csrf_token": csrf_token(request)}, headers={"Cache-Control": "no-store"})


def _new_request(form: FormData, service: Service) -> NewRequest:
    attrs: dict[str, Any] = {}
    for attr in service.attributes:
        code = attr["code"]
        values = [v for v in form.getlist(f"attribute[{code}]") if isinstance(v, str)]
        if values:
            attrs[code] = values if attr.get("datatype") == "multivaluelist" else values[0]
    return NewRequest(
        service_code=service.code,
        description=str(form.get("description") or ""),
        lat=latitude(form.get("lat")),
        long=longitude(form.get("long")),
        address=str(form.get("address") or "")[:250],
        attributes=attrs,
        channel=Channel.app if form.get("via") == "app" else Channel.web,
        reporter_name=str(form.get("name") or "")[:200],
        reporter_email=str(form.get("email") or "")[:254],
        reporter_phone=str(form.get("phone") or "")[:40],
        idempotency_key=_idempotency_key(form),
    )


def _idempotency_key(form: FormData) -> str | None:
    """Made by the app for each report, so that its offline queue's retries create it once."""
    return str(form.get("idempotency_key") or "").strip()[:80] or None


def _submit(
    session: Session, reads: Session, settings: Settings, city: City, form: FormData, files: list[bytes]
) -> tuple[str, str]:
    service = svc.chosen_service(reads, str(form.get("service_code") or ""))
    new = _new_request(form, service)
    # the cheap checks first (a report missing a required answer costs no decoding), then the photos, with no
    # write lock held while they decode, then one unit of work
    svc.check_report(session=reads, city=city, new=new, photo_count=len(files))
    photos = svc.decode_photos(
        files, max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels
    )
    req = svc.submit_report(session=session, city=city, new=new, photos=photos, media_dir=settings.media_path)
    return req.public_id or "", req.private_token


# Anonymous reports are counted per device, then per address (server/ratelimit.py: in the database, so every
# web process shares the count). The device first: a runaway phone behind a shared address (a library's wifi,
# a carrier's NAT) stops at its own limit without spending its neighbours' share.
TOO_MANY_FROM_DEVICE = N_(
    "You have sent many reports in a short time. Please try again in %(minutes)s min, or call 311."
)
TOO_MANY_FROM_NETWORK = N_(
    "Many reports have been sent from your network in a short time. Please try again in %(minutes)s min, "
    "or call 311."
)


def _throttle(request: Request, settings: Settings, device: str) -> None:
    limiter = limiter_of(request.app.state)
    address = address_bucket(client_address(request))
    for rate, bucket, message in (
        (settings.report_rate_limit_device, ("report-device", device), TOO_MANY_FROM_DEVICE),
        (settings.report_rate_limit_address, ("report-address", address), TOO_MANY_FROM_NETWORK),
    ):
        wait = limiter.wait(rate, *bucket)
        if wait:
            raise RateLimited(message, retry_after=wait, minutes=math.ceil(wait / 60))


def _device(request: Request) -> str:
    """This browser's id for the per-device limit, kept in the signed session cookie (the one that holds the
    CSRF token every report needs)."""
    device = request.session.get("device")
    if not isinstance(device, str) or not device:
        device = request.session["device"] = secrets.token_urlsafe(12)
    return device


@router.post("/report")
async def report_submit(
    request: Request,
    session: SessionDep,
    reads: ReadSessionDep,
    settings: SettingsDep,
    city: CityDep,
    user: OptionalUser,
) -> Response:
    """One multipart POST: fields, answers and up to 5 photos (already shrunk by the browser)."""
    async with request.form(max_files=MAX_PER_REQUEST + 1, max_fields=200) as form:
        done = await run_in_threadpool(by_idempotency_key, reads, _idempotency_key(form))
        if done is not None:  # a replay of an accepted report: answered as the first time, and not counted
            public_id, token = done.public_id or "", done.private_token
        else:
            if user is None:  # staff filing a caller's report are not throttled
                await run_in_threadpool(_throttle, request, settings, _device(request))
            files: list[bytes] = []
            for f in form.getlist("photos"):
                if isinstance(f, UploadFile):
                    data = await f.read(settings.photo_max_bytes + 1)
                    if data or f.filename:  # no name and no bytes: the plain form's "no photo chosen"
                        files.append(data)  # a named file with no bytes is refused as empty
            public_id, token = await run_in_threadpool(_submit, session, reads, settings, city, form, files)
    private_url = f"/r/{public_id}?t={token}"
    if wants_json(request):
        return JSONResponse(
            {"public_id": public_id, "status_url": f"/requests/{public_id}", "private_url": private_url}, 201
        )
    return RedirectResponse(private_url + "&new=1", 303)


# -- after sending: private link, public page, follow -------------------------------------------------


@router.get("/r/{public_id}")
def private_page(
    request: Request, session: ReadSessionDep, public_id: str, t: str = "", new: str = ""
) -> Response:
    view = svc.public_view(session, public_id)
    svc.check_private_token(view.request, t)
    return render(
        request,
        "resident/request.html",
        {
            "view": view,
            "private": True,
            "new": bool(new),
            "private_url": f"/r/{view.request.public_id}?t={t}",
            "emailed": svc.reporter_email_followed(session, view.request),
        },
        headers={"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"},
    )


@router.get("/requests/{public_id}")
def public_page(request: Request, session: ReadSessionDep, public_id: str) -> Response:
    view = svc.public_view(session, public_id)
    return render(request, "resident/request.html", {"view": view, "private": False, "new": False})


@router.post("/requests/{public_id}/follow")
def follow(
    request: Request,
    session: SessionDep,
    public_id: str,
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    push_endpoint: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    req = find_request(session, public_id, for_update=True)
    follower = followers.add_follower(
        session=session, req=req, name=name, email=email, phone=phone, push_endpoint=push_endpoint
    )
    if wants_json(request):
        return JSONResponse({"following": True, "token": follower.token}, 201)
    ctx = {"public_id": public_id.upper(), "token": follower.token, "following": True}
    if is_htmx(request):
        return render(request, "resident/_follow.html", ctx)
    return RedirectResponse(f"/requests/{public_id.upper()}?following={follower.token}", 303)


@router.post("/follow/stop")
def unfollow(
    request: Request, session: SessionDep, token: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    req = followers.unfollow(session=session, token=token)
    ctx = {"public_id": req.public_id, "token": "", "following": False, "stopped": True}
    if is_htmx(request):
        return render(request, "resident/_follow.html", ctx)
    return RedirectResponse(f"/requests/{req.public_id}?stopped=1", 303)


# -- recent requests ----------------------------------------------------------------------------------


@router.get("/requests")
def recent(
    request: Request,
    session: ReadSessionDep,
    service: str = "",
    status: str = "",
    lat: str = "",
    long: str = "",
) -> Response:
    la, lo = latitude(lat), longitude(long)
    items = svc.recent_requests(session, service_code=service[:64], status=status[:20], lat=la, long=lo)
    ctx = {
        "items": items,
        "services": list_services(session, public_only=True, active_only=True, by_group=True),
        "statuses": [s.value for s in Status],
        "f_service": service,
        "f_status": status,
        "near": la is not None and lo is not None,
        "lat": la,
        "long": lo,
    }
    if is_htmx(request, "results"):
        return render(request, "resident/_results.html", ctx)
    return render(request, "resident/requests.html", ctx)


# -- the installable app ------------------------------------------------------------------------------


@router.get("/offline")
def offline(request: Request) -> Response:
    return render(request, "resident/offline.html")


@router.get("/manifest.webmanifest", include_in_schema=False)
def manifest(city: CityDep) -> Response:
    body = {
        "id": "/",
        "name": _("%(city)s 311", city=city.name),
        "short_name": "311",
        "description": _("Report a problem to the city and follow it until it is fixed."),
        "lang": current_language(),
        "start_url": "/report?source=pwa",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b4f8a",
        "icons": [
            {"src": asset(ICONS[0]), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": asset(ICONS[1]), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": asset(ICONS[2]), "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        ],
    }
    return Response(
        json.dumps(body, ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


def worker_version(parts: list[str]) -> str:
    import hashlib

    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:10]


@router.get("/sw.js", include_in_schema=False)
def service_worker(session: ReadSessionDep) -> Response:
    """Rendered so the precache names versioned URLs; a new asset or service gives a new worker and caches."""
    from ..templating import templates

    extra = [asset(PUSH_WORKER_SCRIPT)]
    # each service's questions, so a report can be made even when the app is opened with no network
    questions = [
        f"/report/questions?service={s.code}"
        for s in list_services(session, public_only=True, active_only=True, by_group=True)
    ]
    shell = [*SHELL_PAGES, *(asset(a) for a in SHELL_ASSETS)]
    body = templates.env.get_template("resident/sw.js").render(
        version=worker_version([*shell, *extra, *questions]),
        shell=shell,
        questions=questions,
        queue_script=asset("/static/js/offline-queue.js"),
        push_script=extra[0],
    )
    return Response(
        body,
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )
