"""Page weight of the resident report page on a first visit, measured in Chromium.

    .venv/bin/python bench/page_weight.py [--quick]

Starts the real server (`python -m server serve`) on a temporary SQLite database with the demo city's catalogue,
opens /report in a fresh phone-size Chromium context, waits until the service worker controls the page (so its
precache is done), and adds up every same-origin response the visit needed plus the worker's precache list and
the manifest. Each body is counted gzip-compressed (level 6) once, as a compressing proxy or server would send it;
photos (/media/) and map tiles are excluded, and Leaflet must not be among them (it loads when the map opens).
The last line printed is one JSON object: bytes_gzip, bytes_raw, target_bytes, ok, and the figure per URL.
"""

from __future__ import annotations

import argparse
import gzip
import json
import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from server.db import make_engine, session_scope  # noqa: E402
from server.migrations import upgrade  # noqa: E402
from server.services.catalogue import import_city  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, LiveServer  # noqa: E402

TARGET = 100_000


def measure(browser, base_url: str) -> dict:  # type: ignore[no-untyped-def]
    ctx = browser.new_context(base_url=base_url, locale="en-US", bypass_csp=True, **PHONE)
    seen: set[str] = set()
    ctx.on("request", lambda r: seen.add(r.url))
    page = ctx.new_page()
    page.goto("/report")
    page.wait_for_function(
        "navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=15000
    )
    page.wait_for_load_state("networkidle")
    ctx.close()
    sw = httpx.get(base_url + "/sw.js").text
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", sw).group(1))  # type: ignore[union-attr]
    shell += json.loads(re.search(r"const QUESTIONS = (\[.*?\]);", sw).group(1))  # type: ignore[union-attr]
    urls = {u.split("#")[0] for u in seen if u.startswith(base_url) and "/media/" not in u}
    urls |= {base_url + u for u in shell} | {base_url + "/manifest.webmanifest", base_url + "/sw.js"}
    detail, raw = {}, 0
    with httpx.Client(base_url=base_url) as client:
        for url in sorted(urls):
            body = client.get(
                url, headers={"HX-Request": "true"} if "/report/questions" in url else {}
            ).content
            raw += len(body)
            detail[url.removeprefix(base_url)] = len(gzip.compress(body, 6))
    total = sum(detail.values())
    return {
        "bytes_gzip": total,
        "bytes_raw": raw,
        "target_bytes": TARGET,
        "ok": total < TARGET and not any("leaflet" in u for u in detail),
        "requests": len(detail),
        "detail": detail,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="accepted for the bench convention (one run anyway)"
    )
    parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        var = pathlib.Path(tmp)
        settings = make_settings(var, f"sqlite:///{var / 'bench.db'}")
        upgrade(settings)
        engine = make_engine(settings)
        with session_scope(engine) as s:
            from server.city import load_city

            import_city(session=s, city=load_city(settings.city_file))
        engine.dispose()
        server = LiveServer(settings, var / "server.log").start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                out = measure(browser, server.url)
                browser.close()
        finally:
            server.stop()
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
