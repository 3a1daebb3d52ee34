"""The security pages in Chromium: the lockout message, changing one's password, the staff page's log-in columns
and the audit log, each checked with axe-core."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import axe_violations, login_as
from tests.factories import make_user


def test_a_locked_out_login_says_how_long_to_wait(page: Page, session) -> None:
    make_user(session, "operator", email="op@e2e.example")
    for _ in range(5):
        login_as(page, "op@e2e.example", "not the password")
    expect(page.get_by_role("alert")).to_have_text("Too many failed log-in attempts. Try again in 1 minute.")
    assert axe_violations(page) == []


def test_password_staff_and_audit_pages_are_accessible(page: Page, session, base_url: str) -> None:
    make_user(session, "admin", email="adm@e2e.example", name="Ada Admin")
    login_as(page, "adm@e2e.example", "a wrong password")  # a failed log-in for the audit log
    login_as(page, "adm@e2e.example")
    failures = {}
    for url in ("/admin/users", "/admin/audit", "/admin/audit?action=login_failed", "/admin/audit?lang=es"):
        page.goto(url)
        if found := axe_violations(page):
            failures[url] = found
    page.goto("/admin/audit?lang=en")
    expect(page.get_by_role("cell", name="Failed log-in")).to_be_visible()
    page.get_by_role("link", name="Change password").click()
    page.get_by_label("Current password").fill("wrong current one")
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("Your current password is not right.")
    if found := axe_violations(page):
        failures["/account/password (error)"] = found
    assert failures == {}
