"""The call log: outcomes, refinement within one call, the day's list, phone numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from server.domain.errors import Forbidden, Invalid
from server.models import Call, Department, utcnow
from server.services import calls
from tests.factories import make_user

NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("9785550100", "978-555-0100"),
        ("+1 (978) 555-0100", "978-555-0100"),
        ("1-978-555-0100", "978-555-0100"),
        ("978.555.0100", "978-555-0100"),
        ("+44 20 7946 0000", "+44 20 7946 0000"),
        ("", ""),
    ],
)
def test_phone_numbers_are_stored_one_way(given: str, stored: str) -> None:
    assert calls.normalise_phone(given) == stored


def test_an_information_call_is_logged_then_ended(session: Session) -> None:
    op = make_user(session, "operator")
    started = utcnow() - timedelta(minutes=3)
    call = calls.log_call(
        session=session,
        operator=op,
        outcome="information",
        caller_phone="9785550100",
        started_at=started,
        topic="City Hall hours",
    )
    assert call.id and call.ended_at is None and call.started_at == started
    ended = calls.end_call(session=session, operator=op, call_id=call.id)
    session.commit()
    assert ended.id == call.id and ended.ended_at is not None
    assert ended.outcome == "information" and ended.caller_phone == "978-555-0100"


def test_a_transfer_names_the_department_and_ends_the_call(session: Session) -> None:
    op = make_user(session, "operator")
    dept = session.exec(select(Department).where(Department.code == "city-clerk")).one()
    with pytest.raises(Invalid):
        calls.log_call(session=session, operator=op, outcome="transferred")
    call = calls.log_call(session=session, operator=op, outcome="transferred", department_id=dept.id)
    assert call.ended_at is not None and call.department_id == dept.id


def test_a_stronger_outcome_wins_within_one_call(session: Session) -> None:
    op = make_user(session, "operator")
    call = calls.log_call(session=session, operator=op, outcome="request_created", topic="Pothole")
    calls.log_call(session=session, operator=op, outcome="information", call_id=call.id, topic="Hours")
    assert call.outcome == "request_created" and call.topic == "Pothole"
    calls.end_call(session=session, operator=op, call_id=call.id, outcome="other", notes="caller hung up")
    assert call.outcome == "other" and "hung up" in call.notes


def test_unknown_outcome_and_someone_elses_call_are_refused(session: Session) -> None:
    op = make_user(session, "operator")
    other = make_user(session, "operator", email="other@test.example")
    with pytest.raises(Invalid):
        calls.log_call(session=session, operator=op, outcome="shrug")
    call = calls.log_call(session=session, operator=op, outcome="other")
    with pytest.raises(Forbidden):
        calls.log_call(session=session, operator=other, outcome="other", call_id=call.id)


def test_a_start_time_from_the_form_is_kept_only_when_plausible(session: Session) -> None:
    op = make_user(session, "operator")
    now = utcnow()
    for bad in (now + timedelta(hours=1), now - timedelta(days=2), datetime(2020, 1, 1)):
        call = calls.log_call(session=session, operator=op, outcome="other", started_at=bad)
        assert abs((call.started_at - now).total_seconds()) < 60


def test_todays_list_starts_at_local_midnight(session: Session) -> None:
    op = make_user(session, "operator")
    other = make_user(session, "operator", email="other@test.example")
    now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 10:00 in Haverhill
    midnight = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    for started, who in [
        (midnight - timedelta(minutes=1), op),
        (midnight + timedelta(minutes=1), op),
        (now, op),
        (now, other),
    ]:
        session.add(Call(operator_id=who.id, started_at=started, outcome="other"))
    session.commit()
    mine = calls.calls_today(session, op, NY, now=now)
    assert [c.started_at for c in mine] == [now, midnight + timedelta(minutes=1)]


def test_calls_from_a_number(session: Session) -> None:
    op = make_user(session, "operator")
    calls.log_call(session=session, operator=op, outcome="other", caller_phone="978 555 0100")
    calls.log_call(session=session, operator=op, outcome="other", caller_phone="978 555 0199")
    assert len(calls.calls_from(session, "+19785550100")) == 1
    assert calls.calls_from(session, "") == []
