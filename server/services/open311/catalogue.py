"""The published catalogue: Open311's view of services (lookups from services/catalogue.py), the jurisdiction,
and the data version every cached answer checks."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Dialect, Engine, case, func
from sqlmodel import Session, select

from ...city import City
from ...domain.errors import NotFound
from ...models import Photo, Service, ServiceRequest
from ..catalogue import list_services


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
    """The published list: active public services, by group, as the wire format shapes them."""
    return [
        {
            "code": s.code,
            "name": s.name,
            "description": s.description,
            "attributes": s.attributes,
            "keywords": s.keywords,
            "group": s.group,
        }
        for s in list_services(session, public_only=True, active_only=True, by_group=True)
    ]


def check_jurisdiction(city: City, jurisdiction_id: str | None) -> None:
    """Absent or empty means this city; the city's own id is accepted; any other is unknown (404)."""
    if jurisdiction_id and jurisdiction_id.strip() and jurisdiction_id.strip() != city.jurisdiction_id:
        raise NotFound(f"Unknown jurisdiction: {jurisdiction_id.strip()}", field="jurisdiction_id")
