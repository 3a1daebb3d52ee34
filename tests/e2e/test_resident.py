"""The resident app in Chromium on a phone-size screen: report, duplicates, offline, install, access, Spanish."""

from __future__ import annotations

import gzip
import json
import re

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import Session, select

from server.config import ROOT
from server.models import Follower, Photo, ServiceRequest
from server.services.addresses import import_addresses
from tests import photo_samples
from tests.e2e.conftest import axe_violations, wait_until
from tests.factories import HAVERHILL_CITY_HALL, make_request


def rows(engine, model):  # type: ignore[no-untyped-def]
    """Read in a short transaction of its own: on SQLite an open one would block the server's writes."""
    with Session(engine) as s:
        return list(s.exec(select(model)).all())


def sw_ready(page: Page) -> None:
    page.wait_for_function(
        "navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=15000
    )


def choose_pothole(page: Page) -> None:
    page.get_by_label("Search, for example “hole in road”").fill("hole in road")
    page.locator("#service-list").get_by_role("link", name="Pothole").click()
    expect(page.get_by_role("heading", name="2. Pothole: tell us more")).to_be_focused()
    page.get_by_label("About the size of a car tire").check()


@pytest.fixture
def addresses(session, city):  # type: ignore[no-untyped-def]
    import_addresses(session=session, city=city, path=ROOT / "server" / "cities" / "haverhill_addresses.csv")
    session.commit()


def test_full_report_with_photo_questions_and_typed_address(
    phone_page: Page, db, addresses, tmp_path
) -> None:
    page = phone_page
    page.goto("/report")
    choose_pothole(page)
    page.get_by_label("In an intersection").check()
    page.get_by_label("Or type the address or nearest corner").fill("98 Main St")
    jpeg = tmp_path / "IMG_0001.JPG"
    jpeg.write_bytes(photo_samples.phone_jpeg(3000, 4000, orientation=6, gps=(42.7771, -71.0770)))
    with page.expect_file_chooser() as fc:
        page.get_by_label("Add photos").click()
    fc.value.set_files(str(jpeg))
    expect(page.locator("#photo-list li")).to_have_count(1)
    expect(page.locator("#gps-offer")).to_be_visible()  # the photo knows where it was taken
    page.get_by_label("Description (optional)").fill("Deep hole by the bus stop")
    # what will be sent is the shrunk copy (its preview shows it): 3000x4000 upright -> 1536x2048
    size = page.evaluate(
        "(() => { const i = document.querySelector('#photo-list img'); return [i.naturalWidth, i.naturalHeight]; })()"
    )
    assert size == [1536, 2048]
    page.get_by_role("button", name="Send report").click()
    page.wait_for_url(re.compile(r"/r/311-\d{4}-\d{6}\?t=.+&new=1"))
    expect(page.get_by_role("heading", name="Thank you! Your report was sent.")).to_be_visible()
    [req] = rows(db, ServiceRequest)
    assert req.attributes == {"size": "medium", "location_in_road": "intersection"}
    assert req.address == "98 Main St" and abs(req.lat - 42.778361) < 1e-6  # placed from the address list
    [photo] = rows(db, Photo)
    assert max(photo.width, photo.height) <= 1600 and photo.height > photo.width  # upright portrait
    page.goto(f"/requests/{req.public_id}")
    expect(page.get_by_role("img", name="Photo 1 sent with the report")).to_be_visible()


def test_map_pin_works_when_tiles_cannot_load(phone_page: Page, db) -> None:
    page = phone_page
    page.goto("/report?service=pothole")
    page.get_by_role("button", name="Choose on a map").click()
    page.get_by_role("button", name="Use the map centre").click()
    expect(page.locator("#location-msg")).to_contain_text("(42.7")
    page.get_by_label("Smaller than a dinner plate").check()
    page.get_by_role("button", name="Send report").click()
    page.wait_for_url(re.compile(r"/r/311-"))
    [req] = rows(db, ServiceRequest)
    assert abs(req.lat - 42.7762) < 0.001 and abs(req.long + 71.0773) < 0.001


def test_outside_the_city_is_refused_with_a_clear_message(
    phone_context: BrowserContext, phone_page: Page, db
) -> None:
    phone_context.grant_permissions(["geolocation"])
    phone_context.set_geolocation({"latitude": 42.36, "longitude": -71.06})  # Boston
    page = phone_page
    page.goto("/report?service=pothole")
    page.get_by_label("Smaller than a dinner plate").check()
    page.get_by_role("button", name="Use my location").click()
    expect(page.locator("#nearby")).to_contain_text("This location is outside Haverhill")
    page.get_by_role("button", name="Send report").click()
    expect(page.locator("#form-error")).to_have_text(
        "This location is outside Haverhill. Choose a place inside the city."
    )
    assert rows(db, ServiceRequest) == []


def test_duplicate_suggestion_and_follow_instead(
    phone_context: BrowserContext, phone_page: Page, session, city, db
) -> None:
    existing = make_request(session, city, description="Hole near City Hall steps")
    lat, long = HAVERHILL_CITY_HALL
    phone_context.grant_permissions(["geolocation"])
    phone_context.set_geolocation({"latitude": lat + 0.0001, "longitude": long})
    page = phone_page
    page.goto("/report")
    choose_pothole(page)
    page.get_by_label("E-mail").fill("neighbour@example.org")
    page.get_by_role("button", name="Use my location").click()
    card = page.locator("#nearby li", has_text=existing.public_id)
    expect(card).to_contain_text("Hole near City Hall steps")
    card.get_by_role("button", name="Follow this instead").click()
    expect(card).to_contain_text(f"You are following {existing.public_id}")
    assert len(rows(db, ServiceRequest)) == 1
    [f] = [f for f in rows(db, Follower) if f.email == "neighbour@example.org"]
    assert f.request_id == existing.id


def test_offline_report_is_sent_once_when_back_online(
    phone_context: BrowserContext, phone_page: Page, db, addresses, tmp_path
) -> None:
    page = phone_page
    page.goto("/report")
    sw_ready(page)
    page.wait_for_timeout(500)
    phone_context.set_offline(True)
    page.reload()  # the app opens with no network: page and service questions come from the worker's cache
    choose_pothole(page)
    page.get_by_label("Or type the address or nearest corner").fill("98 Main St")
    jpeg = tmp_path / "p.jpg"
    jpeg.write_bytes(photo_samples.phone_jpeg(800, 600, orientation=1))
    page.get_by_label("Add photos").set_input_files(str(jpeg))
    expect(page.locator("#photo-list li")).to_have_count(1)
    page.get_by_role("button", name="Send report").click()
    expect(page.locator("#queue-status")).to_contain_text("Reports waiting to be sent: 1")
    assert rows(db, ServiceRequest) == []
    # the app is closed and opened again while still offline: the report is still waiting
    page.close()
    page = phone_context.new_page()
    page.goto("/report")
    expect(page.locator("#queue-status")).to_contain_text("Reports waiting to be sent: 1")
    phone_context.set_offline(False)  # the "online" event replays the queue
    expect(page.locator("#queue-status")).to_contain_text("Your saved report was sent", timeout=15000)
    wait_until(lambda: len(rows(db, ServiceRequest)) == 1)
    page.reload()
    page.wait_for_timeout(1000)  # a second replay would have happened here
    [req] = rows(db, ServiceRequest)
    assert req.address == "98 Main St" and req.idempotency_key
    assert len(rows(db, Photo)) == 1
    assert page.evaluate("C311Queue.count()") == 0


def test_installable(persistent_page: Page, db) -> None:
    page = persistent_page
    page.goto("/report")
    sw_ready(page)
    cdp = page.context.new_cdp_session(page)
    manifest = cdp.send("Page.getAppManifest")
    assert not manifest.get("errors"), manifest.get("errors")
    wait_until(lambda: cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == [], timeout=15)


def resident_urls(session, city) -> list[str]:  # type: ignore[no-untyped-def]
    req = make_request(session, city, reporter_email="a@example.org")
    return [
        "/",
        "/report",
        "/report?service=streetlight-out",
        "/report?service=illegal-dumping",
        "/requests",
        f"/requests/{req.public_id}",
        f"/r/{req.public_id}?t={req.private_token}&new=1",
        "/offline",
    ]


def test_axe_on_every_resident_page(phone_page: Page, session, city) -> None:
    for url in resident_urls(session, city):
        for lang in ("en", "es"):
            phone_page.goto(url + ("&" if "?" in url else "?") + f"lang={lang}")
            assert axe_violations(phone_page) == [], (url, lang)
    # the partials, once swapped in
    phone_page.goto("/report?lang=en")
    phone_page.get_by_label("Search, for example “hole in road”").fill("light")
    expect(phone_page.locator("#service-list")).not_to_contain_text("Pothole")
    phone_page.locator("#service-list").get_by_role("link", name="Streetlight Out").click()
    expect(phone_page.locator("#report")).to_be_visible()
    assert axe_violations(phone_page) == []


def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_report_flow_by_keyboard_alone(phone_page: Page, db, addresses) -> None:
    page = phone_page
    page.goto("/report")
    tab_to(page, "#q")
    page.keyboard.type("hole in road")
    expect(page.locator("#service-list")).not_to_contain_text("Streetlight")
    tab_to(page, "a.choice[data-service=pothole]")
    page.keyboard.press("Enter")
    expect(page.locator("#service-title")).to_be_focused()
    tab_to(page, "input[name='attribute[size]']")
    page.keyboard.press("ArrowDown")  # radios: arrows choose
    tab_to(page, "#address")
    page.keyboard.type("98 Main St")
    tab_to(page, "#description")
    page.keyboard.type("Typed with the keyboard only")
    tab_to(page, "button[type=submit].primary")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/r/311-"))
    [req] = rows(db, ServiceRequest)
    assert req.description == "Typed with the keyboard only" and req.attributes["size"] in {
        "medium",
        "large",
        "small",
    }


@pytest.fixture
def spanish_page(browser, base_url):  # type: ignore[no-untyped-def]
    from tests.e2e.conftest import PHONE

    ctx = browser.new_context(base_url=base_url, locale="es-US", bypass_csp=True, **PHONE)
    yield ctx.new_page()
    ctx.close()


def test_spanish_pages_from_the_browser_language(spanish_page: Page, session, city) -> None:
    page = spanish_page
    page.goto("/report")
    assert page.get_attribute("html", "lang") == "es"
    expect(page.get_by_role("heading", name="Informar de un problema")).to_be_visible()
    page.locator("#service-list").get_by_role("link", name="Bache").click()
    expect(page.get_by_role("button", name="Enviar informe")).to_be_visible()
    page.get_by_role("button", name="Enviar informe").click()  # nothing answered: the browser asks first
    page.get_by_label("Más pequeño que un plato").check()
    page.get_by_role("button", name="Enviar informe").click()
    expect(page.locator("#form-error")).to_have_text(
        "Indique una ubicación: un punto en el mapa o una dirección."
    )
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Report a problem")).to_be_visible()


def test_report_page_weight(browser, base_url: str, db) -> None:
    """Bytes a first visit costs, gzip-compressed: the page, its assets and the worker's precache."""
    from tests.e2e.conftest import PHONE

    ctx = browser.new_context(base_url=base_url, locale="en-US", bypass_csp=True, **PHONE)
    seen: set[str] = set()
    ctx.on("request", lambda r: seen.add(r.url))
    page = ctx.new_page()
    page.goto("/report")
    sw_ready(page)
    page.wait_for_load_state("networkidle")
    sw = httpx.get(base_url + "/sw.js").text
    shell = [*json.loads(re.search(r"const SHELL = (\[.*?\]);", sw).group(1))]
    shell += json.loads(re.search(r"const QUESTIONS = (\[.*?\]);", sw).group(1))
    urls = {u.split("#")[0] for u in seen if u.startswith(base_url) and "/media/" not in u}
    urls |= {base_url + u for u in shell} | {base_url + "/manifest.webmanifest"}
    total, detail = 0, {}
    with httpx.Client(base_url=base_url) as client:
        for url in sorted(urls):
            body = client.get(
                url, headers={"HX-Request": "true"} if "/report/questions" in url else {}
            ).content
            size = len(gzip.compress(body, 6))
            detail[url.removeprefix(base_url)] = size
            total += size
    ctx.close()
    print(json.dumps({"report_page_first_load_bytes_gzip": total, "detail": detail}))
    assert "/static/vendor/leaflet/leaflet.js" not in " ".join(detail)  # loaded only when the map opens
    assert total < 100_000


def test_photo_gps_is_offered_as_the_location(phone_page: Page, db, tmp_path) -> None:
    page = phone_page
    page.goto("/report?service=pothole")
    page.get_by_label("Smaller than a dinner plate").check()
    jpeg = tmp_path / "gps.jpg"
    jpeg.write_bytes(photo_samples.phone_jpeg(1200, 900, orientation=1, gps=(42.7791, -71.0801)))
    page.get_by_label("Add photos").set_input_files(str(jpeg))
    expect(page.locator("#gps-text")).to_contain_text("42.77910, -71.08010")
    page.get_by_role("button", name="Use the photo’s location").click()
    expect(page.locator("#location-msg")).to_contain_text("(42.77910, -71.08010)")
    page.get_by_role("button", name="Send report").click()
    page.wait_for_url(re.compile(r"/r/311-"))
    [req] = rows(db, ServiceRequest)
    assert abs(req.lat - 42.7791) < 1e-5 and abs(req.long + 71.0801) < 1e-5


def test_offline_page_for_what_is_not_cached(
    phone_context: BrowserContext, phone_page: Page, session, city
) -> None:
    req = make_request(session, city)
    page = phone_page
    page.goto("/")
    sw_ready(page)
    phone_context.set_offline(True)
    page.goto(f"/requests/{req.public_id}")
    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
    page.get_by_role("link", name="Report a problem").last.click()
    expect(page.get_by_role("heading", name="Report a problem")).to_be_visible()
    phone_context.set_offline(False)
