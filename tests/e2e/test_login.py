"""Every role logs in through the real login page in Chromium and lands on its home."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import axe_violations, login_as
from tests.factories import make_user

HOMES = {"admin": "/admin", "dispatcher": "/dispatch", "operator": "/operator", "crew": "/field/"}


@pytest.mark.parametrize("role", list(HOMES))
def test_each_role_logs_in_and_reaches_its_home(page: Page, session, base_url: str, role: str) -> None:
    make_user(session, role, email=f"{role}@e2e.example", name=f"E2E {role}")
    login_as(page, f"{role}@e2e.example")
    assert page.url == base_url + HOMES[role]
    expect(page.get_by_text(f"E2E {role}").first).to_be_visible()


def test_wrong_password_shows_a_clear_message(page: Page, session) -> None:
    make_user(session, "operator", email="op@e2e.example")
    login_as(page, "op@e2e.example", "not the password")
    expect(page.get_by_role("alert")).to_have_text("The e-mail or password is not right.")
    assert "/login" in page.url


def test_logout_ends_the_session(page: Page, session, base_url: str) -> None:
    make_user(session, "dispatcher", email="d@e2e.example")
    login_as(page, "d@e2e.example")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You are logged out.")
    page.goto("/dispatch")
    assert page.url.startswith(base_url + "/login")


def test_login_page_is_accessible(page: Page, db) -> None:
    page.goto("/login")
    assert axe_violations(page) == []
