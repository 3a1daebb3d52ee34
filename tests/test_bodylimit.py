"""server/bodylimit.py: every request body is capped (MAX_BODY_BYTES), with a 413 in the caller's format."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlmodel import select

from server.bodylimit import BodyLimit
from server.config import Settings
from server.main import create_app
from server.models import ServiceRequest
from server.services.photos import configure_decoding
from tests import photo_samples
from tests.factories import HAVERHILL_CITY_HALL, csrf
from tests.open311_helpers import V2, api_key
from tests.own_loop import in_own_loop

LIMIT = 200_000


@pytest.fixture
def small(settings: Settings, db) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    app = create_app(settings.model_copy(update={"max_body_bytes": LIMIT}))
    with TestClient(app, base_url="http://testserver") as c:
        yield c
    app.state.engine.dispose()
    app.state.lookup_engine.dispose()
    configure_decoding(  # create_app set the process's decode gate; back to the settings' own
        budget_mb=settings.photo_decode_budget_mb,
        concurrency=settings.photo_decode_concurrency,
        wait_s=settings.photo_decode_wait_s,
    )


def _report_fields(token: str) -> dict[str, str]:
    lat, long = HAVERHILL_CITY_HALL
    return {
        "csrf_token": token,
        "service_code": "pothole",
        "attribute[size]": "large",
        "lat": str(lat),
        "long": str(long),
        "description": "Big hole",
    }


def _big_photo() -> bytes:
    return photo_samples.phone_jpeg(1200, 900, realistic=True, quality=97)  # ~ 600 kB


def test_the_default_cap_fits_five_photos_at_their_largest(settings: Settings) -> None:
    assert settings.body_limit == 5 * settings.photo_max_bytes + 1_000_000
    assert settings.model_copy(update={"max_body_bytes": 1234}).body_limit == 1234


def test_a_report_over_the_cap_is_refused_as_a_page_and_nothing_is_created(small, session) -> None:  # type: ignore[no-untyped-def]
    token = csrf(small, "/report")
    files = [("photos", ("a.jpg", _big_photo(), "image/jpeg"))]
    r = small.post("/report", data=_report_fields(token), files=files, follow_redirects=False)
    assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")
    alert = BeautifulSoup(r.text, "html.parser").select_one("[role=alert]").text
    assert "too large" in alert and "0.2 MB" in alert
    assert r.headers["Connection"] == "close"
    assert session.exec(select(ServiceRequest)).all() == []
    session.rollback()  # SQLite: let the app write
    # the same report with a photo that fits goes through
    files = [("photos", ("a.jpg", photo_samples.phone_jpeg(400, 300), "image/jpeg"))]
    ok = small.post(
        "/report", data=_report_fields(token), files=files, headers={"Accept": "application/json"}
    )
    assert ok.status_code == 201


def test_the_413_speaks_json_to_the_apps_and_spanish_to_a_spanish_page(small) -> None:  # type: ignore[no-untyped-def]
    token = csrf(small, "/report")
    files = [("photos", ("a.jpg", _big_photo(), "image/jpeg"))]
    r = small.post("/report", data=_report_fields(token), files=files, headers={"Accept": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    r = small.post(
        "/field/api/sync", content=json.dumps({"events": ["x" * LIMIT]}), headers={"X-CSRF-Token": "t"}
    )
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    small.get("/report?lang=es")
    r = small.post("/report", data=_report_fields(token), files=files)
    assert r.status_code == 413 and "demasiado grande" in r.text and r.headers["Content-Language"] == "es"


def test_open311_gets_its_error_list_in_json_and_xml(small, session) -> None:  # type: ignore[no-untyped-def]
    lat, long = HAVERHILL_CITY_HALL
    fields = {"api_key": api_key(session), "service_code": "pothole", "lat": str(lat), "long": str(long)}
    media = [("media", ("a.jpg", _big_photo(), "image/jpeg"))]
    r = small.post(f"{V2}/requests.json", data=fields, files=media)
    assert r.status_code == 413
    [error] = r.json()
    assert error["code"] == "413" and "too large" in error["description"]
    r = small.post(f"{V2}/requests.xml", data=fields, files=media)
    assert r.status_code == 413 and r.text.startswith("<?xml") and "<code>413</code>" in r.text


def test_a_chunked_body_is_cut_off_when_it_grows_past_the_cap(small, session) -> None:  # type: ignore[no-untyped-def]
    token = csrf(small, "/report")
    boundary = "b0undary"
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in _report_fields(token).items()
    )
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="a.jpg"\r\n'
    head += "Content-Type: image/jpeg\r\n\r\n"

    def body() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield head.encode()
        for _ in range(100):
            yield b"\xff" * 10_000

    r = small.post(
        "/report",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Accept": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    assert session.exec(select(ServiceRequest)).all() == []


def _scope(headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "method": "POST",
        "path": "/api/anything",
        "raw_path": b"/api/anything",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "scheme": "http",
        "server": ("testserver", 80),
    }


def test_a_declared_length_over_the_cap_is_refused_before_any_body_is_read() -> None:
    called = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        called.append("app")

    async def receive():  # type: ignore[no-untyped-def]
        called.append("receive")
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict] = []

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    in_own_loop(
        lambda: BodyLimit(app, limit=LIMIT)(_scope([(b"content-length", b"10000000000")]), receive, send)
    )
    assert called == []
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"] == "body_too_large"


def test_a_streamed_body_stops_being_read_at_the_cap_and_the_apps_late_answer_is_dropped() -> None:
    chunks_read = []

    async def receive():  # type: ignore[no-untyped-def]
        chunks_read.append(1)
        return {"type": "http.request", "body": b"x" * 10_000, "more_body": len(chunks_read) < 1000}

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        while (await receive())["type"] == "http.request":  # reads until the body ends or the client leaves
            pass
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"the app's own error"})

    sent: list[dict] = []

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    in_own_loop(lambda: BodyLimit(app, limit=LIMIT)(_scope([]), receive, send))
    assert len(chunks_read) == LIMIT // 10_000 + 1  # the chunk that went over, and no more
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]
    assert b"the app's own error" not in b"".join(m.get("body", b"") for m in sent)
