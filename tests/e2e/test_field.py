"""The crew app on a phone, offline and back: nothing lost, nothing sent twice."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page, Route, expect
from sqlmodel import Session, select

from server.models import Activity, Crew, Photo, ServiceRequest
from server.services.photos import attach_photo, process_upload
from server.services.requests import Actor, assign_crew
from tests.e2e.conftest import axe_violations, login_as
from tests.factories import make_request, make_user


def big_jpeg() -> dict:
    """A phone-sized photo (noise, so it stays big): the app shrinks it before queueing."""
    im = Image.effect_noise((2600, 1950), 80).convert("RGB")
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95)
    return {"name": "big.jpg", "mimeType": "image/jpeg", "buffer": buf.getvalue()}


def jpeg(color: tuple[int, int, int]) -> dict:
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), color).save(buf, "JPEG")
    return {"name": "after.jpg", "mimeType": "image/jpeg", "buffer": buf.getvalue()}


def r_second(session: Session, jobs: list[int]) -> ServiceRequest:
    req = session.get(ServiceRequest, jobs[1])
    assert req is not None
    return req


@pytest.fixture
def crew_jobs(session: Session, city, settings):  # type: ignore[no-untyped-def]
    c1, c2 = list(session.exec(select(Crew).order_by(Crew.id)))[:2]
    crew = make_user(session, "crew", email="crew@e2e.example", crew=c1.name, name="Ana Crew")
    disp = make_user(session, "dispatcher", email="disp@e2e.example", name="Dee Dispatch")
    jobs = []
    for i, desc in enumerate(["Hole by the school", "Hole on Main St", "Hole near the bridge"]):
        r = make_request(session, city, description=desc, address=f"{10 + i} Main St")
        assign_crew(session=session, req=r, crew_id=c1.id, actor=Actor.of(disp))
        jobs.append(r.id)
    # a resident's photo on the second job: the crew must see it on site, offline
    processed = process_upload(jpeg((0, 200, 0))["buffer"], max_bytes=10**7, max_pixels=10**8)
    attach_photo(session=session, media_dir=settings.media_path, req=r_second(session, jobs), photo=processed)
    session.commit()
    return {"crew": crew, "disp": disp, "jobs": jobs, "c1": c1.id, "c2": c2.id}


def read(engine, fn):  # type: ignore[no-untyped-def]
    """A short read in its own session: never hold a transaction the live server waits on."""
    with Session(engine) as s:
        return fn(s)


def eventually(engine, fn, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    """The server may still be committing the last batch when the page shows it sent: poll the database."""
    end = time.monotonic() + timeout
    while True:
        try:
            return read(engine, fn)
        except AssertionError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def field_ready(page: Page) -> None:
    page.wait_for_function(
        "() => !!navigator.serviceWorker.controller && document.body.dataset.sync === 'ok'"
    )


def open_app(page: Page, email: str = "crew@e2e.example") -> None:
    login_as(page, email)
    assert page.url.endswith("/field/")
    field_ready(page)


def do_job(
    page: Page, job_id: int, note: str, color: tuple[int, int, int], photo: dict | None = None
) -> None:
    page.locator(f'a[data-job="{job_id}"]').click()
    page.get_by_label("Note about this job").fill(note)
    page.get_by_role("button", name="Add note").click()
    page.locator("#photo-input").set_input_files(photo or jpeg(color))
    expect(page.locator("#job-photos img.local")).to_have_count(1)
    page.locator("#complete-note").fill("Filled")
    page.get_by_role("button", name="Complete", exact=True).click()
    expect(page.locator("#job-meta")).to_contain_text("Done")
    page.get_by_role("link", name="Back to jobs").click()


def test_jobs_open_offline(phone_context: BrowserContext, phone_page: Page, crew_jobs) -> None:  # type: ignore[no-untyped-def]
    page = phone_page
    open_app(page)
    expect(page.locator("#jobs li")).to_have_count(3)
    assert axe_violations(page) == []
    for _ in range(100):  # the resident's photo is kept for the day offline
        if page.evaluate("caches.open('field-media-v1').then((c) => c.keys()).then((k) => k.length)"):
            break
        page.wait_for_timeout(100)
    phone_context.set_offline(True)
    page.reload()
    expect(page.locator("#net")).to_have_text("Offline")
    expect(page.locator("#jobs li")).to_have_count(3)
    page.locator(f'a[data-job="{crew_jobs["jobs"][1]}"]').click()
    expect(page.locator("#job-desc")).to_have_text("Hole on Main St")
    thumb = page.locator("#job-photos img").first
    expect(thumb).to_be_visible()
    page.wait_for_function("() => document.querySelector('#job-photos img').naturalWidth > 0")
    assert page.locator("#job-nav").get_attribute("href").startswith("geo:")  # type: ignore[union-attr]
    phone_context.set_offline(False)


def test_a_language_change_sticks_offline(phone_context: BrowserContext, phone_page: Page, crew_jobs) -> None:  # type: ignore[no-untyped-def]
    page = phone_page
    open_app(page)
    expect(page.locator("#jobs-title")).to_contain_text("Jobs")
    page.get_by_role("link", name="Español").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("#jobs-title")).to_contain_text("Trabajos")
    expect(page.locator("#jobs li")).to_have_count(3)
    phone_context.set_offline(True)
    page.goto("/field/")  # opened again in the truck, no signal: the cached shell is the Spanish one
    expect(page.locator("#net")).to_have_text("Sin conexión")
    expect(page.locator("#jobs-title")).to_contain_text("Trabajos")
    expect(page.locator("#jobs li")).to_have_count(3)
    assert axe_violations(page) == []
    phone_context.set_offline(False)
    page.get_by_role("link", name="English").click()
    expect(page.locator("#jobs-title")).to_contain_text("Jobs")


def test_offline_work_survives_closing_and_syncs_once(
    phone_context: BrowserContext, phone_page: Page, crew_jobs, engine
) -> None:  # type: ignore[no-untyped-def]
    page = phone_page
    open_app(page)
    phone_context.set_offline(True)
    for i, job in enumerate(crew_jobs["jobs"]):
        do_job(page, job, f"note {i}", (40 * i, 100, 200))
    expect(page.locator("#count")).to_have_text("9")
    page.close()  # the outbox lives in IndexedDB, not in the page
    page = phone_context.new_page()
    page.goto("/field/")
    expect(page.locator("#count")).to_have_text("9")
    phone_context.set_offline(False)  # the online event (or Background Sync) sends it all
    expect(page.locator("#count")).to_have_text("0", timeout=20_000)

    def check(s: Session) -> None:
        for job in crew_jobs["jobs"]:
            req = s.get(ServiceRequest, job)
            assert req is not None and req.status == "closed" and req.close_reason == "fixed"
            photos = s.exec(select(Photo).where(Photo.request_id == job, Photo.kind == "after")).all()
            assert len(photos) == 1
            field = s.exec(
                select(Activity).where(Activity.request_id == job, Activity.client_event_id.is_not(None))  # type: ignore[union-attr]
            ).all()
            assert sorted(a.kind for a in field) == ["note", "photo", "status"]

    eventually(engine, check)
    expect(page.locator("#jobs li")).to_have_count(0)


def test_background_sync_alone_sends_the_work_of_a_closed_app(
    phone_context: BrowserContext, phone_page: Page, crew_jobs, engine
) -> None:  # type: ignore[no-untyped-def]
    """The crew closes the app in a dead zone; the signal comes back with no page open. Only the service
    worker's Background Sync can send the work then (no page: no `online` handler, no timer)."""
    page = phone_page
    open_app(page)
    phone_context.set_offline(True)
    job = crew_jobs["jobs"][0]
    do_job(page, job, "done in the dead zone", (200, 40, 40))
    expect(page.locator("#count")).to_have_text("3")
    page.close()
    assert phone_context.pages == []
    phone_context.set_offline(False)

    def sent(s: Session) -> None:
        req = s.get(ServiceRequest, job)
        assert req is not None and req.status == "closed"
        kinds = s.exec(
            select(Activity.kind).where(Activity.request_id == job, Activity.client_event_id.is_not(None))  # type: ignore[union-attr]
        ).all()
        assert sorted(kinds) == ["note", "photo", "status"]

    eventually(engine, sent, timeout=30.0)
    page = phone_context.new_page()
    page.goto("/field/")
    expect(page.locator("#count")).to_have_text("0")


def test_network_drop_mid_sync_loses_and_duplicates_nothing(
    phone_context: BrowserContext, phone_page: Page, crew_jobs, engine
) -> None:  # type: ignore[no-untyped-def]
    page = phone_page
    open_app(page)
    phone_context.set_offline(True)
    job = crew_jobs["jobs"][0]
    big = big_jpeg()
    do_job(page, job, "drop test", (200, 0, 0), photo=big)
    expect(page.locator("#count")).to_have_text("3")
    seen = {"sync": 0, "photo": 0}
    sizes: list[int] = []

    def drop_after_server(route: Route) -> None:
        # the server gets and applies the request, then the connection dies before the answer arrives
        kind = "photo" if "/photos/" in route.request.url else "sync"
        seen[kind] += 1
        if kind == "photo":
            sizes.append(len(route.request.post_data_buffer or b""))
        if seen[kind] == 1:
            route.fetch()
            route.abort("internetdisconnected")
        else:
            route.continue_()

    phone_context.route("**/field/api/sync", drop_after_server)
    phone_context.route("**/field/api/photos/*", drop_after_server)
    phone_context.set_offline(False)
    for _ in range(150):  # let Playwright dispatch the route handlers (time.sleep would block them)
        if seen["sync"]:
            break
        page.wait_for_timeout(100)
    assert seen["sync"] >= 1
    # the same batch goes again (backoff, or the crew presses "sync now"): the server answers "duplicate"
    for _ in range(6):
        if page.locator("#count").inner_text() == "0":
            break
        page.get_by_role("button", name="Sync now").click()
        page.wait_for_timeout(700)
    expect(page.locator("#count")).to_have_text("0", timeout=15_000)
    assert seen["sync"] >= 2 and seen["photo"] >= 2
    assert 0 < max(sizes) < len(big["buffer"]) / 2  # shrunk on the phone before it was queued

    def check(s: Session) -> None:
        acts = s.exec(
            select(Activity).where(Activity.request_id == job, Activity.client_event_id.is_not(None))  # type: ignore[union-attr]
        ).all()
        assert sorted(a.kind for a in acts) == ["note", "photo", "status"]
        assert len(s.exec(select(Photo).where(Photo.request_id == job)).all()) == 1
        req = s.get(ServiceRequest, job)
        assert req is not None and req.status == "closed"

    eventually(engine, check)


def test_reassigned_while_offline_is_recorded_and_flagged(
    phone_context: BrowserContext, phone_page: Page, crew_jobs, engine
) -> None:  # type: ignore[no-untyped-def]
    page = phone_page
    open_app(page)
    phone_context.set_offline(True)
    job = crew_jobs["jobs"][2]
    do_job(page, job, "got there first", (0, 0, 200))
    with Session(engine) as s:  # meanwhile the dispatcher gives the job to another crew
        req = s.get(ServiceRequest, job)
        disp = s.get(type(crew_jobs["disp"]), crew_jobs["disp"].id)
        assign_crew(session=s, req=req, crew_id=crew_jobs["c2"], actor=Actor.of(disp))  # type: ignore[arg-type]
        s.commit()
    phone_context.set_offline(False)
    expect(page.locator("#count")).to_have_text("0", timeout=20_000)
    notice = page.locator("#notices li")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("a supervisor will review it")
    expect(notice).to_contain_text("Reassigned")

    def check(s: Session) -> None:
        req = s.get(ServiceRequest, job)
        assert (
            req is not None and req.status == "open" and req.needs_review and req.crew_id == crew_jobs["c2"]
        )
        kinds = [
            a.kind for a in s.exec(select(Activity).where(Activity.request_id == job).order_by(Activity.id))
        ]
        assert kinds[-3:] == ["note", "photo", "field_conflict"]

    eventually(engine, check)
    expect(page.locator(f'a[data-job="{job}"]')).to_have_count(0)


def test_expired_login_keeps_work_and_syncs_after_login(
    phone_context: BrowserContext, phone_page: Page, crew_jobs, engine
) -> None:  # type: ignore[no-untyped-def]
    page = phone_page
    open_app(page)
    phone_context.set_offline(True)
    job = crew_jobs["jobs"][0]
    page.locator(f'a[data-job="{job}"]').click()
    page.get_by_role("button", name="Start work").click()
    page.locator("#note-text").fill("Started in the rain")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#count")).to_have_text("2")
    phone_context.clear_cookies()  # the login expired while the truck was out of signal
    phone_context.set_offline(False)
    expect(page.locator("#login-needed")).to_be_visible(timeout=15_000)
    expect(page.locator("#count")).to_have_text("2")
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("E-mail").fill("crew@e2e.example")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#count")).to_have_text("0", timeout=15_000)
    expect(page.locator("#login-needed")).to_be_hidden()

    def check(s: Session) -> None:
        req = s.get(ServiceRequest, job)
        assert req is not None and req.status == "in_progress"
        notes = s.exec(select(Activity).where(Activity.request_id == job, Activity.kind == "note")).all()
        assert [n.note for n in notes] == ["Started in the rain"]

    eventually(engine, check)


def test_another_crew_member_never_sends_the_first_ones_work(
    phone_context: BrowserContext, phone_page: Page, crew_jobs, session, engine
) -> None:  # type: ignore[no-untyped-def]
    make_user(session, "crew", email="bo@e2e.example", name="Bo Crew")
    page = phone_page
    open_app(page)
    phone_context.set_offline(True)
    job = crew_jobs["jobs"][1]
    page.locator(f'a[data-job="{job}"]').click()
    page.locator("#note-text").fill("Ana's note")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#count")).to_have_text("1")
    phone_context.clear_cookies()
    phone_context.set_offline(False)
    open_app(page, "bo@e2e.example")
    expect(page.locator("#held li")).to_have_count(1)
    expect(page.locator("#count")).to_have_text("0")
    assert read(engine, lambda s: s.exec(select(Activity).where(Activity.note == "Ana's note")).all()) == []
    # Ana logs in again on the phone: now it goes, under her name
    phone_context.clear_cookies()
    open_app(page)
    expect(page.locator("#held li")).to_have_count(0)

    def sent_as_ana(s: Session) -> None:
        acts = s.exec(select(Activity).where(Activity.note == "Ana's note")).all()
        assert [a.actor_id for a in acts] == [crew_jobs["crew"].id]

    eventually(engine, sent_as_ana)
