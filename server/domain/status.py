"""Which status changes are allowed."""

from __future__ import annotations

from .errors import Invalid, InvalidTransition

STATUSES = ("open", "in_progress", "closed")
CLOSE_REASONS = ("fixed", "duplicate", "could_not_find", "referred", "no_action", "cancelled")

_ALLOWED = {
    "open": {"in_progress", "closed"},
    "in_progress": {"open", "closed"},
    "closed": {"open"},  # reopen
}


def check_transition(current: str, to: str, close_reason: str | None) -> None:
    if to not in STATUSES:
        raise Invalid("Unknown status: %(status)s", field="status", status=to)
    if to == current:
        raise InvalidTransition("The request already has this status.", field="status")
    if to not in _ALLOWED[current]:
        raise InvalidTransition(
            "A request cannot go from %(current)s to %(to)s.", field="status", current=current, to=to
        )
    if to == "closed" and close_reason not in CLOSE_REASONS:
        raise Invalid("Choose why the request is closed.", field="close_reason")
