"""Screen fixes checked over HTTP (the browser tests are in tests/e2e/*_screens.py)."""

from __future__ import annotations

from bs4 import BeautifulSoup

from tests.factories import csrf


def test_report_sent_without_a_service_says_to_choose_one(client) -> None:
    """A plain form post (no JavaScript) with no service chosen: a clear message, in the page's language."""
    for lang, expected in (
        ("en", "Choose what the problem is first: search or pick a service from the list."),
        ("es", "Primero indique cuál es el problema: busque o elija un servicio de la lista."),
    ):
        token = csrf(client, f"/report?lang={lang}")
        r = client.post(
            "/report",
            data={"csrf_token": token, "description": "hole", "address": "98 Main St"},
            files=[("photos", ("", b"", "application/octet-stream"))],
            follow_redirects=False,
        )
        assert r.status_code == 400
        alert = BeautifulSoup(r.text, "html.parser").select_one("[role=alert]")
        assert alert is not None and alert.get_text(strip=True) == expected
