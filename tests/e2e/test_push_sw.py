"""Web Push in Chromium: the service workers' push handler (CDP ServiceWorker.deliverPushMessage), and the
subscribe / unsubscribe controls of the pages with a stubbed PushManager (headless Chromium cannot reach a
push service) whose keys the test holds, so the worker's real message is decrypted here."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import select

from server.models import Crew, Follower, PushSubscription, User
from server.services.requests import Actor, assign_crew, change_status
from server.templating import asset
from server.worker import Worker
from tests.e2e.conftest import axe_violations, login_as, wait_until
from tests.factories import make_request, make_user
from tests.fake_push import BrowserKeys, FakePushService, local_sender

expect.set_options(timeout=15_000)  # the service worker's first install precaches the app shell

COLLECT = (
    "window.MSGS = [];"
    "if (navigator.serviceWorker) navigator.serviceWorker.addEventListener('message', e => MSGS.push(e.data));"
)


PUSH_ONLY_WORKER = "/test-push-sw.js"


def serve_push_only_worker(context: BrowserContext) -> None:
    """A service worker with only the push handlers, scope '/', for pages without an app worker: the browser
    fetches it from the server's origin and the test answers (the server has no such file)."""
    body = (
        f"importScripts({asset('/static/js/sw-push.js')!r});\n"
        "self.addEventListener('install', () => self.skipWaiting());\n"
        "self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));\n"
    )
    context.route(
        "**" + PUSH_ONLY_WORKER,
        lambda route: route.fulfill(
            body=body, content_type="text/javascript", headers={"Cache-Control": "no-cache"}
        ),
    )


def stub_push_manager(page: Page, subscription: dict) -> None:
    """PushManager as if the browser had subscribed: with the test's keys and the local push service."""
    page.add_init_script(
        f"""(() => {{
          const j = {json.dumps(subscription)};
          if (typeof PushManager === "undefined") return;  // in the service worker itself
          const FLAG = "test.push-subscribed";  // the browser keeps a subscription across page loads
          const make = () => ({{ endpoint: j.endpoint, toJSON: () => j,
                                 unsubscribe: async () => {{ localStorage.removeItem(FLAG); return true; }} }});
          PushManager.prototype.subscribe = async function () {{ localStorage.setItem(FLAG, "1"); return make(); }};
          PushManager.prototype.getSubscription = async function () {{
            return localStorage.getItem(FLAG) ? make() : null;
          }};
        }})();"""
    )


def registration_id(page: Page, context: BrowserContext, scope_url: str) -> str:
    regs: list[dict] = []
    cdp = context.new_cdp_session(page)
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: regs.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    end = time.monotonic() + 10
    while not any(r["scopeURL"] == scope_url and not r["isDeleted"] for r in regs):
        assert time.monotonic() < end, f"no registration for {scope_url}: {regs}"
        page.wait_for_timeout(50)
    reg = next(r for r in regs if r["scopeURL"] == scope_url and not r["isDeleted"])
    page.evaluate("1")  # keep the session alive until used
    page._c311_cdp = cdp  # type: ignore[attr-defined]
    return reg["registrationId"]


@pytest.mark.parametrize(
    ("worker_url", "scope", "page_url"),
    [
        (PUSH_ONLY_WORKER, "/", "/notifications"),  # the handlers alone
        ("/sw.js", "/", "/notifications"),  # the resident app's worker imports them
        ("/field/sw.js", "/field/", "/field/"),  # the field app's worker imports them
    ],
)
def test_push_message_reaches_the_service_worker(
    page: Page, context: BrowserContext, base_url: str, session, worker_url: str, scope: str, page_url: str
) -> None:
    context.grant_permissions(["notifications"], origin=base_url)
    page.add_init_script(COLLECT)
    serve_push_only_worker(context)
    if scope == "/field/":  # the field app is for signed-in crews
        make_user(session, "crew", email="sw@push.example")
        login_as(page, "sw@push.example")
    page.goto(page_url)
    page.evaluate(
        "([u, s]) => navigator.serviceWorker.getRegistration(s).then(r => r || navigator.serviceWorker.register(u, {scope: s}))",
        [worker_url, scope],
    )
    reg_id = registration_id(page, context, base_url + scope)
    wait_until(
        lambda: page.evaluate(
            "s => navigator.serviceWorker.getRegistration(s).then(r => !!(r && r.active && r.active.state === 'activated'))",
            scope,
        )
    )
    msg = {
        "title": "311-2026-000042 is closed",
        "body": "Fixed.",
        "url": "/requests/311-2026-000042",
        "public_id": "311-2026-000042",
        "icon": "/static/icons/icon-192.png",
        "unfollow_url": "/unfollow/abc",
    }
    page._c311_cdp.send(  # type: ignore[attr-defined]
        "ServiceWorker.deliverPushMessage",
        {"origin": base_url + "/", "registrationId": reg_id, "data": json.dumps(msg)},
    )
    wait_until(lambda: page.evaluate("MSGS.length") > 0)
    got = page.evaluate("MSGS[0]")
    assert got["type"] == "push" and got["msg"] == msg  # posted after showNotification() resolved


def test_staff_turns_device_notifications_on_and_off(
    page: Page, base_url: str, session, settings, city, engine
) -> None:
    crew_name = session.exec(select(Crew).order_by(Crew.id)).first().name
    make_user(session, "crew", email="crew@push.example", crew=crew_name)
    req = make_request(session, city)
    browser_keys = BrowserKeys()
    with FakePushService() as service:
        endpoint = service.endpoint("crew-phone")
        page.context.grant_permissions(["notifications"], origin=base_url)
        stub_push_manager(page, browser_keys.subscription(endpoint))
        login_as(page, "crew@push.example")
        page.goto("/notifications")
        button = page.locator("[data-push-staff] button")
        expect(button).to_have_text("Turn on notifications on this device")
        assert axe_violations(page) == []
        button.click()
        expect(page.locator("[data-push-staff] [role=status]")).to_have_text(
            "Notifications are on for this device."
        )
        expect(button).to_have_text("Turn off notifications on this device")
        session.expire_all()
        sub = session.exec(select(PushSubscription).where(PushSubscription.endpoint == endpoint)).one()
        user = session.exec(select(User).where(User.email == "crew@push.example")).one()
        assert sub.user_id == user.id
        session.commit()

        # a dispatcher assigns a job to the crew: the worker pushes it to this device
        assign_crew(session=session, req=req, crew_id=user.crew_id, actor=Actor(label="Dispatch"))
        session.commit()
        with local_sender(settings) as sender:  # reaches the fake push service on 127.0.0.1
            assert Worker(settings, engine, sender=sender).run_once().sent == 1
        [got] = service.received
        data = browser_keys.decrypt(got.body)
        assert data["title"] == f"New job {req.public_id}" and data["url"] == f"/field/#job-{req.id}"

        page.reload()
        expect(page.locator("[data-push-manage] li[data-subscription]")).to_have_count(1)
        button = page.locator("[data-push-staff] button")
        expect(button).to_have_text("Turn off notifications on this device")
        button.click()
        expect(button).to_have_text("Turn on notifications on this device")
        session.expire_all()
        assert session.exec(select(PushSubscription)).all() == []
        session.commit()


def test_resident_follow_hook_subscribes_and_stops(
    page: Page, base_url: str, session, settings, city, engine
) -> None:
    req = make_request(session, city, reporter_email="ana@push.example")
    follower = session.exec(select(Follower).where(Follower.request_id == req.id)).one()
    session.commit()
    browser_keys = BrowserKeys()
    with FakePushService() as service:
        page.context.grant_permissions(["notifications"], origin=base_url)
        stub_push_manager(page, browser_keys.subscription(service.endpoint("ana")))
        page.goto(f"/requests/{req.public_id}?following={follower.token}")
        button = page.locator(".push-hook button")
        expect(button).to_have_text("Notify me on this device")
        button.click()
        expect(button).to_have_text("Stop notifications on this device")
        session.expire_all()
        f = session.get(Follower, follower.id)
        assert f.push_subscription_id is not None
        session.commit()

        change_status(session=session, req=req, to="in_progress", actor=Actor(label="Ops"), note="Crew today")
        session.commit()
        with local_sender(settings) as sender:  # reaches the fake push service on 127.0.0.1
            assert Worker(settings, engine, sender=sender).run_once().sent == 1
        data = browser_keys.decrypt(service.received[0].body)
        assert data["title"] == f"{req.public_id} is in progress" and data["body"] == "Crew today"
        assert data["unfollow_url"] == f"/unfollow/{follower.token}"

        # the page's list shows the device and the followed request
        page.goto("/notifications")
        expect(page.locator("[data-push-manage] li[data-subscription] a")).to_have_text(req.public_id)
        assert axe_violations(page) == []

        page.goto(f"/requests/{req.public_id}?following={follower.token}")
        button = page.locator(".push-hook button")
        expect(button).to_have_text("Stop notifications on this device")
        button.click()
        expect(button).to_have_text("Notify me on this device")
        session.expire_all()
        [f] = session.exec(select(Follower).where(Follower.request_id == req.id)).all()
        assert f.push_subscription_id is None and f.email == "ana@push.example"  # e-mail again
        session.commit()


def test_stop_following_link_from_a_notification(page: Page, base_url: str, session, city) -> None:
    req = make_request(session, city, reporter_email="bo@push.example")
    follower = session.exec(select(Follower).where(Follower.request_id == req.id)).one()
    session.commit()
    page.goto(f"/unfollow/{follower.token}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Stop following {req.public_id}?")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Stop following").click()
    page.wait_for_url(f"**/requests/{req.public_id}?stopped=1")
    session.expire_all()
    assert session.exec(select(Follower).where(Follower.request_id == req.id)).all() == []
    session.commit()
