"""Login and logout for staff."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ..auth import OptionalUser, login_session, logout_session
from ..deps import SessionDep
from ..i18n import gettext as _
from ..services.accounts import authenticate
from ..templating import render
from .home import home_for

router = APIRouter(tags=["staff"])


def _safe_next(next_url: str | None) -> str | None:
    # only same-site paths: no open redirect to another host
    if next_url and next_url.startswith("/") and not next_url.startswith("//") and "\\" not in next_url:
        return next_url
    return None


@router.get("/login")
def login_form(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    if user is not None:
        return RedirectResponse(_safe_next(next) or home_for(user), 303)
    return render(request, "login.html", {"next": _safe_next(next) or "", "error": None, "email": ""})


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    user = authenticate(session=session, email=email, password=password) if email and password else None
    if user is None:
        # one message for every failure: no hint whether the e-mail exists
        error = (
            _("The e-mail or password is not right.")
            if email and password
            else _("Enter your e-mail and password.")
        )
        return render(
            request,
            "login.html",
            {"next": _safe_next(next) or "", "error": error, "email": email},
            status_code=401 if email and password else 400,
        )
    login_session(request, user)
    return RedirectResponse(_safe_next(next) or home_for(user), 303)


@router.post("/logout")
def logout(request: Request) -> Response:
    logout_session(request)
    return RedirectResponse("/login?logged_out=1", 303)
