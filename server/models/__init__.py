"""The domain model: every table, importable from one place."""

from .audit import AuditEvent
from .base import UTCDateTime, utcnow
from .calls import Call, CallOutcome, KnowledgeArticle
from .city import Address, Crew, Department, Service
from .integration import ApiKey, Outbox, PushSubscription, RateCounter
from .notify import OverdueNotice
from .requests import Activity, Channel, CloseReason, Follower, Photo, ServiceRequest, Status
from .staff import Role, User

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
