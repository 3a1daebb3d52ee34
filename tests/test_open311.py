"""Open311 GeoReport v2 reads: discovery, services, definitions, requests, tokens, the updates feed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from server.models import Photo, ServiceRequest
from server.services.requests import Actor, add_note, change_status
from tests.factories import make_request
from tests.open311_helpers import V2, is_w3c_utc, request_at, xml_of

STAFF = Actor(label="Dispatcher")


# --- formats, discovery, services -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_content_types_and_cors(client, fmt: str) -> None:
    for path in ("discovery", "services", "services/pothole", "requests", "servicerequestupdates"):
        resp = client.get(f"{V2}/{path}.{fmt}")
        assert resp.status_code == 200, (path, resp.text)
        expected = "application/json; charset=utf-8" if fmt == "json" else "text/xml; charset=utf-8"
        assert resp.headers["content-type"] == expected
        assert resp.headers["access-control-allow-origin"] == "*"


def test_discovery(client) -> None:
    data = client.get(f"{V2}/discovery.json").json()
    assert isinstance(data, dict)
    endpoint = data["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert is_w3c_utc(data["changeset"])
    root = xml_of(client.get(f"{V2}/discovery.xml"))
    assert root.tag == "discovery"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == [
        "text/xml",
        "application/json",
    ]


def test_services_json(client) -> None:
    data = client.get(f"{V2}/services.json").json()
    assert isinstance(data, list) and data
    pothole = next(s for s in data if s["service_code"] == "pothole")
    assert set(pothole) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    assert pothole["metadata"] is True and pothole["type"] == "realtime"
    assert all(isinstance(s["service_code"], str) and isinstance(s["metadata"], bool) for s in data)


def test_services_xml(client) -> None:
    root = xml_of(client.get(f"{V2}/services.xml"))
    assert root.tag == "services"
    services = root.findall("service")
    assert services and all(s.find("service_code").text for s in services)
    assert {s.find("metadata").text for s in services} <= {"true", "false"}


def test_service_definition_both_formats_and_alias(client) -> None:
    data = client.get(f"{V2}/services/streetlight-out.json").json()
    assert data["service_code"] == "streetlight-out"
    attrs = data["attributes"]
    assert [a["order"] for a in attrs] == sorted(a["order"] for a in attrs)
    problem = next(a for a in attrs if a["code"] == "problem")
    assert problem["variable"] is True and problem["required"] is True
    assert problem["datatype"] == "multivaluelist"
    assert all(isinstance(v["key"], str) for v in problem["values"])
    for key in (
        "variable",
        "code",
        "datatype",
        "required",
        "datatype_description",
        "order",
        "description",
        "values",
    ):
        assert key in problem
    assert client.get(f"{V2}/service/streetlight-out.json").json() == data
    root = xml_of(client.get(f"{V2}/services/streetlight-out.xml"))
    assert root.tag == "service_definition"
    attr = root.findall("attributes/attribute")[1]
    assert attr.find("variable").text == "true"
    assert attr.find("values/value/key").text == "out"


def test_unknown_service_and_format(client) -> None:
    resp = client.get(f"{V2}/services/nope.json")
    assert resp.status_code == 404
    body = resp.json()
    assert isinstance(body, list) and body[0]["code"] == "404" and body[0]["description"]
    root = xml_of(client.get(f"{V2}/services/nope.xml"))
    assert root.tag == "errors" and root.find("error/code").text == "404"
    assert client.get(f"{V2}/services.yaml").status_code == 404
    assert client.get(f"{V2}/nothing-here.json").status_code == 404


def test_jurisdiction(client, city) -> None:
    assert client.get(f"{V2}/services.json?jurisdiction_id=").status_code == 200
    assert client.get(f"{V2}/services.json?jurisdiction_id={city.jurisdiction_id}").status_code == 200
    resp = client.get(f"{V2}/services.xml?jurisdiction_id=elsewhere.gov")
    assert resp.status_code == 404 and xml_of(resp).tag == "errors"
    assert client.get(f"{V2}/requests.json?jurisdiction_id=elsewhere.gov").status_code == 404


# --- GET requests -----------------------------------------------------------------------------------------

REQUEST_KEYS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


def test_request_shape_json(client, session, city) -> None:
    req = make_request(session, city, address="4 Summer St", zipcode="01830")
    change_status(session=session, req=req, to="in_progress", actor=STAFF, note="Crew on the way.")
    session.commit()
    data = client.get(f"{V2}/requests.json").json()
    assert isinstance(data, list) and len(data) == 1
    item = data[0]
    assert set(item) == REQUEST_KEYS
    assert item["service_request_id"] == req.public_id and isinstance(item["service_request_id"], str)
    assert item["status"] == "open"  # in_progress is open on the wire
    assert item["status_notes"] == "Crew on the way."
    assert item["service_code"] == "pothole"
    assert item["agency_responsible"] == "Public Works – Highway Division"
    assert item["address"] == "4 Summer St" and item["zipcode"] == "01830"
    assert isinstance(item["lat"], float) and isinstance(item["long"], float)
    for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert is_w3c_utc(item[key])


def test_request_shape_xml_and_single(client, session, city) -> None:
    req = make_request(session, city)
    root = xml_of(client.get(f"{V2}/requests.xml"))
    assert root.tag == "service_requests"
    request = root.find("request")
    assert {c.tag for c in request} == REQUEST_KEYS
    assert request.find("service_request_id").text == req.public_id
    for path in (f"requests/{req.public_id}", f"request/{req.public_id}"):
        single = client.get(f"{V2}/{path}.json").json()
        assert isinstance(single, list) and single[0]["service_request_id"] == req.public_id
        assert xml_of(client.get(f"{V2}/{path}.xml")).find("request/service_request_id").text == req.public_id
    assert client.get(f"{V2}/requests/311-2020-999999.json").status_code == 404
    assert client.get(f"{V2}/requests/garbage.xml").status_code == 404


def test_closed_status_and_media_url(client, session, city, settings) -> None:
    req = make_request(session, city)
    change_status(session=session, req=req, to="closed", actor=STAFF, note="Patched.", close_reason="fixed")
    session.add(
        Photo(
            request_id=req.id,
            sha256="a" * 64,
            display_key="d" * 64 + ".jpg",
            thumb_key="t" * 64 + ".jpg",
            width=1600,
            height=1200,
            thumb_width=320,
            thumb_height=240,
        )
    )
    session.commit()
    item = client.get(f"{V2}/requests.json").json()[0]
    assert item["status"] == "closed" and item["status_notes"] == "Patched."
    assert item["media_url"] == settings.base_url + "/media/" + "d" * 64 + ".jpg"


def test_default_window_is_90_days_newest_first(client, session, city) -> None:
    old = request_at(session, city, 120)
    a = request_at(session, city, 10)
    b = request_at(session, city, 1)
    ids = [r["service_request_id"] for r in client.get(f"{V2}/requests.json").json()]
    assert ids == [b.public_id, a.public_id]
    assert old.public_id not in ids


def test_date_range_rules(client, session, city) -> None:
    r = request_at(session, city, 100)
    got = client.get(f"{V2}/requests.json?start_date=2000-01-01T00:00:00Z&end_date=2000-03-01T00:00:00Z")
    assert got.status_code == 200 and got.json() == []
    created = (r.created_at + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    start = (r.created_at.replace(microsecond=0)).strftime("%Y-%m-%d")
    ids = [x["service_request_id"] for x in client.get(f"{V2}/requests.json?start_date={start}").json()]
    assert r.public_id in ids
    assert client.get(f"{V2}/requests.json?end_date={created}").json()[0]["service_request_id"] == r.public_id
    too_long = client.get(f"{V2}/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z")
    assert too_long.status_code == 400 and too_long.json()[0]["code"] == "400"
    bad = client.get(f"{V2}/requests.xml?start_date=yesterday")
    assert bad.status_code == 400 and xml_of(bad).find("error/description").text
    backwards = client.get(
        f"{V2}/requests.json?start_date=2026-02-01T00:00:00Z&end_date=2026-01-01T00:00:00Z"
    )
    assert backwards.status_code == 400
    # an offset whose + arrived as a space (unencoded query strings)
    assert client.get(f"{V2}/requests.json?start_date=2026-01-01T00:00:00 00:00").status_code == 200


def test_filters_code_status_ids(client, session, city) -> None:
    p1 = make_request(session, city)
    p2 = make_request(session, city)
    light = make_request(session, city, service_code="streetlight-out", attributes={"problem": ["out"]})
    change_status(session=session, req=p2, to="closed", actor=STAFF, close_reason="fixed")
    session.commit()

    def ids(q: str) -> set[str]:
        resp = client.get(f"{V2}/requests.json?{q}")
        assert resp.status_code == 200, resp.text
        return {x["service_request_id"] for x in resp.json()}

    assert ids("service_code=pothole") == {p1.public_id, p2.public_id}
    assert ids("service_code=pothole,streetlight-out&status=open") == {p1.public_id, light.public_id}
    assert ids("status=closed") == {p2.public_id}
    assert ids("status=open,closed") == {p1.public_id, p2.public_id, light.public_id}
    assert ids(f"service_request_id={p1.public_id},{light.public_id}&status=closed") == {
        p1.public_id,
        light.public_id,
    }
    assert ids("service_code=unknown") == set()
    assert client.get(f"{V2}/requests.json?status=pending").status_code == 400


def test_paging(client, session, city) -> None:
    made = [request_at(session, city, days) for days in (5, 4, 3, 2, 1)]
    newest_first = [r.public_id for r in reversed(made)]
    page1 = [x["service_request_id"] for x in client.get(f"{V2}/requests.json?page_size=2").json()]
    page2 = [x["service_request_id"] for x in client.get(f"{V2}/requests.json?page_size=2&page=2").json()]
    page3 = [x["service_request_id"] for x in client.get(f"{V2}/requests.json?page_size=2&page=3").json()]
    assert page1 + page2 + page3 == newest_first
    assert client.get(f"{V2}/requests.json?page_size=0").status_code == 400
    assert client.get(f"{V2}/requests.json?page=abc").status_code == 400


def test_updated_after_and_before(client, session, city) -> None:
    a = request_at(session, city, 30)
    b = request_at(session, city, 20)
    add_note(session=session, req=a, actor=STAFF, note="Looked at it.", public=True)
    session.commit()
    since = (a.updated_at.replace(microsecond=0)).strftime("%Y-%m-%dT%H:%M:%SZ")
    got = client.get(f"{V2}/requests.json?updated_after={since}").json()
    assert [x["service_request_id"] for x in got] == [a.public_id]
    until = (b.updated_at + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = client.get(f"{V2}/requests.json?updated_before={until}").json()
    assert b.public_id in {x["service_request_id"] for x in before}
    assert a.public_id not in {x["service_request_id"] for x in before}


def test_bbox_and_radius(client, session, city) -> None:
    here = make_request(session, city, lat=42.7770, long=-71.0772)
    there = make_request(session, city, lat=42.7900, long=-71.1200)

    def ids(q: str) -> set[str]:
        resp = client.get(f"{V2}/requests.json?{q}")
        assert resp.status_code == 200, resp.text
        return {x["service_request_id"] for x in resp.json()}

    assert ids("bbox=-71.08,42.77,-71.07,42.78") == {here.public_id}
    assert ids("bbox=-71.2,42.7,-71.0,42.8") == {here.public_id, there.public_id}
    assert ids("lat=42.7771&long=-71.0773&radius=100") == {here.public_id}
    assert ids("lat=42.7771&long=-71.0773&radius=5000") == {here.public_id, there.public_id}
    assert client.get(f"{V2}/requests.json?bbox=1,2,3").status_code == 400
    assert client.get(f"{V2}/requests.json?radius=100").status_code == 400
    assert client.get(f"{V2}/requests.json?lat=x&long=1&radius=100").status_code == 400


def test_extensions(client, session, city, settings) -> None:
    original = make_request(session, city, channel="phone")
    dup = make_request(session, city)
    dup.duplicate_of_id = original.id
    session.add(
        Photo(
            request_id=dup.id,
            sha256="b" * 64,
            display_key="e" * 64 + ".jpg",
            thumb_key="f" * 64 + ".jpg",
            width=800,
            height=600,
            thumb_width=320,
            thumb_height=240,
        )
    )
    add_note(session=session, req=dup, actor=STAFF, note="Public note.", public=True)
    add_note(session=session, req=dup, actor=STAFF, note="Internal only.", public=False)
    session.commit()
    plain = client.get(f"{V2}/requests.json").json()
    assert all("extended_attributes" not in x for x in plain)
    data = {x["service_request_id"]: x for x in client.get(f"{V2}/requests.json?extensions=true").json()}
    ext = data[dup.public_id]["extended_attributes"]
    assert ext["duplicate_of"] == original.public_id
    assert ext["channel"] == "web"
    assert ext["photos"][0]["url"] == settings.base_url + "/media/" + "e" * 64 + ".jpg"
    assert ext["photos"][0]["width"] == 800
    notes = [n["description"] for n in data[dup.public_id]["notes"]]
    assert "Public note." in notes and "Internal only." not in notes
    assert data[original.public_id]["extended_attributes"]["channel"] == "phone"
    root = xml_of(client.get(f"{V2}/requests.xml?extensions=true"))
    assert root.find("request/extended_attributes/photos") is not None
    assert root.find("request/notes/note/datetime") is not None


def test_token_lookup(client, session, city) -> None:
    req = make_request(session, city)
    data = client.get(f"{V2}/tokens/{req.private_token}.json").json()
    assert data == [{"service_request_id": req.public_id, "token": req.private_token}]
    root = xml_of(client.get(f"{V2}/tokens/{req.private_token}.xml"))
    assert root.find("request/service_request_id").text == req.public_id
    assert client.get(f"{V2}/tokens/unknown-token.json").status_code == 404


# --- the updates feed -------------------------------------------------------------------------------------


def test_updates_feed(client, session, city) -> None:
    req = make_request(session, city)
    change_status(session=session, req=req, to="in_progress", actor=STAFF, note="Scheduled.")
    add_note(session=session, req=req, actor=STAFF, note="Internal.", public=False)
    change_status(session=session, req=req, to="closed", actor=STAFF, note="Fixed it.", close_reason="fixed")
    session.commit()
    data = client.get(f"{V2}/servicerequestupdates.json").json()
    assert [(u["status"], u["description"]) for u in data] == [
        ("fixed", "Fixed it."),
        ("in_progress", "Scheduled."),
    ]
    for u in data:
        assert set(u) == {
            "update_id",
            "service_request_id",
            "status",
            "updated_datetime",
            "description",
            "media_url",
        }
        assert isinstance(u["update_id"], str) and u["service_request_id"] == req.public_id
        assert is_w3c_utc(u["updated_datetime"])
    root = xml_of(client.get(f"{V2}/servicerequestupdates.xml"))
    assert root.tag == "service_request_updates"
    assert len(root.findall("request_update")) == 2
    empty = client.get(
        f"{V2}/servicerequestupdates.json?start_date=2001-01-01T00:00:00Z&end_date=2001-01-02T00:00:00Z"
    )
    assert empty.json() == []
    assert client.get(f"{V2}/servicerequestupdates.json?start_date=nope").status_code == 400


def test_human_page(client, session, city) -> None:
    from bs4 import BeautifulSoup

    make_request(session, city)
    resp = client.get("/open311/")
    assert resp.status_code == 200
    soup = BeautifulSoup(resp.text, "html.parser")
    links = [a["href"] for a in soup.select("ul.open311-examples a")]
    assert any(h.endswith("/services.json") for h in links)
    assert any("bbox=" in h for h in links)
    for href in links:
        assert client.get(href.replace("&amp;", "&")).status_code == 200, href
    assert session.exec(select(ServiceRequest)).first() is not None


def test_every_string_has_a_spanish_translation() -> None:
    from babel.messages.extract import extract_from_file
    from babel.messages.pofile import read_po

    from server.config import ROOT

    with open(ROOT / "server/translations/es/LC_MESSAGES/open311.po", "rb") as f:
        catalog = {m.id: m.string for m in read_po(f, locale="es") if m.id}
    sources = [
        ("web/templates/open311/index.html", "jinja2.ext:babel_extract", {"trimmed": "true"}),
        ("server/api/open311.py", "python", {}),
    ]
    for path, method, options in sources:
        for _line, msgid, _comments, _ctx in extract_from_file(method, ROOT / path, options=options):
            assert catalog.get(msgid), f"no Spanish for {msgid!r} ({path})"


def test_the_benchmarks_ceiling_answers_a_body_of_the_asked_length(settings, db) -> None:
    from fastapi.testclient import TestClient

    from bench.ceiling_app import with_ceiling
    from server.main import create_app

    app = with_ceiling(create_app(settings))
    try:
        with TestClient(app) as c:
            r = c.get(f"{V2}/_ceiling.json?bytes=20000")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert 20000 <= len(r.content) < 21000 and r.json()[0]["service_request_id"].startswith("311-")
    finally:
        app.state.engine.dispose()
        app.state.lookup_engine.dispose()


def test_ceiling_route_only_for_the_benchmark(client) -> None:
    # only the benchmark serves it (bench/ceiling_app.py wraps the app): production never does
    assert client.get(f"{V2}/_ceiling.json?bytes=100").status_code == 404
