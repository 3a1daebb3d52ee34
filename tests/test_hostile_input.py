"""Hostile input is normal input: what was found from outside against a running server, family by family.

Five families that each gave a 500 (and a reset connection): integers beyond the id columns (2**31 on
PostgreSQL, 2**63 on SQLite), Unicode digits (`"²".isdigit()` is true, `int("²")` fails), dates out of range,
NUL (PostgreSQL refuses it), lone surrogates and noncharacters; and a sixth found on the way: NaN, infinity and
1e400 where a number goes. Each case is sent as the role that may use the route, on the database of the run
(SQLite, or PostgreSQL with DATABASE_URL), and must answer 400 or 404 in the caller's format (HTML page, htmx
fragment, JSON, Open311 JSON or XML) with a message, store nothing when it was a write, and never be a 5xx.
Also here: Spanish messages, 404/405 in the caller's format, the Open311 XML staying well-formed whatever is
stored, and a bug (a forced 500 on a real uvicorn server) not costing the keep-alive connection.
"""

from __future__ import annotations

import gc
import http.client
import json
import logging
import threading
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, SQLModel

from server.config import Settings
from server.db import session_scope
from server.inputs import MAX_ID, check_text, forbidden_character, parse_datetime, parse_id, xml_safe
from server.main import create_app
from server.models import Address, Department, Role, Service, ServiceRequest
from server.services.addresses import _successor, normalise_address
from server.services.catalogue import import_city
from server.services.requests import Actor, change_status
from tests.conftest import empty_database
from tests.factories import csrf_from, login, make_request, make_user
from tests.open311_helpers import api_key

HUGE = "9" * 20  # > 2**63 - 1: no 64-bit column holds it
BIG = str(2**31)  # fits SQLite's 64-bit ids, not PostgreSQL's INTEGER columns
ROLES = ("anonymous", *(r.value for r in Role))


@dataclass
class World:
    """One database state and one logged-in client per role for the whole module (logins cost argon2)."""

    engine: Engine
    clients: dict[str, tuple[TestClient, str]]
    public_id: str
    api_key: str
    crew_job: int
    user_ids: dict[str, int]
    values: dict[str, str] = field(default_factory=dict)

    def fill(self, text: str) -> str:
        for name, value in self.values.items():
            text = text.replace("{" + name + "}", value)
        return text


@pytest.fixture(scope="module")
def world(app, engine, city) -> Iterator[World]:  # type: ignore[no-untyped-def]
    empty_database(engine)
    with session_scope(engine) as s:
        import_city(session=s, city=city)
    with Session(engine, expire_on_commit=False) as s:
        users = {role: make_user(s, role) for role in ROLES[1:]}
        req = make_request(s, city)
        job = make_request(s, city, description="A job for the crew")
        job.crew_id = users["crew"].crew_id
        s.add(job)
        s.commit()
        key = api_key(s)
    clients: dict[str, tuple[TestClient, str]] = {}
    for role in ROLES:
        c = TestClient(app)
        c.__enter__()
        if role != "anonymous":
            assert login(c, f"{role}@test.example").status_code == 303
        clients[role] = (c, csrf_from(c.get("/").text))
    w = World(
        engine, clients, req.public_id or "", key, job.id or 0, {r: u.id or 0 for r, u in users.items()}
    )
    w.values = {"pid": w.public_id, "api_key": key, "job": str(job.id), "huge": HUGE, "big": BIG}
    yield w
    for c, _ in clients.values():
        c.__exit__(None, None, None)


# ---------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Hostile:
    role: str
    method: str
    url: str
    form: dict[str, str] | None = None
    body: bytes | None = None  # raw JSON, so that escapes like \ud800 arrive as they were written
    status: int = 400
    htmx: bool = False
    multipart: bool = False


def case(name: str, role: str, method: str, url: str, status: int = 400, **kw: Any) -> Any:
    return pytest.param(Hostile(role, method, url, status=status, **kw), id=name)


def report(**fields: str) -> dict[str, str]:
    return {"service_code": "pothole", "description": "Hole", "attribute[size]": "small", **fields}


def open311_post(**fields: str) -> dict[str, str]:
    return {"api_key": "{api_key}", "service_code": "pothole", "attribute[size]": "small", **fields}


def subscription(endpoint: str) -> bytes:
    # written by hand: json.dumps would escape a lone surrogate differently, or refuse it
    return (
        '{"subscription": {"endpoint": "' + endpoint + '", "keys": {"p256dh": "BNc", "auth": "tBH"}}}'
    ).encode()


HUGE_INTEGERS = [
    case("public page", "anonymous", "GET", "/requests/{huge}", 404),
    case("public page, public id", "anonymous", "GET", "/requests/311-2026-{huge}", 404),
    case("private link", "anonymous", "GET", "/r/{huge}?t=x", 404),
    case("follow", "anonymous", "POST", "/requests/{huge}/follow", 404, form={"email": "a@example.org"}),
    case("requests page", "anonymous", "GET", "/open311/v2/requests.json?page={huge}"),
    case("requests page 1e20", "anonymous", "GET", "/open311/v2/requests.xml?page=1e20"),
    case("updates page size", "anonymous", "GET", "/open311/v2/servicerequestupdates.xml?page_size={huge}"),
    case("open311 request", "anonymous", "GET", "/open311/v2/requests/311-2026-{huge}.xml", 404),
    case(
        "open311 address_id",
        "anonymous",
        "POST",
        "/open311/v2/requests.json",
        form=open311_post(address_id=HUGE),
    ),
    case("push unsubscribe", "anonymous", "DELETE", "/api/push/subscriptions/{huge}", 404),
    case("push unfollow", "anonymous", "DELETE", "/api/push/subscriptions/{huge}/follows/{pid}", 404),
    case("call screen", "operator", "GET", "/operator/call?call={huge}"),
    case("operator home", "operator", "GET", "/operator?ended={huge}"),
    case("answer", "operator", "POST", "/operator/call/answer", form={"article_id": HUGE}),
    case("transfer", "operator", "POST", "/operator/call/transfer", form={"department_id": HUGE}),
    case("end call", "operator", "POST", "/operator/call/end", form={"call_id": HUGE}),
    case("follow by phone", "operator", "POST", "/operator/call/follow", 404, form={"request_ref": HUGE}),
    case(
        "phone request (htmx)",
        "operator",
        "POST",
        "/operator/call/requests",
        htmx=True,
        form={"service_code": "pothole", "description": "Hole", "address": "1 Main St", "call_id": HUGE},
    ),
    case("case file", "dispatcher", "GET", "/dispatch/requests/{huge}", 404),
    case(
        "assign crew",
        "dispatcher",
        "POST",
        "/dispatch/requests/{pid}/assign",
        form={"version": "1", "crew": HUGE},
    ),
    case("assign version", "dispatcher", "POST", "/dispatch/requests/{pid}/assign", form={"version": HUGE}),
    case(
        "merge",
        "dispatcher",
        "POST",
        "/dispatch/requests/{pid}/merge",
        404,
        form={"version": "1", "master": HUGE},
    ),
    case(
        "bulk ids",
        "dispatcher",
        "POST",
        "/dispatch/bulk",
        form={"action": "assign", "ids": HUGE, "crew": "1"},
    ),
    case(
        "bulk crew",
        "dispatcher",
        "POST",
        "/dispatch/bulk",
        form={"action": "assign", "ids": "{job}", "crew": HUGE},
    ),
    case("edit department", "admin", "GET", "/admin/departments?edit={huge}"),
    case("edit service", "admin", "GET", "/admin/services?edit={huge}"),
    case("edit crew", "admin", "GET", "/admin/crews?edit={huge}"),
    case("edit article", "admin", "GET", "/admin/articles?edit={huge}"),
    case(
        "save department", "admin", "POST", "/admin/departments", form={"code": "x", "name": "X", "id": HUGE}
    ),
    case("save crew", "admin", "POST", "/admin/crews", form={"name": "X", "department": HUGE}),
    case(
        "save article",
        "admin",
        "POST",
        "/admin/articles",
        form={"slug": "x", "title": "X", "body": "B", "department": HUGE},
    ),
    case(
        "add user",
        "admin",
        "POST",
        "/admin/users",
        form={
            "email": "new@example.org",
            "name": "N",
            "role": "crew",
            "password": "long enough pw",
            "crew": HUGE,
        },
    ),
    case("update user", "admin", "POST", "/admin/users/{huge}", 404, form={"role": "crew"}),
    case("revoke key", "admin", "POST", "/admin/keys/{huge}/revoke", 404),
    case("2**31 public id", "anonymous", "GET", "/requests/311-2026-{big}", 404),
    case("2**31 push", "anonymous", "DELETE", "/api/push/subscriptions/{big}", 404),
    case("2**31 edit", "admin", "GET", "/admin/departments?edit={big}"),
    case("2**31 revoke key", "admin", "POST", "/admin/keys/{big}/revoke", 404),
    case("2**31 answer", "operator", "POST", "/operator/call/answer", form={"article_id": BIG}),
    case("2**31 case file", "dispatcher", "GET", "/dispatch/requests/{big}", 404),
    case(
        "2**31 open311 address_id",
        "anonymous",
        "POST",
        "/open311/v2/requests.json",
        form=open311_post(address_id=BIG),
    ),
]

UNICODE_DIGITS = [
    case("public page", "anonymous", "GET", "/requests/²", 404),
    case("public id", "anonymous", "GET", "/requests/311-2026-٣٣٣٣٣٣", 404),
    case("open311 page", "anonymous", "GET", "/open311/v2/requests.json?page=²"),
    case("open311 request", "anonymous", "GET", "/open311/v2/requests/311-2026-٣٣٣٣٣٣.json", 404),
    case("push unsubscribe", "anonymous", "DELETE", "/api/push/subscriptions/²", 404),
    case("call screen", "operator", "GET", "/operator/call?call=²"),
    case("end call", "operator", "POST", "/operator/call/end", form={"call_id": "²"}),
    case("follow by phone", "operator", "POST", "/operator/call/follow", 404, form={"request_ref": "²"}),
    case("case file", "dispatcher", "GET", "/dispatch/requests/²", 404),
    case(
        "priority",
        "dispatcher",
        "POST",
        "/dispatch/requests/{pid}/priority",
        form={"version": "1", "priority": "²"},
    ),
    case(
        "assign crew",
        "dispatcher",
        "POST",
        "/dispatch/requests/{pid}/assign",
        form={"version": "1", "crew": "²"},
    ),
    case(
        "bulk ids", "dispatcher", "POST", "/dispatch/bulk", form={"action": "assign", "ids": "²", "crew": "1"}
    ),
    case("edit crew", "admin", "GET", "/admin/crews?edit=²"),
    case(
        "save department", "admin", "POST", "/admin/departments", form={"code": "x", "name": "X", "id": "²"}
    ),
    case("update user", "admin", "POST", "/admin/users/²", 404, form={"role": "crew"}),
]

DATES = [
    case("start_date 9999", "anonymous", "GET", "/open311/v2/requests.json?start_date=9999-12-31"),
    case("end_date 0001", "anonymous", "GET", "/open311/v2/requests.json?end_date=0001-01-01"),
    case(
        "updated_after 9999",
        "anonymous",
        "GET",
        "/open311/v2/requests.xml?updated_after=9999-12-31T23:59:59Z",
    ),
    case("updated_before 0001", "anonymous", "GET", "/open311/v2/requests.json?updated_before=0001-01-01"),
    case(
        "offset past year 1",
        "anonymous",
        "GET",
        "/open311/v2/requests.json?start_date=0001-01-01T00:00:00%2B05:00",
    ),
    case(
        "updates start 9999",
        "anonymous",
        "GET",
        "/open311/v2/servicerequestupdates.json?start_date=9999-12-31",
    ),
    case("updates end 0001", "anonymous", "GET", "/open311/v2/servicerequestupdates.xml?end_date=0001-01-01"),
    case(
        "call start year 1",
        "operator",
        "POST",
        "/operator/call/end",
        form={"started_at": "0001-01-01T00:00:00+05:00"},
    ),
    case(
        "call start 9999",
        "operator",
        "POST",
        "/operator/call/end",
        form={"started_at": "9999-12-31T23:59:59-05:00"},
    ),
]

SIDEWALK = {"service_code": "sidewalk-damage", "attribute[problem]": "cracked", "address_string": "1 Main St"}
QUESTION = '[{"code": "a", "description": "A", %s}]'
NOT_A_NUMBER = [
    case("report lat", "anonymous", "POST", "/report", form=report(lat="nan", long="-71.07"), multipart=True),
    case(
        "report long", "anonymous", "POST", "/report", form=report(lat="42.77", long="1e400"), multipart=True
    ),
    case(
        "report answer",
        "anonymous",
        "POST",
        "/report",
        form={**SIDEWALK, "description": "Crack", "attribute[length_feet]": "inf"},
        multipart=True,
    ),
    case(
        "open311 answer",
        "anonymous",
        "POST",
        "/open311/v2/requests.json",
        form={**SIDEWALK, "api_key": "{api_key}", "attribute[length_feet]": "nan"},
    ),
    case(
        "open311 lat",
        "anonymous",
        "POST",
        "/open311/v2/requests.xml",
        form=open311_post(lat="nan", long="-71.07"),
    ),
    case("open311 radius", "anonymous", "GET", "/open311/v2/requests.json?lat=42.7&long=-71&radius=1e400"),
    case("open311 near", "anonymous", "GET", "/open311/v2/requests.json?lat=1e400&long=1&radius=10"),
    case("open311 bbox", "anonymous", "GET", "/open311/v2/requests.xml?bbox=-1e999,40,-70,43"),
    case("requests near", "anonymous", "GET", "/requests?lat=nan&long=-71"),
    case("nearby", "anonymous", "GET", "/report/nearby?service=pothole&lat=inf&long=-71", htmx=True),
    case(
        "operator nearby",
        "operator",
        "GET",
        "/operator/nearby?service_code=pothole&lat=1e400&long=1",
        htmx=True,
    ),
    case(
        "phone request",
        "operator",
        "POST",
        "/operator/call/requests",
        form={"service_code": "pothole", "description": "x", "lat": "nan", "long": "-71"},
    ),
    case(
        "question order",
        "admin",
        "POST",
        "/admin/services",
        form={"code": "q", "name": "Q", "attributes": QUESTION % '"order": "²"'},
    ),
    case(
        "question order inf",
        "admin",
        "POST",
        "/admin/services",
        form={"code": "q", "name": "Q", "attributes": QUESTION % '"order": 1e400'},
    ),
    case(
        "question values",
        "admin",
        "POST",
        "/admin/services",
        form={
            "code": "q",
            "name": "Q",
            "attributes": QUESTION % '"datatype": "singlevaluelist", "values": 5',
        },
    ),
]

NUL = [
    case("requests filter", "anonymous", "GET", "/requests?service=pot%00hole"),
    case("nearby address", "anonymous", "GET", "/report/nearby?service=pothole&address=1%00Main"),
    case("service search (htmx)", "anonymous", "GET", "/report/services?q=%00", htmx=True),
    case("report", "anonymous", "POST", "/report", form=report(description="Hole\x00"), multipart=True),
    case("report name", "anonymous", "POST", "/report", form=report(name="A\x00B"), multipart=True),
    case("follow", "anonymous", "POST", "/requests/{pid}/follow", form={"name": "A\x00"}),
    case("open311 service_code", "anonymous", "GET", "/open311/v2/requests.xml?service_code=pot%00hole"),
    case("open311 service path", "anonymous", "GET", "/open311/v2/services/pot%00hole.json"),
    case("open311 token", "anonymous", "GET", "/open311/v2/tokens/a%00b.xml"),
    case(
        "open311 post",
        "anonymous",
        "POST",
        "/open311/v2/requests.json",
        form=open311_post(description="x\x00", lat="42.77", long="-71.07"),
    ),
    case(
        "open311 attribute",
        "anonymous",
        "POST",
        "/open311/v2/requests.xml",
        form=open311_post(address_string="1 Main St", **{"attribute[size]": "\x00"}),
    ),
    case(
        "push endpoint",
        "anonymous",
        "POST",
        "/api/push/subscriptions",
        body=subscription("https://push.example/\\u0000"),
    ),
    case("screen pop", "operator", "GET", "/operator/call?phone=978%00555"),
    case("address (htmx)", "operator", "GET", "/operator/addresses?address=12%00Main", htmx=True),
    case(
        "phone request",
        "operator",
        "POST",
        "/operator/call/requests",
        form={"service_code": "pothole", "description": "x\x00", "address": "1 Main St"},
    ),
    case(
        "note", "dispatcher", "POST", "/dispatch/requests/{pid}/note", form={"version": "1", "note": "a\x00"}
    ),
    case("department", "admin", "POST", "/admin/departments", form={"code": "x\x00", "name": "X"}),
    case("field cursor", "crew", "GET", "/field/api/jobs?cursor=%00"),
]

SURROGATES_AND_NONCHARACTERS = [
    case("address U+10FFFF", "operator", "GET", "/operator/addresses?address=\U0010ffff"),
    case("address ends U+10FFFF", "operator", "GET", "/operator/addresses?address=12%20Main\U0010ffff"),
    case("address U+FFFF (htmx)", "operator", "GET", "/operator/addresses?address=1\uffff", htmx=True),
    case("address U+FDD0", "operator", "GET", "/operator/addresses?address=\ufdd0"),
    case("requests filter U+FFFE", "anonymous", "GET", "/requests?service=%EF%BF%BE"),
    case(
        "push endpoint surrogate",
        "anonymous",
        "POST",
        "/api/push/subscriptions",
        body=subscription("https://push.example/\\ud800"),
    ),
    case(
        "open311 description U+FFFE",
        "anonymous",
        "POST",
        "/open311/v2/requests.xml",
        form=open311_post(description="x\ufffe", address_string="1 Main St"),
    ),
    case("report U+FFFF", "anonymous", "POST", "/report", form=report(description="x\uffff"), multipart=True),
]


def send(world: World, h: Hostile, headers: dict[str, str] | None = None) -> Any:
    client, token = world.clients[h.role]
    hdrs = {"X-CSRF-Token": token, **(headers or {})}
    if h.htmx:
        hdrs["HX-Request"] = "true"
    url = world.fill(h.url)
    if h.method == "GET":
        return client.get(url, headers=hdrs, follow_redirects=False)
    if h.body is not None:
        hdrs["Content-Type"] = "application/json"
        return client.request(h.method, url, content=h.body, headers=hdrs, follow_redirects=False)
    form = {k: world.fill(v) for k, v in (h.form or {}).items()}
    files = [("photos", ("", b"", "application/octet-stream"))] if h.multipart else None
    return client.request(h.method, url, data=form or None, files=files, headers=hdrs, follow_redirects=False)


def message_of(h: Hostile, world: World, r: Any) -> str:
    """The error message, after checking that the answer is in the format this caller reads."""
    path = urlsplit(world.fill(h.url)).path
    ctype = r.headers.get("content-type", "")
    if path.startswith("/open311/v2/"):
        if path.endswith(".xml"):
            assert ctype.startswith("text/xml"), ctype
            root = ET.fromstring(r.content)
            assert root.tag == "errors" and root.findtext("error/code") == str(r.status_code)
            return root.findtext("error/description") or ""
        body = r.json()
        assert isinstance(body, list) and body[0]["code"] == str(r.status_code), body
        return body[0]["description"]
    if "/api/" in path:
        body = r.json()
        assert ctype.startswith("application/json") and {"error", "message", "field"} <= set(body), body
        return body["message"]
    assert ctype.startswith("text/html"), ctype
    html = BeautifulSoup(r.text, "html.parser")
    alert = html.select_one('p.error[role="alert"]')
    assert alert is not None, r.text[:300]
    assert (html.find("html") is None) == h.htmx, "htmx gets a fragment, a browser the whole page"
    return alert.get_text()


def stored(engine: Engine) -> dict[str, int]:
    """Row counts of every table (but the rate limiter's) and the sum of request versions: any write shows."""
    with engine.connect() as conn:
        out = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in SQLModel.metadata.sorted_tables
            if t.name != "rate_counter"  # refused Open311 posts count against their key, on purpose
        }
        out["versions"] = conn.execute(
            select(func.coalesce(func.sum(ServiceRequest.version), 0))
        ).scalar_one()
    return out


def check_refused(world: World, h: Hostile) -> None:
    before = stored(world.engine) if h.method != "GET" else None
    r = send(world, h)
    assert r.status_code == h.status, f"{h.method} {h.url}: {r.status_code} {r.text[:300]}"
    message = message_of(h, world, r)
    assert message.strip() and "Traceback" not in message
    if before is not None:
        assert stored(world.engine) == before, "a refused write stored something"


@pytest.mark.parametrize("h", HUGE_INTEGERS)
def test_integers_beyond_the_id_columns(world: World, h: Hostile) -> None:
    check_refused(world, h)


@pytest.mark.parametrize("h", UNICODE_DIGITS)
def test_unicode_digits(world: World, h: Hostile) -> None:
    check_refused(world, h)


@pytest.mark.parametrize("h", NOT_A_NUMBER)
def test_numbers_that_are_not_numbers(world: World, h: Hostile) -> None:
    check_refused(world, h)


@pytest.mark.parametrize("h", DATES)
def test_dates_out_of_range(world: World, h: Hostile) -> None:
    check_refused(world, h)


@pytest.mark.parametrize("h", NUL)
def test_nul(world: World, h: Hostile) -> None:
    check_refused(world, h)


@pytest.mark.parametrize("h", SURROGATES_AND_NONCHARACTERS)
def test_surrogates_and_noncharacters(world: World, h: Hostile) -> None:
    check_refused(world, h)


def test_a_field_note_with_nul_is_refused_alone(world: World) -> None:
    """Field sync checks each event's text itself (one bad event must not refuse the batch)."""
    client, token = world.clients["crew"]
    before = stored(world.engine)
    event = {
        "id": "0b5e4b4e-8a43-4f5c-9d7e-2d1a3c4b5e6f",
        "job": world.crew_job,
        "kind": "note",
        "user_id": world.user_ids["crew"],
        "client_time": "2026-01-01T00:00:00Z",
        "note": "stuck\x00",
    }
    r = client.post("/field/api/sync", json={"events": [event]}, headers={"X-CSRF-Token": token})
    assert r.status_code < 500 and stored(world.engine) == before, r.text[:300]


def test_a_refused_upload_leaves_no_file_open(world: World) -> None:
    """Refused by an app-wide check before the route runs: the uploaded photo's spool is still closed."""
    client, token = world.clients["anonymous"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = client.post(
            "/report",
            data=report(description="Hole\x00"),
            files=[("photos", ("a.jpg", b"\xff\xd8" + b"x" * 5000, "image/jpeg"))],
            headers={"X-CSRF-Token": token},
        )
        gc.collect()
    assert r.status_code == 400
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


# ---------------------------------------------------------------- Spanish, and the same families in Spanish


@pytest.mark.parametrize(
    ("h", "spanish"),
    [
        (
            Hostile("anonymous", "GET", "/open311/v2/requests.json?start_date=9999-12-31"),
            "debe ser una fecha entre",
        ),
        (Hostile("admin", "GET", "/admin/departments?edit={huge}"), "fuera del rango"),
        (Hostile("operator", "GET", "/operator/addresses?address=\uffff", htmx=True), "no se puede guardar"),
        (Hostile("anonymous", "DELETE", "/api/push/subscriptions/{huge}", status=404), "No encontrado"),
    ],
    ids=["open311", "page", "htmx", "api"],
)
def test_messages_in_spanish(world: World, h: Hostile, spanish: str) -> None:
    r = send(world, h, {"Accept-Language": "es"})
    assert r.status_code == h.status
    assert spanish in message_of(h, world, r)


# ---------------------------------------------------------------- what must still work


@pytest.mark.parametrize(
    ("role", "url"),
    [
        ("operator", "/operator/addresses?address=\ud7ff"),  # the next code point is a surrogate
        ("operator", "/operator/addresses?address=1\ud7ff"),
        ("operator", "/operator/addresses?address=%ED%A0%80"),  # CESU-8 surrogate: decoded as U+FFFD
        ("operator", "/operator/addresses?address=\ufffd"),
        ("dispatcher", "/dispatch?service={huge}&crew=%C2%B2&page=1e20"),  # filters ignore what names nothing
        ("anonymous", "/requests?page=1e20"),
        ("anonymous", "/open311/v2/requests.json?start_date=2200-12-31"),  # the 90 days after stay in range
        ("anonymous", "/open311/v2/requests.xml?start_date=1900-01-01&end_date=1900-03-01"),
        ("anonymous", "/open311/v2/servicerequestupdates.json?end_date=1900-01-01"),
        ("crew", "/field/api/jobs?cursor=0001-01-01T00:00:00%2B05:00"),  # a bad cursor: everything again
    ],
)
def test_values_next_to_the_refused_ones_still_work(world: World, role: str, url: str) -> None:
    client, _ = world.clients[role]
    r = client.get(world.fill(url), follow_redirects=False)
    assert r.status_code == 200, r.text[:300]


def test_address_suggestions_with_a_unicode_house_number(world: World) -> None:
    """An address learned as typed ("² Main St") is sorted among the street's numbers without failing."""
    with Session(world.engine) as s:
        for text in ("² Hostile St", "12 Hostile St", "3 Hostile St"):
            number, street = text.split(" ", 1)
            search = normalise_address(text)
            s.add(Address(number=number, street=street, text=text, search=search, lat=42.77, long=-71.07))
        s.commit()
    client, _ = world.clients["operator"]
    r = client.get("/operator/addresses?address=hostile", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert r.text.index("3 Hostile St") < r.text.index("12 Hostile St")


@given(st.text(min_size=1, max_size=6), st.text(max_size=4))
def test_successor_bounds_every_string_with_the_prefix(prefix: str, rest: str) -> None:
    prefix = "".join(c for c in prefix if not 0xD800 <= ord(c) <= 0xDFFF) or "a"
    rest = "".join(c for c in rest if not 0xD800 <= ord(c) <= 0xDFFF)
    bound = _successor(prefix)
    if bound is None:
        assert set(prefix) == {"\U0010ffff"}
    else:
        assert prefix + rest < bound and prefix < bound
        bound.encode("utf-8")  # storable: never a surrogate


# ---------------------------------------------------------------- the boundary itself


@given(st.text())
def test_checked_text_is_exactly_what_xml_and_storage_carry(value: str) -> None:
    bad = forbidden_character(value)
    if bad is None:
        assert check_text(value) == value
        value.encode("utf-8")
        ET.fromstring(f"<a>{value.replace('&', '&amp;').replace('<', '&lt;')}</a>".encode())
    else:
        with pytest.raises(Exception, match="cannot be stored"):
            check_text(value)
    ET.fromstring(f"<a>{xml_safe(value).replace('&', '&amp;').replace('<', '&lt;')}</a>".encode())


def test_ids_are_ascii_digits_that_every_id_column_holds() -> None:
    assert [parse_id(v) for v in ("1", " 42 ", str(MAX_ID), str(MAX_ID + 1), "0", "-1", "²", "٣", "1e3", "", True)] == [
        1, 42, MAX_ID, None, None, None, None, None, None, None, None
    ]  # fmt: skip


def test_dates_are_utc_within_1900_to_2200() -> None:
    assert parse_datetime("2026-01-31T12:00+01:00", "d").isoformat() == "2026-01-31T11:00:00+00:00"
    assert parse_datetime("2026-01-31T12:00:00 01:00", "d").hour == 11  # an unencoded "+" came as a space
    for bad in ("9999-12-31", "0001-01-01T00:00:00+05:00", "1899-12-31T23:59:59Z", "2026-02-30", "soon"):
        with pytest.raises(Exception, match="date"):
            parse_datetime(bad, "d")


# ---------------------------------------------------------------- errors in the caller's format


@pytest.mark.parametrize(
    ("method", "url", "headers", "status", "kind"),
    [
        ("GET", "/no/such/page", {}, 404, "page"),
        ("GET", "/no/such/page", {"HX-Request": "true"}, 404, "htmx"),
        ("GET", "/api/no/such", {}, 404, "json"),
        ("PUT", "/report", {}, 405, "page"),
        ("DELETE", "/open311/v2/requests.json", {}, 405, "open311"),
        ("GET", "/admin/departments?edit=abc", {}, 400, "page"),
        ("GET", "/operator/call?call=abc", {"HX-Request": "true"}, 400, "htmx"),
        ("POST", "/api/push/subscriptions", {"Content-Type": "application/json"}, 400, "json"),
    ],
)
def test_framework_errors_in_the_callers_format(
    world: World, method: str, url: str, headers: dict[str, str], status: int, kind: str
) -> None:
    client, token = world.clients["admin"]
    r = client.request(method, url, headers={"X-CSRF-Token": token, **headers}, content=b"{}")
    assert r.status_code == status
    if kind == "json":
        body = r.json()
        assert {"error", "message", "field"} <= set(body) and "detail" not in body
        if status == 400:
            assert body["field"] == "subscription" and "required" in body["message"]
    elif kind == "open311":
        assert r.json()[0]["code"] == "405" and "GET" in r.headers["allow"]
    else:
        html = BeautifulSoup(r.text, "html.parser")
        assert html.select_one('p.error[role="alert"]') is not None
        assert (html.find("html") is None) == (kind == "htmx")
        if status == 400:
            assert "must be a whole number" in html.select_one('p.error[role="alert"]').get_text()


# ---------------------------------------------------------------- the Open311 XML writer

# What XML 1.0 cannot carry (and, on SQLite, NUL), stored as old rows or an import would: past the boundary.
UNWRITABLE = "\x01\x08\x0b\x0c\x1f\ufffe\uffff"


def test_open311_xml_is_well_formed_whatever_is_stored(world: World, city) -> None:  # type: ignore[no-untyped-def]
    bad = UNWRITABLE + ("\x00" if world.engine.dialect.name == "sqlite" else "")
    with Session(world.engine, expire_on_commit=False) as s:
        req = make_request(s, city, description=f"Deep{bad} hole", address=f"1{bad} Main St")
        change_status(session=s, req=req, to="in_progress", actor=Actor(label="t"), note=f"On{bad} it")
        service = s.exec(select(Service).where(Service.code == "pothole")).scalar_one()
        attributes = [{**a, "description": f"{a.get('description', '')}{bad}"} for a in service.attributes]
        s.execute(
            update(Service)
            .where(Service.id == service.id)
            .values(name=f"Pot{bad}hole", description=f"Holes{bad}", attributes=attributes)
        )
        s.execute(
            update(Department).where(Department.id == service.department_id).values(name=f"Streets{bad}")
        )
        s.commit()
        public_id = req.public_id
    client, _ = world.clients["anonymous"]
    documents = {
        f"requests/{public_id}.xml": "service_requests",
        f"requests.xml?service_request_id={public_id}&extensions=true": "service_requests",
        "requests.xml?service_code=pothole": "service_requests",
        "servicerequestupdates.xml": "service_request_updates",
        "services.xml": "services",
        "services/pothole.xml": "service_definition",
    }
    texts = []
    for url, root in documents.items():
        r = client.get(f"/open311/v2/{url}")
        assert r.status_code == 200, (url, r.text[:200])
        doc = ET.fromstring(r.content)  # a strict parser: raises on anything not well-formed
        assert doc.tag == root
        texts.extend(t for t in doc.itertext())
    assert {"Deep hole", "1 Main St", "On it", "Pothole", "Holes", "Streets"} <= set(texts)


# ---------------------------------------------------------------- a bug keeps the connection


@contextmanager
def own_app(settings: Settings) -> Iterator[Any]:
    """An app of the test's own (a test-only route never joins the shared one), its connections closed after."""
    app = create_app(settings)
    try:
        yield app
    finally:
        app.state.engine.dispose()
        app.state.lookup_engine.dispose()


class _Server:
    """A real uvicorn on 127.0.0.1 and a free port, in a thread, for one test."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> int:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        return self.server.servers[0].sockets[0].getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def test_a_bug_answers_500_in_the_callers_format_and_keeps_the_connection(
    settings: Settings, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    def boom() -> None:
        raise RuntimeError("a bug planted by the test")

    caplog.set_level(logging.ERROR, logger="civic311.errors")
    with own_app(settings) as app, _Server(app) as port:
        app.add_api_route("/_test/boom", boom, include_in_schema=False)
        app.add_api_route("/api/_test/boom", boom, include_in_schema=False)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/api/_test/boom")
            r = conn.getresponse()
            body = json.loads(r.read())
            assert r.status == 500 and body["error"] == "server_error" and body["message"]
            sock = conn.sock
            conn.request("GET", "/_test/boom", headers={"Accept-Language": "es"})
            r = conn.getresponse()
            page = BeautifulSoup(r.read(), "html.parser")
            assert r.status == 500 and "Algo falló" in page.select_one('p.error[role="alert"]').get_text()
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            r.read()
            assert r.status == 200
            assert conn.sock is sock, "the server closed the keep-alive connection after the 500"
        finally:
            conn.close()
    logged = [rec for rec in caplog.records if rec.name == "civic311.errors"]
    assert len(logged) == 2 and all(rec.exc_info and "planted" in str(rec.exc_info[1]) for rec in logged)


def test_a_bug_in_open311_answers_an_open311_error(settings: Settings, world: World) -> None:
    from fastapi.routing import APIRoute

    def boom() -> None:
        raise RuntimeError("a bug planted by the test")

    with own_app(settings) as app:
        # before the Open311 catch-all route, which would answer 404 for any other method name
        app.router.routes.insert(0, APIRoute("/open311/v2/_test_boom.xml", boom, include_in_schema=False))
        with TestClient(app) as client:
            r = client.get("/open311/v2/_test_boom.xml")
    assert r.status_code == 500
    assert ET.fromstring(r.content).findtext("error/code") == "500"
