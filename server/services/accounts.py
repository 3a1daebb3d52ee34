"""Staff accounts: creation and authentication."""

from __future__ import annotations

import re

from sqlmodel import Session, func, select

from ..domain.errors import Conflict, Invalid
from ..models import Crew, Role, User
from ..passwords import MIN_LENGTH, hash_password, verify_password

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


def authenticate(*, session: Session, email: str, password: str) -> User | None:
    """The same work whether or not the user exists; upgrades old hashes."""
    user = session.exec(select(User).where(func.lower(User.email) == normalise_email(email))).first()
    ok, new_hash = verify_password(password, user.password_hash if user else None)
    if not ok or user is None or not user.active:
        return None
    if new_hash:
        user.password_hash = new_hash
        session.add(user)
        session.commit()
    return user
