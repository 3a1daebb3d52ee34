"""server/worker.py against a local push service: delivery, retries, Retry-After, gone subscriptions,
several workers, e-mail by SMTP."""

from __future__ import annotations

import logging
import socket
import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, col, func, select

from server import push
from server.db import make_engine
from server.models import Follower, Outbox, PushSubscription, utcnow
from server.services import followers, subscriptions
from server.services.requests import RESIDENT, Actor, add_note, change_status
from server.worker import Policy, Worker
from tests.factories import make_request
from tests.fake_push import BrowserKeys, FakePushService, local_sender, verify_vapid


@pytest.fixture
def service():
    with FakePushService() as svc:
        yield svc


@pytest.fixture
def sender(settings):
    with local_sender(settings) as s:
        yield s


@pytest.fixture
def worker(settings, db, sender):
    return Worker(settings, db, sender=sender)


def follow_with_device(session: Session, req, endpoint: str, browser: BrowserKeys | None = None):
    browser = browser or BrowserKeys()
    sub = subscriptions.save_subscription(
        session, endpoint=endpoint, p256dh=browser.p256dh, auth=browser.auth
    )
    follower = followers.follow_with_subscription(session, req=req, sub=sub)
    session.commit()
    return sub, follower, browser


def outbox(session: Session) -> list[Outbox]:
    query = select(Outbox).order_by(col(Outbox.id)).execution_options(populate_existing=True)
    rows = list(session.exec(query).all())
    session.commit()  # end the read: on SQLite an open transaction holds the write lock
    return rows


def test_status_change_is_pushed_decrypted_and_signed(session, city, settings, service, worker):
    req = make_request(session, city)
    _, follower, browser = follow_with_device(session, req, service.endpoint("resident-1"))
    change_status(
        session=session, req=req, to="in_progress", actor=Actor(label="Dispatch"), note="Crew on the way"
    )
    session.commit()

    stats = worker.run_once()
    assert (stats.claimed, stats.sent) == (1, 1)
    [got] = service.received
    data = browser.decrypt(got.body)
    assert data["title"] == f"{req.public_id} is in progress"
    assert data["body"] == "Crew on the way"
    assert data["url"] == f"/requests/{req.public_id}"
    assert data["public_id"] == req.public_id
    assert data["unfollow_url"] == f"/unfollow/{follower.token}"
    assert data["icon"].startswith("/static/")
    claims = verify_vapid(got.headers["authorization"], push.application_server_key(settings))
    assert claims["aud"] == service.base
    [row] = outbox(session)
    assert row.sent_at is not None and row.attempts == 1 and row.locked_until is None
    assert worker.run_once().claimed == 0  # nothing twice


def test_rolled_back_change_queues_nothing(session, city, service, worker):
    req = make_request(session, city)
    follow_with_device(session, req, service.endpoint("r"))
    add_note(session=session, req=req, actor=Actor(label="Ops"), note="On it", public=True)
    assert session.exec(select(func.count()).select_from(Outbox)).one() == 1  # same transaction...
    session.rollback()  # ...so it goes with it
    assert outbox(session) == []
    assert worker.run_once().claimed == 0
    assert service.received == []


def test_private_notes_are_not_sent(session, city, service, worker):
    req = make_request(session, city)
    follow_with_device(session, req, service.endpoint("r"))
    add_note(session=session, req=req, actor=Actor(label="Ops"), note="internal", public=False)
    session.commit()
    assert outbox(session) == []


def test_500_then_429_with_retry_after_then_201_is_delivered_once(session, city, service, worker):
    req = make_request(session, city)
    _, _, browser = follow_with_device(session, req, service.endpoint("flaky"))
    service.script(service.endpoint("flaky"), [(500, {}), (429, {"Retry-After": "120"}), (201, {})])
    add_note(session=session, req=req, actor=Actor(label="Ops"), note="Scheduled for Monday", public=True)
    session.commit()

    t0 = utcnow()
    assert worker.run_once(t0).retried == 1  # 500
    [row] = outbox(session)
    backoff = (row.available_at - t0).total_seconds()
    assert Policy().base_backoff_s <= backoff <= Policy().base_backoff_s * 1.21
    assert row.attempts == 1 and row.sent_at is None and "500" in row.last_error
    assert worker.run_once(t0 + timedelta(seconds=10)).claimed == 0  # not due yet

    t1 = t0 + timedelta(seconds=backoff + 1)
    assert worker.run_once(t1).retried == 1  # 429, Retry-After: 120
    [row] = outbox(session)
    assert abs((row.available_at - t1).total_seconds() - 120) < 1
    assert worker.run_once(t1 + timedelta(seconds=100)).claimed == 0

    t2 = t1 + timedelta(seconds=121)
    assert worker.run_once(t2).sent == 1
    assert worker.run_once(t2 + timedelta(days=1)).claimed == 0
    got = service.to(service.endpoint("flaky"))
    assert len(got) == 3
    assert all(browser.decrypt(g.body)["body"] == "Scheduled for Monday" for g in got)
    [row] = outbox(session)
    assert row.sent_at is not None and row.attempts == 3 and not row.dead


def test_410_deletes_the_subscription_and_falls_back_to_email(session, city, service, worker):
    req = make_request(session, city, reporter_email="ana@example.org")
    sub, _, _ = follow_with_device(session, req, service.endpoint("old-phone"))
    sub_id = sub.id
    reporter = session.exec(select(Follower).where(Follower.email == "ana@example.org")).one()
    reporter.push_subscription_id = sub.id  # the reporter's own follower row uses the phone too
    session.add(reporter)
    session.commit()
    service.script(service.endpoint("old-phone"), [(410, {})])
    add_note(session=session, req=req, actor=Actor(label="Ops"), note="one", public=True)
    add_note(session=session, req=req, actor=Actor(label="Ops"), note="two", public=True)
    session.commit()
    assert [r.channel for r in outbox(session)] == ["push", "push"]  # one device: one message per change

    stats = worker.drain()
    assert (stats.gone, stats.sent, stats.dead) == (1, 0, 1)
    assert len(service.received) == 1  # the second message was not sent to a dead endpoint
    session.expire_all()
    assert session.get(PushSubscription, sub_id) is None
    session.commit()
    assert all(r.dead and r.subscription_id is None for r in outbox(session))
    followers = session.exec(select(Follower).where(Follower.request_id == req.id)).all()
    assert [(f.email, f.push_subscription_id) for f in followers] == [("ana@example.org", None)]

    add_note(session=session, req=req, actor=Actor(label="Ops"), note="three", public=True)
    session.commit()
    assert outbox(session)[-1].channel == "email"


def test_network_errors_are_retried(session, city, settings, db, sender):
    with FakePushService() as svc:
        endpoint = svc.endpoint("later")
    req = make_request(session, city)
    follow_with_device(session, req, endpoint)
    add_note(session=session, req=req, actor=Actor(label="Ops"), note="x", public=True)
    session.commit()
    stats = Worker(settings, db, sender=sender).run_once()
    assert stats.retried == 1
    [row] = outbox(session)
    assert row.sent_at is None and not row.dead and row.attempts == 1 and row.last_error.startswith("0 ")


def test_gives_up_after_max_attempts(session, city, settings, db, service, sender):
    req = make_request(session, city)
    follow_with_device(session, req, service.endpoint("down"))
    service.script(service.endpoint("down"), [(503, {"Retry-After": "1"})] * 3)
    add_note(session=session, req=req, actor=Actor(label="Ops"), note="x", public=True)
    session.commit()
    w = Worker(settings, db, policy=Policy(max_attempts=3), sender=sender)
    t = utcnow()
    for i in range(4):
        w.run_once(t + timedelta(seconds=5 * i))
    [row] = outbox(session)
    assert row.dead and row.attempts == 3 and "gave up" in row.last_error
    assert len(service.received) == 3


def test_a_leased_row_is_not_claimed_again_until_the_lease_ends(session, city, settings, db, service, sender):
    req = make_request(session, city)
    follow_with_device(session, req, service.endpoint("x"))
    add_note(session=session, req=req, actor=Actor(label="Ops"), note="x", public=True)
    session.commit()
    a, b = (
        Worker(settings, db, policy=Policy(lease_s=60), sender=sender),
        Worker(settings, db, sender=sender),
    )
    now = utcnow()
    assert len(a.claim(now)) == 1  # a crashes after claiming
    assert b.run_once(now + timedelta(seconds=30)).claimed == 0
    assert b.run_once(now + timedelta(seconds=61)).sent == 1  # the lease ran out: someone else sends it
    assert len(service.received) == 1


def test_two_workers_deliver_each_message_exactly_once(session, city, settings, db, service, sender):
    n_devices, n_notes = 20, 10
    req = make_request(session, city)
    for i in range(n_devices):
        follow_with_device(session, req, service.endpoint(f"d{i}"))
    for i in range(n_notes):
        add_note(session=session, req=req, actor=Actor(label="Ops"), note=f"note {i}", public=True)
    session.commit()
    assert len(outbox(session)) == n_devices * n_notes

    # two engines, as two worker processes would have (on PostgreSQL: FOR UPDATE SKIP LOCKED between them)
    workers = [
        Worker(settings, make_engine(settings), policy=Policy(batch=7), sender=sender) for _ in range(2)
    ]
    results = []
    errors = []
    barrier = threading.Barrier(2)

    def run(w):
        try:
            barrier.wait()
            results.append(w.drain())
        except Exception as e:  # pragma: no cover - shown in the assert below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for w in workers:
        w.engine.dispose()
    assert errors == []
    unsent = [(r.id, r.attempts, r.last_error) for r in outbox(session) if r.sent_at is None]
    assert service.count == n_devices * n_notes, (results, unsent)
    paths = [(r.path, r.headers["content-length"]) for r in service.received]
    per_device = {}
    for r in service.received:
        per_device[r.path] = per_device.get(r.path, 0) + 1
    assert set(per_device.values()) == {n_notes}
    assert sum(s.sent for s in results) == n_devices * n_notes
    assert all(s.sent > 0 for s in results), "both workers took part"
    assert len(paths) == n_devices * n_notes
    assert all(r.sent_at is not None and r.attempts == 1 for r in outbox(session))


def test_email_is_logged_when_smtp_is_off(session, city, worker, caplog):
    req = make_request(session, city, reporter_email="ana@example.org")
    change_status(session=session, req=req, to="closed", close_reason="fixed", actor=Actor(label="Ops"))
    session.commit()
    with caplog.at_level(logging.INFO, logger="civic311.mail"):
        assert worker.run_once().sent == 1
    text = caplog.text
    assert "ana@example.org" in text and f"{req.public_id} is closed" in text
    assert f"http://testserver/requests/{req.public_id}" in text
    assert "http://testserver/unfollow/" in text


def test_email_by_smtp(session, city, settings, db):
    from aiosmtpd.controller import Controller

    class Collect:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, smtp_session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    handler = Collect()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp_settings = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
        req = make_request(session, city, reporter_email="ana@example.org", reporter_name="Ana")
        add_note(session=session, req=req, actor=Actor(label="Ops"), note="We fixed it today.", public=True)
        session.commit()
        assert Worker(smtp_settings, db).run_once().sent == 1
    finally:
        controller.stop()
    [env] = handler.messages
    assert env.rcpt_tos == ["ana@example.org"]
    assert env.mail_from == settings.smtp_from
    body = env.content.decode()
    assert f"Subject: New update on {req.public_id}" in body
    assert "We fixed it today." in body
    follower = session.exec(select(Follower).where(Follower.request_id == req.id)).one()
    assert f"/unfollow/{follower.token}" in body


def test_a_resident_following_twice_is_told_once(session, city, service, worker):
    req = make_request(session, city)
    sub, _, _ = follow_with_device(session, req, service.endpoint("same"))
    followers.follow_with_subscription(session, req=req, sub=sub)  # idempotent
    session.commit()
    change_status(session=session, req=req, to="closed", close_reason="duplicate", actor=RESIDENT)
    session.commit()
    assert worker.drain().sent == 1


def test_run_forever_sends_and_stops(session, city, settings, db, service, sender):
    req = make_request(session, city)
    follow_with_device(session, req, service.endpoint("loop"))
    stop = threading.Event()
    w = Worker(settings, db, sender=sender)
    t = threading.Thread(target=w.run_forever, kwargs={"stop": stop, "idle_s": 0.05})
    t.start()
    try:
        add_note(session=session, req=req, actor=Actor(label="Ops"), note="live", public=True)
        session.commit()
        deadline = threading.Event()
        for _ in range(200):
            if service.count:
                break
            deadline.wait(0.05)
        assert service.count == 1
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive()
