"""Home pages: the resident's, and one per staff role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import func, select

from ..auth import OptionalUser
from ..deps import ReadSessionDep
from ..models import Role, Service, ServiceRequest, Status, User
from ..templating import render

router = APIRouter()

HOMES = {Role.admin: "/admin", Role.dispatcher: "/dispatch", Role.operator: "/operator", Role.crew: "/field/"}


def home_for(user: User) -> str:
    return HOMES[user.role]


@router.get("/")
def resident_home(request: Request, session: ReadSessionDep) -> Response:
    services = session.exec(
        select(Service).where(Service.active, Service.public).order_by(Service.group, Service.name)
    ).all()
    return render(request, "resident/home.html", {"services": services})


@router.get("/staff")
def staff_home(user: OptionalUser) -> Response:
    return RedirectResponse(home_for(user) if user else "/login", 303)


def _counts(session: ReadSessionDep) -> dict[str, int]:
    rows = session.exec(select(ServiceRequest.status, func.count()).group_by(ServiceRequest.status)).all()
    counts = {str(s): n for s, n in rows}
    return {s.value: counts.get(s.value, 0) for s in Status}
