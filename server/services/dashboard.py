"""Supervisor figures: calls today, backlog, intake per channel, time to close, share within target."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from sqlmodel import Session, func, select

from ..models import Call, CallOutcome, Channel, Department, Service, ServiceRequest, Status, utcnow

ACTIVE = (Status.open.value, Status.in_progress.value)
AGE_BUCKETS = [("< 1 day", 1), ("1–3 days", 3), ("3–7 days", 7), ("7–30 days", 30), ("> 30 days", None)]
DAYS = 30


@dataclass
class Dashboard:
    calls_by_outcome: list[tuple[str, int]]
    calls_total: int
    first_call_resolution: float | None  # 0..1; None when no calls today
    backlog_by_department: list[tuple[str, int]]
    backlog_by_age: list[tuple[str, int]]
    created_by_day: list[tuple[date, dict[str, int]]]  # oldest first, every day present
    channels: list[str]
    median_close_hours: list[tuple[str, float, int]]  # service name, median hours, closed count
    closed_with_target: int
    closed_within_target: int

    @property
    def within_target_share(self) -> float | None:
        return self.closed_within_target / self.closed_with_target if self.closed_with_target else None


def local_midnight(now: datetime, tz: tzinfo) -> datetime:
    local = now.astimezone(tz)
    return datetime(local.year, local.month, local.day, tzinfo=tz)


def calls_today(
    session: Session, now: datetime, tz: tzinfo
) -> tuple[list[tuple[str, int]], int, float | None]:
    """Calls since local midnight by outcome; first-call resolution = resolved without transfer / all."""
    start = local_midnight(now, tz)
    rows = session.exec(
        select(Call.outcome, func.count()).where(Call.started_at >= start).group_by(Call.outcome)
    ).all()
    counts = {str(o) if o is not None else "": n for o, n in rows}
    total = sum(counts.values())
    by_outcome = [(o.value, counts.get(o.value, 0)) for o in CallOutcome]
    if counts.get(""):
        by_outcome.append(("in_progress", counts[""]))
    resolved = sum(n for o, n in counts.items() if o and o != CallOutcome.transferred.value)
    return by_outcome, total, (resolved / total if total else None)


def backlog_by_department(session: Session) -> list[tuple[str, int]]:
    rows = session.exec(
        select(Department.name, func.count())
        .select_from(ServiceRequest)
        .join(Service, Service.id == ServiceRequest.service_id)  # type: ignore[arg-type]
        .outerjoin(Department, Department.id == Service.department_id)  # type: ignore[arg-type]
        .where(ServiceRequest.status.in_(ACTIVE))  # type: ignore[attr-defined]
        .group_by(Department.name)
    ).all()
    return sorted(((name or "—", n) for name, n in rows), key=lambda r: (-r[1], r[0]))


def backlog_by_age(session: Session, now: datetime) -> list[tuple[str, int]]:
    out = []
    newer: datetime | None = None
    for label, days in AGE_BUCKETS:
        older = now - timedelta(days=days) if days else None
        conds = [ServiceRequest.status.in_(ACTIVE)]  # type: ignore[attr-defined]
        if newer is not None:
            conds.append(ServiceRequest.created_at < newer)
        if older is not None:
            conds.append(ServiceRequest.created_at >= older)
        out.append(
            (label, session.exec(select(func.count()).select_from(ServiceRequest).where(*conds)).one())
        )
        newer = older
    return out


def created_by_day(
    session: Session, now: datetime, tz: tzinfo
) -> tuple[list[tuple[date, dict[str, int]]], list[str]]:
    """Requests per local day and channel over the last DAYS days (today included)."""
    today = now.astimezone(tz).date()
    first = today - timedelta(days=DAYS - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=tz)
    rows = session.exec(
        select(ServiceRequest.created_at, ServiceRequest.channel).where(ServiceRequest.created_at >= start)
    ).all()
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    for created, channel in rows:
        per_day[created.astimezone(tz).date()][str(channel)] += 1
    channels = [c.value for c in Channel]
    days = [first + timedelta(days=i) for i in range(DAYS)]
    return [(d, {c: per_day[d].get(c, 0) for c in channels}) for d in days], channels


def closing(session: Session, now: datetime) -> tuple[list[tuple[str, float, int]], int, int]:
    """Median hours to close by service, and how many closed with a target were closed within it (30 days)."""
    since = now - timedelta(days=DAYS)
    rows = session.exec(
        select(Service.name, ServiceRequest.created_at, ServiceRequest.closed_at, ServiceRequest.expected_at)
        .join(Service, Service.id == ServiceRequest.service_id)  # type: ignore[arg-type]
        .where(
            ServiceRequest.status == Status.closed,
            ServiceRequest.closed_at >= since,  # type: ignore[operator]
            ServiceRequest.close_reason != "duplicate",
        )
    ).all()
    hours: dict[str, list[float]] = defaultdict(list)
    with_target = within = 0
    for name, created, closed, expected in rows:
        hours[name].append((closed - created).total_seconds() / 3600)
        if expected is not None:
            with_target += 1
            within += closed <= expected
    medians = sorted(
        ((name, round(statistics.median(h), 1), len(h)) for name, h in hours.items()), key=lambda r: -r[1]
    )
    return medians, with_target, within


def build(session: Session, tz: tzinfo, *, now: datetime | None = None) -> Dashboard:
    now = now or utcnow()
    outcomes, total, fcr = calls_today(session, now, tz)
    per_day, channels = created_by_day(session, now, tz)
    medians, with_target, within = closing(session, now)
    return Dashboard(
        calls_by_outcome=outcomes,
        calls_total=total,
        first_call_resolution=fcr,
        backlog_by_department=backlog_by_department(session),
        backlog_by_age=backlog_by_age(session, now),
        created_by_day=per_day,
        channels=channels,
        median_close_hours=medians,
        closed_with_target=with_target,
        closed_within_target=within,
    )
