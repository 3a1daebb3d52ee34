"""A real database per test run (SQLite file, or PostgreSQL when DATABASE_URL names one), emptied per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel

from server.city import City, load_city
from server.config import ROOT, Settings
from server.db import make_engine
from server.migrations import upgrade
from tests.databases import create_pg_database, drop_pg_database

CITY_FILE = ROOT / "server" / "cities" / "haverhill.toml"
TEST_SECRET = "test-secret-key-not-for-production-0123456789"


def make_settings(var_dir: Path, database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        var_dir=var_dir,
        city_file=CITY_FILE,
        tile_url="http://127.0.0.1:9/tiles/{z}/{x}/{y}.png",  # unreachable on purpose: pages must work without tiles
        base_url="http://testserver",
    )


@pytest.fixture(scope="session")
def worker_id_str(request: pytest.FixtureRequest) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, worker_id_str: str) -> Iterator[Settings]:
    var_dir = tmp_path_factory.mktemp("var")
    pg = create_pg_database(worker_id_str)
    s = make_settings(var_dir, pg or f"sqlite:///{var_dir / 'test.db'}")
    upgrade(s)
    yield s
    if pg:
        drop_pg_database(pg)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def city(settings: Settings) -> City:
    return load_city(settings.city_file)


def empty_database(engine: Engine) -> None:
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
            )
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))
            conn.execute(text("DELETE FROM sqlite_sequence")) if conn.execute(
                text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")
            ).first() else None


@pytest.fixture
def db(engine: Engine, city: City) -> Iterator[Engine]:
    """An empty database holding the demo city's catalogue (departments, services, crews, articles)."""
    from server.db import session_scope
    from server.services.catalogue import import_city

    empty_database(engine)
    with session_scope(engine) as s:
        import_city(session=s, city=city)
    yield engine


@pytest.fixture
def session(db: Engine) -> Iterator[Session]:
    with Session(db, expire_on_commit=False) as s:
        yield s


@pytest.fixture(scope="session")
def app(settings: Settings):  # type: ignore[no-untyped-def]
    from server.main import create_app

    application = create_app(settings)
    yield application
    application.state.engine.dispose()
    application.state.lookup_engine.dispose()


@pytest.fixture
def client(app, db):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as c:
        yield c
