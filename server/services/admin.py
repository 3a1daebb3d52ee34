"""Administration: departments, services and their questions, crews, staff, knowledge articles, API keys.

Every change is recorded in the audit log (services/audit.py) in the same transaction; `actor` says who made it
(the command line and tests may leave it out).
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlmodel import Session, func, select

from ..domain.attributes import DATATYPES
from ..domain.errors import Conflict, Invalid, NotFound
from ..inputs import parse_int
from ..models import (
    ApiKey,
    Crew,
    Department,
    KnowledgeArticle,
    Role,
    Service,
    ServiceRequest,
    Status,
    User,
    utcnow,
)
from .accounts import create_user, end_sessions, set_password
from .apikeys import create_api_key, revoke_api_key
from .audit import COMMAND_LINE, AuditActor, changed_fields, record
from .catalogue import attribute_record, service_by_code

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _code(value: str, what: str = "code") -> str:
    value = value.strip().lower()
    if not CODE_RE.match(value):
        raise Invalid(
            "A code is lower-case letters, digits, '-' or '_' (at most 64).", field=what, code="bad_code"
        )
    return value


def _required(value: str, fld: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise Invalid("This field is required.", field=fld, code="required")
    return value[:limit]


def _check_department(session: Session, department_id: int | None) -> None:
    # a form can name any id: a missing one is the user's mistake, not a foreign key error from the database
    if department_id and session.get(Department, department_id) is None:
        raise Invalid("No such department.", field="department")


def _get(session: Session, model: Any, oid: int | None) -> Any:
    row = session.get(model, oid) if oid else None
    if oid and row is None:
        raise NotFound("Not found.")
    return row


# ---------------------------------------------------------------- departments


def save_department(
    session: Session, *, dept_id: int | None = None, actor: AuditActor = COMMAND_LINE, **values: str
) -> Department:
    dept = _get(session, Department, dept_id) or Department(code="", name="")
    before = dept.model_dump()
    code = _code(values.get("code", ""))
    clash = session.exec(select(Department).where(Department.code == code, Department.id != dept.id)).first()
    if clash:
        raise Conflict("Another department has this code.", field="code")
    dept.code = code
    dept.name = _required(values.get("name", ""), "name", 200)
    for key, limit in (
        ("phone", 40),
        ("extension", 20),
        ("email", 200),
        ("hours", 200),
        ("description", 500),
    ):
        setattr(dept, key, values.get(key, "").strip()[:limit])
    session.add(dept)
    session.flush()
    _record_save(session, actor, "department_saved", dept, before, code=dept.code)
    return dept


def _record_save(
    session: Session, actor: AuditActor, action: str, row: Any, before: dict[str, Any], **ident: Any
) -> None:
    """An admin edit: which row, whether it is new, and which fields changed (names only)."""
    created = before.get("id") is None
    changed = [] if created else changed_fields(before, row.model_dump(), "updated_at")
    record(
        session,
        actor=actor,
        action=action,
        target_type=type(row).__tablename__,
        target_id=row.id,
        created=created,
        changed=changed,
        **ident,
    )


# ---------------------------------------------------------------- services


def parse_questions(text: str) -> list[dict[str, Any]]:
    """The service's questions as Open311 attributes, from the admin's JSON text, checked."""
    text = text.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise Invalid(
            f"The questions are not valid JSON: {e.msg} (line {e.lineno}).", field="attributes"
        ) from None
    if not isinstance(data, list):
        raise Invalid("The questions must be a JSON list.", field="attributes")
    seen: set[str] = set()
    out = []
    for i, q in enumerate(data, 1):
        if not isinstance(q, dict) or not q.get("code") or not q.get("description"):
            raise Invalid("Question %(n)s needs a code and a description.", field="attributes", n=i)
        code = str(q["code"]).strip()
        if code in seen:
            raise Invalid("Two questions have the code %(name)s.", field="attributes", name=code)
        seen.add(code)
        datatype = q.get("datatype", "string")
        if datatype not in DATATYPES:
            raise Invalid(
                "Question %(n)s: datatype must be one of %(types)s.",
                field="attributes",
                n=i,
                types=", ".join(DATATYPES),
            )
        values = q.get("values") or []
        if "order" in q:  # a whole number, as the wire format writes it (server/inputs.py)
            q = {**q, "order": parse_int(q["order"], "order", 0, 10_000)}
        if not isinstance(values, list):
            raise Invalid("Question %(n)s: each value needs a key and a name.", field="attributes", n=i)
        if datatype.endswith("valuelist") and not values:
            raise Invalid("Question %(n)s: a list question needs values.", field="attributes", n=i)
        if not all(isinstance(v, dict) and "key" in v and "name" in v for v in values):
            raise Invalid("Question %(n)s: each value needs a key and a name.", field="attributes", n=i)
        out.append(attribute_record(q, i))
    return out


def save_service(
    session: Session,
    *,
    service_id: int | None = None,
    code: str,
    name: str,
    group: str = "",
    description: str = "",
    keywords: str = "",
    department_id: int | None = None,
    sla_hours: str | int | None = None,
    attributes: str = "",
    active: bool = True,
    public: bool = True,
    actor: AuditActor = COMMAND_LINE,
) -> Service:
    svc = _get(session, Service, service_id) or Service(code="", name="")
    before = svc.model_dump()
    code = _code(code)
    same_code = service_by_code(session, code, active_only=False, required=False)
    if same_code is not None and same_code.id != svc.id:
        raise Conflict("Another service has this code.", field="code")
    _check_department(session, department_id)
    sla: int | None = None
    if sla_hours not in (None, ""):
        try:
            sla = int(sla_hours)  # type: ignore[arg-type]
        except ValueError:
            raise Invalid("The target is a whole number of hours.", field="sla_hours") from None
        if not 1 <= sla <= 24 * 365:
            raise Invalid("The target is between 1 hour and a year.", field="sla_hours")
    svc.code, svc.name = code, _required(name, "name", 200)
    svc.group, svc.description, svc.keywords = (
        group.strip()[:100],
        description.strip()[:2000],
        keywords.strip()[:2000],
    )
    svc.department_id, svc.sla_hours = department_id or None, sla
    svc.attributes = parse_questions(attributes)
    svc.active, svc.public = active, public
    session.add(svc)
    session.flush()
    _record_save(session, actor, "service_saved", svc, before, code=svc.code)
    return svc


# ---------------------------------------------------------------- crews and staff


def save_crew(
    session: Session,
    *,
    crew_id: int | None = None,
    name: str,
    department_id: int | None,
    active: bool = True,
    actor: AuditActor = COMMAND_LINE,
) -> Crew:
    crew = _get(session, Crew, crew_id) or Crew(name="")
    before = crew.model_dump()
    name = _required(name, "name", 200)
    _check_department(session, department_id)
    if session.exec(select(Crew).where(Crew.name == name, Crew.id != crew.id)).first():
        raise Conflict("Another crew has this name.", field="name")
    crew.name, crew.department_id, crew.active = name, department_id or None, active
    session.add(crew)
    session.flush()
    _record_save(session, actor, "crew_saved", crew, before, name=crew.name)
    return crew


def add_user(
    session: Session,
    *,
    email: str,
    name: str,
    role: str,
    password: str,
    crew_id: int | None = None,
    actor: AuditActor = COMMAND_LINE,
) -> User:
    crew = _get(session, Crew, crew_id)
    if role == Role.crew and crew is None:
        raise Invalid("A crew member belongs to a crew: choose one.", field="crew")
    return create_user_audited(
        session,
        actor=actor,
        email=email,
        name=name,
        role=role,
        password=password,
        crew_name=crew.name if crew else None,
    )


def create_user_audited(session: Session, *, actor: AuditActor, **fields: Any) -> User:
    """`accounts.create_user` and its audit entry, for the admin page and the command line alike."""
    user = create_user(session=session, **fields)
    record(
        session,
        actor=actor,
        action="user_created",
        target_type="user",
        target_id=user.id,
        email=user.email,
        role=user.role.value,
    )
    return user


def update_user(
    session: Session,
    *,
    user_id: int,
    role: str,
    crew_id: int | None,
    active: bool,
    by: User,
    actor: AuditActor | None = None,
) -> User:
    """Role, crew and access. A new role or deactivation ends the user's sessions everywhere."""
    actor = actor or AuditActor(by.id)
    user = _get(session, User, user_id)
    if role not in Role.__members__:
        raise Invalid("Unknown role.", field="role")
    if user.id == by.id and (role != Role.admin or not active):
        raise Invalid("You cannot remove your own administrator access.", field="role")
    crew = _get(session, Crew, crew_id)
    if role == Role.crew and crew is None:
        raise Invalid("A crew member belongs to a crew: choose one.", field="crew")
    if user.role == Role.admin and (role != Role.admin or not active):
        admins = session.exec(
            select(func.count()).select_from(User).where(User.role == Role.admin, User.active)
        ).one()
        if admins <= 1:
            raise Invalid("Keep at least one active administrator.", field="role")
    new_crew = crew.id if crew else None
    events: list[tuple[str, dict[str, Any]]] = []
    if user.role != role:
        events.append(("role_changed", {"before": user.role.value, "after": role}))
    if user.crew_id != new_crew:
        events.append(("crew_changed", {"before": user.crew_id, "after": new_crew}))
    if user.active != active:
        events.append(("user_activated" if active else "user_deactivated", {}))
    if user.role != role or (user.active and not active):
        end_sessions(user)
    user.role, user.crew_id, user.active = Role(role), new_crew, active
    session.add(user)
    for action, details in events:
        record(session, actor=actor, action=action, target_type="user", target_id=user.id, **details)
    session.flush()
    return user


def reset_password(session: Session, *, user_id: int, password: str, actor: AuditActor) -> User:
    """An administrator sets a user's password (they forgot it): the user's sessions end."""
    user = _get(session, User, user_id)
    set_password(session=session, user=user, password=password, actor=actor)
    return user


# ---------------------------------------------------------------- Open311 API keys


def new_api_key(session: Session, *, name: str, actor: AuditActor) -> tuple[ApiKey, str]:
    row, key = create_api_key(session=session, name=name)
    # the key itself is a secret: the log keeps its name and the prefix the keys page shows anyway
    record(
        session,
        actor=actor,
        action="api_key_created",
        target_type="api_key",
        target_id=row.id,
        name=row.name,
        prefix=row.prefix,
    )
    session.flush()  # the keys page lists the new row, in the same unit of work
    return row, key


def revoke_key(session: Session, *, key_id: int, actor: AuditActor) -> ApiKey:
    was_live = (row := session.get(ApiKey, key_id)) is not None and row.revoked_at is None
    row = revoke_api_key(session=session, key_id=key_id)
    if was_live:
        record(
            session,
            actor=actor,
            action="api_key_revoked",
            target_type="api_key",
            target_id=row.id,
            name=row.name,
        )
    return row


# ---------------------------------------------------------------- knowledge


def save_article(
    session: Session,
    *,
    article_id: int | None = None,
    slug: str,
    title: str,
    body: str,
    keywords: str = "",
    department_id: int | None = None,
    language: str = "en",
    actor: AuditActor = COMMAND_LINE,
) -> KnowledgeArticle:
    art = _get(session, KnowledgeArticle, article_id) or KnowledgeArticle(slug="", title="", body="")
    before = art.model_dump()
    slug = _code(slug, "slug")
    _check_department(session, department_id)
    if session.exec(
        select(KnowledgeArticle).where(KnowledgeArticle.slug == slug, KnowledgeArticle.id != art.id)
    ).first():
        raise Conflict("Another article has this slug.", field="slug")
    art.slug, art.title = slug, _required(title, "title", 200)
    art.body = _required(body, "body", 10000)
    art.keywords, art.department_id = keywords.strip()[:1000], department_id or None
    art.language = language if language in ("en", "es") else "en"
    art.updated_at = utcnow()
    session.add(art)
    session.flush()
    _record_save(session, actor, "article_saved", art, before, slug=art.slug)
    return art


# ---------------------------------------------------------------- what the pages list


def overview(session: Session) -> dict[str, int]:
    """The counts on the administration home page."""

    def count(model: type, *where: Any) -> int:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()

    return {
        "departments": count(Department),
        "services": count(Service),
        "crews": count(Crew),
        "users": count(User),
        "articles": count(KnowledgeArticle),
        "keys": count(ApiKey, ApiKey.revoked_at.is_(None)),  # type: ignore[union-attr]
        "open": count(ServiceRequest, ServiceRequest.status != Status.closed),
    }


def crews(session: Session) -> list[Crew]:
    return list(session.exec(select(Crew).order_by(Crew.name)).all())


def crew_members(session: Session) -> list[User]:
    return list(session.exec(select(User).where(User.crew_id.is_not(None)).order_by(User.name)).all())  # type: ignore[union-attr]


def users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(User.active.desc(), User.name)).all())  # type: ignore[attr-defined]


def articles(session: Session) -> list[KnowledgeArticle]:
    return list(session.exec(select(KnowledgeArticle).order_by(KnowledgeArticle.title)).all())


def api_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(ApiKey.created_at.desc())).all())  # type: ignore[attr-defined]


def find(session: Session, model: Any, oid: int | None) -> Any:
    """The row being edited, or None for a new one."""
    return session.get(model, oid) if oid else None
