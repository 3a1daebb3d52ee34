"""The request lifecycle alone (server/domain/lifecycle.py): no database, no HTTP."""

from __future__ import annotations

import itertools
from enum import StrEnum

import pytest

from server import i18n
from server.domain.errors import DomainError, Invalid, InvalidTransition
from server.domain.lifecycle import (
    CONFLICT_WORDS,
    ENTRY_WORDS,
    HAND_CLOSE_REASONS,
    MERGE_ONLY,
    OPEN311_QUERY,
    PRIORITIES,
    PRIORITY_CHOICES,
    PRIORITY_WORDS,
    TRANSITIONS,
    WORDS,
    Channel,
    CloseReason,
    FieldKind,
    FieldResult,
    Role,
    Status,
    UnableReason,
    check_close_reason,
    check_priority,
    check_transition,
    field_event_effect,
    notice_sentence,
    notice_title,
    open311_status,
    open311_update_status,
    words,
)

RELATIONS = ("assigned", "was_assigned")

# -- transitions ------------------------------------------------------------------------------------------


def test_the_transition_table() -> None:
    allowed = {(a.value, b.value) for a, tos in TRANSITIONS.items() for b in tos}
    assert allowed == {
        ("open", "in_progress"),
        ("open", "closed"),
        ("in_progress", "open"),
        ("in_progress", "closed"),
        ("closed", "open"),  # reopen; a closed request never goes straight to work
    }


@pytest.mark.parametrize(("current", "to"), list(itertools.product(Status, Status)))
def test_check_transition_follows_the_table(current: Status, to: Status) -> None:
    reason = "fixed" if to == Status.closed else None
    if to in TRANSITIONS[current]:
        check_transition(current.value, to.value, reason)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current.value, to.value, reason)


@pytest.mark.parametrize("to", ["", "bogus", "Closed", "deleted"])
def test_unknown_status_is_refused(to: str) -> None:
    with pytest.raises(Invalid) as e:
        check_transition("open", to, "fixed")
    assert e.value.field == "status"


# -- close reasons ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "vanished", "FIXED"])
def test_a_close_needs_a_known_reason(reason: str | None) -> None:
    with pytest.raises(Invalid) as e:
        check_transition("open", "closed", reason)
    assert e.value.field == "close_reason"


@pytest.mark.parametrize("reason", list(CloseReason))
def test_every_close_reason_closes_when_the_rules_are_asked(reason: CloseReason) -> None:
    check_transition("in_progress", "closed", reason.value)  # a merge closes with "duplicate" through here


def test_a_duplicate_is_closed_only_by_merging() -> None:
    assert {CloseReason.duplicate} == MERGE_ONLY
    with pytest.raises(Invalid) as e:
        check_close_reason("duplicate")
    assert e.value.field == "close_reason"
    for reason in HAND_CLOSE_REASONS:
        check_close_reason(reason.value)
    check_close_reason(None)
    assert set(HAND_CLOSE_REASONS) | MERGE_ONLY == set(CloseReason)


# -- priorities -------------------------------------------------------------------------------------------


def test_priority_range() -> None:
    for p in PRIORITIES:
        check_priority(p)
    for bad in (0, 4, -1, 99):
        with pytest.raises(Invalid):
            check_priority(bad)
    assert list(PRIORITY_WORDS) == list(PRIORITY_CHOICES) == list(PRIORITIES)


def test_the_model_takes_its_range_from_the_domain() -> None:
    from server.models import ServiceRequest

    meta = ServiceRequest.model_fields["priority"].metadata
    bounds = {type(m).__name__: m for m in meta}
    assert bounds["Ge"].ge == min(PRIORITIES) and bounds["Le"].le == max(PRIORITIES)


# -- field events -----------------------------------------------------------------------------------------


def test_field_effects_on_a_job_still_the_crews() -> None:
    e = field_event_effect("start", "open", "assigned")
    assert (e.action, e.to) == ("status", Status.in_progress)
    e = field_event_effect("start", "in_progress", "assigned")
    assert (e.action, e.entry) == ("record", "field_start")
    e = field_event_effect("complete", "in_progress", "assigned", "fixed")
    assert (e.action, e.to, e.close_reason, e.flag) == ("status", Status.closed, CloseReason.fixed, False)
    e = field_event_effect("unable", "in_progress", "assigned")
    assert (e.action, e.to, e.flag, e.public) == ("status", Status.open, True, False)
    e = field_event_effect("unable", "open", "assigned")
    assert (e.action, e.entry, e.flag) == ("record", "field_unable", True)


@pytest.mark.parametrize("kind", ["note", "photo"])
@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("relation", RELATIONS)
def test_notes_and_photos_are_always_kept(kind: str, status: Status, relation: str) -> None:
    assert field_event_effect(kind, status.value, relation).action == "note"  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["start", "complete", "unable"])
def test_work_on_a_job_taken_away_or_closed_is_kept_for_a_supervisor(kind: str) -> None:
    finishing = kind != "start"
    for status in Status:
        e = field_event_effect(kind, status.value, "was_assigned", "fixed")
        assert (e.action, e.why, e.flag) == ("conflict", "reassigned", finishing)
    e = field_event_effect(kind, "closed", "assigned", "fixed")
    assert (e.action, e.why, e.flag) == ("conflict", "closed", finishing)  # the field never reopens


@pytest.mark.parametrize(
    ("kind", "status", "relation", "result"),
    list(itertools.product(FieldKind, Status, RELATIONS, FieldResult)),
)
def test_the_field_never_closes_a_duplicate_nor_reopens(
    kind: FieldKind, status: Status, relation: str, result: FieldResult
) -> None:
    e = field_event_effect(kind.value, status.value, relation, result.value)  # type: ignore[arg-type]
    assert e.close_reason not in MERGE_ONLY
    if status == Status.closed:
        assert e.action in ("note", "conflict")
    if e.action == "status":
        assert e.to in TRANSITIONS[status]  # every change it asks for is one the table allows
        check_transition(status.value, e.to.value, e.close_reason.value if e.close_reason else None)


def test_a_crews_duplicate_goes_to_a_supervisor() -> None:
    e = field_event_effect("complete", "in_progress", "assigned", "duplicate")
    assert (e.action, e.why, e.flag) == ("conflict", "duplicate", True)


def test_every_conflict_has_words() -> None:
    whys = {
        field_event_effect(k.value, s.value, rel, r.value).why  # type: ignore[arg-type]
        for k, s, rel, r in itertools.product(FieldKind, Status, RELATIONS, FieldResult)
    }
    assert whys - {""} == set(CONFLICT_WORDS)


def test_field_results_are_close_reasons() -> None:
    assert {r.value for r in FieldResult} <= {r.value for r in CloseReason}


# -- Open311 ----------------------------------------------------------------------------------------------


def test_open311_mapping() -> None:
    assert {s for group in OPEN311_QUERY.values() for s in group} == set(Status)
    assert OPEN311_QUERY["open"] == (Status.open, Status.in_progress)
    assert [open311_status(s.value) for s in Status] == ["open", "open", "closed"]
    assert open311_status(Status.closed) == "closed"
    assert open311_update_status("closed", "no_action") == "no_further_action"
    assert open311_update_status("closed", "referred") == "closed"
    assert open311_update_status("closed", None) == "closed"
    assert open311_update_status("in_progress", None) == "in_progress"
    assert open311_update_status(None, None) == "open"


# -- the words --------------------------------------------------------------------------------------------

LABELLED: list[type[StrEnum]] = [Status, CloseReason, Channel, Role, UnableReason]
AUDIENCES = ("label", "field", "resident")


def every_msgid() -> set[str]:
    found = {w.said_to(a) for table in WORDS.values() for w in table.values() for a in AUDIENCES}
    found |= {w.notice for w in WORDS[Status].values()} | {w.notice for w in WORDS[CloseReason].values()}
    return (
        found
        | set(PRIORITY_WORDS.values())
        | set(PRIORITY_CHOICES.values())
        | set(ENTRY_WORDS.values())
        | set(CONFLICT_WORDS.values())
    )


@pytest.mark.parametrize("enum", LABELLED, ids=lambda e: e.__name__)
def test_every_value_has_words(enum: type[StrEnum]) -> None:
    assert set(WORDS[enum]) == set(enum)
    for audience in AUDIENCES:
        shown = words(enum, audience)
        assert list(shown) == [v.value for v in enum] and all(shown.values())


def test_field_results_and_notices_have_words() -> None:
    assert set(words(FieldResult, "field")) == {r.value for r in FieldResult}
    assert all(notice_title(s) for s in Status) and notice_title("bogus") == notice_title("open")
    assert all(notice_sentence(r) for r in CloseReason) and notice_sentence("bogus") is None


def test_every_word_is_english_and_spanish() -> None:
    en, es = i18n.catalog("en"), i18n.catalog("es")
    for msgid in every_msgid():
        assert en.gettext(msgid) == msgid
        assert es.gettext(msgid) != msgid or msgid in ("Normal", "Web", "Open311", "2 – normal"), msgid


def test_spanish_comes_from_the_lifecycle_catalogue() -> None:
    from babel.messages.pofile import read_po

    from server.config import ROOT

    with open(ROOT / "server/translations/es/LC_MESSAGES/lifecycle.po", "rb") as f:
        own = {m.id for m in read_po(f, locale="es") if m.id and m.string}
    assert every_msgid() <= own


def test_the_pages_field_app_and_notices_take_these_words() -> None:
    from server.pages.dispatch import labels
    from server.pages.field import strings

    i18n.set_language("es")
    try:
        shown, field = labels(), strings()
    finally:
        i18n.set_language("en")
    assert shown["closed"] == "Cerrada" and shown["walk_in"] == "En persona"
    for value in [*Status, *Channel, *CloseReason]:
        assert shown[value.value] == i18n.catalog("es").gettext(WORDS[type(value)][value].label)
    for r in [*FieldResult, *UnableReason]:
        assert r.value in field
    assert all(f"status_{s.value}" in field for s in Status) and all(f"p{p}" in field for p in PRIORITIES)


def test_models_store_the_domains_enums() -> None:
    from server import models

    assert models.Status is Status and models.CloseReason is CloseReason
    assert models.Channel is Channel and models.Role is Role


def test_errors_are_domain_errors() -> None:
    with pytest.raises(DomainError):
        check_close_reason("duplicate")


def test_the_phone_forecasts_with_the_same_rules() -> None:
    """field.js shows unsent work with this table (sent in the shell page), so it cannot disagree with the server."""
    from server.domain.lifecycle import field_forecast

    f = field_forecast()
    assert f["start"] == {"open": "in_progress"}
    assert f["unable"] == {"in_progress": "open"}
    assert f["complete:fixed"] == {"open": "closed", "in_progress": "closed"}
    assert f["complete:duplicate"] == {}  # stays as it is until a dispatcher merges it
    assert all(to != "open" for key, table in f.items() for st, to in table.items() if st == "closed")


def test_the_vocabulary_is_not_retyped_elsewhere() -> None:
    """Values only the lifecycle's enums hold appear nowhere else as literals: pages, templates and the field app
    take them from server/domain/lifecycle.py (invented demo data and migrations excepted)."""
    import re

    from server.config import ROOT

    distinctive = [*CloseReason, *UnableReason, Channel.walk_in, Status.in_progress]
    distinctive = [v for v in distinctive if v.value not in ("fixed", "duplicate", "other")]  # common words
    literal = re.compile("[\"'](" + "|".join(v.value for v in distinctive) + ")[\"']")
    allowed = {"server/domain/lifecycle.py", "server/services/demo.py"}
    found = []
    for base, pattern in (
        ("server", "*.py"),
        ("web/templates", "*.html"),
        ("field", "*.js"),
        ("field", "*.html"),
    ):
        for path in (ROOT / base).rglob(pattern):
            rel = path.relative_to(ROOT).as_posix()
            if rel in allowed or "/migrations/" in rel:
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if literal.search(line) and "outcome" not in line and "status IN" not in line:
                    found.append(f"{rel}:{n}: {line.strip()[:80]}")
    assert found == []
