"""The crew app when the server says no: a refused event leaves the outbox as a notice and never holds the work
behind it; a busy server (429/503) keeps everything queued and is asked again only when it said to."""

from __future__ import annotations

import json

from playwright.sync_api import BrowserContext, Page, Route, expect
from sqlmodel import Session, select

from server.models import Activity
from tests.e2e.test_field import crew_jobs, eventually, open_app  # noqa: F401  (crew_jobs is a fixture)


def queue_notes(page: Page, job: int, notes: list[str]) -> None:
    page.locator(f'a[data-job="{job}"]').click()
    for n, note in enumerate(notes, 1):
        page.locator("#note-text").fill(note)
        page.get_by_role("button", name="Add note").click()
        expect(page.locator("#count")).to_have_text(str(n))
        expect(page.locator("#note-text")).to_have_value("")  # queued, the form cleared


def field_notes(s: Session, job: int) -> list[str]:
    return list(
        s.exec(
            select(Activity.note)
            .where(Activity.request_id == job, Activity.client_event_id.is_not(None))  # type: ignore[union-attr]
            .order_by(Activity.id)
        ).all()
    )


def test_a_refused_event_is_shown_and_the_rest_goes(
    phone_context: BrowserContext,
    phone_page: Page,
    crew_jobs,  # noqa: F811  (the fixture imported above)
    engine,
) -> None:  # type: ignore[no-untyped-def]
    page = phone_page
    open_app(page)
    phone_context.set_offline(True)
    job = crew_jobs["jobs"][0]
    queue_notes(page, job, ["before", "a character storage refuses: \uffff", "after"])
    phone_context.set_offline(False)
    expect(page.locator("#count")).to_have_text("0", timeout=20_000)
    notice = page.locator("#notices li")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("Not accepted by the server")
    expect(notice).to_contain_text("a character that cannot be stored")

    def check(s: Session) -> None:
        assert field_notes(s, job) == ["before", "after"]

    eventually(engine, check)


def test_a_batch_refused_whole_is_split_and_its_bad_event_refused_alone(
    phone_context: BrowserContext,
    phone_page: Page,
    crew_jobs,  # noqa: F811  (the fixture imported above)
    engine,
) -> None:  # type: ignore[no-untyped-def]
    """A proxy in front of the server refuses big bodies (413) and one event's body (400): nothing is stuck."""
    page = phone_page
    open_app(page)
    phone_context.set_offline(True)
    job = crew_jobs["jobs"][1]
    queue_notes(page, job, ["one", "poison", "three"])
    sizes: list[int] = []

    def proxy(route: Route) -> None:
        events = json.loads(route.request.post_data or "{}").get("events", [])
        sizes.append(len(events))
        if len(events) > 1:
            route.fulfill(status=413, body="Request Entity Too Large")
        elif events and events[0]["note"] == "poison":
            route.fulfill(status=400, content_type="application/json", body='{"error": "bad_request"}')
        else:
            route.continue_()

    phone_context.route("**/field/api/sync", proxy)
    phone_context.set_offline(False)
    expect(page.locator("#count")).to_have_text("0", timeout=20_000)
    expect(page.locator("#notices li")).to_have_count(1)
    expect(page.locator("#notices li")).to_contain_text("Not accepted by the server")
    assert sizes[0] == 3 and 1 in sizes

    def check(s: Session) -> None:
        assert field_notes(s, job) == ["one", "three"]

    eventually(engine, check)


def test_a_busy_server_keeps_the_work_and_is_asked_again_when_it_said(
    phone_context: BrowserContext,
    phone_page: Page,
    crew_jobs,  # noqa: F811  (the fixture imported above)
    engine,
) -> None:  # type: ignore[no-untyped-def]
    page = phone_page
    open_app(page)
    phone_context.set_offline(True)
    job = crew_jobs["jobs"][2]
    queue_notes(page, job, ["sent when the server has time"])
    calls: list[str] = []

    def busy_once(route: Route) -> None:
        calls.append(route.request.url)
        if len(calls) == 1:
            route.fulfill(status=429, headers={"Retry-After": "4"}, body="")
        else:
            route.continue_()

    phone_context.route("**/field/api/sync", busy_once)
    phone_context.set_offline(False)
    for _ in range(100):  # let Playwright dispatch the route handler (time.sleep would block it)
        if calls:
            break
        page.wait_for_timeout(100)
    assert len(calls) == 1
    expect(page.locator("#count")).to_have_text("1")  # kept, not dropped as refused
    expect(page.locator("#notices li")).to_have_count(0)
    page.get_by_role("button", name="Sync now").click()  # within the server's Retry-After: not sent
    page.wait_for_timeout(1500)
    assert len(calls) == 1
    expect(page.locator("#count")).to_have_text("0", timeout=20_000)  # the timer tries again after it

    def check(s: Session) -> None:
        assert field_notes(s, job) == ["sent when the server has time"]

    eventually(engine, check)
