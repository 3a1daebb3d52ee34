"""The published catalogue: services, the jurisdiction, and the data version every cached answer checks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Dialect, Engine, case, func
from sqlmodel import Session, select

from ...city import City
from ...domain.errors import NotFound
from ...models import Department, Photo, Service, ServiceRequest


@dataclass(frozen=True)
class ServiceInfo:
    id: int
    code: str
    name: str
    public: bool
    agency: str | None


def catalogue(session: Session) -> dict[int, ServiceInfo]:
    """Every service with its department name (a few dozen rows: one small query)."""
    rows = session.exec(
        select(Service.id, Service.code, Service.name, Service.public, Department.name).outerjoin(
            Department, Department.id == Service.department_id
        )
    ).all()
    return {r[0]: ServiceInfo(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows}


@cache
def _data_version_sql(dialect: Dialect) -> str:
    visible = func.sum(case((Service.public, Service.id), else_=0))
    statement = select(
        select(func.max(ServiceRequest.updated_at)).scalar_subquery(),
        select(func.max(Photo.id)).scalar_subquery(),
        select(visible).scalar_subquery(),
        select(func.count(Service.id)).scalar_subquery(),
    )
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def data_version(engine: Engine) -> tuple[Any, ...]:
    """Changes whenever a published answer could: any request change (every change bumps updated_at through
    the timeline), a new photo, a service made public or private. Renames of services are caught by the
    cache's time limit.

    It runs on every cached Open311 answer, so it is one statement, compiled once, on a bare DB-API
    connection: no BEGIN/ROLLBACK around it (a lone SELECT reads one snapshot on both databases), and none
    of the ORM's per-call work, which cost ten times the query itself."""
    sql = _data_version_sql(engine.dialect)
    for attempt in (1, 2):
        conn = engine.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute(sql)
            row = cursor.fetchone()
            cursor.close()
            return tuple(row)
        except engine.dialect.loaded_dbapi.OperationalError:
            # a connection dropped while idle in the pool (the lookup engine does not pre-ping): once more
            conn.invalidate()
            if attempt == 2:
                raise
        finally:
            conn.close()
    raise AssertionError("unreachable")


def public_services(session: Session) -> list[dict[str, Any]]:
    services = session.exec(
        select(Service).where(Service.active, Service.public).order_by(Service.group, Service.name)
    ).all()
    return [
        {
            "code": s.code,
            "name": s.name,
            "description": s.description,
            "attributes": s.attributes,
            "keywords": s.keywords,
            "group": s.group,
        }
        for s in services
    ]


def public_service(session: Session, code: str) -> Service:
    service = session.exec(select(Service).where(Service.code == code)).first()
    if service is None or not service.active or not service.public:
        raise NotFound(f"Unknown service: {code}", field="service_code", code="service_not_found")
    return service


def check_jurisdiction(city: City, jurisdiction_id: str | None) -> None:
    """Absent or empty means this city; the city's own id is accepted; any other is unknown (404)."""
    if jurisdiction_id and jurisdiction_id.strip() and jurisdiction_id.strip() != city.jurisdiction_id:
        raise NotFound(f"Unknown jurisdiction: {jurisdiction_id.strip()}", field="jurisdiction_id")
