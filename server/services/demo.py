"""The demo city's people and history, and the bulk generator for load tests."""

from __future__ import annotations

import json
import random
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert
from sqlmodel import Session, select

from ..city import City
from ..domain.ids import format_public_id
from ..domain.sla import expected_at
from ..models import (
    Activity,
    Address,
    Call,
    Crew,
    Department,
    Outbox,
    Role,
    Service,
    ServiceRequest,
    User,
    utcnow,
)
from .accounts import create_user
from .addresses import import_addresses
from .catalogue import import_city

DEMO_STAFF = [
    ("admin", "admin@civic311.example", "Alex Admin", None),
    ("dispatcher", "dispatcher@civic311.example", "Dana Dispatcher", None),
    ("operator", "operator@civic311.example", "Olivia Operator", None),
    ("crew", "crew@civic311.example", "Carlos Crew", 0),
    ("crew", "crew2@civic311.example", "Casey Crew", 1),
]

FIRST = ["Maria", "John", "Ana", "Luis", "Sarah", "Mike", "Jose", "Linda", "Kevin", "Rosa", "Tom", "Carmen"]
LAST = [
    "Smith",
    "Garcia",
    "Murphy",
    "Rodriguez",
    "Sullivan",
    "Lopez",
    "O'Brien",
    "Martinez",
    "Walsh",
    "Perez",
]
NOTES_PUBLIC = [
    "Crew scheduled for this week.",
    "Inspected; work order created.",
    "Repaired. Thank you for reporting.",
    "Referred to the responsible department.",
]
CHANNEL_MIX = [("phone", 42), ("app", 25), ("web", 18), ("open311", 8), ("walk_in", 4), ("email", 3)]


def _demo_passwords(var_dir: Path) -> dict[str, str]:
    """Random per install, kept under var/ so every run can print them (never in the repository). The file is
    a list of logins (see _write_logins); an older install's {e-mail: password} file is still read."""
    path = var_dir / "demo-logins.json"
    if path.exists():
        kept = json.loads(path.read_text())
        return kept if isinstance(kept, dict) else {d["email"]: d["password"] for d in kept}
    return {email: secrets.token_urlsafe(9) for _, email, _, _ in DEMO_STAFF}


def _write_logins(var_dir: Path, logins: list[dict[str, str | None]]) -> None:
    """Everything a newcomer needs to log in as each role: role, name, e-mail, password and crew."""
    path = var_dir / "demo-logins.json"
    text = json.dumps(logins, indent=2, ensure_ascii=False) + "\n"
    if path.exists() and path.read_text() == text:
        return
    var_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)


def seed_demo(
    *, session: Session, city: City, var_dir: Path, addresses_csv: Path | None
) -> list[dict[str, str | None]]:
    """Idempotent: a second run changes nothing and prints the same logins."""
    import_city(session=session, city=city)
    if addresses_csv and addresses_csv.exists():
        import_addresses(session=session, city=city, path=addresses_csv)
    crews = session.exec(select(Crew).order_by(Crew.id)).all()
    passwords = _demo_passwords(var_dir)
    logins: list[dict[str, str | None]] = []
    for role, email, name, crew_index in DEMO_STAFF:
        crew = crews[crew_index].name if crew_index is not None and crew_index < len(crews) else None
        user = session.exec(select(User).where(User.email == email)).first()
        if user is None:
            user = create_user(
                session=session, email=email, name=name, role=role, password=passwords[email], crew_name=crew
            )
        crew = next(
            (c.name for c in crews if c.id == user.crew_id), None
        )  # as it is now, if someone moved them
        logins.append(
            {"role": role, "name": user.name, "email": email, "password": passwords[email], "crew": crew}
        )
    _write_logins(var_dir, logins)
    if session.exec(select(func.count()).select_from(ServiceRequest)).one() == 0:
        _demo_history(session=session, city=city, count=300)
        # the history is in the past: nobody is to be told about it now
        session.exec(delete(Outbox))  # type: ignore[call-overload]
    if session.exec(select(func.count()).select_from(Call)).one() == 0:
        _demo_calls(session=session)
    session.flush()
    return logins


CALL_MIX = [
    ("information", 45),
    ("request_created", 30),
    ("transferred", 15),
    ("follower_added", 5),
    ("other", 5),
]
CALL_TOPICS = {
    "information": [
        "City Hall hours",
        "Trash pickup day",
        "Birth certificate",
        "RMV licence renewal",
        "Dog licence",
    ],
    "transferred": ["Property tax bill", "Building permit", "Water bill"],
    "other": ["Wrong number", "Caller hung up"],
}


def _demo_calls(*, session: Session) -> None:
    """A week of call-center history (some of it today), so the dashboard and call lists have figures."""
    rng = random.Random(3110)
    operator = session.exec(select(User).where(User.role == Role.operator)).first()
    departments = session.exec(select(Department)).all()
    phone_requests = session.exec(
        select(ServiceRequest)
        .where(ServiceRequest.channel == "phone")
        .order_by(ServiceRequest.id.desc())
        .limit(40)
    ).all()
    now = utcnow()
    for i in range(60):
        started = (
            now - timedelta(minutes=rng.randint(5, 600))
            if i < 14
            else now - timedelta(days=rng.randint(1, 7), minutes=rng.randint(0, 600))
        )
        outcome = _pick_weighted(rng, CALL_MIX)
        req = (
            rng.choice(phone_requests)
            if outcome in ("request_created", "follower_added") and phone_requests
            else None
        )
        dept = rng.choice(departments) if outcome == "transferred" and departments else None
        topic = req.address if req else rng.choice(CALL_TOPICS.get(outcome, ["Question"]))
        session.add(
            Call(
                operator_id=operator.id if operator else None,
                caller_phone=f"978-555-{rng.randint(100, 9999):04d}",
                started_at=started,
                ended_at=started + timedelta(seconds=rng.randint(40, 420)),
                outcome=outcome,  # type: ignore[arg-type]
                topic=topic[:200],
                department_id=dept.id if dept else None,
                request_id=req.id if req else None,
            )
        )


def _pick_weighted(rng: random.Random, items: list[tuple[str, int]]) -> str:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def _positions(session: Session, city: City) -> list[tuple[float, float, str]]:
    rows = session.exec(select(Address.lat, Address.long, Address.text)).all()
    if rows:
        return [(r[0], r[1], r[2]) for r in rows]
    b = city.bounds
    return [
        (b.south + (b.north - b.south) * i / 50, b.west + (b.east - b.west) * i / 50, "")
        for i in range(1, 50)
    ]


def _demo_history(*, session: Session, city: City, count: int) -> None:
    """A plausible 90 days, written through the same use cases as real traffic."""
    from .requests import Actor, NewRequest, assign_crew, change_status, create_request

    rng = random.Random(311)
    services = [s for s in session.exec(select(Service).where(Service.active)).all() if s.public]
    crews = session.exec(select(Crew)).all()
    staff = session.exec(select(User).where(User.role == Role.dispatcher)).first()
    actor = Actor.of(staff) if staff else Actor(label="Dispatcher")
    positions = _positions(session, city)
    now = utcnow()
    for _ in range(count):
        service = rng.choice(services)
        lat, long, addr = rng.choice(positions)
        created = now - timedelta(days=rng.random() ** 1.3 * 90, minutes=rng.randint(0, 600))
        answers = _answers(rng, service.attributes)
        anonymous = rng.random() < 0.3
        req = create_request(
            session=session,
            city=city,
            new=NewRequest(
                service_code=service.code,
                description=f"{service.name} near {addr or 'here'}.",
                lat=lat + rng.uniform(-0.0004, 0.0004),
                long=long + rng.uniform(-0.0004, 0.0004),
                address=addr,
                attributes=answers,
                channel=_pick_weighted(rng, CHANNEL_MIX),
                reporter_name="" if anonymous else f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                reporter_email="" if anonymous else f"resident{rng.randint(1, 9999)}@example.com",
                created_at=created,
            ),
        )
        age_days = (now - created).days
        dept_crews = [c for c in crews if c.department_id == service.department_id] or crews
        if rng.random() < 0.8 and dept_crews:
            assign_crew(session=session, req=req, crew_id=rng.choice(dept_crews).id, actor=actor)
        p_closed = min(0.9, 0.15 + age_days / 40)
        roll = rng.random()
        if roll < p_closed:
            change_status(
                session=session,
                req=req,
                to="closed",
                actor=actor,
                note=rng.choice(NOTES_PUBLIC),
                close_reason=rng.choice(["fixed"] * 8 + ["could_not_find", "referred"]),
            )
            req.closed_at = min(
                now, created + timedelta(hours=rng.expovariate(1 / max(service.sla_hours or 72, 1)))
            )
        elif roll < p_closed + 0.25:
            change_status(session=session, req=req, to="in_progress", actor=actor, note="Work has started.")


def _answers(rng: random.Random, attrs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in attrs:
        if not a.get("required") and rng.random() < 0.5:
            continue
        kind = a["datatype"]
        if kind == "singlevaluelist":
            out[a["code"]] = rng.choice(a["values"])["key"]
        elif kind == "multivaluelist":
            out[a["code"]] = [rng.choice(a["values"])["key"]]
        elif kind == "number":
            out[a["code"]] = rng.randint(1, 3)
        elif kind == "datetime":
            out[a["code"]] = "1990-05-17"
        else:
            out[a["code"]] = "See description"
    return out


def generate(*, session: Session, city: City, count: int, batch: int = 10_000, seed: int = 1) -> int:
    """Bulk-insert `count` plausible requests (and their 'created' timeline entries) for load tests."""
    rng = random.Random(seed)
    services = session.exec(select(Service.id, Service.sla_hours, Service.public)).all()
    if not services:
        raise RuntimeError("Load a city first (seed-demo or import-city).")
    crews = list(session.exec(select(Crew.id)).all())
    positions = _positions(session, city)
    start = (session.exec(select(func.max(ServiceRequest.id))).one() or 0) + 1
    now = utcnow()
    channels = [c for c, _ in CHANNEL_MIX]
    weights = [w for _, w in CHANNEL_MIX]
    conn = session.connection()
    done = 0
    while done < count:
        n = min(batch, count - done)
        reqs: list[dict[str, Any]] = []
        acts: list[dict[str, Any]] = []
        for i in range(n):
            rid = start + done + i
            sid, sla, _public = rng.choice(services)
            lat, long, addr = rng.choice(positions)
            created = now - timedelta(seconds=rng.random() * 365 * 86400)
            closed = rng.random() < 0.85 and (now - created).days > 2
            closed_at = (
                min(now, created + timedelta(hours=rng.expovariate(1 / max(sla or 72, 1))))
                if closed
                else None
            )
            reqs.append(
                {
                    "id": rid,
                    "public_id": format_public_id(city.public_id_prefix, created, rid),
                    "service_id": sid,
                    "status": "closed" if closed else rng.choice(["open", "open", "in_progress"]),
                    "close_reason": "fixed" if closed else None,
                    "description": "Generated request",
                    "lat": lat + rng.uniform(-0.002, 0.002),
                    "long": long + rng.uniform(-0.002, 0.002),
                    "address": addr,
                    "zipcode": "",
                    "attributes": {},
                    "channel": rng.choices(channels, weights)[0],
                    "reporter_name": "",
                    "reporter_email": "",
                    "reporter_phone": "",
                    "created_at": created,
                    "updated_at": closed_at or created,
                    "closed_at": closed_at,
                    "expected_at": expected_at(created, sla),
                    "priority": rng.choice([1, 2, 2, 2, 3]),
                    "crew_id": rng.choice(crews) if crews and rng.random() < 0.7 else None,
                    "duplicate_of_id": None,
                    "version": 1,
                    "private_token": secrets.token_urlsafe(18),
                    "idempotency_key": None,
                    "api_key_id": None,
                    "device_id": "",
                    "account_id": "",
                    "needs_review": False,
                }
            )
            acts.append(
                {
                    "request_id": rid,
                    "created_at": created,
                    "actor_label": "Generator",
                    "kind": "created",
                    "public": True,
                    "note": "",
                    "data": {"channel": "generated"},
                    "actor_id": None,
                    "client_event_id": None,
                    "client_time": None,
                }
            )
        conn.execute(insert(ServiceRequest), reqs)
        conn.execute(insert(Activity), acts)
        done += n
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('service_request', 'id'), (SELECT max(id) FROM service_request))"
        )
    return done
