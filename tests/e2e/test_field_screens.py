"""What crews met in the field app (issue "What people met when they used it"), on a 412×915 phone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import Session, select

from server.models import Crew, Follower, Outbox, PushSubscription, ServiceRequest
from server.services.followers import add_follower
from server.services.requests import Actor, assign_crew
from tests.e2e.conftest import axe_violations, login_as
from tests.e2e.test_field import eventually, field_ready
from tests.factories import make_request, make_user

PHONE_412 = {
    "viewport": {"width": 412, "height": 915},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}


@pytest.fixture
def phone(browser, base_url: str) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    ctx: BrowserContext = browser.new_context(base_url=base_url, locale="en-US", bypass_csp=True, **PHONE_412)
    yield ctx.new_page()
    ctx.close()


@pytest.fixture
def crew(session: Session) -> dict:
    c1 = session.exec(select(Crew).order_by(Crew.id)).first()
    assert c1 is not None
    user = make_user(session, "crew", email="crew@e2e.example", crew=c1.name, name="Ana Crew")
    disp = make_user(session, "dispatcher", email="disp@e2e.example", name="Dee Dispatch")
    return {"crew_id": c1.id, "user": user, "disp": disp}


def assigned(session: Session, city, crew: dict, **kw) -> int:  # type: ignore[no-untyped-def]
    req = make_request(session, city, **kw)
    assign_crew(session=session, req=req, crew_id=crew["crew_id"], actor=Actor.of(crew["disp"]))
    session.commit()
    return req.id  # type: ignore[return-value]


def test_a_crews_public_note_is_sent_to_followers(phone: Page, session, city, crew, db) -> None:
    job = assigned(session, city, crew, reporter_email="reporter@example.org", address="10 Main St")
    sub = PushSubscription(endpoint="https://push.example/sub1", p256dh="k", auth="a", token="t" * 20)
    session.add(sub)
    session.flush()
    req = session.get(ServiceRequest, job)
    add_follower(session=session, req=req, push_subscription_id=sub.id)
    assert len(list(session.exec(select(Follower)))) == 2  # the reporter's e-mail, and a device
    session.commit()  # end the read: on SQLite an open one would block the server's writes
    page = phone
    login_as(page, "crew@e2e.example")
    field_ready(page)
    page.locator(f'a[data-job="{job}"]').click()
    page.get_by_label("Note about this job").fill("Road plate in place; paving on Monday.")
    page.get_by_label("Resident can see this note").check()
    page.get_by_role("button", name="Add note").click()

    def queued(s: Session) -> list[Outbox]:
        rows = [o for o in s.exec(select(Outbox)) if o.payload.get("kind") == "note"]
        assert {o.channel for o in rows} == {"push", "email"}, rows
        return rows

    rows = eventually(db, queued)
    for row in rows:
        assert "Road plate in place; paving on Monday." in row.payload["body"]
    assert next(r for r in rows if r.channel == "email").email == "reporter@example.org"
    assert axe_violations(page) == []


def test_done_today_overdue_and_distinct_note_labels(phone: Page, session, city, crew, db) -> None:
    from datetime import timedelta

    from server.models import User, utcnow

    late = assigned(session, city, crew, address="1 Late St", created_at=utcnow() - timedelta(days=90))
    first = assigned(session, city, crew, address="2 First St")
    second = assigned(session, city, crew, address="3 Second St")
    page = phone
    login_as(page, "crew@e2e.example")
    field_ready(page)
    # a job long past its due date says so in words, and looks different
    late_card, first_card = page.locator(f'a[data-job="{late}"]'), page.locator(f'a[data-job="{first}"]')
    expect(late_card).to_contain_text("Overdue")
    expect(first_card).not_to_contain_text("Overdue")
    style = "e => getComputedStyle(e).borderTopStyle"
    assert late_card.evaluate(style) != first_card.evaluate(style)
    # three boxes, three names
    first_card.click()
    for label in ("Note about this job", "What was done (optional)", "What stopped the work (optional)"):
        expect(page.get_by_label(label)).to_have_count(1)
    expect(page.get_by_label("Note", exact=True)).to_have_count(0)
    assert axe_violations(page) == []
    # completed with no network: the job is listed as done today, waiting to be sent
    page.context.set_offline(True)
    page.get_by_label("What was done (optional)").fill("Patched")
    page.get_by_role("button", name="Complete", exact=True).click()
    page.get_by_role("link", name="Back to jobs").click()
    done = page.get_by_role("region", name="Done today")
    expect(done.get_by_role("listitem")).to_have_count(1)
    expect(done.get_by_role("listitem").first).to_contain_text("2 First St")
    expect(done.get_by_role("listitem").first).to_contain_text("Waiting to be sent")
    page.context.set_offline(False)  # back online: sent, and the closed job leaves the job list
    item = done.get_by_role("listitem").filter(has_text="2 First St")
    expect(item).to_contain_text("Sent", timeout=15000)
    expect(page.locator(f'#jobs a[data-job="{first}"]')).to_have_count(0)
    # the next one is refused: the crew member was moved to another crew while offline
    page.context.set_offline(True)
    page.locator(f'a[data-job="{second}"]').click()
    page.get_by_role("button", name="Complete", exact=True).click()
    page.get_by_role("link", name="Back to jobs").click()
    other = session.exec(select(Crew).where(Crew.id != crew["crew_id"])).first()
    user = session.get(User, crew["user"].id)
    user.crew_id = other.id
    session.add(user)
    session.commit()
    page.context.set_offline(False)
    expect(done.get_by_role("listitem").filter(has_text="3 Second St")).to_contain_text(
        "Refused: This job is not assigned to your crew.", timeout=15000
    )
    expect(item).to_contain_text("Sent")
    # dismissing the server's notice keeps the refusal on the done list
    page.get_by_role("button", name="Dismiss").click()
    expect(done.get_by_role("listitem").filter(has_text="3 Second St")).to_contain_text("Refused")
    assert axe_violations(page) == []


@pytest.mark.parametrize("width", [360, 412])
def test_field_bar_takes_two_lines_on_a_phone(browser, base_url: str, crew, width: int) -> None:
    ctx = browser.new_context(
        base_url=base_url,
        locale="en-US",
        bypass_csp=True,
        viewport={"width": width, "height": 800},
        is_mobile=True,
        has_touch=True,
    )
    page = ctx.new_page()
    login_as(page, "crew@e2e.example")
    field_ready(page)
    bar = page.locator("header.bar")
    assert bar.evaluate("e => e.getBoundingClientRect().height") < 120  # sticky: it stays on every screen
    expect(page.get_by_role("button", name="Sync now")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    ctx.close()
