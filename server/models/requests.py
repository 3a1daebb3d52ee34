"""Service requests, their append-only timeline, photos and followers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from ..domain.lifecycle import DEFAULT_PRIORITY, PRIORITY_MAX, PRIORITY_MIN, Channel, CloseReason, Status
from .base import JSONField, TimeField


class ServiceRequest(SQLModel, table=True):
    __tablename__ = "service_request"
    __table_args__ = (
        Index("ix_request_status_created", "status", "created_at"),
        # the triage queue's "due" and "priority" orders (server/services/dispatch.py reads one range per status)
        Index("ix_request_status_expected", "status", "expected_at"),
        Index("ix_request_status_priority", "status", "priority", "created_at"),
        Index(
            "ix_request_service_status", "service_id", "status", "created_at"
        ),  # Open311 code+status+window
        Index("ix_request_lat_long", "lat", "long"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str | None = Field(default=None, unique=True, max_length=32)
    service_id: int = Field(foreign_key="service.id")
    status: Status = Field(default=Status.open, max_length=20)
    close_reason: CloseReason | None = Field(default=None, max_length=20)
    description: str = Field(default="", max_length=4000)
    lat: float | None = None
    long: float | None = None
    address: str = Field(default="", max_length=250, index=True)  # operators' address suggestions
    zipcode: str = Field(default="", max_length=10)
    attributes: dict[str, Any] = JSONField(dict)
    channel: Channel = Field(default=Channel.web, max_length=20)
    # Private: never in a public page or API response.
    reporter_name: str = Field(default="", max_length=200)
    reporter_email: str = Field(default="", max_length=254)
    reporter_phone: str = Field(default="", max_length=40, index=True)  # operators' screen pop
    created_at: datetime = TimeField(default_now=True, index=True)
    updated_at: datetime = TimeField(default_now=True, index=True)
    closed_at: datetime | None = TimeField(nullable=True)
    expected_at: datetime | None = TimeField(nullable=True, index=True)
    priority: int = Field(
        default=DEFAULT_PRIORITY, ge=PRIORITY_MIN, le=PRIORITY_MAX
    )  # domain.lifecycle.PRIORITIES
    crew_id: int | None = Field(default=None, foreign_key="crew.id", index=True)
    duplicate_of_id: int | None = Field(default=None, foreign_key="service_request.id", index=True)
    version: int = 1
    private_token: str = Field(max_length=64, index=True)
    idempotency_key: str | None = Field(default=None, unique=True, max_length=80)
    api_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    device_id: str = Field(default="", max_length=100)
    account_id: str = Field(default="", max_length=100)
    needs_review: bool = False  # a supervisor must look (e.g. a field conflict)


class Activity(SQLModel, table=True):
    """The append-only timeline: every change and note, public or internal."""

    __table_args__ = (
        Index("ix_activity_request_time", "request_id", "created_at"),
        Index("ix_activity_created", "created_at"),  # the Open311 updates feed reads by time
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="service_request.id")
    created_at: datetime = TimeField(default_now=True)
    actor_id: int | None = Field(default=None, foreign_key="user.id")
    actor_label: str = Field(default="", max_length=200)
    kind: str = Field(max_length=30)
    public: bool = False
    note: str = Field(default="", max_length=4000)
    data: dict[str, Any] = JSONField(dict)
    client_event_id: str | None = Field(default=None, unique=True, max_length=80)
    client_time: datetime | None = TimeField(nullable=True)


class Photo(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="service_request.id", index=True)
    activity_id: int | None = Field(default=None, foreign_key="activity.id")
    kind: str = Field(default="before", max_length=10)  # before | after
    sha256: str = Field(max_length=64, index=True)
    display_key: str = Field(max_length=80)
    thumb_key: str = Field(max_length=80)
    width: int
    height: int
    thumb_width: int = 0
    thumb_height: int = 0
    taken_at: datetime | None = TimeField(nullable=True)
    created_at: datetime = TimeField(default_now=True)
    idempotency_key: str | None = Field(default=None, unique=True, max_length=80)
    public: bool = True


class Follower(SQLModel, table=True):
    """Someone told about changes: the reporter, a resident who chose 'follow', a caller added by an operator."""

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="service_request.id", index=True)
    name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)
    phone: str = Field(default="", max_length=40, index=True)  # operators' screen pop
    token: str = Field(unique=True, max_length=64)  # "stop following" link
    push_subscription_id: int | None = Field(default=None, foreign_key="push_subscription.id", index=True)
    language: str = Field(default="en", max_length=8)  # of the e-mail it gets (a device has its own)
    created_at: datetime = TimeField(default_now=True)
