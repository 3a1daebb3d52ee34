"""The audit log: who did what to which thing, and from where. Append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, event
from sqlmodel import Field, SQLModel

from .base import JSONField, TimeField


class AuditEvent(SQLModel, table=True):
    """One recorded action, written in the same transaction as the change it records. Details hold no secrets."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_action_at", "action", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = TimeField(default_now=True, index=True)
    actor_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    actor_address: str = Field(default="", max_length=64)
    action: str = Field(max_length=40)
    target_type: str = Field(default="", max_length=40)
    target_id: str = Field(default="", max_length=64)
    details: dict[str, Any] = JSONField(dict)


class AppendOnly(Exception):
    """Raised when code tries to change or delete a recorded event."""


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_changes(mapper: Any, connection: Any, target: AuditEvent) -> None:
    # nothing in the application edits the log; this keeps a future bug from doing it through the ORM
    raise AppendOnly(f"audit event {target.id} is append-only")
