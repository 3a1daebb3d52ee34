"""Open311 POST requests: api keys, locations, attributes, photos, errors, rate limits."""

from __future__ import annotations

from sqlmodel import select

from server.models import Activity, Address, Photo, ServiceRequest
from server.services.apikeys import create_api_key, revoke_api_key
from tests import photo_samples
from tests.factories import HAVERHILL_CITY_HALL
from tests.open311_helpers import V2, api_key, xml_of

LAT, LONG = HAVERHILL_CITY_HALL


def pothole(key: str, **extra: str) -> dict[str, str]:
    return {
        "api_key": key,
        "service_code": "pothole",
        "lat": str(LAT),
        "long": str(LONG),
        "attribute[size]": "large",
        "description": "Big one",
        **extra,
    }


def test_post_json_creates_an_open311_request(client, session) -> None:
    key = api_key(session, "CitySourced")
    resp = client.post(
        f"{V2}/requests.json",
        data=pothole(
            key,
            email="ana@example.com",
            first_name="Ana",
            last_name="Lopez",
            phone="555-1234",
            device_id="dev-1",
            account_id="acc-9",
            jurisdiction_id="",
        ),
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json; charset=utf-8"
    body = resp.json()
    assert isinstance(body, list) and len(body) == 1
    rid = body[0]["service_request_id"]
    assert isinstance(rid, str) and rid.startswith("311-")
    assert body[0]["account_id"] == "acc-9"
    assert body[0]["service_notice"]
    session.expire_all()
    req = session.exec(select(ServiceRequest).where(ServiceRequest.public_id == rid)).one()
    assert req.channel == "open311" and req.api_key_id is not None
    assert req.reporter_name == "Ana Lopez" and req.reporter_email == "ana@example.com"
    assert req.device_id == "dev-1" and req.attributes == {"size": "large"}
    assert client.get(f"{V2}/requests/{rid}.json").json()[0]["description"] == "Big one"


def test_post_xml_with_multivalue_attributes_and_key_in_query(client, session) -> None:
    key = api_key(session)
    resp = client.post(
        f"{V2}/requests.xml?api_key={key}",
        data={
            "service_code": "streetlight-out",
            "lat": str(LAT),
            "long": str(LONG),
            "attribute[problem][]": ["out", "flickering"],
            "attribute[pole_number]": "N-12",
        },
    )
    assert resp.status_code == 200, resp.text
    root = xml_of(resp)
    assert root.tag == "service_requests"
    rid = root.find("request/service_request_id").text
    req = session.exec(select(ServiceRequest).where(ServiceRequest.public_id == rid)).one()
    assert req.attributes == {"problem": ["out", "flickering"], "pole_number": "N-12"}


def test_api_key_rules(client, session) -> None:
    missing = client.post(
        f"{V2}/requests.json", data={k: v for k, v in pothole("").items() if k != "api_key"}
    )
    assert missing.status_code == 403 and missing.json()[0]["code"] == "403"
    wrong = client.post(f"{V2}/requests.xml", data=pothole("c311_wrong"))
    assert wrong.status_code == 403 and xml_of(wrong).find("error/code").text == "403"
    row, key = create_api_key(session=session, name="Old app")
    revoke_api_key(session=session, key_id=row.id)
    session.commit()
    assert client.post(f"{V2}/requests.json", data=pothole(key)).status_code == 403
    assert session.exec(select(ServiceRequest)).first() is None


def test_validation_errors(client, session) -> None:
    key = api_key(session)

    def post(fmt: str = "json", **changes: str | None) -> tuple[int, str]:
        data = pothole(key)
        for k, v in changes.items():
            if v is None:
                data.pop(k, None)
            else:
                data[k] = v
        resp = client.post(f"{V2}/requests.{fmt}", data=data)
        if fmt == "xml":
            return resp.status_code, xml_of(resp).find("error/description").text
        body = resp.json()
        return resp.status_code, body[0].get("description", "") if resp.status_code != 200 else ""

    assert post(service_code=None)[0] == 400
    assert post(service_code="no-such-service")[0] == 404
    assert post(lat=None, long=None)[0] == 400  # no location at all
    assert post(lat="10.0", long="10.0")[0] == 400  # outside the city
    assert post(lat="abc")[0] == 400
    assert post(description="x" * 4001)[0] == 400
    status, text = post(**{"attribute[size]": None})
    assert status == 400 and "pothole" in text.lower()
    assert post("xml", **{"attribute[size]": "enormous"})[0] == 400
    assert post(jurisdiction_id="elsewhere.gov")[0] == 404
    assert session.exec(select(ServiceRequest)).first() is None
    session.rollback()  # on SQLite the test's read would otherwise hold the write lock
    assert post(jurisdiction_id="haverhill.ma.us")[0] == 200


def test_address_string_and_address_id(client, session) -> None:
    key = api_key(session)
    addr = Address(
        number="4", street="Summer St", text="4 Summer St", search="4 summer st", lat=LAT, long=LONG
    )
    session.add(addr)
    session.commit()
    by_text = client.post(
        f"{V2}/requests.json",
        data={
            **{k: v for k, v in pothole(key).items() if k not in ("lat", "long")},
            "address_string": "12 Main St",
        },
    )
    assert by_text.status_code == 200, by_text.text
    by_id = client.post(
        f"{V2}/requests.json",
        data={
            **{k: v for k, v in pothole(key).items() if k not in ("lat", "long")},
            "address_id": str(addr.id),
        },
    )
    assert by_id.status_code == 200, by_id.text
    req = session.exec(
        select(ServiceRequest).where(ServiceRequest.public_id == by_id.json()[0]["service_request_id"])
    ).one()
    assert req.address == "4 Summer St" and req.lat == LAT
    session.rollback()  # end the read: on SQLite it would hold the write lock
    bad = client.post(
        f"{V2}/requests.json",
        data={**{k: v for k, v in pothole(key).items() if k not in ("lat", "long")}, "address_id": "99999"},
    )
    assert bad.status_code == 400


def test_photo_upload_multipart_media(client, session, settings) -> None:
    key = api_key(session)
    jpeg = photo_samples.phone_jpeg(800, 600)
    resp = client.post(
        f"{V2}/requests.json",
        data=pothole(key, media_url="https://example.com/p.jpg"),
        files={"media": ("photo.jpg", jpeg, "image/jpeg")},
    )
    assert resp.status_code == 200, resp.text
    rid = resp.json()[0]["service_request_id"]
    req = session.exec(select(ServiceRequest).where(ServiceRequest.public_id == rid)).one()
    photo = session.exec(select(Photo).where(Photo.request_id == req.id)).one()
    assert (settings.media_path).exists()
    item = client.get(f"{V2}/requests/{rid}.json").json()[0]
    assert item["media_url"].endswith("/media/" + photo.display_key)
    assert client.get(item["media_url"].replace(settings.base_url, "")).status_code == 200
    link = session.exec(
        select(Activity).where(Activity.request_id == req.id, Activity.kind == "media_url")
    ).one()
    assert link.public is False and link.data["url"] == "https://example.com/p.jpg"


def test_media_url_must_be_a_web_address_and_staff_see_it_as_a_link(client, session) -> None:
    from bs4 import BeautifulSoup

    from tests.factories import login, make_user

    key = api_key(session)
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "https://x.example/" + "a" * 1000):
        resp = client.post(f"{V2}/requests.json", data=pothole(key, media_url=bad))
        assert (
            resp.status_code == 400
            and resp.json()[0]["description"] == "media_url must be an http or https URL."
        )
    assert session.exec(select(ServiceRequest)).first() is None
    session.rollback()  # let go of SQLite's write lock before the next post
    ok = client.post(f"{V2}/requests.json", data=pothole(key, media_url="https://photos.example/p/1.jpg"))
    rid = ok.json()[0]["service_request_id"]
    assert client.get(f"{V2}/requests/{rid}.json").json()[0]["media_url"] is None  # not republished
    make_user(session, "dispatcher", email="d@test.example")
    login(client, "d@test.example")
    page = BeautifulSoup(client.get(f"/dispatch/requests/{rid}").text, "html.parser")
    link = page.select_one('.timeline a[href="https://photos.example/p/1.jpg"]')
    assert link is not None and "noopener" in link["rel"] and "noreferrer" in link["rel"]


def test_bad_photo_is_400_and_nothing_stored(client, session) -> None:
    key = api_key(session)
    resp = client.post(
        f"{V2}/requests.json", data=pothole(key), files={"media": ("x.jpg", b"not an image", "image/jpeg")}
    )
    assert resp.status_code == 400 and resp.json()[0]["description"]
    assert session.exec(select(ServiceRequest)).first() is None


def test_rate_limit_per_key(client, session, app) -> None:
    old = app.state.settings.open311_rate_limit
    app.state.settings.open311_rate_limit = "2/minute"
    try:
        key, other = api_key(session, "a"), api_key(session, "b")
        assert client.post(f"{V2}/requests.json", data=pothole(key)).status_code == 200
        assert client.post(f"{V2}/requests.json", data=pothole(key)).status_code == 200
        limited = client.post(f"{V2}/requests.xml", data=pothole(key))
        assert limited.status_code == 429 and xml_of(limited).find("error/code").text == "429"
        wait = int(limited.headers["retry-after"])
        assert 1 <= wait <= 60
        assert f"Try again in {wait} seconds." in xml_of(limited).find("error/description").text
        assert client.post(f"{V2}/requests.json", data=pothole(other)).status_code == 200
    finally:
        app.state.settings.open311_rate_limit = old


def test_rate_limit_is_shared_by_every_web_process_and_counts_failed_posts(client, session, settings) -> None:
    """Two apps on one database stand for two web processes behind a load balancer."""
    from fastapi.testclient import TestClient

    from server.main import create_app

    other_app = create_app(settings.model_copy(update={"open311_rate_limit": "3/minute"}))
    client.app.state.settings.open311_rate_limit, old = (
        "3/minute",
        client.app.state.settings.open311_rate_limit,
    )
    try:
        key = api_key(session)
        with TestClient(other_app) as other:
            assert client.post(f"{V2}/requests.json", data=pothole(key)).status_code == 200
            bad = other.post(f"{V2}/requests.json", data={**pothole(key), "service_code": "nope"})
            assert bad.status_code == 404  # refused, but counted
            assert other.post(f"{V2}/requests.json", data=pothole(key)).status_code == 200
            assert client.post(f"{V2}/requests.json", data=pothole(key)).status_code == 429
            assert other.post(f"{V2}/requests.json", data=pothole(key)).status_code == 429
        assert len(session.exec(select(ServiceRequest)).all()) == 2
    finally:
        client.app.state.settings.open311_rate_limit = old
        other_app.state.engine.dispose()
        other_app.state.lookup_engine.dispose()


def test_post_needs_no_csrf_and_get_has_cors_but_post_result_is_plain(client, session) -> None:
    key = api_key(session)
    resp = client.post(
        f"{V2}/requests.json", data=pothole(key), headers={"Origin": "https://elsewhere.example"}
    )
    assert resp.status_code == 200


def test_malformed_multipart_is_an_open311_error(client, session) -> None:
    resp = client.post(
        f"{V2}/requests.xml",
        content=b"--zzz\r\nnot a part",
        headers={"Content-Type": "multipart/form-data; boundary=zzz"},
    )
    assert resp.status_code == 400
    assert xml_of(resp).tag == "errors"
