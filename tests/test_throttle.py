"""Throttling and bounded cost: anonymous resident reports per device and per address, Open311 posts per
address before the key is checked, 429s with Retry-After in each caller's format, Open311 bodies refused before
they are read, and cheap fields checked before any photo is decoded. Counted in the database, so every web
process shares the counts (two apps on one database stand for two processes)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import select

from server.config import Settings
from server.models import ServiceRequest
from server.ratelimit import address_bucket
from tests import photo_samples
from tests.factories import HAVERHILL_CITY_HALL, csrf, login, make_user, post_report
from tests.open311_helpers import V2, api_key, xml_of

LAT, LONG = HAVERHILL_CITY_HALL


# --- helpers ----------------------------------------------------------------------------------------------


@contextmanager
def limits(app: Any, **rates: str) -> Iterator[None]:
    """Set rate settings on the running app for one test (the app fixture lives for the whole session)."""
    old = {k: getattr(app.state.settings, k) for k in rates}
    for k, v in rates.items():
        setattr(app.state.settings, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(app.state.settings, k, v)


def device(app: Any, address: str = "testclient") -> TestClient:
    """A browser of its own (its own cookies, so its own device id), from `address`."""
    return TestClient(app, base_url="http://testserver", client=(address, 50000))


def report(client: TestClient, files: Any = None, headers: dict[str, str] | None = None, **fields: str):  # type: ignore[no-untyped-def]
    return post_report(client, csrf(client, "/report"), files, headers, **fields)


def count(session) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return len(session.exec(select(ServiceRequest)).all())


def pothole(key: str, **extra: str) -> dict[str, str]:
    return {
        "api_key": key,
        "service_code": "pothole",
        "lat": str(LAT),
        "long": str(LONG),
        "attribute[size]": "large",
        **extra,
    }


# --- resident reports -------------------------------------------------------------------------------------


def test_defaults_suit_a_shared_public_network() -> None:
    s = Settings()
    assert s.report_rate_limit_address == "40/hour" and s.report_rate_limit_device == "10/hour"
    assert s.open311_rate_limit_address == "120/minute"
    with pytest.raises(ValidationError):  # a typo stops the start, rather than failing every post
        Settings(report_rate_limit_device="ten an hour")


def test_eleventh_report_from_one_device_waits_and_another_device_is_unaffected(app, db, session) -> None:
    a, b = device(app), device(app)
    for i in range(10):
        assert report(a, idempotency_key=f"a-{i}").status_code == 201
    limited = report(a, idempotency_key="a-10")
    assert limited.status_code == 429
    wait = int(limited.headers["retry-after"])
    assert 3000 < wait <= 3600  # the rest of the hour's window
    body = limited.json()
    assert body["error"] == "rate_limit"
    assert body["message"].startswith("You have sent many reports in a short time.")
    assert f"{-(-wait // 60)} min" in body["message"]
    assert report(b, idempotency_key="b-0").status_code == 201  # same address, another phone
    assert count(session) == 11


def test_41st_report_from_one_address_waits_and_another_address_is_unaffected(app, db, session) -> None:
    # the default limits: 40 an hour per address, 10 per device; four phones behind one public wifi send 40
    phones = [device(app, "203.0.113.7") for _ in range(5)]
    for n, phone in enumerate(phones[:4]):
        for i in range(10):
            assert report(phone, idempotency_key=f"{n}-{i}").status_code == 201, (n, i)
    limited = report(phones[4], idempotency_key="41st")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert limited.json()["message"].startswith("Many reports have been sent from your network")
    assert report(device(app, "198.51.100.9"), idempotency_key="elsewhere").status_code == 201
    assert count(session) == 41


def test_429_speaks_the_callers_format_and_language(app, db) -> None:
    with limits(app, report_rate_limit_device="1/hour"):
        phone = device(app)
        assert report(phone).status_code == 201
        page = report(phone, headers={"Accept": "text/html"})  # a plain form, no JavaScript
        assert page.status_code == 429 and page.headers["retry-after"]
        assert page.headers["content-type"].startswith("text/html")
        alert = BeautifulSoup(page.text, "html.parser").select_one("main [role=alert]")
        assert alert is not None and alert.text.startswith("You have sent many reports in a short time.")
        fragment = report(phone, headers={"HX-Request": "true", "Accept": "text/html"})
        assert fragment.status_code == 429 and fragment.headers["retry-after"]
        assert fragment.text.startswith('<p class="error" role="alert">') and "<html" not in fragment.text
        spanish = report(phone, headers={"Accept": "application/json", "Accept-Language": "es"})
        assert spanish.status_code == 429 and spanish.headers["retry-after"]
        assert spanish.json()["message"].startswith("Ha enviado muchos informes en poco tiempo.")


def test_replayed_report_is_not_counted_and_still_answered(app, db, session) -> None:
    with limits(app, report_rate_limit_device="2/hour"):
        phone = device(app)
        first = report(phone, idempotency_key="offline-1")
        assert first.status_code == 201
        for _ in range(5):  # the offline queue retried: it never heard the answer
            again = report(phone, idempotency_key="offline-1")
            assert again.status_code == 201 and again.json() == first.json()
        assert report(phone, idempotency_key="offline-2").status_code == 201  # the second counted report
        assert report(phone, idempotency_key="offline-3").status_code == 429
        # over the limit, a replay of an accepted report is still answered as the first time
        late = report(phone, idempotency_key="offline-1")
        assert late.status_code == 201 and late.json() == first.json()
        plain = report(phone, idempotency_key="offline-1", headers={"Accept": "text/html"})
        assert (
            plain.status_code == 303 and plain.headers["location"] == first.json()["private_url"] + "&new=1"
        )
    assert count(session) == 2


def test_staff_filing_reports_are_not_throttled(app, db, session) -> None:
    make_user(session, "operator")
    with limits(app, report_rate_limit_device="1/hour", report_rate_limit_address="1/hour"):
        assert report(device(app), idempotency_key="resident-1").status_code == 201
        assert report(device(app), idempotency_key="resident-2").status_code == 429  # the address is spent
        operator = device(app)  # the same address: a call centre behind one NAT
        assert login(operator, "operator@test.example").status_code == 303
        for i in range(4):
            assert report(operator, idempotency_key=f"call-{i}").status_code == 201
    assert count(session) == 5


def test_two_web_processes_share_the_counts(app, db, session, settings) -> None:
    from server.main import create_app

    small = {"report_rate_limit_address": "3/hour", "open311_rate_limit_address": "3/minute"}
    other_app = create_app(settings.model_copy(update=small))
    try:
        with limits(app, **small):
            assert report(device(app)).status_code == 201
            assert report(device(other_app)).status_code == 201
            assert report(device(app)).status_code == 201
            assert report(device(other_app)).status_code == 429
            assert report(device(app)).status_code == 429
            # Open311 per address, counted whatever the key
            assert device(app).post(f"{V2}/requests.json", data=pothole("bogus-1")).status_code == 403
            assert device(other_app).post(f"{V2}/requests.json", data=pothole("bogus-2")).status_code == 403
            assert device(app).post(f"{V2}/requests.json", data=pothole("bogus-3")).status_code == 403
            assert device(other_app).post(f"{V2}/requests.json", data=pothole("bogus-4")).status_code == 429
    finally:
        other_app.state.engine.dispose()
        other_app.state.lookup_engine.dispose()
    assert count(session) == 3


def test_ipv6_clients_are_counted_per_64() -> None:
    assert (
        address_bucket("2001:db8:1:2:aaaa::1")
        == address_bucket("2001:db8:1:2:ffff::9")
        == "2001:db8:1:2::/64"
    )
    assert address_bucket("2001:db8:1:3::1") != address_bucket("2001:db8:1:2::1")
    assert address_bucket("::ffff:203.0.113.7") == address_bucket("203.0.113.7") == "203.0.113.7"
    assert address_bucket("testclient") == "testclient"


# --- cheap fields before photos ---------------------------------------------------------------------------


@pytest.fixture
def decode_spy(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """Every photo decode the routes ask for (resident reports and Open311), by the size of the bytes."""
    import server.api.open311 as open311_api
    import server.services.resident as resident_svc

    calls: list[int] = []
    for module in (resident_svc, open311_api):
        real = module.process_upload

        def spy(data: bytes, *, _real=real, **kw: Any):  # type: ignore[no-untyped-def]
            calls.append(len(data))
            return _real(data, **kw)

        monkeypatch.setattr(module, "process_upload", spy)
    return calls


@pytest.fixture(scope="module")
def big_photo() -> bytes:
    return photo_samples.phone_jpeg(4000, 3000, orientation=6, gps=(42.78, -71.08))


def test_report_missing_an_answer_is_refused_before_any_photo_is_decoded(
    app, db, decode_spy, big_photo
) -> None:
    phone = device(app)
    photos = [("photos", (f"{i}.jpg", big_photo, "image/jpeg")) for i in range(3)]
    started = time.perf_counter()
    r = report(phone, files=photos, **{"attribute[size]": ""})
    elapsed = time.perf_counter() - started
    assert r.status_code == 400 and "How big is the pothole?" in r.json()["message"]
    assert decode_spy == [] and elapsed < 1.0, elapsed
    # the same with no location, which a photo's GPS could have given: the answer is still checked first
    r = report(phone, files=photos, lat="", long="", **{"attribute[size]": ""})
    assert r.status_code == 400 and decode_spy == []
    r = report(phone, files=photos, lat="40.7", long="-74.0")  # outside the city
    assert r.status_code == 400 and decode_spy == []
    # and with every answer, the photos are decoded (the spy sees the real pipeline)
    assert report(phone, files=photos[:1]).status_code == 201
    assert decode_spy == [len(big_photo)]


def test_open311_post_missing_an_answer_is_refused_before_the_photo_is_decoded(
    app, db, session, decode_spy, big_photo
) -> None:
    key = api_key(session)
    media = {"media": ("p.jpg", big_photo, "image/jpeg")}
    client = device(app)
    started = time.perf_counter()
    r = client.post(f"{V2}/requests.json", data=pothole(key, **{"attribute[size]": ""}), files=media)
    elapsed = time.perf_counter() - started
    assert r.status_code == 400 and "How big is the pothole?" in r.json()[0]["description"]
    assert decode_spy == [] and elapsed < 1.0, elapsed
    for bad in ({"service_code": "nope"}, {"lat": "", "long": ""}, {"description": "x" * 4001}):
        assert client.post(f"{V2}/requests.json", data=pothole(key, **bad), files=media).status_code in (
            400,
            404,
        )
    assert decode_spy == []
    assert client.post(f"{V2}/requests.json", data=pothole(key), files=media).status_code == 200
    assert decode_spy == [len(big_photo)]


# --- Open311 --------------------------------------------------------------------------------------------


def test_bogus_open311_keys_from_one_address_are_throttled(app, db, session) -> None:
    key = api_key(session)
    with limits(app, open311_rate_limit_address="5/minute"):
        guesser = device(app, "192.0.2.66")
        for i in range(5):
            assert guesser.post(f"{V2}/requests.json", data=pothole(f"guess-{i}")).status_code == 403
        limited = guesser.post(f"{V2}/requests.xml", data=pothole("guess-5"))
        assert limited.status_code == 429 and xml_of(limited).find("error/code").text == "429"
        wait = int(limited.headers["retry-after"])
        assert 1 <= wait <= 60
        description = xml_of(limited).find("error/description").text
        assert description == f"Too many requests from this address. Try again in {wait} seconds."
        # a key in the query string and no key at all are counted the same way
        assert guesser.post(f"{V2}/requests.json?api_key={key}", data=pothole(key)).status_code == 429
        assert guesser.post(f"{V2}/requests.json", data={"service_code": "pothole"}).status_code == 429
        assert device(app, "192.0.2.67").post(f"{V2}/requests.json", data=pothole(key)).status_code == 200
    assert count(session) == 1


def test_open311_key_is_checked_when_only_in_the_query_string(app, db, session) -> None:
    key = api_key(session)
    client = device(app)
    r = client.post(
        f"{V2}/requests.json?api_key={key}", data={k: v for k, v in pothole(key).items() if k != "api_key"}
    )
    assert r.status_code == 200, r.text
    assert client.post(f"{V2}/requests.json?api_key=nope", data=pothole(key)).status_code == 403


def test_open311_form_bounds(app, db, session) -> None:
    key = api_key(session)
    client = device(app)
    two = [("media", ("a.jpg", b"x", "image/jpeg")), ("media", ("b.jpg", b"y", "image/jpeg"))]
    assert client.post(f"{V2}/requests.json", data=pothole(key), files=two).status_code == 400
    many = {**pothole(key), **{f"attribute[x{i}]": "1" for i in range(300)}}
    assert client.post(f"{V2}/requests.json", data=many).status_code == 400
    big = client.post(f"{V2}/requests.json", data=pothole(key, description="x" * 300_000))
    assert big.status_code == 413 and big.json()[0]["code"] == "413"
    assert count(session) == 0


@pytest.fixture
def live(app, db) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app served by uvicorn on a loopback port, for what only a real socket shows."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def raw_post(where: str, target: str, headers: dict[str, str], send: int) -> tuple[str, float]:
    """Sends the head and `send` bytes of a body said to be much longer; returns the status line and how long
    the answer took. A server that waited for the whole body would never answer."""
    host, port = where.split(":")
    head = f"POST {target} HTTP/1.1\r\nHost: {where}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        started = time.perf_counter()
        sock.sendall(head.encode() + b"\r\n" + b"x" * send)
        answer = sock.recv(4096).decode("latin-1")
        return answer.split("\r\n", 1)[0], time.perf_counter() - started


def test_open311_huge_body_with_a_bad_key_is_refused_before_it_is_read(live, db, settings) -> None:
    huge = str(200_000_000)
    # under the app-wide body cap (MAX_BODY_BYTES) but over Open311's own: the bad key answers first
    large = str(settings.body_limit - 1)
    status, took = raw_post(
        live,
        f"{V2}/requests.json?api_key=bogus",
        {"Content-Type": "multipart/form-data; boundary=zzz", "Content-Length": large},
        send=65536,
    )
    assert status == "HTTP/1.1 403 Forbidden" and took < 3, (status, took)
    # over the app-wide cap: refused before any route runs, whatever the key
    status, took = raw_post(
        live,
        f"{V2}/requests.json?api_key=bogus",
        {"Content-Type": "multipart/form-data; boundary=zzz", "Content-Length": huge},
        send=65536,
    )
    assert status == "HTTP/1.1 413 Request Entity Too Large" and took < 3, (status, took)
    # a key in the body cannot be read without parsing it: the declared size alone refuses it
    status, took = raw_post(
        live,
        f"{V2}/requests.json",
        {"Content-Type": "multipart/form-data; boundary=zzz", "Content-Length": huge},
        send=65536,
    )
    assert status == "HTTP/1.1 413 Request Entity Too Large" and took < 3, (status, took)
    status, _ = raw_post(
        live,
        f"{V2}/requests.xml",
        {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "300000"},
        send=1000,
    )
    assert status == "HTTP/1.1 413 Request Entity Too Large"


def test_open311_chunked_body_is_cut_off_at_the_cap(live, db, settings) -> None:
    """No Content-Length to refuse early: the reads stop once the cap is passed."""
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield b'--zzz\r\nContent-Disposition: form-data; name="media"; filename="a.jpg"\r\n\r\n'
        chunk = b"\xff" * 65536
        while sent < 200_000_000:
            sent += len(chunk)
            yield chunk

    r = httpx.post(
        f"http://{live}{V2}/requests.json",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=zzz"},
        timeout=30,
    )
    assert r.status_code == 413 and r.json()[0]["code"] == "413"
    assert sent < settings.photo_max_bytes + 20_000_000, sent  # the cap and what the sockets held, not 200 MB
