"""Supervisor figures computed from known data, and the dashboard page with its accessible charts."""

from __future__ import annotations

from datetime import timedelta

from bs4 import BeautifulSoup

from server.models import Call, utcnow
from server.services import dashboard
from server.services.dispatch import merge_duplicates
from server.services.requests import Actor, change_status
from tests.factories import login, make_request, make_user


def _seed(session, city):  # type: ignore[no-untyped-def]
    now = utcnow()
    for outcome in ["information", "information", "request_created", "transferred", None]:
        session.add(Call(outcome=outcome, started_at=now))  # "now" is what build() gets
    session.add(Call(outcome="transferred", started_at=now - timedelta(days=2)))  # not today
    actor = Actor(label="Test")
    fast = make_request(session, city, channel="phone", created_at=now - timedelta(hours=30))
    slow = make_request(session, city, channel="app", created_at=now - timedelta(days=10))
    make_request(session, city, channel="phone", created_at=now - timedelta(days=45))  # old backlog
    make_request(session, city, channel="web")  # new backlog
    for req, hours in ((fast, 6), (slow, 200)):  # pothole target: 72 h
        change_status(session=session, req=req, to="closed", close_reason="fixed", actor=actor)
        req.closed_at = req.created_at + timedelta(hours=hours)
    dup_master, dup = make_request(session, city), make_request(session, city)
    merge_duplicates(session, dup, dup_master, actor)  # a duplicate is not a closing that counts
    session.commit()
    return now


def test_figures_match_the_data(session, city) -> None:
    now = _seed(session, city)
    d = dashboard.build(session, city.tz, now=now)
    outcomes = dict(d.calls_by_outcome)
    assert d.calls_total == 5
    assert outcomes["information"] == 2 and outcomes["transferred"] == 1 and outcomes["in_progress"] == 1
    assert d.first_call_resolution == 3 / 5  # 2 information + 1 request created, of 5 calls today
    assert dict(d.backlog_by_age) == {
        "< 1 day": 2,
        "1–3 days": 0,
        "3–7 days": 0,
        "7–30 days": 0,
        "> 30 days": 1,
    }
    assert dict(d.backlog_by_department) == {"Public Works – Highway Division": 3}
    assert (d.closed_with_target, d.closed_within_target, d.within_target_share) == (2, 1, 0.5)
    assert d.median_close_hours == [("Pothole", 103.0, 2)]
    per_day = dict(d.created_by_day)
    assert len(per_day) == 30
    assert sum(v["phone"] for v in per_day.values()) == 1  # the 45-day-old one is outside the window
    assert sum(v["app"] for v in per_day.values()) == 1
    assert sum(sum(v.values()) for v in per_day.values()) == 5


def test_empty_database_has_no_division_by_zero(session, city) -> None:
    d = dashboard.build(session, city.tz)
    assert d.first_call_resolution is None and d.within_target_share is None


def test_dashboard_page_has_accessible_charts(client, session, city) -> None:
    _seed(session, city)
    make_user(session, "dispatcher", email="sup@test.example")
    login(client, "sup@test.example")
    html = BeautifulSoup(client.get("/dispatch/dashboard").text, "html.parser")
    assert html.select_one("#fig-calls dd").text == "5"
    assert html.select_one("#fig-fcr dd").text == "60%"
    assert html.select_one("#fig-target dd").text == "50%"
    charts = html.select("figure.chart")
    assert len(charts) == 5
    for fig in charts:
        svg = fig.select_one("svg")
        assert svg["role"] == "img" and svg.select_one("title").text and svg.select_one("desc").text
        ids = svg["aria-labelledby"].split()
        assert all(html.find(id=i) for i in ids)
        assert fig.select_one("details table")  # the data, readable without the picture
