"""Notification bookkeeping that is not the Outbox itself."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from .base import TimeField


class OverdueNotice(SQLModel, table=True):
    """A request whose "overdue" alert was queued: one alert per request, even with several workers."""

    __tablename__ = "overdue_notice"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="service_request.id", unique=True)
    expected_at: datetime | None = TimeField(nullable=True)
    created_at: datetime = TimeField(default_now=True)
