"""The resident app in Chromium when the server says "not now" (429): the report stays on the phone and is sent
after Retry-After, exactly once. A server of its own with a limit of one report per address in a few seconds,
so that the limit lifts during the test; the test spends it from the same address (loopback) first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import Session, select

from server.config import Settings
from server.models import ServiceRequest
from tests.e2e.conftest import PHONE, LiveServer, wait_until
from tests.factories import csrf_from

WINDOW_S = 8


@pytest.fixture(scope="module")
def throttled(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = LiveServer(settings, tmp_path_factory.mktemp("throttled") / "server.log")
    srv.env["REPORT_RATE_LIMIT_ADDRESS"] = f"1/{WINDOW_S} seconds"
    yield srv.start()
    srv.stop()


@pytest.fixture
def phone(browser, throttled: LiveServer) -> Iterator[BrowserContext]:  # type: ignore[no-untyped-def]
    ctx = browser.new_context(base_url=throttled.url, locale="en-US", **PHONE)
    yield ctx
    ctx.close()


def reports(engine) -> list[ServiceRequest]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.exec(select(ServiceRequest)).all())


def spend_the_address(url: str) -> None:
    """Another resident behind the same address sends a report: the address's window is used up."""
    with httpx.Client(base_url=url) as c:
        token = csrf_from(c.get("/report").text)
        fields = {
            "csrf_token": token,
            "service_code": "pothole",
            "attribute[size]": "large",
            "address": "1 Elm St",
        }
        accepted = c.post("/report", data=fields, headers={"Accept": "application/json"})
        assert accepted.status_code == 201, accepted.text
        over = c.post("/report", data=fields, headers={"Accept": "application/json"})
        assert over.status_code == 429 and int(over.headers["retry-after"]) <= WINDOW_S


def fill_report(page: Page, address: str) -> None:
    page.goto("/report")
    page.get_by_label("Search, for example “hole in road”").fill("hole in road")
    page.locator("#service-list").get_by_role("link", name="Pothole").click()
    page.get_by_label("About the size of a car tire").check()
    page.get_by_label("Or type the address or nearest corner").fill(address)


def queued(page: Page) -> list[dict]:
    return page.evaluate(
        "C311Queue.all().then((items) => items.map((i) => ({key: i.key, error: i.error || null})))"
    )


def test_a_replay_answered_429_stays_queued_and_is_sent_after_retry_after(
    phone: BrowserContext, throttled: LiveServer, db, tmp_path: Path
) -> None:
    page = phone.new_page()
    fill_report(page, "98 Main St")
    phone.set_offline(True)
    page.get_by_role("button", name="Send report").click()
    expect(page.locator("#queue-status")).to_contain_text("Reports waiting to be sent: 1")
    spend_the_address(throttled.url)
    phone.set_offline(False)  # the "online" event replays the queue: the server answers 429
    expect(page.locator("#queue-status")).to_contain_text("Not sent yet: the city asked to wait.")
    expect(page.locator("#queue-status")).to_contain_text("Reports waiting to be sent: 1")
    [waiting] = queued(page)
    assert waiting["error"] is None  # kept as "not now", not refused
    assert [r.address for r in reports(db)] == ["1 Elm St"]
    # the window ends: the page sends it by itself, once
    expect(page.locator("#queue-status")).to_contain_text(
        "Your saved report was sent", timeout=(WINDOW_S + 10) * 1000
    )
    wait_until(lambda: len(reports(db)) == 2)
    mine = [r for r in reports(db) if r.address == "98 Main St"]
    assert len(mine) == 1 and mine[0].idempotency_key == waiting["key"]
    assert queued(page) == []


def test_a_report_answered_429_when_sent_online_is_kept_and_sent_later(
    phone: BrowserContext, throttled: LiveServer, db
) -> None:
    page = phone.new_page()
    fill_report(page, "12 Water St")
    spend_the_address(throttled.url)
    page.get_by_role("button", name="Send report").click()
    expect(page.locator("#queue-status")).to_contain_text("Not sent yet: the city asked to wait.")
    assert len(queued(page)) == 1 and "/r/" not in page.url  # not sent, not lost: it waits on the phone
    expect(page.locator("#queue-status")).to_contain_text(
        "Your saved report was sent", timeout=(WINDOW_S + 10) * 1000
    )
    wait_until(lambda: len(reports(db)) == 2)
    assert [r.address for r in reports(db) if r.address == "12 Water St"] == ["12 Water St"]
