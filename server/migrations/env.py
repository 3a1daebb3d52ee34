from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from server import models  # noqa: F401  (registers the tables)
from server.db import make_engine

config = context.config
settings = config.attributes["settings"]
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = make_engine(settings)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # several web processes start at once: one migrates, the others wait, then find nothing to do
            connection.exec_driver_sql("SELECT pg_advisory_lock(311311)")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
