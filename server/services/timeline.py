"""A request's timeline: who acted (Actor) and the one function that records a change (it bumps the version).

Below requests and followers, which both write timeline entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from ..domain.errors import Conflict
from ..models import Activity, ServiceRequest, User, utcnow


@dataclass
class Actor:
    """Who did it: a staff user, or a label for residents, API clients and devices."""

    user: User | None = None
    label: str = ""

    @property
    def name(self) -> str:
        return self.user.name if self.user else self.label

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(user=user, label=user.name)


RESIDENT = Actor(label="Resident")


def check_version(req: ServiceRequest, expected_version: int | None) -> None:
    if expected_version is not None and req.version != expected_version:
        raise Conflict("This request changed since you opened it. Reload to see the changes.", code="stale")


def record(
    *,
    session: Session,
    req: ServiceRequest,
    actor: Actor,
    kind: str,
    note: str = "",
    public: bool = False,
    data: dict[str, Any] | None = None,
    when: datetime | None = None,
    client_event_id: str | None = None,
    client_time: datetime | None = None,
) -> Activity:
    """Every change goes through here: it bumps the version and writes the timeline."""
    now = when or utcnow()
    req.version += 1
    req.updated_at = now
    act = Activity(
        request_id=req.id,  # type: ignore[arg-type]
        created_at=now,
        actor_id=actor.user.id if actor.user else None,
        actor_label=actor.name,
        kind=kind,
        public=public,
        note=note.strip()[:4000],
        data=data or {},
        client_event_id=client_event_id,
        client_time=client_time,
    )
    session.add(req)
    session.add(act)
    session.flush()
    return act
