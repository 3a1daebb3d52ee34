"""Staff accounts: creation, log-in and log-out, passwords, and ending a user's sessions."""

from __future__ import annotations

import re

from sqlmodel import Session, func, select

from ..domain.errors import Conflict, Invalid, NotFound
from ..models import Crew, Role, User, utcnow
from ..passwords import MIN_LENGTH, hash_password, verify_password
from .audit import AuditActor, record

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    *,
    session: Session,
    email: str,
    name: str,
    role: str,
    password: str,
    crew_name: str | None = None,
) -> User:
    email = normalise_email(email)
    if not EMAIL_RE.match(email):
        raise Invalid("Enter a valid e-mail address.", field="email")
    if not name.strip():
        raise Invalid("Enter a name.", field="name")
    if role not in Role.__members__:
        raise Invalid("Role must be one of: %(roles)s.", field="role", roles=", ".join(Role.__members__))
    if len(password) < MIN_LENGTH:
        raise Invalid("The password must be at least %(n)s characters.", field="password", n=MIN_LENGTH)
    if session.exec(select(User).where(func.lower(User.email) == email)).first():
        raise Conflict("A user with this e-mail already exists.", field="email")
    crew_id = None
    if crew_name:
        crew = session.exec(select(Crew).where(Crew.name == crew_name)).first()
        if crew is None:
            raise Invalid("No crew named %(crew)s.", field="crew", crew=crew_name)
        crew_id = crew.id
    user = User(
        email=email,
        name=name.strip(),
        role=Role(role),
        password_hash=hash_password(password),
        crew_id=crew_id,
    )
    session.add(user)
    session.flush()
    return user


def _find(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(func.lower(User.email) == normalise_email(email))).first()


def in_session(session: Session, user: User) -> User:
    """This unit of work's copy of a user another session loaded (the role check reads in its own)."""
    return session.get(User, user.id) or user


def set_overdue_alerts(session: Session, *, user_id: int, enabled: bool) -> None:
    """A dispatcher's choice: be told when a request in their queue goes overdue."""
    me = session.get(User, user_id)
    if me is None:
        raise NotFound("Not found.")  # signed in a moment ago: removed since
    me.overdue_alerts = enabled
    session.add(me)


def log_in(*, session: Session, email: str, password: str, address: str) -> User | None:
    """Check a log-in, record it (last log-in, failures since, the audit log) and commit that.

    Unknown e-mail, wrong password and inactive account look the same to the caller and take the same time."""
    user = _find(session, email)
    ok, new_hash = verify_password(password, user.password_hash if user else None)
    if not ok or user is None or not user.active:
        if user is not None:
            user.failed_logins = User.failed_logins + 1  # in SQL: two processes failing at once both count
            session.add(user)
        record(
            session,
            actor=AuditActor(None, address),
            action="login_failed",
            target_type="user" if user else "",
            target_id=user.id if user else "",
            email=_as_typed(email),
        )
        session.commit()  # see below
        return None
    if new_hash:
        user.password_hash = new_hash
    user.last_login_at, user.failed_logins = utcnow(), 0
    session.add(user)
    record(session, actor=AuditActor(user.id, address), action="login", target_type="user", target_id=user.id)
    # committed here, not at the end of the request: the log-in throttle writes next, in its own transaction,
    # and on SQLite it would wait for this one's write lock
    session.commit()
    return user


def record_lockout(*, session: Session, address: str, email: str, scope: str, seconds: int) -> None:
    """The throttle locked log-ins for an account or an address (the lock itself is in rate_counter)."""
    record(
        session,
        actor=AuditActor(None, address),
        action="login_locked",
        target_type=scope,
        target_id=address if scope == "address" else "",
        seconds=seconds,
        email=_as_typed(email),
    )


def _as_typed(email: str) -> str:
    """The e-mail a failed log-in named, for the log; not if it does not look like one (people type their
    password into the wrong field, and the log must not keep it)."""
    email = normalise_email(email)
    return email[:254] if EMAIL_RE.match(email) else ""


def end_sessions(user: User) -> None:
    """Every session of this user, on every device and web process, ends at its next request."""
    user.session_version = (user.session_version or 0) + 1


def log_out(*, session: Session, user: User, actor: AuditActor) -> None:
    end_sessions(user)
    session.add(user)
    record(session, actor=actor, action="logout", target_type="user", target_id=user.id)


def _check_new_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise Invalid("The password must be at least %(n)s characters.", field="password", n=MIN_LENGTH)
    return password


def password_matches(user: User, password: str) -> bool:
    """The signed-in user proves who they are again (no database work: the caller's throttle writes next)."""
    ok, _ = verify_password(password, user.password_hash)
    return ok


def change_own_password(*, session: Session, user_id: int, new: str, confirm: str, actor: AuditActor) -> User:
    """The user's own change, once they have given their current password: their other sessions end."""
    if new != confirm:
        raise Invalid("The two new passwords are not the same.", field="confirm", code="mismatch")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("Not found.")
    set_password(session=session, user=user, password=new, actor=actor)
    return user


def set_password(*, session: Session, user: User, password: str, actor: AuditActor) -> None:
    """A new password (by the user, or by an administrator): every session of the user ends."""
    user.password_hash = hash_password(_check_new_password(password))
    end_sessions(user)
    session.add(user)
    record(
        session,
        actor=actor,
        action="password_changed",
        target_type="user",
        target_id=user.id,
        by_self=actor.user_id == user.id,
    )
    session.flush()
