"""Deadlines: the expected date comes from the service's target."""

from __future__ import annotations

from datetime import datetime, timedelta

from .lifecycle import Status


def expected_at(created_at: datetime, sla_hours: int | None) -> datetime | None:
    return created_at + timedelta(hours=sla_hours) if sla_hours else None


def is_overdue(expected: datetime | None, status: str, now: datetime) -> bool:
    return expected is not None and status != Status.closed and expected < now
