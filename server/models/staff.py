"""Staff accounts. Residents need no account."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from ..domain.lifecycle import Role
from .base import TimeField


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=254)
    name: str = Field(max_length=200)
    role: Role = Field(max_length=20)
    password_hash: str = Field(max_length=300)
    active: bool = True
    crew_id: int | None = Field(default=None, foreign_key="crew.id", index=True)
    language: str = Field(default="en", max_length=8)
    overdue_alerts: bool = False
    created_at: datetime = TimeField(default_now=True)
    # Sessions carry the version they were made with; moving it (log out, new password, new role, deactivation)
    # ends every session of this user on every web process at their next request.
    session_version: int = 0
    last_login_at: datetime | None = TimeField(nullable=True)
    failed_logins: int = 0  # wrong passwords since the last successful log-in (shown to administrators)
