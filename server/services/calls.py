"""The operators' call log: every call is a Call row with its start, end, outcome, topic and links.

A call row is made by the operator's first action (or when they end the call), with the time the call
page opened as its start. Actions refine the outcome: a transfer ends the call at once; filing a request,
adding the caller as a follower or answering from the knowledge base leave it open until "end call".
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from sqlmodel import Session, col, select

from ..domain.errors import Forbidden, Invalid, NotFound
from ..models import Call, CallOutcome, Department, ServiceRequest, User, utcnow

# When several things happen in one call, the outcome that says most about it wins.
OUTCOME_WEIGHT = {
    CallOutcome.other: 0,
    CallOutcome.information: 1,
    CallOutcome.follower_added: 2,
    CallOutcome.request_created: 3,
    CallOutcome.transferred: 4,
}
MAX_CALL_AGE = timedelta(hours=12)


def normalise_phone(phone: str) -> str:
    """North American numbers as 978-555-0100 (so screen pops match however the number was typed)."""
    raw = (phone or "").strip()[:40]
    if raw.startswith("+") and not raw.startswith("+1"):
        return raw  # international: kept as given
    digits = "".join(ch for ch in raw if ch.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10:
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return raw


def _start_time(started_at: datetime | None, now: datetime) -> datetime:
    if started_at is None or started_at.tzinfo is None or not (now - MAX_CALL_AGE <= started_at <= now):
        return now
    return started_at


def get_call(session: Session, call_id: int, operator: User) -> Call:
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound("No such call.", code="call_not_found")
    if call.operator_id != operator.id:
        raise Forbidden("This call was taken by another operator.", code="forbidden")
    return call


def log_call(
    *,
    session: Session,
    operator: User,
    outcome: str,
    call_id: int | None = None,
    caller_phone: str = "",
    caller_name: str = "",
    started_at: datetime | None = None,
    topic: str = "",
    notes: str = "",
    department_id: int | None = None,
    request_id: int | None = None,
    article_id: int | None = None,
    end: bool = False,
) -> Call:
    """Record what happened on a call: make the row on the first action, refine it on later ones."""
    try:
        result = CallOutcome(outcome)
    except ValueError:
        raise Invalid("Choose how the call ended.", field="outcome") from None
    if result == CallOutcome.transferred and not department_id:
        raise Invalid("Choose the department to transfer to.", field="department")
    if department_id and session.get(Department, department_id) is None:
        raise Invalid("No such department.", field="department")
    now = utcnow()
    if call_id:
        call = get_call(session, call_id, operator)
    else:
        call = Call(operator_id=operator.id, started_at=_start_time(started_at, now))
    if caller_phone:
        call.caller_phone = normalise_phone(caller_phone)
    if caller_name.strip():
        call.caller_name = caller_name.strip()[:200]
    if call.outcome is None or OUTCOME_WEIGHT[result] >= OUTCOME_WEIGHT[CallOutcome(call.outcome)] or end:
        call.outcome = result
        if topic.strip():
            call.topic = topic.strip()[:200]
    elif topic.strip() and not call.topic:
        call.topic = topic.strip()[:200]
    if notes.strip():
        call.notes = (f"{call.notes}\n{notes.strip()}" if call.notes else notes.strip())[:2000]
    if department_id:
        call.department_id = department_id
    if request_id:
        call.request_id = request_id
    if article_id:
        call.article_id = article_id
    if end or result == CallOutcome.transferred:
        call.ended_at = now
    session.add(call)
    session.flush()
    return call


def end_call(
    *,
    session: Session,
    operator: User,
    call_id: int | None,
    outcome: str | None = None,
    topic: str = "",
    notes: str = "",
    caller_phone: str = "",
    caller_name: str = "",
    started_at: datetime | None = None,
) -> Call:
    """Hang up: the end time, and the outcome the operator chose (or the one the call already has)."""
    current = get_call(session, call_id, operator) if call_id else None
    chosen = outcome or (str(current.outcome) if current and current.outcome else CallOutcome.other)
    return log_call(
        session=session,
        operator=operator,
        outcome=chosen,
        call_id=call_id,
        caller_phone=caller_phone,
        caller_name=caller_name,
        started_at=started_at,
        topic=topic,
        notes=notes,
        end=True,
    )


def transfer_department(session: Session, department_id: int | None) -> Department:
    """The department an operator transfers a call to: chosen, and existing."""
    dept = session.get(Department, department_id) if department_id else None
    if dept is None:
        raise Invalid("Choose the department to transfer to.", field="department_id")
    return dept


def day_start(now: datetime, tz: tzinfo) -> datetime:
    local = now.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def calls_today(session: Session, operator: User, tz: tzinfo, now: datetime | None = None) -> list[Call]:
    """The operator's calls since midnight in the city's timezone, newest first."""
    since = day_start(now or utcnow(), tz)
    return list(
        session.exec(
            select(Call)
            .where(Call.operator_id == operator.id, Call.started_at >= since)
            .order_by(col(Call.started_at).desc(), col(Call.id).desc())
        ).all()
    )


def public_ids(session: Session, calls: list[Call]) -> dict[int, str]:
    """Row id -> public id of the requests these calls made or followed: the number read to the caller."""
    ids = {c.request_id for c in calls if c.request_id}
    if not ids:
        return {}
    rows = session.exec(
        select(ServiceRequest.id, ServiceRequest.public_id).where(col(ServiceRequest.id).in_(ids))
    ).all()
    return {rid: pid for rid, pid in rows if rid is not None and pid}


def calls_from(session: Session, phone: str, limit: int = 10) -> list[Call]:
    phone = normalise_phone(phone)
    if not phone:
        return []
    return list(
        session.exec(
            select(Call)
            .where(Call.caller_phone == phone)
            .order_by(col(Call.started_at).desc(), col(Call.id).desc())
            .limit(limit)
        ).all()
    )
