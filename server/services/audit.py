"""The audit log: one append-only row per recorded action, written in the caller's transaction.

`record()` adds the row to the session that makes the change, so the change and its record commit or roll back
together. Details never hold secrets (passwords, hashes, keys, tokens): `record` drops such keys even if a caller
passes them. Nothing here updates or deletes a row; the model and a database trigger refuse it too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlmodel import Session, col, select

from ..domain.errors import Invalid
from ..i18n import N_
from ..models import AuditEvent, User

# action -> its label (translated where shown). A new kind of event is one line here.
ACTIONS: dict[str, str] = {
    "login": N_("Logged in"),
    "login_failed": N_("Failed log-in"),
    "login_locked": N_("Log-ins locked"),
    "logout": N_("Logged out"),
    "password_changed": N_("Password changed"),
    "user_created": N_("Staff user added"),
    "role_changed": N_("Role changed"),
    "crew_changed": N_("Crew changed"),
    "user_activated": N_("User activated"),
    "user_deactivated": N_("User deactivated"),
    "api_key_created": N_("API key created"),
    "api_key_revoked": N_("API key revoked"),
    "department_saved": N_("Department saved"),
    "service_saved": N_("Service saved"),
    "crew_saved": N_("Crew saved"),
    "article_saved": N_("Knowledge article saved"),
}
# the words shown for what a row is about and for the keys of its details
TARGETS: dict[str, str] = {
    "user": N_("Staff user"),
    "account": N_("Account"),
    "address": N_("Address"),
    "department": N_("Department"),
    "service": N_("Service"),
    "crew": N_("Crew"),
    "knowledge_article": N_("Knowledge article"),
    "api_key": N_("API key"),
}
DETAILS: dict[str, str] = {
    "email": N_("E-mail"),
    "role": N_("Role"),
    "before": N_("Before"),
    "after": N_("After"),
    "created": N_("New"),
    "changed": N_("Changed fields"),
    "code": N_("Code"),
    "name": N_("Name"),
    "slug": N_("Slug"),
    "prefix": N_("Key starts with"),
    "seconds": N_("Seconds"),
    "by_self": N_("By the user"),
}
SECRET_WORDS = ("password", "hash", "secret", "token", "csrf", "api_key", "key_value")
PER_PAGE = 50
MAX_PAGE = 10_000
FIRST_YEAR, LAST_YEAR = (
    2000,
    2999,
)  # outside: a typo or an attack, and datetime arithmetic near its ends fails
ID_RE = re.compile(r"^[0-9]{1,9}$")


@dataclass(frozen=True)
class AuditActor:
    """Who acted and from where: a staff user (or None: not signed in, or the command line) and an address."""

    user_id: int | None = None
    address: str = ""


COMMAND_LINE = AuditActor(None, "command line")


def record(
    session: Session,
    *,
    actor: AuditActor,
    action: str,
    target_type: str = "",
    target_id: object = "",
    **details: Any,
) -> AuditEvent:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to ACTIONS")  # a programming error
    event = AuditEvent(
        actor_id=actor.user_id,
        actor_address=actor.address[:64],
        action=action,
        target_type=target_type[:40],
        target_id=str(target_id if target_id is not None else "")[:64],
        details=_without_secrets(details),
    )
    session.add(event)
    return event


def _without_secrets(details: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if not any(w in k.lower() for w in SECRET_WORDS)}


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any], *ignore: str) -> list[str]:
    """The names of the fields an edit changed (values are left out: article bodies are long, names suffice)."""
    return sorted(k for k in after if k not in ignore and before.get(k) != after.get(k))


# ---------------------------------------------------------------- reading it (/admin/audit)


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page asks for. Parsed strictly: a value that is not one of ours is a 400, never a 500."""

    action: str = ""
    actor: str = ""  # "" anyone, "none" nobody signed in, or a user id
    start: date | None = None
    end: date | None = None
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> AuditFilter:
        action = params.get("action", "")
        if action and action not in ACTIONS:
            raise Invalid("Unknown action.", field="action", code="bad_filter")
        actor = params.get("actor", "")
        if actor and actor != "none" and not ID_RE.match(actor):
            raise Invalid("Choose who acted from the list.", field="actor", code="bad_filter")
        start, end = _date(params.get("from", ""), "from"), _date(params.get("to", ""), "to")
        if start and end and start > end:
            raise Invalid("The start date is after the end date.", field="from", code="bad_filter")
        page = params.get("page", "") or "1"
        if not ID_RE.match(page) or not 1 <= int(page) <= MAX_PAGE:
            raise Invalid("There is no such page.", field="page", code="bad_filter")
        return cls(action=action, actor=actor, start=start, end=end, page=int(page))

    def query_args(self, **changes: Any) -> dict[str, str]:
        """The filter as query-string pairs (for the pager), defaults left out."""
        f = replace(self, **changes)
        out = {
            "action": f.action,
            "actor": f.actor,
            "from": f.start.isoformat() if f.start else "",
            "to": f.end.isoformat() if f.end else "",
            "page": str(f.page) if f.page > 1 else "",
        }
        return {k: v for k, v in out.items() if v}


def _date(value: str, fld: str) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None or not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise Invalid("Write dates as YYYY-MM-DD.", field=fld, code="bad_filter")
    return day


@dataclass
class AuditPage:
    rows: list[tuple[AuditEvent, User | None]]
    filter: AuditFilter
    has_next: bool


def events(session: Session, f: AuditFilter, tz: tzinfo, per_page: int = PER_PAGE) -> AuditPage:
    """Newest first; dates are the city's calendar days (both ends included)."""
    q = select(AuditEvent, User).join(User, col(AuditEvent.actor_id) == col(User.id), isouter=True)
    if f.action:
        q = q.where(AuditEvent.action == f.action)
    if f.actor == "none":
        q = q.where(col(AuditEvent.actor_id).is_(None))
    elif f.actor:
        q = q.where(AuditEvent.actor_id == int(f.actor))
    if f.start:
        q = q.where(AuditEvent.at >= datetime.combine(f.start, time(), tz))
    if f.end:
        q = q.where(AuditEvent.at < datetime.combine(f.end + timedelta(days=1), time(), tz))
    q = q.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
    rows = list(session.exec(q.offset((f.page - 1) * per_page).limit(per_page + 1)).all())
    return AuditPage(rows=[(e, u) for e, u in rows[:per_page]], filter=f, has_next=len(rows) > per_page)


def actors(session: Session) -> list[User]:
    """Everyone who may appear as an actor, for the filter's list."""
    return list(session.exec(select(User).order_by(col(User.name))).all())
