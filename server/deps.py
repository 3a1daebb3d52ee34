"""FastAPI dependency aliases, so route signatures read like prose."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from .city import City
from .config import Settings
from .db import readonly


# async: FastAPI runs plain `def` dependencies in the thread pool, a needless hop for an attribute read
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_city(request: Request) -> City:
    return request.app.state.city


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per HTTP request: committed when the route returns, rolled back on any error."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_read_session(request: Request) -> Iterator[Session]:
    """Read-only pages and APIs: never commits, and on SQLite does not wait for writers."""
    with Session(readonly(request.app.state.engine)) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
CityDep = Annotated[City, Depends(get_city)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
