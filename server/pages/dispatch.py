"""Dispatchers and supervisors: triage queue (list and map), request detail and actions, bulk, dashboard."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ..auth import DispatcherUser
from ..deps import CityDep, ReadSessionDep, SessionDep
from ..domain.errors import Invalid
from ..domain.lifecycle import (
    CONFLICT_WORDS,
    ENTRY_WORDS,
    HAND_CLOSE_REASONS,
    PRIORITY_CHOICES,
    CloseReason,
    Status,
    check_close_reason,
    check_priority,
    words,
)
from ..i18n import gettext as _
from ..inputs import MAX_ID, optional_id, parse_id
from ..models import Channel, ServiceRequest
from ..services import dashboard as dash
from ..services import dispatch as svc
from ..services.case_file import case_file, choices
from ..services.photos import photo_url
from ..services.requests import Actor, add_note, assign_crew, change_status, find_request, set_priority
from ..templating import render

router = APIRouter(prefix="/dispatch", tags=["dispatch"])

Text = Annotated[str, Form(max_length=4000)]
Small = Annotated[str, Form(max_length=100)]
Version = Annotated[int, Form(ge=0, le=MAX_ID)]


def _choices(session: ReadSessionDep) -> dict:
    lists = choices(session)
    return {
        "services": lists.services,
        "departments": lists.departments,
        "crews": lists.crews,
        "channels": [c.value for c in Channel],
        "statuses": [s.value for s in Status],
        "priorities": PRIORITY_CHOICES,
        "sorts": svc.SORTS,
        "close_reasons": [r.value for r in HAND_CLOSE_REASONS],  # a duplicate is closed by merging
        "labels": labels(),
        "conflicts": {why: _(msgid) for why, msgid in CONFLICT_WORDS.items()},
    }


def labels() -> dict[str, str]:
    """Shown names of statuses, channels, close reasons and timeline entries, in the request's language."""
    keys = {**words(Status), **words(Channel), **words(CloseReason), **ENTRY_WORDS}
    return {value: _(key) for value, key in keys.items()}


@router.get("")
def queue(request: Request, user: DispatcherUser, session: ReadSessionDep, view: str = "list") -> Response:
    f = svc.QueueFilter.parse(dict(request.query_params))
    page = svc.queue(session, f)
    ctx = {
        "page": page,
        "f": f,
        "view": "map" if view == "map" else "list",
        "qs": lambda **kw: urlencode(f.query_args(**kw)),
        "done": request.query_params.get("done", ""),
        "points": svc.map_points(session, f) if view == "map" else [],
        **_choices(session),
    }
    return render(request, "dispatch/queue.html", ctx)


@router.post("/bulk")
async def bulk(
    request: Request,
    user: DispatcherUser,
    session: SessionDep,
    action: Annotated[str, Form(max_length=20)],
    crew: Small = "",
    status: Small = "",
    close_reason: Small = "",
    note: Text = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    form = await request.form()
    refs = svc.parse_refs([str(v) for v in form.getlist("ids")])
    actor = Actor.of(user)
    if action == "assign":
        n = svc.bulk_assign(session, refs, optional_id(crew, "crew"), actor)
    elif action == "status":
        if not status:
            raise Invalid("Choose a status.", field="status")
        n = svc.bulk_status(session, refs, status, actor, note=note, close_reason=close_reason or None)
    else:
        raise Invalid("Choose an action.", field="action")
    query = back.lstrip("?") if back.startswith("?") else ""
    sep = "&" if query else ""
    return RedirectResponse(f"/dispatch?{query}{sep}done={n}", 303)


@router.get("/dashboard")
def dashboard(request: Request, user: DispatcherUser, session: ReadSessionDep, city: CityDep) -> Response:
    return render(request, "dispatch/dashboard.html", {"d": dash.build(session, city.tz)})


@router.get("/requests/{public_id}")
def detail(request: Request, public_id: str, user: DispatcherUser, session: ReadSessionDep) -> Response:
    case = case_file(session, public_id)
    return render(
        request,
        "dispatch/detail.html",
        {
            "req": case.req,
            "service": case.service,
            "department": case.department,
            "crew": case.crew,
            "timeline": case.timeline,
            "photos": case.photos,
            "photo_url": photo_url,
            "followers": case.followers,
            "master": case.master,
            "duplicates": case.duplicates,
            "overdue": case.overdue,
            "place": case.place,
            "answers": case.answers,
            "done": request.query_params.get("done", ""),
            **_choices(session),
        },
    )


def _back(req: ServiceRequest, done: str) -> Response:
    return RedirectResponse(f"/dispatch/requests/{req.public_id}?done={done}", 303)


@router.post("/requests/{public_id}/assign")
def assign(
    public_id: str, user: DispatcherUser, session: SessionDep, version: Version, crew: Small = ""
) -> Response:
    req = find_request(session, public_id, for_update=True)
    assign_crew(
        session=session,
        req=req,
        crew_id=optional_id(crew, "crew"),
        actor=Actor.of(user),
        expected_version=version,
    )
    return _back(req, "assign")


@router.post("/requests/{public_id}/priority")
def priority(
    public_id: str, user: DispatcherUser, session: SessionDep, version: Version, priority: Small
) -> Response:
    req = find_request(session, public_id, for_update=True)
    level = parse_id(priority) or 0  # not a number: refused by the lifecycle's range like any other
    check_priority(level)  # before the version check, as a bad form is the first thing to tell
    set_priority(session=session, req=req, priority=level, actor=Actor.of(user), expected_version=version)
    return _back(req, "priority")


@router.post("/requests/{public_id}/status")
def status(
    public_id: str,
    user: DispatcherUser,
    session: SessionDep,
    version: Version,
    status: Small,
    note: Text = "",
    close_reason: Small = "",
) -> Response:
    req = find_request(session, public_id, for_update=True)
    if status == str(req.status):  # "no change": the public note alone (refused when it is empty)
        add_note(
            session=session, req=req, actor=Actor.of(user), note=note, public=True, expected_version=version
        )
        return _back(req, "public-note")
    check_close_reason(close_reason)
    change_status(
        session=session,
        req=req,
        to=status,
        actor=Actor.of(user),
        note=note,
        close_reason=close_reason or None,
        expected_version=version,
        public=True,
    )
    return _back(req, "status")


@router.post("/requests/{public_id}/note")
def note(public_id: str, user: DispatcherUser, session: SessionDep, version: Version, note: Text) -> Response:
    req = find_request(session, public_id, for_update=True)
    add_note(
        session=session, req=req, actor=Actor.of(user), note=note, public=False, expected_version=version
    )
    return _back(req, "note")


@router.post("/requests/{public_id}/public-note")
def public_note(
    public_id: str, user: DispatcherUser, session: SessionDep, version: Version, note: Text
) -> Response:
    """A note residents see, the status unchanged; followers are told (add_note queues their notifications)."""
    req = find_request(session, public_id, for_update=True)
    add_note(session=session, req=req, actor=Actor.of(user), note=note, public=True, expected_version=version)
    return _back(req, "public-note")


@router.post("/requests/{public_id}/merge")
def merge(
    public_id: str, user: DispatcherUser, session: SessionDep, version: Version, master: Small
) -> Response:
    dup = find_request(session, public_id, for_update=True)
    if not master.strip():
        raise Invalid("Give the public id of the request to keep.", field="master")
    target = find_request(session, master.strip(), for_update=True)
    svc.merge_duplicates(session, dup, target, Actor.of(user), expected_version=version)
    return RedirectResponse(f"/dispatch/requests/{target.public_id}?done=merge", 303)
