"""The triage queue, request actions, merging duplicates and bulk changes (service layer and pages)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlmodel import select

from server.domain.errors import Conflict, Invalid
from server.models import Activity, Crew, Follower, Photo, Service, ServiceRequest, utcnow
from server.services import dispatch as svc
from server.services.followers import add_follower
from server.services.requests import Actor, assign_crew, change_status
from tests.factories import csrf, login, make_request, make_user

STALE = "This request changed since you opened it. Reload to see the changes."


def _ids(page: svc.QueuePage) -> list[str]:
    return [r.public_id for r, _ in page.rows]  # type: ignore[misc]


@pytest.fixture
def actor(session):  # type: ignore[no-untyped-def]
    return Actor.of(make_user(session, "dispatcher"))


def test_queue_filters_and_sorts(session, city, actor) -> None:
    pothole = make_request(session, city, channel="phone")
    light = make_request(
        session, city, service_code="streetlight-out", description="Dark", attributes={"problem": ["out"]}
    )
    old = make_request(session, city, created_at=utcnow() - timedelta(days=40))
    closed = make_request(session, city)
    change_status(session=session, req=closed, to="closed", close_reason="fixed", actor=actor)
    crew = session.exec(select(Crew)).first()
    assign_crew(session=session, req=light, crew_id=crew.id, actor=actor)
    session.commit()

    q = lambda **kw: _ids(svc.queue(session, svc.QueueFilter.parse(kw)))  # noqa: E731
    assert q() == [light.public_id, pothole.public_id, old.public_id]  # newest first, closed left out
    assert q(sort="oldest")[0] == old.public_id
    assert q(status="closed") == [closed.public_id]
    assert set(q(status="all")) == {pothole.public_id, light.public_id, old.public_id, closed.public_id}
    assert q(service=str(light.service_id)) == [light.public_id]
    assert q(crew=str(crew.id)) == [light.public_id]
    assert light.public_id not in q(crew="none")
    assert q(channel="phone") == [pothole.public_id]
    assert q(age="30d") == [old.public_id]
    assert old.public_id not in q(age="new")
    dept = session.get(Service, pothole.service_id).department_id
    assert pothole.public_id in q(department=str(dept)) and light.public_id not in q(department=str(dept))
    assert q(overdue="1") == [old.public_id]  # pothole target is days, not 40
    assert q(sort="due")[0] == old.public_id


def test_queue_pages_without_counting(session, city) -> None:
    for _ in range(5):
        make_request(session, city, commit=False)
    session.commit()
    first = svc.queue(session, svc.replace(svc.QueueFilter(), per_page=2))
    third = svc.queue(session, svc.replace(svc.QueueFilter(), per_page=2, page=3))
    assert first.has_next and len(first.rows) == 2
    assert not third.has_next and len(third.rows) == 1


def test_parse_ignores_nonsense() -> None:
    f = svc.QueueFilter.parse({"status": "x';--", "crew": "abc", "sort": "evil", "page": "-4", "age": "9y"})
    assert (f.status, f.crew, f.sort, f.page, f.age) == ("active", "", "newest", 1, "")


def test_merge_moves_followers_and_photos_and_writes_both_timelines(session, city, actor) -> None:
    master = make_request(session, city, reporter_email="first@example.com")
    dup = make_request(session, city, reporter_email="second@example.com")
    add_follower(session=session, req=dup, email="first@example.com")  # already follows the master
    session.add(
        Photo(request_id=dup.id, sha256="a" * 64, display_key="d.jpg", thumb_key="t.jpg", width=1, height=1)
    )
    session.commit()

    svc.merge_duplicates(session, dup, master, actor, expected_version=dup.version)
    session.commit()

    assert (dup.status, dup.close_reason, dup.duplicate_of_id) == ("closed", "duplicate", master.id)
    emails = sorted(f.email for f in session.exec(select(Follower).where(Follower.request_id == master.id)))
    assert emails == ["first@example.com", "second@example.com"]
    assert session.exec(select(Follower).where(Follower.request_id == dup.id)).all() == []
    assert session.exec(select(Photo).where(Photo.request_id == master.id)).one().display_key == "d.jpg"
    kinds = lambda r: [a.kind for a in session.exec(select(Activity).where(Activity.request_id == r.id))]  # noqa: E731
    assert "status" in kinds(dup) and "merge" in kinds(master)


def test_merge_refuses_self_closed_and_stale(session, city, actor) -> None:
    a, b = make_request(session, city), make_request(session, city)
    with pytest.raises(Invalid):
        svc.merge_duplicates(session, a, a, actor)
    with pytest.raises(Conflict):
        svc.merge_duplicates(session, a, b, actor, expected_version=a.version - 1)


def test_bulk_is_one_transaction(session, city, actor) -> None:
    a, b = make_request(session, city), make_request(session, city)
    crew = session.exec(select(Crew)).first()
    assert svc.bulk_assign(session, [(a.id, a.version), (b.id, b.version)], crew.id, actor) == 2
    session.commit()
    assert a.crew_id == b.crew_id == crew.id
    # one stale version: the caller's unit of work rolls everything back
    refs = [(a.id, a.version), (b.id, b.version - 1)]
    with pytest.raises(Conflict):
        svc.bulk_status(session, refs, "in_progress", actor)
    session.rollback()
    session.refresh(a)
    assert a.status == "open"
    assert (
        svc.bulk_status(session, [(a.id, a.version), (b.id, b.version)], "in_progress", actor, note="On it")
        == 2
    )


def test_parse_refs() -> None:
    assert svc.parse_refs(["3:7", "4"]) == [(3, 7), (4, None)]
    with pytest.raises(Invalid):
        svc.parse_refs([])
    with pytest.raises(Invalid):
        svc.parse_refs(["x:1"])


# ---------------------------------------------------------------- pages


@pytest.fixture
def dispatcher(client, session):  # type: ignore[no-untyped-def]
    make_user(session, "dispatcher", email="d@test.example")
    login(client, "d@test.example")
    return client


def test_queue_page_lists_and_highlights_overdue(dispatcher, session, city) -> None:
    late = make_request(session, city, created_at=utcnow() - timedelta(days=40))
    fresh = make_request(session, city)
    html = BeautifulSoup(dispatcher.get("/dispatch").text, "html.parser")
    rows = html.select("table.queue tbody tr")
    assert [r.select_one("a").text for r in rows] == [fresh.public_id, late.public_id]
    assert "is-overdue" in rows[1]["class"] and "is-overdue" not in (rows[0].get("class") or [])
    assert html.select_one("#queue-map") is None and "leaflet" not in str(html)  # map only on the map view
    mapped = BeautifulSoup(dispatcher.get("/dispatch?view=map").text, "html.parser")
    assert mapped.select_one("#queue-map") and mapped.select_one("script[src*=leaflet]")
    assert late.public_id in mapped.select_one("#queue-points").text


def test_detail_actions_write_timeline_and_detect_conflicts(dispatcher, session, city) -> None:
    req = make_request(session, city, reporter_name="Pat Private")
    page = dispatcher.get(f"/dispatch/requests/{req.public_id}")
    assert page.status_code == 200 and "Pat Private" in page.text
    token = csrf(dispatcher, f"/dispatch/requests/{req.public_id}")
    crew = session.exec(select(Crew)).first()
    session.commit()  # end the test's read: on SQLite it would hold the write lock
    base = f"/dispatch/requests/{req.public_id}"
    r = dispatcher.post(f"{base}/assign", data={"csrf_token": token, "version": 1, "crew": crew.id})
    assert r.status_code == 200 and crew.name in r.text  # followed the redirect back to the detail
    stale = dispatcher.post(f"{base}/note", data={"csrf_token": token, "version": 1, "note": "late"})
    assert stale.status_code == 409 and STALE in stale.text
    ok = dispatcher.post(
        f"{base}/note", data={"csrf_token": token, "version": 2, "note": "Call back Tuesday"}
    )
    assert "Call back Tuesday" in ok.text
    dispatcher.post(f"{base}/priority", data={"csrf_token": token, "version": 3, "priority": "1"})
    dispatcher.post(
        f"{base}/status",
        data={"csrf_token": token, "version": 4, "status": "closed", "close_reason": "fixed", "note": "Done"},
    )
    session.expire_all()
    done = session.get(ServiceRequest, req.id)
    assert (done.status, done.priority, done.crew_id, done.version) == ("closed", 1, crew.id, 5)
    kinds = [a.kind for a in session.exec(select(Activity).where(Activity.request_id == req.id))]
    assert kinds == ["created", "assign", "note", "priority", "status"]


def test_merge_and_bulk_pages(dispatcher, session, city) -> None:
    master, dup, other = (make_request(session, city) for _ in range(3))
    token = csrf(dispatcher, "/dispatch")
    r = dispatcher.post(
        f"/dispatch/requests/{dup.public_id}/merge",
        data={"csrf_token": token, "version": dup.version, "master": master.public_id.lower()},
    )
    assert r.url.path == f"/dispatch/requests/{master.public_id}" and dup.public_id in r.text
    crew = session.exec(select(Crew)).first()
    session.commit()
    r = dispatcher.post(
        "/dispatch/bulk",
        data={
            "csrf_token": token,
            "action": "assign",
            "crew": crew.id,
            "ids": [f"{master.id}:{master.version + 1}", f"{other.id}:{other.version}"],
            "back": "?status=all",
        },
    )
    assert r.status_code == 200 and "2 requests changed" in r.text
    session.expire_all()
    assert session.get(ServiceRequest, other.id).crew_id == crew.id


def test_missing_request_is_404(dispatcher) -> None:
    assert dispatcher.get("/dispatch/requests/311-000-000").status_code == 404


def test_union_of_statuses_pages_in_order(session, city, actor) -> None:
    """The active queue reads one index range per status: pages must still be one ordered sequence."""
    reqs = [make_request(session, city, created_at=utcnow() - timedelta(hours=i)) for i in range(7)]
    for r in reqs[1::2]:
        change_status(session=session, req=r, to="in_progress", actor=actor)
    reqs[3].expected_at = None  # a service without a target: last when sorting by due date
    session.commit()
    for sort, expected in [
        ("newest", [r.public_id for r in reqs]),
        ("oldest", [r.public_id for r in reversed(reqs)]),
        ("due", [r.public_id for r in reversed(reqs) if r is not reqs[3]] + [reqs[3].public_id]),
    ]:
        seen = []
        for n in (1, 2, 3, 4):
            page = svc.queue(session, svc.replace(svc.QueueFilter(sort=sort), per_page=2, page=n))
            seen += _ids(page)
            assert page.has_next == (n < 4)
        assert seen == expected, sort
    reqs[0].priority = 1
    session.commit()
    by_priority = _ids(svc.queue(session, svc.QueueFilter(sort="priority")))
    assert by_priority[0] == reqs[0].public_id and by_priority[1] == reqs[6].public_id  # then oldest first
    assert svc.queue(session, svc.QueueFilter(status="closed", overdue=True)).rows == []


def test_duplicates_are_closed_only_by_merging(session, city, actor) -> None:
    a = make_request(session, city)
    with pytest.raises(Invalid):
        svc.bulk_status(session, [(a.id, a.version)], "closed", actor, close_reason="duplicate")


def test_queue_speaks_spanish(dispatcher, session, city) -> None:
    make_request(session, city)
    html = BeautifulSoup(dispatcher.get("/dispatch?lang=es").text, "html.parser")
    assert html.select_one("h1").text == "Cola de despacho"
    assert "Más recientes primero" in html.select_one("#f-sort").text
