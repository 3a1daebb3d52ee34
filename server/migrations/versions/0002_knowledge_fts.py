"""knowledge base full-text search (hand-written, dialect-specific)

SQLite: an FTS5 table over knowledge_article (title, body, keywords), external content, kept in sync by
triggers, filled once from the existing rows. PostgreSQL: a GIN index on a weighted tsvector expression
(the same expression server/services/knowledge.py queries with).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Keep in step with server/services/knowledge.py (PG_VECTOR).
PG_VECTOR = (
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(keywords, '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'D')"
)

SQLITE_UP = [
    "CREATE VIRTUAL TABLE knowledge_fts USING fts5("
    "title, body, keywords, content='knowledge_article', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER knowledge_fts_ai AFTER INSERT ON knowledge_article BEGIN "
    "INSERT INTO knowledge_fts(rowid, title, body, keywords) VALUES (new.id, new.title, new.body, new.keywords); END",
    "CREATE TRIGGER knowledge_fts_ad AFTER DELETE ON knowledge_article BEGIN "
    "INSERT INTO knowledge_fts(knowledge_fts, rowid, title, body, keywords) "
    "VALUES ('delete', old.id, old.title, old.body, old.keywords); END",
    "CREATE TRIGGER knowledge_fts_au AFTER UPDATE ON knowledge_article BEGIN "
    "INSERT INTO knowledge_fts(knowledge_fts, rowid, title, body, keywords) "
    "VALUES ('delete', old.id, old.title, old.body, old.keywords); "
    "INSERT INTO knowledge_fts(rowid, title, body, keywords) VALUES (new.id, new.title, new.body, new.keywords); END",
    "INSERT INTO knowledge_fts(knowledge_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS knowledge_fts_au",
    "DROP TRIGGER IF EXISTS knowledge_fts_ad",
    "DROP TRIGGER IF EXISTS knowledge_fts_ai",
    "DROP TABLE IF EXISTS knowledge_fts",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for sql in SQLITE_UP:
            op.execute(sql)
    elif dialect == "postgresql":
        op.execute(f"CREATE INDEX ix_knowledge_article_tsv ON knowledge_article USING GIN (({PG_VECTOR}))")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for sql in SQLITE_DOWN:
            op.execute(sql)
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_knowledge_article_tsv")
