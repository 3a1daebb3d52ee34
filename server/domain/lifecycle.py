"""A request's life: its words (statuses, close reasons, channels, roles, priorities, field results) and its rules.

One place for each: the models store these enums (same values as the database holds), services ask the rules
below, and every page, the field app, notifications and Open311 take their labels from WORDS. A new status or
close reason is added here first; tests/test_lifecycle.py then says what else must know about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from .errors import Invalid, InvalidTransition


def N_(message: str) -> str:
    """Mark for extraction (the i18n tests and pybabel read N_ calls); translated where shown."""
    return message


# -- the vocabulary ---------------------------------------------------------------------------------------


class Status(StrEnum):
    open = "open"
    in_progress = "in_progress"
    closed = "closed"


class CloseReason(StrEnum):
    fixed = "fixed"
    duplicate = "duplicate"
    could_not_find = "could_not_find"
    referred = "referred"
    no_action = "no_action"
    cancelled = "cancelled"


class Channel(StrEnum):
    app = "app"
    web = "web"
    phone = "phone"
    walk_in = "walk_in"
    open311 = "open311"
    email = "email"


class Role(StrEnum):
    admin = "admin"
    dispatcher = "dispatcher"
    operator = "operator"
    crew = "crew"


class FieldKind(StrEnum):
    """What a crew's phone may send."""

    start = "start"
    note = "note"
    complete = "complete"
    unable = "unable"
    photo = "photo"


class FieldResult(StrEnum):
    """A crew's "complete": the close reasons a crew may report (a duplicate is only reported, see below)."""

    fixed = "fixed"
    could_not_find = "could_not_find"
    referred = "referred"
    duplicate = "duplicate"


class UnableReason(StrEnum):
    """Why a crew could not do the job."""

    no_access = "no_access"
    needs_equipment = "needs_equipment"
    unsafe = "unsafe"
    other = "other"


ACTIVE = (Status.open, Status.in_progress)  # the dispatcher's default queue; overdue only applies to these
PRIORITIES = (1, 2, 3)  # 1 urgent, 2 normal, 3 low
PRIORITY_MIN, PRIORITY_MAX, DEFAULT_PRIORITY = PRIORITIES[0], PRIORITIES[-1], 2

# -- the rules --------------------------------------------------------------------------------------------

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.open: frozenset({Status.in_progress, Status.closed}),
    Status.in_progress: frozenset({Status.open, Status.closed}),
    Status.closed: frozenset({Status.open}),  # reopen
}
# A duplicate is closed by merging it, so that it points at its master and its followers and photos move.
MERGE_ONLY = frozenset({CloseReason.duplicate})
HAND_CLOSE_REASONS = tuple(r for r in CloseReason if r not in MERGE_ONLY)  # what a dispatcher may choose


def check_transition(current: str, to: str, close_reason: str | None) -> None:
    """Any change of status, whoever makes it (a merge included)."""
    if to not in Status.__members__:
        raise Invalid("Unknown status: %(status)s", field="status", status=to)
    if to == current:
        raise InvalidTransition("The request already has this status.", field="status")
    if Status(to) not in TRANSITIONS[Status(current)]:
        raise InvalidTransition(
            "A request cannot go from %(current)s to %(to)s.", field="status", current=current, to=to
        )
    if to == Status.closed and close_reason not in CloseReason.__members__:
        raise Invalid("Choose why the request is closed.", field="close_reason")


def check_close_reason(close_reason: str | None) -> None:
    """A close made by hand (a dispatcher, a bulk change): never with a reason that only a merge may give."""
    if close_reason in MERGE_ONLY:
        raise Invalid("Use “Merge duplicate” to close a duplicate.", field="close_reason")


def check_priority(priority: int) -> None:
    if priority not in PRIORITIES:
        raise Invalid("Priority must be 1 (urgent), 2 (normal) or 3 (low).", field="priority")


# -- what a crew's event does -----------------------------------------------------------------------------

Relation = Literal["assigned", "was_assigned"]  # the crew and the job; "never assigned" is refused before


@dataclass(frozen=True)
class FieldEffect:
    """What one field event does to its request. `services/field_sync.py` carries it out.

    action: "note" (a timeline note), "status" (change to `to`), "record" (a timeline entry of kind `entry`,
    the status unchanged) or "conflict" (an internal `field_conflict` entry saying `why`, not applied).
    """

    action: Literal["note", "status", "record", "conflict"]
    to: Status | None = None
    close_reason: CloseReason | None = None
    entry: str = ""
    why: str = ""
    flag: bool = False  # the request needs a supervisor's look (needs_review)
    public: bool = True  # of a status change: shown to residents and told to followers


def field_event_effect(kind: str, status: str, relation: Relation, result: str = "") -> FieldEffect:
    """The written conflict rules (README, services/field_sync.py) as one table: the field never reopens a job,
    work on a job taken away or closed meanwhile is kept for a supervisor, and a crew may say "duplicate" but
    not close as one: closing a duplicate is a merge, which only a dispatcher can make (it needs the master)."""
    finishing = kind in (FieldKind.complete, FieldKind.unable)
    if kind in (FieldKind.note, FieldKind.photo):
        return FieldEffect("note")
    if relation == "was_assigned":
        return FieldEffect("conflict", why="reassigned", flag=finishing)
    if status == Status.closed:
        return FieldEffect("conflict", why="closed", flag=finishing)
    if kind == FieldKind.start:
        if status == Status.open:
            return FieldEffect("status", to=Status.in_progress)
        return FieldEffect("record", entry="field_start")  # already started: the crew's entry is kept
    if kind == FieldKind.complete:
        if result in MERGE_ONLY:
            return FieldEffect("conflict", why="duplicate", flag=True)
        return FieldEffect("status", to=Status.closed, close_reason=CloseReason(result))
    if kind == FieldKind.unable:  # back to the dispatcher's queue, flagged
        if status == Status.in_progress:
            return FieldEffect("status", to=Status.open, flag=True, public=False)
        return FieldEffect("record", entry="field_unable", flag=True)
    raise ValueError(f"unknown field event kind: {kind}")


def field_forecast() -> dict[str, dict[str, str]]:
    """What the crew's phone shows before the server answers, from the same rules: {event: {status: new status}}
    for a job still the crew's. An event is "start", "unable" or "complete:<result>"; no entry: no change."""
    events = [(FieldKind.start, ""), (FieldKind.unable, "")] + [
        (FieldKind.complete, r.value) for r in FieldResult
    ]
    out: dict[str, dict[str, str]] = {}
    for kind, result in events:
        effects = {s: field_event_effect(kind, s, "assigned", result) for s in Status}
        key = f"{kind.value}:{result}" if result else kind.value
        out[key] = {s.value: e.to.value for s, e in effects.items() if e.action == "status" and e.to}
    return out


# -- Open311 ----------------------------------------------------------------------------------------------

# GeoReport v2 knows "open" and "closed"; a client asking for "open" means everything not closed.
OPEN311_QUERY = {"open": ACTIVE, "closed": (Status.closed,), "in_progress": (Status.in_progress,)}
# FixMyStreet-style updates name some closes; any other close is plain "closed"
OPEN311_UPDATE = {
    CloseReason.fixed: "fixed",
    CloseReason.duplicate: "duplicate",
    CloseReason.no_action: "no_further_action",
}


def open311_status(status: str | None) -> str:
    return "closed" if status == Status.closed else "open"


def open311_update_status(to: str | None, close_reason: str | None) -> str:
    """An update's status: a close says why where the format can, other changes say the new status."""
    if to == Status.closed:
        return OPEN311_UPDATE.get(close_reason or "", "closed")  # type: ignore[call-overload]
    return to or "open"


# -- the words: one table of label keys (gettext msgids), per audience where the wording differs ------------


@dataclass(frozen=True)
class Words:
    label: str  # staff pages (dispatch, operator, admin)
    field: str = ""  # the crew app, when it says it otherwise
    resident: str = ""  # resident pages, when they say it otherwise
    notice: str = ""  # a sentence for notifications (a close reason)

    def said_to(self, audience: str) -> str:
        return getattr(self, audience, "") or self.label


WORDS: dict[type[StrEnum], dict[str, Words]] = {
    Status: {
        Status.open: Words(N_("Open"), notice=N_("%(public_id)s is open again")),
        Status.in_progress: Words(N_("In progress"), notice=N_("%(public_id)s is in progress")),
        Status.closed: Words(N_("Closed"), field=N_("Done"), notice=N_("%(public_id)s is closed")),
    },
    CloseReason: {
        CloseReason.fixed: Words(N_("Fixed"), notice=N_("Fixed.")),
        CloseReason.duplicate: Words(
            N_("Duplicate"),
            resident=N_("Already reported"),
            notice=N_("Closed as a duplicate of another request."),
        ),
        CloseReason.could_not_find: Words(
            N_("Could not find"),
            resident=N_("Could not find the problem"),
            notice=N_("We could not find the problem."),
        ),
        CloseReason.referred: Words(
            N_("Referred"),
            field=N_("Referred to another department"),
            resident=N_("Referred to another agency"),
            notice=N_("Referred to another agency."),
        ),
        CloseReason.no_action: Words(N_("No action needed"), notice=N_("No action needed.")),
        CloseReason.cancelled: Words(N_("Cancelled"), notice=N_("Cancelled.")),
    },
    Channel: {
        Channel.app: Words(N_("App")),
        Channel.web: Words(N_("Web")),
        Channel.phone: Words(N_("Phone")),
        Channel.walk_in: Words(N_("Walk-in")),
        Channel.open311: Words(N_("Open311")),
        Channel.email: Words(N_("E-mail")),
    },
    Role: {
        Role.admin: Words(N_("Administrator")),
        Role.dispatcher: Words(N_("Dispatcher")),
        Role.operator: Words(N_("Operator")),
        Role.crew: Words(N_("Crew member")),
    },
    UnableReason: {
        UnableReason.no_access: Words(N_("No access")),
        UnableReason.needs_equipment: Words(N_("Needs other equipment")),
        UnableReason.unsafe: Words(N_("Unsafe")),
        UnableReason.other: Words(N_("Other")),
    },
}
PRIORITY_WORDS = {1: N_("Urgent"), 2: N_("Normal"), 3: N_("Low")}
PRIORITY_CHOICES = {1: N_("1 – urgent"), 2: N_("2 – normal"), 3: N_("3 – low")}  # the dispatcher's select
# timeline entries as the dispatcher's request page names them
ENTRY_WORDS = {
    "created": N_("Created"),
    "status": N_("Status"),
    "note": N_("Note"),
    "assign": N_("Assignment"),
    "priority": N_("Priority"),
    "merge": N_("Merge"),
    "follow": N_("New follower"),
    "photo": N_("Photo"),
    "media_url": N_("Media link from an app (not checked)"),
    "field_start": N_("Crew started"),
    "field_unable": N_("Crew could not complete"),
    "field_conflict": N_("Crew's work kept for review"),
}
# why a crew's event was kept for a supervisor instead of applied (FieldEffect.why)
CONFLICT_WORDS = {
    "reassigned": N_("the job had been given to another crew"),
    "closed": N_("the job was already closed"),
    "duplicate": N_("the crew reports a duplicate: merge it into the request to keep"),
}
# the enums templates name by kind: {{ said("status", req.status) }}
BY_KIND: dict[str, type[StrEnum]] = {
    "status": Status,
    "close_reason": CloseReason,
    "channel": Channel,
    "role": Role,
    "field_result": FieldResult,
    "unable": UnableReason,
}


def words(enum: type[StrEnum], audience: str = "label") -> dict[str, str]:
    """{value: msgid} of one enum as an audience reads it (a field result is a close reason's words)."""
    table = WORDS[CloseReason] if enum is FieldResult else WORDS[enum]
    return {str(v): table[v.value].said_to(audience) for v in enum}


def notice_sentence(close_reason: str | None) -> str | None:
    """The sentence a resident's notification gives for a close reason, or None for an unknown one."""
    w = WORDS[CloseReason].get(close_reason or "")
    return w.notice if w else None


def notice_title(status: str) -> str:
    """A status change's notification title (an unknown status reads as a reopen)."""
    w = WORDS[Status].get(status) or WORDS[Status][Status.open]
    return w.notice
