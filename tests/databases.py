"""Throwaway PostgreSQL databases next to the one DATABASE_URL names: for tests and benchmarks alike."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url

from server.config import Settings
from server.db import make_engine


def pg_admin_url() -> str | None:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres", "postgresql")):
        return None
    url = make_url(base.replace("postgres://", "postgresql://", 1)).set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def create_pg_database(suffix: str) -> str | None:
    """A fresh database beside the one DATABASE_URL names, unique to this test process."""
    base = pg_admin_url()
    if base is None:
        return None
    url = make_url(base)
    name = f"{url.database or 'test'}_c311_{os.getpid()}_{re.sub(r'[^a-z0-9]', '', suffix)}"
    admin = make_engine(Settings(database_url=base))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    base = pg_admin_url()
    assert base is not None
    admin = make_engine(Settings(database_url=base))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def scratch_postgres(suffix: str) -> Iterator[str | None]:
    """A fresh database for the block, dropped after; None when DATABASE_URL names no PostgreSQL."""
    url = create_pg_database(suffix)
    try:
        yield url
    finally:
        if url:
            drop_pg_database(url)
