"""Home pages: the resident's, and one per staff role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..auth import OptionalUser
from ..deps import ReadSessionDep
from ..models import Role, User
from ..services.catalogue import list_services
from ..templating import render

router = APIRouter()

HOMES = {Role.admin: "/admin", Role.dispatcher: "/dispatch", Role.operator: "/operator", Role.crew: "/field/"}


def home_for(user: User) -> str:
    return HOMES[user.role]


@router.get("/")
def resident_home(request: Request, session: ReadSessionDep) -> Response:
    return render(
        request,
        "resident/home.html",
        {"services": list_services(session, public_only=True, active_only=True, by_group=True)},
    )


@router.get("/staff")
def staff_home(user: OptionalUser) -> Response:
    return RedirectResponse(home_for(user) if user else "/login", 303)
