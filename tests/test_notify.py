"""server/services/notify.py and the push subscription API: who is told what."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from server import push
from server.models import Crew, Follower, Outbox, OverdueNotice, PushSubscription, ServiceRequest, utcnow
from server.services import followers, subscriptions
from server.services.requests import Actor, add_note, assign_crew, change_status
from server.worker import Worker
from tests.factories import csrf, login, make_request, make_user
from tests.fake_push import BrowserKeys


def outbox(session: Session) -> list[Outbox]:
    query = select(Outbox).order_by(col(Outbox.id)).execution_options(populate_existing=True)
    rows = list(session.exec(query).all())
    session.commit()  # end the read: on SQLite an open transaction holds the write lock
    return rows


def device(session: Session, endpoint: str, user_id: int | None = None, language: str = "en"):
    b = BrowserKeys()
    return subscriptions.save_subscription(
        session, endpoint=endpoint, p256dh=b.p256dh, auth=b.auth, user_id=user_id, language=language
    )


def test_push_to_devices_and_email_to_followers_without_one(session, city):
    req = make_request(session, city, reporter_email="reporter@example.org")  # e-mail only
    phone = device(session, "https://push.example/a")
    followers.follow_with_subscription(session, req=req, sub=phone)
    session.add(Follower(request_id=req.id, name="Caller", phone="555-0100", token="tok-phone-only"))
    session.commit()
    change_status(session=session, req=req, to="closed", close_reason="fixed", actor=Actor(label="Ops"))
    session.commit()
    rows = outbox(session)
    assert sorted((r.channel, r.email, r.subscription_id) for r in rows) == [
        ("email", "reporter@example.org", None),
        ("push", "", phone.id),
    ]
    for r in rows:
        assert r.payload["title"] == f"{req.public_id} is closed"
        assert r.payload["body"] == "Fixed."
        assert r.payload["url"] == f"/requests/{req.public_id}"
        assert r.payload["unfollow_url"].startswith("/unfollow/")


def test_notes_in_spanish_for_a_spanish_device(session, city):
    req = make_request(session, city)
    followers.follow_with_subscription(
        session, req=req, sub=device(session, "https://push.example/es", language="es")
    )
    session.commit()
    change_status(session=session, req=req, to="in_progress", actor=Actor(label="Ops"))
    add_note(session=session, req=req, actor=Actor(label="Ops"), note="Mañana", public=True)
    session.commit()
    titles = [r.payload["title"] for r in outbox(session)]
    assert titles == [f"{req.public_id} está en curso", f"Novedades sobre {req.public_id}"]
    assert outbox(session)[0].payload["unfollow_label"] == "Dejar de seguir"


def test_email_in_the_language_the_resident_reported_in(session, city):
    from server import i18n

    i18n.set_language("es")  # the resident's page was in Spanish
    try:
        req = make_request(session, city, reporter_email="vecina@example.org")
    finally:
        i18n.set_language("en")  # the dispatcher's is in English
    session.commit()
    change_status(session=session, req=req, to="closed", close_reason="fixed", actor=Actor(label="Ops"))
    session.commit()
    [mail] = outbox(session)
    assert mail.channel == "email" and mail.email == "vecina@example.org"
    assert mail.payload["title"] == f"{req.public_id} está cerrada"
    assert mail.payload["unfollow_label"] == "Dejar de seguir"


def test_other_changes_notify_nobody(session, city):
    req = make_request(session, city, reporter_email="a@example.org")
    change_status(session=session, req=req, to="in_progress", actor=Actor(label="Ops"), public=False)
    add_note(session=session, req=req, actor=Actor(label="Ops"), note="internal", public=False)
    session.commit()
    assert outbox(session) == []


def test_crew_members_are_told_of_assignments_and_removals(session, city):
    crews = session.exec(select(Crew).order_by(col(Crew.id))).all()
    a = make_user(session, "crew", email="a@crew.example", crew=crews[0].name)
    b = make_user(session, "crew", email="b@crew.example", crew=crews[1].name)
    make_user(session, "crew", email="nodevice@crew.example", crew=crews[0].name)
    phone_a, phone_b = (
        device(session, "https://push.example/ca", a.id),
        device(session, "https://push.example/cb", b.id),
    )
    req = make_request(session, city, address="4 Summer St")
    session.commit()
    dispatcher = Actor(label="Dispatch")
    assign_crew(session=session, req=req, crew_id=crews[0].id, actor=dispatcher)
    session.commit()
    [row] = outbox(session)
    assert row.subscription_id == phone_a.id
    assert row.payload["kind"] == "assigned" and row.payload["title"] == f"New job {req.public_id}"
    assert row.payload["body"] == "Pothole at 4 Summer St" or row.payload["body"].endswith("at 4 Summer St")
    assign_crew(session=session, req=req, crew_id=crews[1].id, actor=dispatcher)
    session.commit()
    rows = outbox(session)[1:]
    assert {(r.subscription_id, r.payload["kind"]) for r in rows} == {
        (phone_b.id, "assigned"),
        (phone_a.id, "unassigned"),
    }


def test_overdue_alerts_once_per_request_for_dispatchers_who_opted_in(session, city, settings, db):
    d = make_user(session, "dispatcher", email="d@example.org")
    make_user(session, "dispatcher", email="quiet@example.org")
    d.overdue_alerts = True
    session.add(d)
    phone = device(session, "https://push.example/d", d.id)
    r1 = make_request(session, city)
    r2 = make_request(session, city)
    make_request(session, city)  # not overdue
    now = utcnow()
    for r in (r1, r2):
        r.expected_at = now - timedelta(hours=1)
        session.add(r)
    old = make_request(session, city)
    old.expected_at = now - timedelta(days=10)  # overdue long ago: not news
    session.add(old)
    session.commit()

    phone_id, ids = phone.id, {r1.public_id, r2.public_id}
    worker = Worker(settings, db)
    assert worker.queue_overdue(now) == 1
    [row] = outbox(session)
    assert row.subscription_id == phone_id
    assert row.payload["title"] == "2 requests are overdue"
    assert set(row.payload["body"].split(", ")) == ids
    assert worker.queue_overdue(now + timedelta(minutes=5)) == 0  # told once
    session.expire_all()
    assert len(session.exec(select(OverdueNotice)).all()) == 2
    session.commit()

    r3 = make_request(session, city)
    r3.expected_at = now + timedelta(minutes=1)
    session.add(r3)
    session.commit()
    r3_id = r3.public_id
    # no device any more: the alert goes by e-mail
    subscriptions.forget_subscription(session, phone_id)
    session.commit()
    assert worker.queue_overdue(now + timedelta(minutes=10)) == 1
    last = outbox(session)[-1]
    assert (last.channel, last.email, last.payload["title"]) == (
        "email",
        "d@example.org",
        f"{r3_id} is overdue",
    )


# --- the API ------------------------------------------------------------------------------------------


def browser_body(b: BrowserKeys, endpoint: str, **kw):
    return {"subscription": b.subscription(endpoint), **kw}


def test_public_key(client, settings):
    j = client.get("/api/push/key").json()
    assert j["publicKey"] == push.application_server_key(settings)
    assert j["labels"]["follow_on"] == "Notify me on this device"
    assert client.get("/api/push/key?lang=es").json()["labels"]["follow_on"] == "Avisarme en este dispositivo"


def test_resident_subscribes_follows_lists_and_removes(client, session, city):
    req = make_request(session, city)
    token = csrf(client)
    b = BrowserKeys()
    r = client.post(
        "/api/push/subscriptions",
        json=browser_body(b, "https://push.example/r1", public_id=req.public_id),
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["following"][0]["public_id"] == req.public_id and sub["token"]
    assert not sub["staff"]
    # again (the page re-subscribes, with the token it kept, as push.js does): same row, still one follower
    r = client.post(
        "/api/push/subscriptions",
        json=browser_body(b, "https://push.example/r1", public_id=req.public_id),
        headers={"X-CSRF-Token": token, "X-Push-Token": sub["token"]},
    )
    assert r.json()["id"] == sub["id"] and len(r.json()["following"]) == 1
    assert r.json()["token"] == sub["token"]

    assert client.get("/api/push/subscriptions").json() == {"subscriptions": []}
    listed = client.get("/api/push/subscriptions", headers={"X-Push-Token": sub["token"]}).json()[
        "subscriptions"
    ]
    assert [s["id"] for s in listed] == [sub["id"]] and "token" not in listed[0]

    # a status change reaches the device through the outbox
    change_status(session=session, req=req, to="in_progress", actor=Actor(label="Ops"))
    session.commit()
    assert [r.subscription_id for r in outbox(session)] == [sub["id"]]

    # stop following on this device, then remove the device
    url = f"/api/push/subscriptions/{sub['id']}"
    assert client.delete(f"{url}/follows/{req.public_id}", headers={"X-CSRF-Token": token}).status_code == 403
    h = {"X-CSRF-Token": token, "X-Push-Token": sub["token"]}
    assert client.delete(f"{url}/follows/{req.public_id}", headers=h).status_code == 204
    assert client.get("/api/push/subscriptions", headers=h).json()["subscriptions"][0]["following"] == []
    assert client.delete(url, headers={"X-CSRF-Token": token, "X-Push-Token": "wrong"}).status_code == 403
    assert client.delete(url, headers=h).status_code == 204
    session.expire_all()
    assert session.get(PushSubscription, sub["id"]) is None
    assert all(r.dead for r in outbox(session))


def test_subscription_is_validated_and_csrf_checked(client, session, city):
    b = BrowserKeys()
    assert (
        client.post("/api/push/subscriptions", json=browser_body(b, "https://push.example/x")).status_code
        == 403
    )
    token = csrf(client)
    bad = {"subscription": {"endpoint": "https://push.example/x", "keys": {"p256dh": "AAAA", "auth": "AAAA"}}}
    r = client.post("/api/push/subscriptions", json=bad, headers={"X-CSRF-Token": token})
    assert r.status_code == 400 and r.json()["field"] == "keys"
    r = client.post(
        "/api/push/subscriptions",
        json=browser_body(b, "javascript:alert(1)"),
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 400
    r = client.post(
        "/api/push/subscriptions",
        json=browser_body(b, "https://push.example/y", public_id="311-1999-999999"),
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 404


def test_follower_token_links_the_reporter(client, session, city):
    req = make_request(session, city, reporter_email="ana@example.org")
    follower = session.exec(select(Follower).where(Follower.request_id == req.id)).one()
    session.commit()
    token = csrf(client)
    r = client.post(
        "/api/push/subscriptions",
        json=browser_body(BrowserKeys(), "https://push.example/ana", follower_token=follower.token),
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 201
    session.expire_all()
    assert session.get(Follower, follower.id).push_subscription_id == r.json()["id"]
    session.commit()
    change_status(session=session, req=req, to="in_progress", actor=Actor(label="Ops"))
    session.commit()
    assert [r.channel for r in outbox(session)] == ["push"]  # the device replaces the e-mail


def test_staff_device_and_overdue_opt_in(client, session, city):
    crew = make_user(session, "crew", email="c@example.org")
    make_user(session, "dispatcher", email="d@example.org")
    login(client, "c@example.org")
    token = csrf(client, "/login")
    r = client.post(
        "/api/push/subscriptions",
        json=browser_body(BrowserKeys(), "https://push.example/crew", staff=True),
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 201 and r.json()["staff"]
    listed = client.get("/api/push/subscriptions").json()["subscriptions"]
    assert [s["id"] for s in listed] == [r.json()["id"]]
    assert session.get(PushSubscription, r.json()["id"]).user_id == crew.id
    session.commit()
    # crew may not opt in to overdue alerts
    assert (
        client.put(
            "/api/push/overdue-alerts", json={"enabled": True}, headers={"X-CSRF-Token": token}
        ).status_code
        == 403
    )
    assert (
        client.delete(
            f"/api/push/subscriptions/{r.json()['id']}", headers={"X-CSRF-Token": token}
        ).status_code
        == 204
    )

    client.cookies.clear()
    login(client, "d@example.org")
    token = csrf(client, "/login")
    r = client.put("/api/push/overdue-alerts", json={"enabled": True}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json() == {"enabled": True}
    session.expire_all()
    from server.models import User

    assert session.exec(select(User).where(User.email == "d@example.org")).one().overdue_alerts
    session.commit()


def test_unfollow_link_page(client, session, city):
    req = make_request(session, city, reporter_email="ana@example.org")
    follower = session.exec(select(Follower).where(Follower.request_id == req.id)).one()
    session.commit()
    page = client.get(f"/unfollow/{follower.token}")
    assert page.status_code == 200
    assert req.public_id in page.text and 'action="/follow/stop"' in page.text
    assert client.get("/unfollow/nope").status_code == 404


def test_request_row_is_untouched_by_notifications(session, city):
    req = make_request(session, city, reporter_email="a@example.org")
    v = req.version
    add_note(session=session, req=req, actor=Actor(label="Ops"), note="hi", public=True)
    session.commit()
    assert session.get(ServiceRequest, req.id).version == v + 1  # only the note's own bump


def test_staff_only_removal_keeps_the_follows(client, session, city):
    make_user(session, "crew", email="c@example.org")
    req = make_request(session, city)
    login(client, "c@example.org")
    token = csrf(client, "/login")
    body = browser_body(BrowserKeys(), "https://push.example/both", staff=True, public_id=req.public_id)
    sub = client.post("/api/push/subscriptions", json=body, headers={"X-CSRF-Token": token}).json()
    r = client.delete(f"/api/push/subscriptions/{sub['id']}?staff_only=1", headers={"X-CSRF-Token": token})
    assert r.status_code == 204
    session.expire_all()
    row = session.get(PushSubscription, sub["id"])
    assert row is not None and row.user_id is None
    session.commit()


def test_every_string_has_a_spanish_translation():
    from babel.messages.extract import extract_from_file
    from babel.messages.pofile import read_po

    from server.config import ROOT

    translated = set()
    for po in ("notify.po", "lifecycle.po"):  # the titles and close sentences are the lifecycle's words
        with open(ROOT / "server/translations/es/LC_MESSAGES" / po, "rb") as f:
            translated |= {m.id for m in read_po(f, locale="es") if m.id and m.string}
    keywords = {"_": None, "N_": None, "gettext": None, "translate": (2,)}
    found = set()
    for path in (
        "server/services/notify.py",
        "server/services/subscriptions.py",  # moved out of notify.py with their strings
        "server/services/followers.py",
        "server/worker.py",
        "server/api/push.py",
        "server/push.py",
        "server/domain/lifecycle.py",  # status titles and sentences
    ):
        for _line, msg, _comments, _ctx in extract_from_file("python", ROOT / path, keywords=keywords):
            found.add(msg if isinstance(msg, str) else msg[0])
    for path in ("web/templates/notifications/index.html", "web/templates/notifications/unfollow.html"):
        for _line, msg, _comments, _ctx in extract_from_file(
            "jinja2.ext:babel_extract",
            ROOT / path,
            options={"extensions": "jinja2.ext.i18n", "trimmed": "true"},
        ):
            found.add(msg if isinstance(msg, str) else msg[0])
    found.discard(None)
    assert len(found) > 40
    assert sorted(found - translated) == []
