"""Field sync is total: whatever a logged-in crew member's phone (or anyone holding its cookie) sends, through
the real HTTP app and database. Properties checked on every generated batch or upload:

- never a 5xx: a batch is answered 200, one result per event, in order;
- every well-formed event on one of the crew's jobs is stored exactly once (its Activity row, with its UUID);
- every other event is refused with a parser's reason (never "rejected": nothing reaches the database to be
  refused there), and nothing of it is stored;
- the same batch again applies nothing new: what was stored answers `duplicate`, what was refused is refused.
"""

from __future__ import annotations

import io
import json
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from server.inputs import forbidden_character
from server.models import Activity, Crew, Photo, ServiceRequest
from server.services.field_sync import KINDS, RESOLUTIONS, UNABLE_REASONS, UUID_RE
from server.services.requests import Actor, assign_crew, change_status
from tests.factories import login, make_request, make_user

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the work tree; a failure prints its example
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
PARSER_REASONS = {
    "malformed",
    "bad_id",
    "bad_kind",
    "bad_job",
    "bad_user",
    "bad_time",
    "bad_note",
    "bad_text",
    "bad_resolution",
    "bad_reason",
    "empty_note",
}
RULE_REASONS = {"not_assigned", "not_found", "wrong_user", "photo_needs_upload"}
STORED = ("applied", "conflict-recorded")
# the targets of an event: the crew's jobs (assigned, taken away, closed by a dispatcher) and another crew's
MINE = ("mine0", "mine1", "mine2", "reassigned", "closed")


@dataclass
class Field:
    client: Any
    token: str
    db: Engine
    user_id: int
    jobs: dict[str, int]
    stored: set[str] = field(
        default_factory=set
    )  # every event id the server said it stored, over all examples


@pytest.fixture
def crew(session, city, client, db) -> Field:  # type: ignore[no-untyped-def]
    c1, c2 = list(session.exec(select(Crew).order_by(Crew.id)))[:2]
    user = make_user(session, "crew", email="crew1@test.example", crew=c1.name, name="Ana Crew")
    disp = Actor.of(make_user(session, "dispatcher", email="disp@test.example"))
    jobs: dict[str, ServiceRequest] = {}
    for name in (*MINE, "other"):
        req = make_request(session, city)
        assign_crew(session=session, req=req, crew_id=(c2 if name == "other" else c1).id, actor=disp)
        jobs[name] = req
    assign_crew(session=session, req=jobs["reassigned"], crew_id=c2.id, actor=disp)
    change_status(session=session, req=jobs["closed"], to="closed", close_reason="cancelled", actor=disp)
    session.commit()
    ids = {name: r.id for name, r in jobs.items()}
    user_id = user.id
    session.close()  # SQLite has one writer: the test's own session must not hold a transaction
    assert login(client, "crew1@test.example").status_code == 303
    token = client.get("/field/api/session").json()["csrf"]
    return Field(client, token, db, user_id, ids)  # type: ignore[arg-type]


# -- what can be sent ---------------------------------------------------------------------------------------

UNSTORABLE = st.sampled_from(["\x00", "\ud800", "\udfff", "\uffff", "\ufffe", "\x1b", "\ufdd0", "\U0010ffff"])
storable_text = st.text(
    st.characters(codec="utf-8").filter(lambda c: forbidden_character(c) is None), max_size=40
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and infinities too: Python's JSON carries them
    st.text(max_size=20),
    st.builds(lambda a, b, c: a + b + c, st.text(max_size=5), UNSTORABLE, st.text(max_size=5)),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
not_uuid = st.one_of(
    st.text(max_size=40).filter(lambda s: not UUID_RE.fullmatch(s)),
    st.builds(lambda u, junk: str(u) + junk, st.uuids(), st.sampled_from(["\n", "\x00", "x", " ", "\ud800"])),
    st.builds(lambda u: str(u).replace("-", ""), st.uuids()),
    json_values.filter(lambda v: not isinstance(v, str)),
)
bad_ids = st.one_of(  # a job or user id that no database row can have
    st.sampled_from([2**63, 2**63 + 1, 2**64, 10**30, -(2**63) - 1, -1, 0]),
    st.integers(min_value=2**63),
    st.integers(max_value=0),
    st.floats(),
    st.booleans(),
    st.none(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_OUT_OF_RANGE = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1898, 12, 31)),
    st.datetimes(min_value=datetime(2202, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
)
bad_times = st.one_of(
    st.sampled_from(
        [
            "9999-12-31T23:59:59-05:00",
            "0001-01-01",
            "0001-01-01T00:00:00+05:00",
            "+10000-01-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-13-01",
            "yesterday",
            "",
            "2026-01-01T00:00:00\x00Z",
            "2026-01-01T00:00:00x",
            "2026-01-01" + "0" * 80,
        ]
    ),
    st.builds(
        lambda d, tz: d.isoformat() + tz,
        _OUT_OF_RANGE,
        st.sampled_from(["", "Z", "+14:00", "-12:00", "+05:30"]),
    ),
    st.integers(),
    st.floats(),
    st.none(),
    st.lists(st.text(max_size=3), max_size=2),
)
unstorable_text = st.builds(lambda a, b, c: a + b + c, storable_text, UNSTORABLE, storable_text)
bad_notes = st.one_of(
    unstorable_text,
    st.builds(lambda a, b: a + b, UNSTORABLE, storable_text),
    unstorable_text,
    st.integers(min_value=4001, max_value=4100).map(lambda n: "x" * n),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)
good_times = st.one_of(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
        lambda d: d.isoformat()
    ),
    st.sampled_from(["2026-01-31T12:00:00Z", "2026-01-31T12:00", "2026-01-31", "2026-01-31T07:00:00-05:00"]),
)


@st.composite
def well_formed(draw: st.DrawFn) -> dict[str, Any]:
    """An event the server must take: the fields a phone sends, and junk only where it means nothing."""
    kind = draw(st.sampled_from([k for k in KINDS if k != "photo"]))
    spec: dict[str, Any] = {
        "kind": kind,
        "target": draw(st.sampled_from(MINE)),
        "client_time": draw(good_times),
        "note": draw(storable_text.map(lambda t: "n" + t) if kind == "note" else st.none() | storable_text),
        "public": draw(json_values),  # anything but true means internal
        "resolution": draw(st.sampled_from(RESOLUTIONS) if kind == "complete" else json_values),
        "reason": draw(st.sampled_from(UNABLE_REASONS) if kind == "unable" else json_values),
    }
    if draw(st.booleans()):
        spec["extra"] = draw(json_values)  # unknown fields are ignored: a newer phone may send more
    return spec


@st.composite
def malformed(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed event with one or more fields broken so that it must be refused."""
    spec = draw(well_formed())
    breakable = ["id", "job", "kind", "user_id", "client_time", "note"]
    if spec["kind"] == "complete":
        breakable.append("resolution")
    if spec["kind"] == "unable":
        breakable.append("reason")
    broken = [draw(st.sampled_from(breakable))]  # mostly one field, so that each check is reached
    if draw(st.integers(0, 3)) == 0:
        broken = list(dict.fromkeys([*broken, draw(st.sampled_from(breakable))]))
    values = {
        "id": not_uuid,
        "job": bad_ids,
        "kind": json_values.filter(lambda v: v not in KINDS),
        "user_id": bad_ids,
        "client_time": bad_times,
        "note": bad_notes,
        "resolution": json_values.filter(lambda v: v not in RESOLUTIONS),
        "reason": json_values.filter(lambda v: v not in UNABLE_REASONS),
    }
    spec["broken"] = {name: draw(values[name]) for name in broken}
    # and perhaps one more left out altogether (a note may be left out, but for a note)
    missable = [n for n in breakable if n not in broken and (n != "note" or spec["kind"] == "note")]
    spec["missing"] = draw(st.lists(st.sampled_from(missable), max_size=1)) if missable else []
    return spec


item = st.one_of(
    well_formed().map(lambda s: ("good", s)),
    malformed().map(lambda s: ("bad", s)),
    well_formed().map(lambda s: ("good", s)),
    malformed().map(lambda s: ("bad", s)),
    json_values.map(lambda v: ("junk", v)),
    st.integers(min_value=0, max_value=20).map(lambda i: ("copy", i)),
    well_formed().map(lambda s: ("other_job", s)),
    well_formed().map(lambda s: ("photo", s)),
)
batches = st.lists(item, min_size=1, max_size=10)


# -- turning a drawn spec into the event and what the server must answer ----------------------------------


def build(f: Field, kind: str, spec: Any, earlier: list[tuple[Any, str]]) -> tuple[Any, str]:
    """(event, expected): expected is "stored", "refused", or "copy:<expected of the original>"."""
    if kind == "junk":
        return spec, "refused"
    if kind == "copy":
        if not earlier:
            return {}, "refused"
        event, expect = earlier[spec % len(earlier)]
        return event, "copy:" + expect.removeprefix("copy:")
    target = "other" if kind == "other_job" else spec["target"]
    event = {
        "id": str(uuid.uuid4()).upper() if spec["kind"] == "start" else str(uuid.uuid4()),
        "job": f.jobs[target],
        "kind": "photo" if kind == "photo" else spec["kind"],
        "user_id": f.user_id,
        "client_time": spec["client_time"],
        "note": spec["note"],
        "public": spec["public"],
        "resolution": spec["resolution"],
        "reason": spec["reason"],
    }
    if "extra" in spec:
        event["x_" + "extra"] = spec["extra"]
    if kind == "bad":
        event.update(spec["broken"])
        for name in spec["missing"]:
            event.pop(name, None)
        return event, "refused"
    return event, "stored" if kind == "good" else "refused"


def post_batch(f: Field, events: list[Any]) -> list[dict[str, Any]]:
    # as a browser sends it: lone surrogates escaped (\ud800), and NaN as Python writes it
    body = json.dumps({"events": events, "cursor": None}, ensure_ascii=True, allow_nan=True)
    r = f.client.post(
        "/field/api/sync",
        content=body,
        headers={"X-CSRF-Token": f.token, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text[:500]
    results = r.json()["results"]
    assert len(results) == len(events)
    return results


def event_counts(db: Engine) -> tuple[dict[str, int], int, list[int]]:
    """Activity rows per client event id, all Activity rows, and every request's version."""
    with Session(db) as s:
        per_id = dict(
            s.exec(
                select(Activity.client_event_id, func.count())
                .where(Activity.client_event_id.is_not(None))  # type: ignore[union-attr]
                .group_by(Activity.client_event_id)
            ).all()
        )
        total = s.exec(select(func.count()).select_from(Activity)).one()
        versions = list(s.exec(select(ServiceRequest.version).order_by(ServiceRequest.id)).all())
    return per_id, total, versions  # type: ignore[return-value]


def event_id(event: Any) -> str | None:
    if isinstance(event, dict) and isinstance(event.get("id"), str) and UUID_RE.fullmatch(event["id"]):
        return event["id"].lower()
    return None


@given(drawn=batches)
@SETTINGS
def test_any_batch_is_answered_event_by_event(crew: Field, drawn: list[tuple[str, Any]]) -> None:
    built: list[tuple[Any, str]] = []
    for kind, spec in drawn:
        built.append(build(crew, kind, spec, built))
    events = [e for e, _ in built]
    _before, total_before, _ = event_counts(crew.db)

    results = post_batch(crew, events)
    stored_now = [r["id"] for r in results if r["status"] in STORED]
    crew.stored |= set(stored_now)  # first, so that one failed example does not fail the next ones

    for (event, expect), res in zip(built, results, strict=True):
        eid = event_id(event)
        if eid is not None:
            assert res["id"] == eid  # the phone finds its event's answer by its id
        if expect == "stored":
            assert res["status"] in STORED, (event, res)
        elif expect == "copy:stored":
            assert res["status"] == "duplicate", (event, res)
        else:
            assert res["status"] == "refused", (event, res)
            assert res["reason"] in PARSER_REASONS | RULE_REASONS, (event, res)
    per_id, total, versions = event_counts(crew.db)
    assert set(per_id) == crew.stored and set(per_id.values()) <= {1}  # each stored once, nothing else stored
    assert total == total_before + len(stored_now)

    # the phone did not hear the answer and sends the same batch again: nothing new
    again = post_batch(crew, events)
    for (event, _expect), first, res in zip(built, results, again, strict=True):
        if first["status"] in STORED or first["status"] == "duplicate":
            assert res["status"] == "duplicate", (event, res)
        else:
            assert res == first
    assert event_counts(crew.db) == (per_id, total, versions)


# -- after-photos -------------------------------------------------------------------------------------------


def jpeg(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (shade, 40, 40)).save(buf, "JPEG")
    return buf.getvalue()


def breaks_a_photo(spec: dict[str, Any]) -> bool:
    """A photo's id and kind come from the URL, it has no resolution or reason, and its note may be left out."""
    broken = set(spec["broken"]) | (set(spec["missing"]) - {"note"})
    return bool(broken - {"id", "kind", "resolution", "reason"})


photo_ids = st.one_of(
    st.just("fresh"),
    st.just("FRESH"),
    st.just("fresh"),
    st.text(string.ascii_letters + string.digits + "-_~", min_size=3, max_size=40).filter(
        lambda s: not UUID_RE.fullmatch(s)
    ),
)
photo_events = st.one_of(
    well_formed().map(lambda s: ("good", s)),
    well_formed().map(lambda s: ("good", s)),
    well_formed().map(lambda s: ("other_job", s)),
    malformed().filter(breaks_a_photo).map(lambda s: ("bad", s)),
    json_values.map(lambda v: ("junk_json", v)),
    st.text(max_size=60).map(lambda t: ("text", t)),
)
photo_bytes = st.one_of(
    st.integers(min_value=0, max_value=255).map(lambda n: ("image", jpeg(n))),
    st.integers(min_value=0, max_value=255).map(lambda n: ("image", jpeg(n))),
    st.just(("empty", b"")),
    st.binary(max_size=64).filter(lambda b: not b.startswith(b"\xff\xd8")).map(lambda b: ("junk", b)),
    st.integers(min_value=0, max_value=255).map(lambda n: ("truncated", jpeg(n)[: len(jpeg(n)) // 2])),
)


@given(path_id=photo_ids, drawn=photo_events, photo=photo_bytes)
@SETTINGS
def test_any_photo_upload_is_answered(
    crew: Field, path_id: str, drawn: tuple[str, Any], photo: tuple[str, bytes]
) -> None:
    kind, spec = drawn
    eid = str(uuid.uuid4())
    url_id = eid.upper() if path_id == "FRESH" else eid if path_id == "fresh" else path_id
    if kind in ("good", "other_job", "bad"):
        meta, expect = build(crew, kind, spec, [])
        meta.pop("id", None)
        meta.pop("kind", None)  # the URL names the event; the form field says the rest
        text = json.dumps(meta, ensure_ascii=True, allow_nan=True)
    elif kind == "junk_json":
        text, expect = json.dumps(spec, ensure_ascii=True, allow_nan=True), "refused"
    else:
        text, expect = spec, "refused"
    valid = expect == "stored" and url_id.lower() == eid and photo[0] == "image"

    def upload() -> dict[str, Any]:
        r = crew.client.post(
            f"/field/api/photos/{url_id}",
            data={"event": text},
            files={"photo": ("p.jpg", photo[1], "image/jpeg")},
            headers={"X-CSRF-Token": crew.token},
        )
        assert r.status_code == 200, r.text[:500]
        return r.json()["result"]

    first = upload()
    if first["status"] == "applied":
        crew.stored.add(first["id"])
    if valid:
        assert first == {"id": eid, "status": "applied", "job": first["job"]}
    else:
        assert first["status"] == "refused", (text[:200], photo[0], first)
        assert first["reason"] in PARSER_REASONS | RULE_REASONS or first["reason"].startswith("photo_"), first
    again = upload()
    assert again["status"] == ("duplicate" if valid else "refused")
    with Session(crew.db) as s:
        photos = s.exec(select(func.count()).where(Photo.idempotency_key == url_id.lower())).one()
        entries = s.exec(select(func.count()).where(Activity.client_event_id == url_id.lower())).one()
        keys = set(s.exec(select(Photo.idempotency_key)).all())
    assert photos == entries == (1 if valid else 0)
    assert keys <= crew.stored
