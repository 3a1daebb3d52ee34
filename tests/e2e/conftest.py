"""Browser tests: Debian's Chromium driven by Playwright against a real server subprocess on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, BrowserType, Page

from server.config import ROOT, Settings
from tests.conftest import TEST_SECRET
from tests.factories import PASSWORD

CHROMIUM = "/usr/bin/chromium"  # Debian's package: Playwright cannot download its own browser here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = ROOT / "tests" / "e2e" / "vendor" / "axe.min.js"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.db_url,
        "SECRET_KEY": TEST_SECRET,
        "VAR_DIR": str(settings.var_dir),
        "CITY_FILE": str(settings.city_file),
        "TILE_URL": settings.tile_url,
        "PYTHONUNBUFFERED": "1",
    }


class LiveServer:
    """`python -m server serve` in a subprocess, as in production (minus TLS)."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = server_env(settings)
        self.env["BASE_URL"] = self.url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveServer:
        with open(self.log, "ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in 30 s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="session")
def live_server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = LiveServer(settings, tmp_path_factory.mktemp("server") / "server.log").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    return live_server.url  # pytest-playwright passes it to every new context


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    # bypass_csp: lets the tests inject axe-core; the pages themselves keep their strict CSP
    return {**browser_context_args, "locale": "en-US", "bypass_csp": True}


@pytest.fixture
def phone_context(browser, base_url: str) -> Iterator[BrowserContext]:  # type: ignore[no-untyped-def]
    ctx = browser.new_context(base_url=base_url, locale="en-US", bypass_csp=True, **PHONE)
    yield ctx
    ctx.close()


@pytest.fixture
def phone_page(phone_context: BrowserContext) -> Page:
    return phone_context.new_page()


@pytest.fixture
def persistent_page(
    browser_type: BrowserType, browser_type_launch_args: dict, tmp_path: Path, base_url: str
) -> Iterator[Page]:
    """Installability checks need a real profile: Playwright's normal contexts are off-the-record."""
    ctx = browser_type.launch_persistent_context(
        tmp_path / "profile", base_url=base_url, bypass_csp=True, **browser_type_launch_args
    )
    yield ctx.pages[0]
    ctx.close()


def login_as(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    """axe-core from npm, injected into the page; returns the serious and critical violations."""
    assert AXE.exists(), f"no {AXE}: `make setup` (npm ci, then python -m server vendor) copies it from npm"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def wait_until(pred, timeout: float = 10.0, interval: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(interval)
