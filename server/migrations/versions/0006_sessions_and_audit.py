"""user.session_version, last_login_at, failed_logins; the audit_event table (append-only)

Sessions carry the user's session_version: moving it ends the user's sessions on every web process. The
audit log refuses UPDATE in the database itself (a trigger on both dialects); the application never edits it.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import server.models.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGER = (
    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
)
PG_TRIGGER = [
    "CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit_event is append-only'; END $$",
    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
    "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
]


def upgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("last_login_at", server.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", server.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("target_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("target_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event") as batch:
        batch.create_index(batch.f("ix_audit_event_at"), ["at"], unique=False)
        batch.create_index(batch.f("ix_audit_event_actor_id"), ["actor_id"], unique=False)
        batch.create_index("ix_audit_event_action_at", ["action", "at"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_TRIGGER:
            op.execute(statement)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_index("ix_audit_event_action_at")
        batch.drop_index(batch.f("ix_audit_event_actor_id"))
        batch.drop_index(batch.f("ix_audit_event_at"))
    op.drop_table("audit_event")
    with op.batch_alter_table("user") as batch:
        batch.drop_column("failed_logins")
        batch.drop_column("last_login_at")
        batch.drop_column("session_version")
