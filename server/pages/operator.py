"""The call center: screen pop, phone intake, knowledge base, transfers and the call log.

One page per call (/operator/call?phone=...). Every action is a plain form post that htmx enhances:
htmx requests get a partial, plain posts a redirect back to the page (Post/Redirect/Get).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ..auth import OperatorUser
from ..deps import CityDep, ReadSessionDep, SessionDep
from ..domain.errors import Invalid
from ..i18n import LANGUAGES, current_language
from ..inputs import QueryId, latitude, longitude, optional_datetime, optional_id, parse_id, text
from ..models import Call, CallOutcome, Service, User, utcnow
from ..negotiation import is_htmx
from ..services import accounts, addresses, catalogue, intake, knowledge
from ..services import calls as call_log
from ..templating import render

router = APIRouter(prefix="/operator", tags=["operator"])

OUTCOMES = [
    (CallOutcome.information, "Information given"),
    (CallOutcome.request_created, "Request created"),
    (CallOutcome.follower_added, "Caller added as follower"),
    (CallOutcome.transferred, "Transferred"),
    (CallOutcome.other, "Other"),
]


def _text(form: FormData, name: str, max_len: int = 4000) -> str:
    """The last non-blank value of a field, checked and trimmed (server/inputs.py)."""
    values = [v for v in form.getlist(name) if isinstance(v, str) and v.strip()]
    return text(values[-1], name, max_len) if values else ""


def _language(form: FormData) -> str:
    """The caller's language, if the form names one we speak; else the operator's page language is used."""
    lang = _text(form, "caller_language", 8)
    return lang if lang in LANGUAGES else ""


def _call_fields(form: FormData) -> dict[str, Any]:
    return {
        "call_id": optional_id(_text(form, "call_id", 40), "call_id"),
        "caller_phone": _text(form, "caller_phone", 40),
        "caller_name": _text(form, "caller_name", 200),
        "started_at": optional_datetime(_text(form, "started_at", 64), "started_at"),
    }


def _answers(service: Service | None, form: FormData) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in service.attributes if service else []:
        values = [v.strip() for v in form.getlist(f"attr_{attr['code']}") if isinstance(v, str) and v.strip()]
        if values:
            out[attr["code"]] = values if attr.get("datatype") == "multivaluelist" else values[-1]
    return out


def _back(call: Call, **extra: str) -> str:
    params = {"phone": call.caller_phone, "call": str(call.id), **extra}
    return "/operator/call?" + urlencode({k: v for k, v in params.items() if v})


def _done(request: Request, call: Call, message: str, *, public_id: str = "", plain_url: str) -> Response:
    if is_htmx(request):
        return render(
            request,
            "operator/_done.html",
            {"call": call, "message": message, "public_id": public_id, "new_key": secrets.token_urlsafe(16)},
        )
    return RedirectResponse(plain_url, 303)


# --- pages -----------------------------------------------------------------------------------------


@router.get("")
def operator_home(
    request: Request, user: OperatorUser, session: ReadSessionDep, ended: QueryId = None
) -> Response:
    today = call_log.calls_today(session, user, request.app.state.city.tz)
    depts = {d.id: d for d in catalogue.departments(session)}
    return render(
        request,
        "operator/home.html",
        {
            "calls": today,
            "depts": depts,
            "outcomes": dict(OUTCOMES),
            "ended": ended,
            "public_ids": call_log.public_ids(session, today),
        },
    )


@router.get("/call")
def call_page(
    request: Request,
    user: OperatorUser,
    session: ReadSessionDep,
    phone: str = "",
    call: QueryId = None,
    service_code: str = "",
    saved: str = "",
    kb: str = "",
    message: str = "",
) -> Response:
    current = call_log.get_call(session, call, user) if call else None
    phone = call_log.normalise_phone(phone or (current.caller_phone if current else ""))
    history = intake.caller_history(session, phone)
    service = catalogue.service_by_code(session, service_code, active_only=False, required=False)
    return render(
        request,
        "operator/call.html",
        {
            "phone": phone,
            "call": current,
            "started_at": (current.started_at if current else utcnow()).isoformat(),
            "history": history,
            "caller_name": (current.caller_name if current else "") or history.name,
            "services": catalogue.list_services(session, active_only=True),
            "service": service,
            "questions": catalogue.questions(service) if service else [],
            "departments": catalogue.departments(session),
            "kb_query": kb,
            "kb_hits": knowledge.search(session, kb, language=current_language()) if kb else [],
            "saved": saved,
            "message": message,
            "outcomes": OUTCOMES,
            "outcome_names": dict(OUTCOMES),
            "idempotency_key": secrets.token_urlsafe(16),
        },
    )


# --- htmx partials (each also a plain GET) ------------------------------------------------------------


@router.get("/services")
def service_options(
    request: Request, user: OperatorUser, session: ReadSessionDep, service_q: str = ""
) -> Response:
    return render(
        request,
        "operator/_service_options.html",
        {"matches": catalogue.search_services(session, service_q, limit=8)},
    )


@router.get("/addresses")
def address_options(
    request: Request, user: OperatorUser, session: ReadSessionDep, address: str = ""
) -> Response:
    return render(
        request,
        "operator/_address_options.html",
        {"matches": addresses.suggest_addresses(session, address, 8)},
    )


@router.get("/questions")
def service_questions(
    request: Request, user: OperatorUser, session: ReadSessionDep, service_code: str = ""
) -> Response:
    service = catalogue.service_by_code(session, service_code, active_only=False, required=False)
    return render(
        request,
        "operator/_questions.html",
        {"service": service, "questions": catalogue.questions(service) if service else []},
    )


@router.get("/nearby")
def nearby(
    request: Request,
    user: OperatorUser,
    session: ReadSessionDep,
    service_code: str = "",
    lat: str = "",
    long: str = "",
) -> Response:
    service = catalogue.service_by_code(session, service_code, active_only=False, required=False)
    la, lo = latitude(lat), longitude(long)
    point = (la, lo) if la is not None and lo is not None else None
    found = intake.nearby_open(session, service, *point) if service and point else []
    services = {service.id: service} if service else {}
    return render(
        request,
        "operator/_nearby.html",
        {"nearby": found, "services": services, "asked": bool(service and point)},
    )


@router.get("/kb")
def kb_search(request: Request, user: OperatorUser, session: ReadSessionDep, kb: str = "") -> Response:
    if not is_htmx(request):
        return RedirectResponse("/operator/call?" + urlencode({"kb": kb, **dict(request.query_params)}), 303)
    return render(
        request,
        "operator/_kb.html",
        {"kb_query": kb, "kb_hits": knowledge.search(session, kb, language=current_language()) if kb else []},
    )


# --- actions ------------------------------------------------------------------------------------------


@router.post("/call/requests")
async def save_request(request: Request, user: OperatorUser, session: SessionDep, city: CityDep) -> Response:
    form = await request.form()

    def work() -> Response:
        code = _text(form, "service_code", 64)
        if not code:
            raise Invalid("Choose a service first.", field="service_code")
        service = catalogue.service_by_code(session, code, active_only=False, required=False)
        fields = _call_fields(form)
        req, call = intake.file_request(
            session=session,
            city=city,
            operator=_same(session, user),
            form=intake.PhoneRequest(
                service_code=code,
                description=_text(form, "description"),
                address=_text(form, "address", 250),
                lat=latitude(_text(form, "lat", 40)),
                long=longitude(_text(form, "long", 40)),
                attributes=_answers(service, form),
                caller_name=fields["caller_name"],
                caller_phone=fields["caller_phone"],
                caller_email=_text(form, "caller_email", 254),
                caller_language=_language(form),
                idempotency_key=_text(form, "idempotency_key", 80) or None,
            ),
            call_id=fields["call_id"],
            started_at=fields["started_at"],
        )
        return _done(
            request,
            call,
            "request_created",
            public_id=req.public_id or "",
            plain_url=_back(call, saved=req.public_id or ""),
        )

    return await run_in_threadpool(work)


@router.post("/call/follow")
async def follow(request: Request, user: OperatorUser, session: SessionDep) -> Response:
    form = await request.form()

    def work() -> Response:
        ref = _text(form, "request_ref", 40)
        if not ref:
            raise Invalid("Choose the request to follow.", field="request_ref")
        req, call = intake.follow_request(
            session=session,
            operator=_same(session, user),
            ref=parse_id(ref) or ref,
            caller_email=_text(form, "caller_email", 254),
            caller_language=_language(form),
            **_call_fields(form),
        )
        return _done(
            request,
            call,
            "follower_added",
            public_id=req.public_id or "",
            plain_url=_back(call, saved=req.public_id or "", message="follower_added"),
        )

    return await run_in_threadpool(work)


@router.post("/call/answer")
async def answer(request: Request, user: OperatorUser, session: SessionDep) -> Response:
    form = await request.form()

    def work() -> Response:
        article_id = parse_id(_text(form, "article_id", 40))
        article = knowledge.get_article(session, article_id) if article_id else None
        if article is None:
            raise Invalid("Choose the article you answered from.", field="article_id")
        call = call_log.log_call(
            session=session,
            operator=_same(session, user),
            outcome=CallOutcome.information,
            topic=article.title,
            article_id=article.id,
            **_call_fields(form),
        )
        return _done(request, call, "information", plain_url=_back(call, message="information"))

    return await run_in_threadpool(work)


@router.post("/call/transfer")
async def transfer(request: Request, user: OperatorUser, session: SessionDep) -> Response:
    form = await request.form()

    def work() -> Response:
        dept = call_log.transfer_department(session, parse_id(_text(form, "department_id", 40)))
        call = call_log.log_call(
            session=session,
            operator=_same(session, user),
            outcome=CallOutcome.transferred,
            department_id=dept.id,
            topic=_text(form, "topic", 200) or dept.name,
            **_call_fields(form),
        )
        if is_htmx(request):
            return render(
                request, "operator/_done.html", {"call": call, "message": "transferred", "department": dept}
            )
        return RedirectResponse(f"/operator?ended={call.id}", 303)

    return await run_in_threadpool(work)


@router.post("/call/end")
async def end(request: Request, user: OperatorUser, session: SessionDep) -> Response:
    form = await request.form()

    def work() -> Response:
        call = call_log.end_call(
            session=session,
            operator=_same(session, user),
            outcome=_text(form, "outcome", 20) or None,
            topic=_text(form, "topic", 200),
            notes=_text(form, "notes", 2000),
            **_call_fields(form),
        )
        url = f"/operator?ended={call.id}"
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, 303)

    return await run_in_threadpool(work)


def _same(session: Session, user: User) -> User:
    """The role check read the user in its own read-only session; use this unit of work's copy."""
    return accounts.in_session(session, user)
