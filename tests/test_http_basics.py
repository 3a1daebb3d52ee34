"""What every response carries (language, security headers), and how `python -m server serve` runs uvicorn."""

from __future__ import annotations

import argparse

from server import cli


def test_asking_for_spanish_sets_a_cookie_that_keeps_it(client) -> None:
    r = client.get("/?lang=es")
    assert r.status_code == 200
    assert r.headers["content-language"] == "es"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("lang=es;") and "samesite=lax" in cookie.lower()
    again = client.get("/")  # the cookie alone, no ?lang=
    assert again.headers["content-language"] == "es" and "lang=" not in again.headers.get("set-cookie", "")
    assert 'lang="es"' in again.text or "lang=es" in again.text


def test_accept_language_picks_the_language_without_a_cookie(client) -> None:
    r = client.get("/", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert r.headers["content-language"] == "es" and "lang=" not in r.headers.get("set-cookie", "")
    assert client.get("/", headers={"Accept-Language": "fr"}).headers["content-language"] == "en"


def test_pages_carry_the_security_headers_and_the_csp(client) -> None:
    page = client.get("/")
    for name, value in {
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "x-frame-options": "DENY",
    }.items():
        assert page.headers[name] == value
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    api = client.get("/open311/v2/services.json")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in api.headers  # for HTML only


def test_serve_runs_uvloop_and_httptools(monkeypatch, settings) -> None:
    """With several workers asyncio's own loop leaves Nagle on for accepted sockets, which held the end of
    every keep-alive response for about 40 ms: serve must ask for uvloop, and it must be installed."""
    import uvloop  # noqa: F401  (installed with the server's dependencies)

    seen: dict[str, object] = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setattr("server.migrations.upgrade", lambda s: None)
    args = argparse.Namespace(host="127.0.0.1", port=8123, workers=2)
    assert cli.cmd_serve(settings, args) == 0
    assert seen["app"] == "server.main:app" and seen["workers"] == 2
    assert seen["loop"] == "uvloop" and seen["http"] == "httptools"
    assert seen["access_log"] is False  # ACCESS_LOG: the proxy in front logs requests
