"""Administration (admin role): catalogue, crews, staff, knowledge articles, Open311 API keys, the audit log."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ..auth import AdminUser, audit_actor
from ..deps import CityDep, ReadSessionDep, SessionDep
from ..i18n import gettext as _
from ..inputs import PathId, QueryId, optional_id
from ..models import Crew, Department, KnowledgeArticle, Role, Service
from ..services import admin as svc
from ..services import audit, catalogue
from ..templating import render

router = APIRouter(prefix="/admin", tags=["admin"])

Str = Annotated[str, Form(max_length=200)]
Long = Annotated[str, Form(max_length=20000)]
OptId = Annotated[str, Form(max_length=20)]


def _done(path: str, what: str) -> Response:
    return RedirectResponse(f"/admin/{path}?done={what}", 303)


def _ctx(request: Request, session: ReadSessionDep, **extra: object) -> dict:
    return {
        "done": request.query_params.get("done", ""),
        "departments": catalogue.departments(session),
        "crews": svc.crews(session),
        **extra,
    }


@router.get("")
def home(request: Request, user: AdminUser, session: ReadSessionDep) -> Response:
    figures = svc.overview(session)
    return render(request, "admin/index.html", {"figures": figures})


# ---------------------------------------------------------------- departments


@router.get("/departments")
def departments(request: Request, user: AdminUser, session: ReadSessionDep, edit: QueryId = None) -> Response:
    current = svc.find(session, Department, edit)
    return render(request, "admin/departments.html", _ctx(request, session, current=current))


@router.post("/departments")
def save_department(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    code: Str,
    name: Str,
    id: OptId = "",
    phone: Str = "",
    extension: Str = "",
    email: Str = "",
    hours: Str = "",
    description: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    svc.save_department(
        session,
        dept_id=optional_id(id),
        code=code,
        name=name,
        phone=phone,
        extension=extension,
        email=email,
        hours=hours,
        description=description,
        actor=audit_actor(request, user),
    )
    return _done("departments", "saved")


# ---------------------------------------------------------------- services


@router.get("/services")
def services(request: Request, user: AdminUser, session: ReadSessionDep, edit: QueryId = None) -> Response:
    current = svc.find(session, Service, edit)
    rows = catalogue.list_services(session, by_group=True)
    questions = json.dumps(current.attributes, indent=2, ensure_ascii=False) if current else "[]"
    return render(
        request,
        "admin/services.html",
        _ctx(request, session, current=current, rows=rows, questions=questions),
    )


@router.post("/services")
def save_service(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    code: Str,
    name: Str,
    id: OptId = "",
    group: Str = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    keywords: Annotated[str, Form(max_length=2000)] = "",
    department: OptId = "",
    sla_hours: OptId = "",
    attributes: Long = "",
    active: Str = "",
    public: Str = "",
) -> Response:
    svc.save_service(
        session,
        service_id=optional_id(id),
        code=code,
        name=name,
        group=group,
        description=description,
        keywords=keywords,
        department_id=optional_id(department, "department"),
        sla_hours=sla_hours,  # parsed by the service, which says "a whole number of hours"
        attributes=attributes,
        active=bool(active),
        public=bool(public),
        actor=audit_actor(request, user),
    )
    return _done("services", "saved")


# ---------------------------------------------------------------- crews and staff


@router.get("/crews")
def crews(request: Request, user: AdminUser, session: ReadSessionDep, edit: QueryId = None) -> Response:
    current = svc.find(session, Crew, edit)
    members = svc.crew_members(session)
    return render(request, "admin/crews.html", _ctx(request, session, current=current, members=members))


@router.post("/crews")
def save_crew(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    name: Str,
    id: OptId = "",
    department: OptId = "",
    active: Str = "",
) -> Response:
    svc.save_crew(
        session,
        crew_id=optional_id(id),
        name=name,
        department_id=optional_id(department, "department"),
        active=bool(active),
        actor=audit_actor(request, user),
    )
    return _done("crews", "saved")


@router.get("/users")
def users(request: Request, user: AdminUser, session: ReadSessionDep) -> Response:
    rows = svc.users(session)
    return render(
        request, "admin/users.html", _ctx(request, session, rows=rows, roles=[r.value for r in Role])
    )


@router.post("/users")
def add_user(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    email: Str,
    name: Str,
    role: Str,
    password: Annotated[str, Form(max_length=1000)],
    crew: OptId = "",
) -> Response:
    svc.add_user(
        session,
        email=email,
        name=name,
        role=role,
        password=password,
        crew_id=optional_id(crew, "crew"),
        actor=audit_actor(request, user),
    )
    return _done("users", "added")


@router.post("/users/{user_id}")
def update_user(
    request: Request,
    user_id: PathId,
    user: AdminUser,
    session: SessionDep,
    role: Str,
    crew: OptId = "",
    active: Str = "",
) -> Response:
    svc.update_user(
        session,
        user_id=user_id,
        role=role,
        crew_id=optional_id(crew, "crew"),
        active=bool(active),
        by=user,
        actor=audit_actor(request, user),
    )
    return _done("users", "saved")


@router.post("/users/{user_id}/password")
def reset_password(
    request: Request,
    user_id: PathId,
    user: AdminUser,
    session: SessionDep,
    password: Annotated[str, Form(max_length=1000)],
) -> Response:
    svc.reset_password(session, user_id=user_id, password=password, actor=audit_actor(request, user))
    return _done("users", "password")


# ---------------------------------------------------------------- knowledge articles


@router.get("/articles")
def articles(request: Request, user: AdminUser, session: ReadSessionDep, edit: QueryId = None) -> Response:
    current = svc.find(session, KnowledgeArticle, edit)
    rows = svc.articles(session)
    return render(request, "admin/articles.html", _ctx(request, session, current=current, rows=rows))


@router.post("/articles")
def save_article(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    slug: Str,
    title: Str,
    body: Annotated[str, Form(max_length=10000)],
    id: OptId = "",
    keywords: Annotated[str, Form(max_length=1000)] = "",
    department: OptId = "",
    language: Str = "en",
) -> Response:
    svc.save_article(
        session,
        article_id=optional_id(id),
        slug=slug,
        title=title,
        body=body,
        keywords=keywords,
        department_id=optional_id(department, "department"),
        language=language,
        actor=audit_actor(request, user),
    )
    return _done("articles", "saved")


# ---------------------------------------------------------------- Open311 API keys


@router.get("/keys")
def keys(request: Request, user: AdminUser, session: ReadSessionDep) -> Response:
    rows = svc.api_keys(session)
    return render(request, "admin/keys.html", {"rows": rows, "new_key": None, "new_name": ""})


@router.post("/keys")
def new_key(request: Request, user: AdminUser, session: SessionDep, name: Str) -> Response:
    row, key = svc.new_api_key(session, name=name, actor=audit_actor(request, user))
    rows = svc.api_keys(session)
    # shown once, in this response only: never stored, never in a URL (no redirect)
    return render(
        request,
        "admin/keys.html",
        {"rows": rows, "new_key": key, "new_name": row.name},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: PathId, user: AdminUser, session: SessionDep) -> Response:
    svc.revoke_key(session, key_id=key_id, actor=audit_actor(request, user))
    return RedirectResponse("/admin/keys?done=revoked", 303)


# ---------------------------------------------------------------- the audit log (read only: no route changes it)


@router.get("/audit")
def audit_log(request: Request, user: AdminUser, session: ReadSessionDep, city: CityDep) -> Response:
    f = audit.AuditFilter.parse(request.query_params)
    page = audit.events(session, f, city.tz)
    ctx = {
        "page": page,
        "f": f,
        "actors": audit.actors(session),
        "actions": {name: _(label) for name, label in audit.ACTIONS.items()},
        "targets": {name: _(label) for name, label in audit.TARGETS.items()},
        "detail_names": {name: _(label) for name, label in audit.DETAILS.items()},
        "shown": _shown,
        "qs": lambda **kw: urlencode(f.query_args(**kw)),
    }
    return render(request, "admin/audit.html", ctx)


def _shown(value: object) -> str:
    """A detail's value in words: yes/no, lists joined, nothing for None."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    return "—" if value is None else str(value)
