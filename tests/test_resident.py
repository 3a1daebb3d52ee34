"""The resident app on the server: the report flow, duplicates, follow, public pages, the PWA files."""

from __future__ import annotations

import json
import re

from sqlmodel import select

from server.config import ROOT
from server.models import Activity, Follower, Photo, ServiceRequest
from server.services.addresses import import_addresses
from tests import photo_samples
from tests.factories import HAVERHILL_CITY_HALL, csrf, make_request
from tests.factories import post_report as report

LAT, LONG = HAVERHILL_CITY_HALL


def test_report_page_lists_services_and_search_matches_keywords(client) -> None:
    page = client.get("/report")
    assert page.status_code == 200
    assert "Pothole" in page.text and 'rel="manifest"' in page.text
    found = client.get("/report/services", params={"q": "hole in road"}, headers={"HX-Request": "true"})
    assert "Pothole" in found.text and "Streetlight" not in found.text
    none = client.get("/report/services", params={"q": "zzzz"}, headers={"HX-Request": "true"})
    assert "No service matches" in none.text


def test_the_search_reads_a_sentence_as_the_operators_does(client) -> None:
    """Residents and operators share one search: a sentence describing the problem finds the service."""
    for words, name in (
        ("there's a big hole in the street", "Pothole"),
        ("the streetlight is out", "Streetlight"),
    ):
        found = client.get("/report/services", params={"q": words}, headers={"HX-Request": "true"})
        assert name in found.text and "No service matches" not in found.text, words


def test_questions_partial_renders_every_attribute_kind(client) -> None:
    r = client.get("/report/questions", params={"service": "pothole"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    assert 'name="attribute[size]"' in r.text and 'type="radio"' in r.text and "required" in r.text
    r = client.get("/report/questions", params={"service": "streetlight-out"}, headers={"HX-Request": "true"})
    assert 'type="checkbox"' in r.text and 'name="attribute[pole_number]"' in r.text
    r = client.get("/report/questions", params={"service": "illegal-dumping"}, headers={"HX-Request": "true"})
    assert 'type="datetime-local"' in r.text
    # plain link without htmx: the full page with the form
    full = client.get("/report?service=pothole")
    assert 'id="report"' in full.text and "<html" in full.text


def test_full_report_with_photo_returns_public_id_and_private_link(client, session) -> None:
    token = csrf(client, "/report")
    jpeg = photo_samples.phone_jpeg(800, 600, orientation=6)
    r = report(client, token, files=[("photos", ("IMG_1.JPG", jpeg, "image/jpeg"))], idempotency_key="k-1")
    assert r.status_code == 201, r.text
    body = r.json()
    assert re.fullmatch(r"311-\d{4}-\d{6}", body["public_id"])
    req = session.exec(select(ServiceRequest)).one()
    assert req.attributes == {"size": "large"} and req.idempotency_key == "k-1"
    photos = session.exec(select(Photo)).all()
    assert len(photos) == 1 and photos[0].kind == "before" and photos[0].idempotency_key == "k-1:0"
    private = client.get(body["private_url"] + "&new=1")
    assert private.status_code == 200 and "Thank you" in private.text and body["public_id"] in private.text
    assert client.get(f"/r/{body['public_id']}?t=wrong").status_code == 404
    public = client.get(body["status_url"])
    assert public.status_code == 200 and f"/media/{photos[0].thumb_key}" in public.text
    assert "Report received" in public.text


def test_replayed_idempotency_key_creates_one_request(client, session) -> None:
    token = csrf(client, "/report")
    jpeg = photo_samples.phone_jpeg(400, 300, orientation=1)
    first = report(
        client, token, files=[("photos", ("a.jpg", jpeg, "image/jpeg"))], idempotency_key="offline-1"
    )
    again = report(
        client, token, files=[("photos", ("a.jpg", jpeg, "image/jpeg"))], idempotency_key="offline-1"
    )
    assert first.status_code == again.status_code == 201
    assert first.json()["public_id"] == again.json()["public_id"]
    assert len(session.exec(select(ServiceRequest)).all()) == 1
    assert len(session.exec(select(Photo)).all()) == 1


def test_plain_form_post_redirects_to_private_page(client) -> None:
    token = csrf(client, "/report")
    r = report(client, token, headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"].startswith("/r/311-")


def test_required_answers_location_and_bounds_are_enforced(client, session) -> None:
    token = csrf(client, "/report")
    r = report(client, token, **{"attribute[size]": ""})
    assert r.status_code == 400 and "How big is the pothole?" in r.json()["message"]
    r = report(client, token, lat="", long="")
    assert r.status_code == 400 and r.json()["field"] == "location"
    r = report(client, token, lat="40.7", long="-74.0")
    assert r.status_code == 400 and "outside Haverhill" in r.json()["message"]
    assert session.exec(select(ServiceRequest)).all() == []


def test_bad_photo_refuses_the_report_and_stores_nothing(client, session, settings) -> None:
    token = csrf(client, "/report")
    before = set(settings.media_path.rglob("*")) if settings.media_path.exists() else set()
    r = report(client, token, files=[("photos", ("x.jpg", photo_samples.text_file(), "image/jpeg"))])
    assert r.status_code == 400 and r.json()["message"] == "This file is not an image."
    r = report(client, token, files=[("photos", ("x.jpg", photo_samples.truncated_jpeg(), "image/jpeg"))])
    assert r.status_code == 400
    assert session.exec(select(ServiceRequest)).all() == []
    after = set(settings.media_path.rglob("*")) if settings.media_path.exists() else set()
    assert after == before


def test_photo_gps_is_used_when_no_location_given(client, session) -> None:
    token = csrf(client, "/report")
    jpeg = photo_samples.phone_jpeg(400, 300, orientation=1, gps=(42.78, -71.08))
    r = report(client, token, files=[("photos", ("g.jpg", jpeg, "image/jpeg"))], lat="", long="")
    assert r.status_code == 201, r.text
    req = session.exec(select(ServiceRequest)).one()
    assert abs(req.lat - 42.78) < 1e-4 and abs(req.long + 71.08) < 1e-4


def test_typed_address_is_placed_from_the_city_address_list(client, session, city) -> None:
    import_addresses(session=session, city=city, path=ROOT / "server" / "cities" / "haverhill_addresses.csv")
    session.commit()
    token = csrf(client, "/report")
    r = report(client, token, lat="", long="", address="98 main st")
    assert r.status_code == 201, r.text
    req = session.exec(select(ServiceRequest)).one()
    assert req.address == "98 main st" and abs(req.lat - 42.778361) < 1e-6


def test_nearby_shows_open_duplicates_and_follow_instead(client, session, city) -> None:
    existing = make_request(session, city, lat=LAT, long=LONG, reporter_email="first@example.org")
    make_request(session, city, service_code="streetlight-out", attributes={"problem": ["out"]})
    r = client.get(
        "/report/nearby",
        params={"service": "pothole", "lat": LAT + 0.0001, "long": LONG},
        headers={"HX-Request": "true"},
    )
    assert existing.public_id in r.text and "Follow this instead" in r.text
    assert "first@example.org" not in r.text
    far = client.get("/report/nearby", params={"service": "pothole", "lat": LAT + 0.01, "long": LONG})
    assert existing.public_id not in far.text
    outside = client.get("/report/nearby", params={"service": "pothole", "lat": 40.0, "long": -74.0})
    assert "outside Haverhill" in outside.text
    token = csrf(client, "/report")
    f = client.post(
        f"/requests/{existing.public_id}/follow",
        data={"email": "me@example.org"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert f.status_code == 200 and "You are following" in f.text
    follower = session.exec(select(Follower).where(Follower.email == "me@example.org")).one()
    follow_token = follower.token
    assert f'data-follower-token="{follow_token}"' in f.text  # the push hook
    session.rollback()  # end the transaction before the app writes (SQLite)
    stop = client.post(
        "/follow/stop", data={"token": follow_token}, headers={"X-CSRF-Token": token}, follow_redirects=False
    )
    assert stop.status_code == 303
    session.expire_all()
    assert session.exec(select(Follower).where(Follower.email == "me@example.org")).first() is None


def test_public_pages_never_show_reporter_details_or_private_notes(client, session, city) -> None:
    from server.services.requests import RESIDENT, add_note

    req = make_request(
        session,
        city,
        reporter_name="Rita Reporter",
        reporter_email="rita@example.org",
        reporter_phone="555-0100",
    )
    add_note(session=session, req=req, actor=RESIDENT, note="internal only: gate code 1234", public=False)
    add_note(session=session, req=req, actor=RESIDENT, note="Crew scheduled for Monday", public=True)
    session.commit()
    for url in (f"/requests/{req.public_id}", "/requests", "/requests?service=pothole&status=open"):
        text = client.get(url).text
        for secret in ("Rita", "rita@example.org", "555-0100", "gate code", req.private_token):
            assert secret not in text, (url, secret)
    assert "Crew scheduled for Monday" in client.get(f"/requests/{req.public_id}").text


def test_recent_list_filters_and_near_me(client, session, city) -> None:
    a = make_request(session, city)
    b = make_request(
        session, city, service_code="streetlight-out", attributes={"problem": ["out"]}, lat=42.80, long=-71.10
    )
    text = client.get("/requests").text
    assert a.public_id in text and b.public_id in text
    text = client.get("/requests", params={"service": "pothole"}).text
    assert a.public_id in text and b.public_id not in text
    text = client.get("/requests", params={"status": "closed"}).text
    assert a.public_id not in text
    text = client.get("/requests", params={"lat": LAT, "long": LONG}).text
    assert a.public_id in text and b.public_id not in text and "m away" in text
    part = client.get(
        "/requests", params={"service": "pothole"}, headers={"HX-Request": "true", "HX-Target": "results"}
    )
    assert "<html" not in part.text and a.public_id in part.text


def test_manifest_service_worker_offline_and_icons(client) -> None:
    m = client.get("/manifest.webmanifest")
    assert m.headers["content-type"].startswith("application/manifest+json")
    body = json.loads(m.text)
    assert body["display"] == "standalone" and body["scope"] == "/" and body["start_url"].startswith("/")
    sizes = {(i["sizes"], i["purpose"]) for i in body["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in body["icons"]:
        assert client.get(icon["src"]).status_code == 200
    sw = client.get("/sw.js")
    assert sw.headers["cache-control"] == "no-cache" and "javascript" in sw.headers["content-type"]
    assert "/static/js/report.js?v=" in sw.text and '"/offline"' in sw.text
    assert client.get("/offline").status_code == 200


def test_spanish_pages(client) -> None:
    r = client.get("/report", headers={"Accept-Language": "es-US,es;q=0.9"})
    assert '<html lang="es">' in r.text and "Informar de un problema" in r.text
    r = client.get("/report?lang=es")
    assert "Informar de un problema" in r.text


def test_csrf_is_required(client) -> None:
    client.get("/report")
    r = client.post("/report", data={"service_code": "pothole"}, headers={"Accept": "application/json"})
    assert r.status_code == 403
    assert Activity  # imported for the timeline checks above


def test_heic_is_accepted_and_more_than_five_photos_refused(client, session) -> None:
    token = csrf(client, "/report")
    heic = photo_samples.heic(400, 300, gps=None)
    r = report(client, token, files=[("photos", ("IMG_2.HEIC", heic, "application/octet-stream"))])
    assert r.status_code == 201, r.text
    jpeg = photo_samples.phone_jpeg(200, 150, orientation=1)
    six = [("photos", (f"{i}.jpg", jpeg, "image/jpeg")) for i in range(6)]
    r = report(client, token, files=six)
    assert r.status_code == 400 and r.json()["message"] == "At most 5 photos per report."
    assert len(session.exec(select(ServiceRequest)).all()) == 1


def test_errors_are_shown_in_spanish(client) -> None:
    token = csrf(client, "/report")
    r = report(
        client,
        token,
        lat="40.7",
        long="-74.0",
        headers={"Accept": "application/json", "Accept-Language": "es"},
    )
    assert r.json()["message"] == "Este lugar está fuera de Haverhill. Elija un lugar dentro de la ciudad."
    r = report(
        client,
        token,
        **{"attribute[size]": ""},
        headers={"Accept": "application/json", "Accept-Language": "es"},
    )
    assert r.json()["message"] == "Responda, por favor: How big is the pothole?"
    r = report(
        client,
        token,
        files=[("photos", ("x.jpg", b"hello", "image/jpeg"))],
        headers={"Accept": "application/json", "Accept-Language": "es"},
    )
    assert r.json()["message"] == "Este archivo no es una imagen."


def test_follow_links_an_existing_push_subscription(client, session, city) -> None:
    from server.models import PushSubscription

    req = make_request(session, city)
    session.add(PushSubscription(endpoint="https://push.example/abc", p256dh="k", auth="a", token="t" * 20))
    session.commit()
    token = csrf(client, "/report")
    r = client.post(
        f"/requests/{req.public_id}/follow",
        data={"push_endpoint": "https://push.example/abc"},
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert r.status_code == 201
    follower = session.exec(select(Follower).where(Follower.token == r.json()["token"])).one()
    assert follower.push_subscription_id is not None


def test_private_page_is_not_cached_and_sw_keeps_staff_pages_out(client, session, city) -> None:
    req = make_request(session, city)
    r = client.get(f"/r/{req.public_id}?t={req.private_token}")
    assert r.status_code == 200 and "no-store" in r.headers["cache-control"]
    assert "RESIDENT_PAGES" in client.get("/sw.js").text
