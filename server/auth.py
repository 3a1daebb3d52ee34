"""Staff sessions, CSRF and role checks. Residents need no account."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from .clientinfo import client_address
from .deps import get_read_session
from .domain.errors import Forbidden
from .models import Role, User
from .services.audit import AuditActor

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_EXEMPT_PREFIXES = ("/open311/",)  # API-key clients send no cookies, so CSRF cannot reach them
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class NotAuthenticated(Exception):
    """No staff login: errors.py answers with the login page (or a 401 to scripts)."""


class CsrfFailed(Exception):
    """A state-changing request without the session's token: errors.py answers 403 "form expired"."""


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_protect(request: Request) -> None:
    """App-wide dependency: every state-changing request carries the session's token (header or form field)."""
    if request.method in SAFE_METHODS or request.url.path.startswith(CSRF_EXEMPT_PREFIXES):
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    ctype = request.headers.get("content-type", "")
    if not sent and ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette caches it; the route reads the same parsed form
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(expected, sent):
        raise CsrfFailed()


def login_session(request: Request, user: User) -> None:
    # a new token and session content on login: no fixation of anything set before
    request.session.clear()
    request.session.update(
        {
            "uid": user.id,
            "sv": user.session_version,
            "at": int(time.time()),
            "csrf": secrets.token_urlsafe(32),
        }
    )


def logout_session(request: Request) -> None:
    request.session.clear()


def current_user(request: Request, session: Session) -> User | None:
    """The signed-in user, if the session is still theirs: not expired, and made with their current
    session_version (log out, a new password, a new role or deactivation moves it: every copy of an older
    cookie, on any device and any web process, stops working at its next request)."""
    uid, at = request.session.get("uid"), request.session.get("at", 0)
    if not uid:
        return None
    if time.time() - at > request.app.state.settings.session_max_age_s:
        request.session.pop("uid", None)
        return None
    user = session.get(User, uid)
    if user is None or not user.active or request.session.get("sv") != user.session_version:
        request.session.pop("uid", None)
        return None
    return user


def audit_actor(request: Request, user: User | None) -> AuditActor:
    """Who is acting, for the audit log: the user (if any) and the client's address."""
    return AuditActor(user.id if user else None, client_address(request))


def optional_user(request: Request, session: Annotated[Session, Depends(get_read_session)]) -> User | None:
    return current_user(request, session)


class RequireRole:
    """Route dependency: the signed-in staff user, if their role is one of `roles`."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    def __call__(self, request: Request, session: Annotated[Session, Depends(get_read_session)]) -> User:
        user = current_user(request, session)
        if user is None:
            raise NotAuthenticated()
        if user.role not in self.roles:
            raise Forbidden("Your role does not allow this page.", code="forbidden")
        request.state.user = user
        return user


# Who may do what: one place. Supervisors are dispatchers; admins can do everything staff do, but crew work.
OPERATOR_ROLES = (Role.operator, Role.dispatcher, Role.admin)
DISPATCH_ROLES = (Role.dispatcher, Role.admin)
ADMIN_ROLES = (Role.admin,)
CREW_ROLES = (Role.crew,)
STAFF_ROLES = tuple(Role)

OptionalUser = Annotated[User | None, Depends(optional_user)]
StaffUser = Annotated[User, Depends(RequireRole(*STAFF_ROLES))]
OperatorUser = Annotated[User, Depends(RequireRole(*OPERATOR_ROLES))]
DispatcherUser = Annotated[User, Depends(RequireRole(*DISPATCH_ROLES))]
AdminUser = Annotated[User, Depends(RequireRole(*ADMIN_ROLES))]
CrewUser = Annotated[User, Depends(RequireRole(*CREW_ROLES))]
