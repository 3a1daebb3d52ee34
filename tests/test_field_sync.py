"""The field sync endpoint: each rule of server/services/field_sync.py, malformed and forged events."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import Engine, text
from sqlmodel import Session, func, select

from server.models import Activity, Crew, Photo, ServiceRequest, User
from server.services.field_sync import apply_batch
from server.services.requests import Actor, assign_crew, change_status, set_priority
from tests.factories import login, make_request, make_user


def crews(session: Session) -> list[Crew]:
    return list(session.exec(select(Crew).order_by(Crew.id)))


_OPEN: list[Session] = []


def release() -> None:
    """End the test's own read transaction before the app writes (SQLite has one writer)."""
    for s in _OPEN:
        s.commit()


@pytest.fixture
def setup(session, city, client):  # type: ignore[no-untyped-def]
    _OPEN[:] = [session]
    c1, c2 = crews(session)[:2]
    crew = make_user(session, "crew", email="crew1@test.example", crew=c1.name, name="Ana Crew")
    disp = make_user(session, "dispatcher", email="disp@test.example")
    jobs = []
    for _ in range(3):
        r = make_request(session, city)
        assign_crew(session=session, req=r, crew_id=c1.id, actor=Actor.of(disp))
        jobs.append(r)
    other = make_request(session, city)
    assign_crew(session=session, req=other, crew_id=c2.id, actor=Actor.of(disp))
    session.commit()
    assert login(client, crew.email).status_code == 303
    token = client.get("/field/api/session").json()["csrf"]
    return {"crew": crew, "disp": disp, "jobs": jobs, "other": other, "c1": c1, "c2": c2, "token": token}


def ev(user: User, job: ServiceRequest, kind: str, **kw):  # type: ignore[no-untyped-def]
    return {
        "id": str(uuid.uuid4()),
        "job": job.id,
        "kind": kind,
        "user_id": user.id,
        "client_time": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        **kw,
    }


def sync(client, token, events, cursor=None):  # type: ignore[no-untyped-def]
    release()
    r = client.post(
        "/field/api/sync", json={"events": events, "cursor": cursor}, headers={"X-CSRF-Token": token}
    )
    assert r.status_code == 200, r.text
    return r.json()


def statuses(body) -> list[str]:  # type: ignore[no-untyped-def]
    return [r["status"] for r in body["results"]]


def fresh(session: Session, req: ServiceRequest) -> ServiceRequest:
    session.expire_all()
    got = session.get(ServiceRequest, req.id)
    assert got is not None
    session.commit()  # end the read: on SQLite an open transaction would hold the write lock
    return got


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buf, "JPEG")
    return buf.getvalue()


def test_jobs_list_and_session(setup, client) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/field/api/jobs").json()
    assert body["full"] is True
    assert sorted(j["id"] for j in body["jobs"]) == sorted(j.id for j in setup["jobs"])
    job = body["jobs"][0]
    assert {
        "service",
        "address",
        "lat",
        "long",
        "priority",
        "expected_at",
        "answers",
        "photos",
        "history",
    } <= set(job)
    assert job["answers"] and job["assigned"] is True
    assert "reporter_email" not in job
    me = client.get("/field/api/session").json()
    assert me["user_id"] == setup["crew"].id and me["csrf"]


def test_apply_in_order_and_close(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    u, job = setup["crew"], setup["jobs"][0]
    events = [
        ev(u, job, "start"),
        ev(u, job, "note", note="Filled with cold patch", public=True),
        ev(u, job, "note", note="Internal remark"),
        ev(u, job, "complete", resolution="fixed", note="Done"),
    ]
    cursor = client.get("/field/api/jobs").json()["cursor"]
    body = sync(client, setup["token"], events, cursor=cursor)
    assert statuses(body) == ["applied"] * 4
    req = fresh(session, job)
    assert req.status == "closed" and req.close_reason == "fixed"
    acts = session.exec(
        select(Activity)
        .where(Activity.request_id == job.id, Activity.client_event_id.is_not(None))  # type: ignore[union-attr]
        .order_by(Activity.id)
    ).all()
    assert [a.client_event_id for a in acts] == [e["id"] for e in events]
    assert [a.public for a in acts] == [True, True, False, True]
    assert all(a.client_time is not None and a.actor_id == u.id for a in acts)
    session.commit()
    # the device learns that the job is closed (a full list holds open jobs only)
    assert job.id not in {j["id"] for j in sync(client, setup["token"], [])["jobs"]}
    assert any(j["id"] == job.id and j["status"] == "closed" for j in body["jobs"])


def test_same_batch_twice_changes_nothing(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    u, job = setup["crew"], setup["jobs"][1]
    events = [ev(u, job, "note", note="one"), ev(u, job, "complete", resolution="fixed")]
    assert statuses(sync(client, setup["token"], events)) == ["applied", "applied"]
    version = fresh(session, job).version
    n_acts = len(session.exec(select(Activity.id)).all())
    session.commit()
    assert statuses(sync(client, setup["token"], events)) == ["duplicate", "duplicate"]
    assert fresh(session, job).version == version
    assert len(session.exec(select(Activity.id)).all()) == n_acts
    # and the same event twice in one batch
    e = ev(u, job, "note", note="twice")
    assert statuses(sync(client, setup["token"], [e, e])) == ["applied", "duplicate"]


def test_never_assigned_job_is_refused(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    u, other = setup["crew"], setup["other"]
    before = fresh(session, other).version
    body = sync(
        client, setup["token"], [ev(u, other, "complete", resolution="fixed"), ev(u, other, "note", note="x")]
    )
    assert body["results"][0] == {
        "id": body["results"][0]["id"],
        "status": "refused",
        "reason": "not_assigned",
        "job": other.id,
    }
    assert statuses(body) == ["refused", "refused"]
    req = fresh(session, other)
    assert req.version == before and req.status == "open"


def test_forged_and_malformed_events(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    u, job = setup["crew"], setup["jobs"][0]
    forged = ev(u, job, "note", note="under another name")
    forged["user_id"] = setup["disp"].id
    bad = [
        forged,
        {
            "id": "not-a-uuid",
            "job": job.id,
            "kind": "note",
            "user_id": u.id,
            "client_time": "2026-01-01T00:00:00Z",
        },
        ev(u, job, "explode"),
        ev(u, job, "complete", resolution="vanished"),
        ev(u, job, "unable", reason="lazy"),
        ev(u, job, "note", note=""),
        ev(u, job, "note", note="x" * 5000),
        {**ev(u, job, "note", note="t"), "client_time": "yesterday"},
        {**ev(u, job, "note", note="t"), "job": "1; DROP TABLE"},
        "just a string",
        {**ev(u, job, "note", note="t"), "job": 999999},
        ev(u, job, "photo"),
    ]
    body = sync(client, setup["token"], bad)
    assert statuses(body) == ["refused"] * len(bad)
    assert [r["reason"] for r in body["results"]] == [
        "wrong_user",
        "bad_id",
        "bad_kind",
        "bad_resolution",
        "bad_reason",
        "empty_note",
        "bad_note",
        "bad_time",
        "bad_job",
        "malformed",
        "not_found",
        "photo_needs_upload",
    ]
    assert fresh(session, job).version == job.version
    # batch-level problems are 4xx for the whole call
    r = client.post("/field/api/sync", json={"events": "nope"}, headers={"X-CSRF-Token": setup["token"]})
    assert r.status_code == 400  # a malformed body is a 400 like every bad argument (server/errors.py)
    too_many = [ev(u, job, "note", note="n") for _ in range(501)]
    r = client.post("/field/api/sync", json={"events": too_many}, headers={"X-CSRF-Token": setup["token"]})
    assert r.status_code == 400 and r.json()["error"] == "batch_too_large" and "500" in r.json()["message"]


def test_auth_and_csrf(setup, client) -> None:  # type: ignore[no-untyped-def]
    u, job = setup["crew"], setup["jobs"][0]
    r = client.post("/field/api/sync", json={"events": [ev(u, job, "note", note="x")]})
    assert r.status_code == 403  # no CSRF header
    client.post("/logout", data={"csrf_token": setup["token"]})
    r = client.post("/field/api/sync", json={"events": []}, headers={"X-CSRF-Token": setup["token"]})
    assert r.status_code in (401, 403)
    assert client.get("/field/api/jobs").status_code == 401
    assert client.get("/field/api/session").status_code == 401


def test_other_roles_cannot_sync(setup, client) -> None:  # type: ignore[no-untyped-def]
    client.post("/logout", data={"csrf_token": setup["token"]})
    login(client, setup["disp"].email)
    assert client.get("/field/api/jobs").status_code == 403


def test_reassigned_while_offline(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    """Notes and photos recorded; completion recorded as a conflict, flagged, not applied."""
    u, job = setup["crew"], setup["jobs"][0]
    req = fresh(session, job)
    assign_crew(session=session, req=req, crew_id=setup["c2"].id, actor=Actor.of(setup["disp"]))
    session.commit()
    events = [
        ev(u, job, "start"),
        ev(u, job, "note", note="was here", public=True),
        ev(u, job, "complete", resolution="fixed"),
    ]
    body = sync(client, setup["token"], events)
    assert statuses(body) == ["conflict-recorded", "applied", "conflict-recorded"]
    assert body["results"][2]["reason"] == "reassigned"
    req = fresh(session, job)
    assert req.status == "open" and req.needs_review is True and req.crew_id == setup["c2"].id
    kinds = [
        a.kind
        for a in session.exec(select(Activity).where(Activity.request_id == job.id).order_by(Activity.id))
    ]
    assert kinds[-3:] == ["field_conflict", "note", "field_conflict"]
    session.commit()
    # the photo is still recorded
    r = upload(client, setup, u, job)
    assert r["result"]["status"] == "applied"


def test_reassigned_away_shows_in_changes(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    cursor = client.get("/field/api/jobs").json()["cursor"]
    req = fresh(session, setup["jobs"][2])
    assign_crew(session=session, req=req, crew_id=setup["c2"].id, actor=Actor.of(setup["disp"]))
    session.commit()
    body = client.get(f"/field/api/jobs?cursor={cursor}").json()
    assert body["full"] is False and req.id in body["removed"]


def test_closed_by_dispatcher_while_offline(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    u, job = setup["crew"], setup["jobs"][1]
    req = fresh(session, job)
    change_status(
        session=session, req=req, to="closed", close_reason="cancelled", actor=Actor.of(setup["disp"])
    )
    session.commit()
    events = [
        ev(u, job, "note", note="filled anyway"),
        ev(u, job, "complete", resolution="fixed", note="done"),
    ]
    body = sync(client, setup["token"], events)
    assert statuses(body) == ["applied", "conflict-recorded"]
    assert body["results"][1]["reason"] == "closed"
    req = fresh(session, job)
    assert req.status == "closed" and req.close_reason == "cancelled" and req.needs_review is True
    last = session.exec(
        select(Activity).where(Activity.request_id == job.id).order_by(Activity.id.desc())
    ).first()  # type: ignore[union-attr]
    assert last is not None and last.kind == "field_conflict" and last.note == "done" and last.public is False


def test_stale_version_never_blocks(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    u, job = setup["crew"], setup["jobs"][2]
    req = fresh(session, job)
    set_priority(session=session, req=req, priority=1, actor=Actor.of(setup["disp"]))
    session.commit()
    body = sync(client, setup["token"], [ev(u, job, "complete", resolution="could_not_find")])
    assert statuses(body) == ["applied"]
    assert fresh(session, job).status == "closed"


def test_unable_goes_back_to_dispatch(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    u, job = setup["crew"], setup["jobs"][0]
    body = sync(
        client,
        setup["token"],
        [ev(u, job, "start"), ev(u, job, "unable", reason="no_access", note="gate locked")],
    )
    assert statuses(body) == ["applied", "applied"]
    req = fresh(session, job)
    assert req.status == "open" and req.needs_review is True


def upload(client, setup, user, job, event_id=None, data=None):  # type: ignore[no-untyped-def]
    eid = event_id or str(uuid.uuid4())
    meta = {"job": job.id, "user_id": user.id, "client_time": datetime.now(UTC).isoformat()}
    release()  # after reading the ids: an expired object would open a new transaction
    r = client.post(
        f"/field/api/photos/{eid}",
        data={"event": json.dumps(meta)},
        files={"photo": ("p.jpg", data or jpeg(), "image/jpeg")},
        headers={"X-CSRF-Token": setup["token"]},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_photo_once_per_key(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    u, job = setup["crew"], setup["jobs"][0]
    eid = str(uuid.uuid4())
    assert upload(client, setup, u, job, eid)["result"]["status"] == "applied"
    assert upload(client, setup, u, job, eid)["result"]["status"] == "duplicate"  # a resumed upload
    photos = session.exec(select(Photo).where(Photo.request_id == job.id)).all()
    assert len(photos) == 1 and photos[0].kind == "after" and photos[0].public and photos[0].activity_id
    act = session.get(Activity, photos[0].activity_id)
    assert act is not None and act.client_event_id == eid and act.kind == "photo" and act.public


def test_photo_refusals(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    u = setup["crew"]
    assert upload(client, setup, u, setup["other"])["result"]["reason"] == "not_assigned"
    bad = upload(client, setup, u, setup["jobs"][0], data=b"not an image at all")
    assert bad["result"]["status"] == "refused" and bad["result"]["reason"].startswith("photo_")
    assert session.exec(select(Photo)).all() == []


def test_changes_since_cursor(setup, client, session, city) -> None:  # type: ignore[no-untyped-def]
    first = client.get("/field/api/jobs").json()
    new = make_request(session, city, description="New one")
    assign_crew(session=session, req=new, crew_id=setup["c1"].id, actor=Actor.of(setup["disp"]))
    session.commit()
    body = sync(client, setup["token"], [], cursor=first["cursor"])
    ids = {j["id"] for j in body["jobs"]}
    assert new.id in ids and body["full"] is False


def test_field_pages(client, setup) -> None:  # type: ignore[no-untyped-def]
    shell = client.get("/field/")
    assert (
        shell.status_code == 200 and 'name="csrf-token"' in shell.text and "leaflet" not in shell.text.lower()
    )
    sw = client.get("/field/sw.js")
    assert sw.status_code == 200 and sw.headers["cache-control"] == "no-cache"
    assert "javascript" in sw.headers["content-type"] and "/field/static/js/outbox.js?v=" in sw.text
    assert 'importScripts("/static/js/sw-push.js")' in sw.text
    m = client.get("/field/manifest.webmanifest").json()
    assert m["scope"] == "/field/" and m["start_url"] == "/field/"
    assert {i["sizes"] for i in m["icons"]} == {"192x192", "512x512"} and any(
        i["purpose"] == "maskable" for i in m["icons"]
    )
    for icon in m["icons"]:
        assert client.get(icon["src"]).headers["content-type"] == "image/png"


def test_shell_needs_crew_login(client, db) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/field/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_every_field_string_is_translated() -> None:
    from server import i18n
    from server.pages.field import strings

    i18n.set_language("en")
    en = strings()
    i18n.set_language("es")
    try:
        es = strings()
    finally:
        i18n.set_language("en")
    untranslated = [k for k in en if en[k] == es[k] and en[k] not in ("Normal",)]
    assert untranslated == []


def test_crew_work_shows_to_dispatcher_and_public(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    u, job = setup["crew"], setup["jobs"][0]
    public_id = job.public_id
    events = [
        ev(u, job, "start"),
        ev(u, job, "note", note="Filled with cold patch", public=True),
        ev(u, job, "note", note="Dog in the yard is aggressive"),
    ]
    assert statuses(sync(client, setup["token"], events)) == ["applied"] * 3
    assert upload(client, setup, u, job)["result"]["status"] == "applied"
    assert statuses(sync(client, setup["token"], [ev(u, job, "complete", resolution="fixed")])) == ["applied"]
    photo = session.exec(select(Photo).where(Photo.request_id == job.id)).one()
    session.commit()
    client.post("/logout", data={"csrf_token": setup["token"]})
    public = client.get(f"/requests/{public_id}").text
    assert "Filled with cold patch" in public and "aggressive" not in public
    assert photo.thumb_key in public
    login(client, setup["disp"].email)
    staff = client.get(f"/dispatch/requests/{public_id}").text
    assert "Filled with cold patch" in staff and "aggressive" in staff and photo.thumb_key in staff


# -- total: whatever an event holds, the batch is answered event by event -----------------------------------


def stored_count(db: Engine, event_id: str) -> int:
    with Session(db) as s:
        return s.exec(select(func.count()).where(Activity.client_event_id == event_id)).one()


def test_hostile_values_are_refused_alone(setup, client, session, db) -> None:  # type: ignore[no-untyped-def]
    """Each of these answered 500 for the whole batch, so the phone sent the same batch for ever."""
    u, job = setup["crew"], setup["jobs"][0]
    hostile = [
        ({**ev(u, job, "note", note="t"), "client_time": "0001-01-01T00:00:00+05:00"}, "bad_time"),
        ({**ev(u, job, "note", note="t"), "client_time": "9999-12-31T23:59:59-05:00"}, "bad_time"),
        ({**ev(u, job, "note", note="t"), "client_time": "2026-01-01T00:00:00\x00Z"}, "bad_time"),
        ({**ev(u, job, "note", note="t"), "job": 2**63}, "bad_job"),
        ({**ev(u, job, "note", note="t"), "job": 10**40}, "bad_job"),
        ({**ev(u, job, "note", note="t"), "user_id": 2**64}, "bad_user"),
        (ev(u, job, "note", note="a\x00b"), "bad_text"),
        (ev(u, job, "note", note="a\ud800b"), "bad_text"),
        (ev(u, job, "note", note="a\uffffb"), "bad_text"),
        ({**ev(u, job, "note", note="t"), "id": str(uuid.uuid4()) + "\n"}, "bad_id"),
        ({**ev(u, job, "start"), "kind": ["start"]}, "bad_kind"),
        ({**ev(u, job, "note", note="t"), "job": 1.0}, "bad_job"),
        ({**ev(u, job, "note", note="t"), "job": True}, "bad_job"),
        (ev(u, job, "complete", resolution={"fixed": 1}), "bad_resolution"),
    ]
    good = [ev(u, job, "note", note="first"), ev(u, job, "note", note="last")]
    events = [good[0], *(e for e, _ in hostile), good[1]]
    release()
    body_text = json.dumps(
        {"events": events}
    )  # ensure_ascii: a lone surrogate travels as \ud800, as JS sends it
    r = client.post(
        "/field/api/sync",
        content=body_text,
        headers={"X-CSRF-Token": setup["token"], "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["applied", *["refused"] * len(hostile), "applied"]
    assert [x["reason"] for x in results[1:-1]] == [reason for _, reason in hostile]
    for e, _ in hostile:
        if isinstance(e["id"], str) and len(e["id"]) == 36:
            assert stored_count(db, e["id"]) == 0
    assert [stored_count(db, e["id"]) for e in good] == [1, 1]


def test_a_bad_cursor_gets_the_full_list(setup, client) -> None:  # type: ignore[no-untyped-def]
    """A cursor we could not have given (out of range, in the future, garbled): the full list, not a 500."""
    for cursor in (
        "9999-12-31T23:59:59-05:00",
        "0001-01-01",
        "0001-01-01T00:00:00+05:00",
        "2999-01-01",
        "junk",
    ):
        jobs = client.get("/field/api/jobs", params={"cursor": cursor})
        assert jobs.status_code == 200 and jobs.json()["full"] is True, cursor
        assert sorted(j["id"] for j in jobs.json()["jobs"]) == sorted(j.id for j in setup["jobs"])
        body = sync(client, setup["token"], [], cursor=cursor)
        assert body["full"] is True and body["cursor"]


def test_a_refused_copy_is_not_a_duplicate(setup, client) -> None:  # type: ignore[no-untyped-def]
    """ "duplicate" tells the phone the work is stored: never say it of an event that was refused."""
    e = ev(setup["crew"], setup["other"], "note", note="not our job")
    body = sync(client, setup["token"], [e, e])
    assert statuses(body) == ["refused", "refused"]


@pytest.fixture
def refusing_db(db: Engine) -> Iterator[str]:
    """A database that refuses one note: what a value slipping past the parser would meet (a real refusal)."""
    note = "the database refuses this"
    with db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION c311_refuse() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.note = '{note}' THEN RAISE EXCEPTION 'refused' USING ERRCODE = '22023'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER c311_refuse BEFORE INSERT ON activity FOR EACH ROW EXECUTE FUNCTION c311_refuse()"
                )
            )
        else:
            conn.execute(
                text(
                    f"CREATE TRIGGER c311_refuse BEFORE INSERT ON activity WHEN NEW.note = '{note}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
    try:
        yield note
    finally:
        with db.begin() as conn:
            conn.execute(
                text(
                    "DROP TRIGGER IF EXISTS c311_refuse"
                    + (" ON activity" if conn.dialect.name == "postgresql" else "")
                )
            )
            if conn.dialect.name == "postgresql":
                conn.execute(text("DROP FUNCTION IF EXISTS c311_refuse()"))


def test_a_database_refusal_undoes_that_event_only(setup, client, session, db, refusing_db) -> None:  # type: ignore[no-untyped-def]
    u, job = setup["crew"], setup["jobs"][0]
    before = fresh(session, job).version
    events = [
        ev(u, job, "start"),
        ev(u, job, "complete", resolution="fixed", note=refusing_db),  # closes the job, then its entry fails
        ev(u, job, "note", note="after"),
    ]
    body = sync(client, setup["token"], events)
    assert statuses(body) == ["applied", "refused", "applied"]
    assert body["results"][1]["reason"] == "rejected"
    req = fresh(session, job)
    assert req.status == "in_progress" and req.closed_at is None and req.close_reason is None
    assert req.version == before + 2
    assert [stored_count(db, e["id"]) for e in events] == [1, 0, 1]
    # sent again, the refused event is still refused and the others are duplicates
    assert statuses(sync(client, setup["token"], events)) == ["duplicate", "refused", "duplicate"]


def test_two_copies_at_once_apply_once(setup, db) -> None:  # type: ignore[no-untyped-def]
    """Two tabs (or the service worker and the page) send the same event at the same moment."""
    u, job = setup["crew"], setup["jobs"][0]
    e = ev(u, job, "note", note="sent twice at once")
    release()
    second: dict[str, list] = {}

    def other_copy() -> None:
        with Session(db) as b:
            second["results"] = apply_batch(session=b, user=b.get(User, u.id), events=[e])
            b.commit()

    with Session(db) as a:
        first = apply_batch(session=a, user=a.get(User, u.id), events=[e])
        t = threading.Thread(target=other_copy)
        t.start()
        time.sleep(0.5)  # the other copy now waits on our row lock (PostgreSQL) or write lock (SQLite)
        a.commit()
    t.join(30)
    assert [r.status for r in first] == ["applied"]
    assert [r.status for r in second["results"]] == ["duplicate"]
    assert stored_count(db, e["id"]) == 1


def post_photo(client, setup, event_id: str, event: str, data: bytes):  # type: ignore[no-untyped-def]
    release()
    r = client.post(
        f"/field/api/photos/{event_id}",
        data={"event": event},
        files={"photo": ("p.jpg", data, "image/jpeg")},
        headers={"X-CSRF-Token": setup["token"]},
    )
    assert r.status_code == 200, r.text
    return r.json()["result"]


def test_hostile_photo_uploads_are_refused(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    u, job = setup["crew"], setup["jobs"][0]
    meta = {"job": job.id, "user_id": u.id, "client_time": datetime.now(UTC).isoformat()}
    cases = [
        (str(uuid.uuid4()), "not json", jpeg(), "malformed"),
        (str(uuid.uuid4()), "[" * 5000 + "]" * 5000, jpeg(), "malformed"),
        (str(uuid.uuid4()), json.dumps(meta) + " " * 10_000, jpeg(), "malformed"),
        (str(uuid.uuid4()), json.dumps({**meta, "job": 2**63}), jpeg(), "bad_job"),
        (
            str(uuid.uuid4()),
            json.dumps({**meta, "client_time": "0001-01-01T00:00:00+01:00"}),
            jpeg(),
            "bad_time",
        ),
        (str(uuid.uuid4()), json.dumps({**meta, "note": "a\x00b"}), jpeg(), "bad_text"),
        (str(uuid.uuid4()), json.dumps({**meta, "note": "a\ud800b"}), jpeg(), "bad_text"),
        ("not-a-uuid", json.dumps(meta), jpeg(), "bad_id"),
        (str(uuid.uuid4()), json.dumps(meta), b"not an image at all", "photo_"),
        (str(uuid.uuid4()), json.dumps(meta), b"", "photo_"),
    ]
    for eid, event, data, reason in cases:
        result = post_photo(client, setup, eid, event, data)
        assert result["status"] == "refused" and result["reason"].startswith(reason), (event[:80], result)
    assert session.exec(select(Photo)).all() == []
    session.commit()
    assert post_photo(client, setup, str(uuid.uuid4()), json.dumps(meta), jpeg())["status"] == "applied"


def test_a_crews_duplicate_is_left_to_a_dispatcher_to_merge(setup, client, session) -> None:  # type: ignore[no-untyped-def]
    """A duplicate is closed only by merging (it must point at its master and its followers move): a crew's
    "duplicate" is kept as a conflict for a supervisor, the job stays as it was and is flagged."""
    u, job = setup["crew"], setup["jobs"][0]
    body = sync(
        client,
        setup["token"],
        [ev(u, job, "start"), ev(u, job, "complete", resolution="duplicate", note="same as the one on Main")],
    )
    assert statuses(body) == ["applied", "conflict-recorded"]
    assert body["results"][1]["reason"] == "duplicate"
    req = fresh(session, job)
    assert req.status == "in_progress" and req.close_reason is None and req.needs_review is True
    last = session.exec(
        select(Activity).where(Activity.request_id == job.id).order_by(Activity.id.desc())  # type: ignore[union-attr]
    ).first()
    assert last is not None and last.kind == "field_conflict" and last.public is False
    assert last.note == "same as the one on Main" and last.data["why"] == "duplicate"
    # the dispatcher reads why it was not applied, to merge it
    release()
    assert login(client, "disp@test.example").status_code == 303  # (the expired User row would start a read)
    page = client.get(f"/dispatch/requests/{job.public_id}").text
    assert "the crew reports a duplicate: merge it into the request to keep" in page
