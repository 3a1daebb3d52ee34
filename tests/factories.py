"""Plain factory functions and small helpers for tests."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session, select

from server.city import City
from server.models import Crew, ServiceRequest, User
from server.services.accounts import create_user
from server.services.requests import NewRequest, create_request

PASSWORD = "correct horse battery"
HAVERHILL_CITY_HALL = (42.7770, -71.0772)


def make_user(
    session: Session, role: str, email: str | None = None, crew: str | None = None, name: str | None = None
) -> User:
    if role == "crew" and crew is None:
        crew = session.exec(select(Crew).order_by(Crew.id)).first().name  # type: ignore[union-attr]
    user = create_user(
        session=session,
        email=email or f"{role}@test.example",
        name=name or f"Test {role.title()}",
        role=role,
        password=PASSWORD,
        crew_name=crew,
    )
    session.commit()
    return user


def make_request(session: Session, city: City, commit: bool = True, **kw: Any) -> ServiceRequest:
    kw.setdefault("service_code", "pothole")
    kw.setdefault("lat", HAVERHILL_CITY_HALL[0])
    kw.setdefault("long", HAVERHILL_CITY_HALL[1])
    kw.setdefault("description", "Deep hole in front of City Hall")
    if kw["service_code"] == "pothole":
        kw.setdefault("attributes", {"size": "medium"})
    req = create_request(session=session, city=city, new=NewRequest(**kw))
    if commit:
        session.commit()
    return req


CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "page has no CSRF token"
    return m.group(1) or m.group(2)


def login(client: Any, email: str, password: str = PASSWORD) -> Any:
    token = csrf_from(client.get("/login").text)
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, follow_redirects=False
    )


def csrf(client: Any, page: str = "/") -> str:
    return csrf_from(client.get(page).text)


def post_report(
    client: Any, token: str, files: Any = None, headers: dict[str, str] | None = None, **fields: str
) -> Any:
    """A resident's POST /report (a pothole at City Hall unless `fields` say otherwise), answered as JSON."""
    lat, long = HAVERHILL_CITY_HALL
    data = {
        "csrf_token": token,
        "service_code": "pothole",
        "attribute[size]": "large",
        "lat": str(lat),
        "long": str(long),
        "description": "Big hole",
        **fields,
    }
    return client.post(
        "/report",
        data=data,
        files=files or [("photos", ("", b"", "application/octet-stream"))],
        headers=headers or {"Accept": "application/json"},
        follow_redirects=False,
    )
