"""follower.language: followers get e-mail in the language they followed in

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("follower") as batch:
        batch.add_column(
            sa.Column(
                "language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False, server_default="en"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("follower") as batch:
        batch.drop_column("language")
