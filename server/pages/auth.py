"""Staff log-in (throttled), log-out, and changing one's own password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ..auth import OptionalUser, StaffUser, audit_actor, current_user, login_session, logout_session
from ..clientinfo import client_address
from ..deps import SessionDep
from ..domain.errors import Invalid
from ..errors import localized
from ..i18n import gettext as _
from ..i18n import ngettext
from ..login_throttle import Lockout, LoginThrottle
from ..passwords import MIN_LENGTH
from ..services import accounts
from ..templating import render
from .home import home_for

router = APIRouter(tags=["staff"])

Password = Annotated[str, Form(max_length=1000)]


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
    password: Password = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    form = {"next": _safe_next(next) or "", "email": email}
    if not (email and password):
        return render(request, "login.html", {**form, "error": _("Enter your e-mail and password.")}, 400)
    address = client_address(request)
    throttle = LoginThrottle(request.app.state.engine, request.app.state.settings)
    attempt = throttle.attempt(account=accounts.normalise_email(email), address=address)
    if isinstance(attempt, Lockout):
        # the password is not even checked: during a lockout the right one does not log in either
        return _locked_out(request, form, attempt)
    user = accounts.log_in(session=session, email=email, password=password, address=address)
    if user is None:
        lockout = throttle.failed(attempt)
        if lockout is not None:
            accounts.record_lockout(
                session=session, address=address, email=email, scope=lockout.scope, seconds=lockout.seconds
            )
            return _locked_out(request, form, lockout)
        # one message for every failure: no hint whether the e-mail exists
        return render(
            request, "login.html", {**form, "error": _("The e-mail or password is not right.")}, 401
        )
    throttle.succeeded(attempt)
    login_session(request, user)
    return RedirectResponse(_safe_next(next) or home_for(user), 303)


def _locked_out(request: Request, form: dict, lockout: Lockout) -> Response:
    """429 with Retry-After, and the wait in words. The same for every account, existing or not."""
    return render(
        request,
        "login.html",
        {**form, "error": _wait_message(lockout)},
        429,
        headers={"Retry-After": str(lockout.seconds)},
    )


def _wait_message(lockout: Lockout) -> str:
    minutes = -(-lockout.seconds // 60)  # rounded up: never tell someone to come back too early
    return ngettext(
        "Too many failed log-in attempts. Try again in %(num)s minute.",
        "Too many failed log-in attempts. Try again in %(num)s minutes.",
        minutes,
    )


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    user = current_user(request, session)
    if user is not None:
        # ends this user's sessions everywhere: a copy of this cookie stops working too
        accounts.log_out(session=session, user=user, actor=audit_actor(request, user))
    logout_session(request)
    return RedirectResponse("/login?logged_out=1", 303)


# ---------------------------------------------------------------- one's own password


@router.get("/account/password")
def password_form(request: Request, user: StaffUser) -> Response:
    done = request.query_params.get("done") == "1"
    ctx = {"error": None, "error_field": "", "done": done, "min_length": MIN_LENGTH}
    return render(request, "staff/password.html", ctx)


@router.post("/account/password")
def change_password(
    request: Request,
    user: StaffUser,
    session: SessionDep,
    current_password: Password = "",
    password: Password = "",
    confirm: Password = "",
) -> Response:
    # the current password is one more thing to guess with a stolen session: the log-in throttle counts it
    throttle = LoginThrottle(request.app.state.engine, request.app.state.settings)
    attempt = throttle.attempt(account=accounts.normalise_email(user.email), address=client_address(request))
    if isinstance(attempt, Lockout):
        return _password_page(request, _wait_message(attempt), "current_password", 429, attempt)
    if not accounts.password_matches(user, current_password):
        lockout = throttle.failed(attempt)
        if lockout is not None:
            return _password_page(request, _wait_message(lockout), "current_password", 429, lockout)
        return _password_page(request, _("Your current password is not right."), "current_password", 400)
    throttle.succeeded(attempt)
    try:
        me = accounts.change_own_password(
            session=session,
            user_id=user.id or 0,
            new=password,
            confirm=confirm,
            actor=audit_actor(request, user),
        )
    except Invalid as e:
        return _password_page(request, localized(e), e.field or "", 400)
    # every other session of this user has ended; this one goes on with the new version
    login_session(request, me)
    return RedirectResponse("/account/password?done=1", 303)


def _password_page(
    request: Request, error: str, field: str, status: int, lockout: Lockout | None = None
) -> Response:
    headers = {"Retry-After": str(lockout.seconds)} if lockout else None
    ctx = {"error": error, "error_field": field, "done": False, "min_length": MIN_LENGTH}
    return render(request, "staff/password.html", ctx, status, headers=headers)
