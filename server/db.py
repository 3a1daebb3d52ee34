"""Engine from settings; sessions; the two databases' small differences live here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event
from sqlmodel import Session, create_engine

from .config import Settings


def make_engine(settings: Settings) -> Engine:
    url = settings.db_url
    if url.startswith("sqlite"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA mmap_size=268435456")  # read pages straight from the OS cache
            cur.close()
            # pysqlite's own BEGIN handling defers locks; take the write lock up front instead
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
            # writers queue on the lock (busy_timeout) instead of failing on a stale snapshot
            readonly = conn.get_execution_options().get("readonly", False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work outside a request (CLI, worker): commit on success, roll back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def make_lookup_engine(settings: Settings, main: Engine) -> Engine:
    """For tiny index lookups on hot paths (the Open311 cache's data version). On PostgreSQL: autocommit and no
    pre-ping, one round trip instead of four (ping, BEGIN, query, ROLLBACK); callers retry once on a dropped
    connection. On SQLite the main pool, read-only."""
    if settings.is_sqlite:
        return readonly(main)
    return create_engine(
        settings.db_url, isolation_level="AUTOCOMMIT", pool_size=5, max_overflow=5, pool_recycle=600
    )


def readonly(engine: Engine) -> Engine:
    """The same pool, for read-only work: on SQLite it does not queue behind writers."""
    return engine.execution_options(readonly=True)
