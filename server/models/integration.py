"""What talks to the outside: Open311 API keys and their rate counters, push subscriptions, the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from .base import JSONField, TimeField


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    key_hash: str = Field(unique=True, max_length=64)  # sha256 of the key; the key itself is shown once
    prefix: str = Field(max_length=12)
    created_at: datetime = TimeField(default_now=True)
    revoked_at: datetime | None = TimeField(nullable=True)


class RateCounter(SQLModel, table=True):
    """A rate limit's window (server/ratelimit.py): in the database, so every web process counts together."""

    __tablename__ = "rate_counter"

    key: str = Field(primary_key=True, max_length=200)
    hits: int
    expires_at: float = Field(index=True)  # Unix time, as the limits library keeps it


class PushSubscription(SQLModel, table=True):
    __tablename__ = "push_subscription"

    id: int | None = Field(default=None, primary_key=True)
    endpoint: str = Field(unique=True, max_length=1000)
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    token: str = Field(unique=True, max_length=64)  # lets an anonymous resident manage it
    language: str = Field(default="en", max_length=8)  # of the notifications sent to it
    created_at: datetime = TimeField(default_now=True)


class Outbox(SQLModel, table=True):
    """Notifications to send, written in the same transaction as the change that causes them."""

    __table_args__ = (Index("ix_outbox_due", "sent_at", "dead", "available_at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=10)  # push | email
    subscription_id: int | None = Field(default=None, foreign_key="push_subscription.id", index=True)
    email: str = Field(default="", max_length=254)
    payload: dict[str, Any] = JSONField(dict)
    created_at: datetime = TimeField(default_now=True)
    available_at: datetime = TimeField(default_now=True)
    attempts: int = 0
    sent_at: datetime | None = TimeField(nullable=True)
    dead: bool = False
    last_error: str = Field(default="", max_length=500)
    locked_until: datetime | None = TimeField(nullable=True)
