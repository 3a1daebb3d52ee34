"""The domain model: every table, importable from one place."""

from ..domain.lifecycle import Channel, CloseReason, Role, Status  # the lifecycle's words, stored as they are
from .audit import AuditEvent
from .base import UTCDateTime, utcnow
from .calls import Call, CallOutcome, KnowledgeArticle
from .city import Address, Crew, Department, Service
from .integration import ApiKey, Outbox, PushSubscription, RateCounter
from .notify import OverdueNotice
from .requests import Activity, Follower, Photo, ServiceRequest
from .staff import User

__all__ = [
    "Activity",
    "Address",
    "ApiKey",
    "AuditEvent",
    "Call",
    "CallOutcome",
    "Channel",
    "CloseReason",
    "Crew",
    "Department",
    "Follower",
    "KnowledgeArticle",
    "Outbox",
    "OverdueNotice",
    "Photo",
    "PushSubscription",
    "RateCounter",
    "Role",
    "Service",
    "ServiceRequest",
    "Status",
    "UTCDateTime",
    "User",
    "utcnow",
]
