"""Migrations from empty to head, on the database this run uses, and the models match them."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from server import models  # noqa: F401
from server.db import make_engine
from server.migrations import downgrade, upgrade
from tests.conftest import make_settings
from tests.databases import create_pg_database, drop_pg_database


def test_empty_to_head_and_back(tmp_path: Path) -> None:
    pg = create_pg_database("migrations")
    settings = make_settings(tmp_path, pg or f"sqlite:///{tmp_path / 'm.db'}")
    try:
        upgrade(settings)
        engine = make_engine(settings)
        tables = set(inspect(engine).get_table_names())
        assert set(SQLModel.metadata.tables) <= tables
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        # the models and the migrations describe the same schema
        assert [d for d in diff if not _is_fts(d)] == []
        engine.dispose()
        downgrade(settings, "base")
        engine = make_engine(settings)
        assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set()
        engine.dispose()
    finally:
        if pg:
            drop_pg_database(pg)


def _is_fts(diff: object) -> bool:
    """Tables and indexes made by hand-written migrations (full-text search) are not in the models."""
    text = repr(diff)
    return "fts" in text.lower() or "tsv" in text.lower()
