"""The knowledge base operators answer information calls from: full-text search on both databases.

SQLite: the FTS5 table `knowledge_fts` (migration 0002) ranked by bm25 with the title and keywords
weighted above the body. PostgreSQL: the weighted tsvector expression that migration 0002 indexes with
GIN, ranked by ts_rank. Both use OR of the caller's words (stop words dropped), so a spoken question like
"what time does city hall close" still finds the article that holds most of its words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import Session, col, select

from ..models import Department, KnowledgeArticle

# Keep in step with server/migrations/versions/0002_knowledge_fts.py
PG_VECTOR = (
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(keywords, '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'D')"
)

STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "for",
        "from",
        "get",
        "got",
        "had",
        "has",
        "have",
        "how",
        "i",
        "i'm",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "me",
        "my",
        "need",
        "needs",
        "of",
        "on",
        "or",
        "our",
        "please",
        "should",
        "so",
        "some",
        "tell",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "up",
        "us",
        "want",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "hi",
        "hello",
        "yes",
        "no",
        "not",
    ]
)
WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TERMS = 12


@dataclass(frozen=True)
class Hit:
    article: KnowledgeArticle
    department: Department | None
    rank: float


def terms(query: str) -> list[str]:
    """The caller's words that carry meaning: lower case, no stop words, no duplicates, at most 12."""
    seen: list[str] = []
    for w in WORD.findall(query.lower()):
        if w not in STOP_WORDS and w not in seen and (len(w) > 1 or w.isdigit()):
            seen.append(w)
    return seen[:MAX_TERMS]


def search(
    session: Session, query: str, limit: int = 5, min_share: float = 0.2, language: str | None = None
) -> list[Hit]:
    """Best articles for the caller's words. With `language`, only articles in it, unless none of them
    matches: then every language (an answer in the other language beats none)."""
    words = terms(query)
    if not words:
        return []
    ranked = _ranked(session, words, limit, language) if language else []
    if not ranked:
        ranked = _ranked(session, words, limit, None)
    if not ranked:
        return []
    top = max(r for _, r in ranked)
    ranked = [(i, r) for i, r in ranked if r >= top * min_share]  # drop faint one-word echoes
    articles = {
        a.id: a
        for a in session.exec(
            select(KnowledgeArticle).where(col(KnowledgeArticle.id).in_([i for i, _ in ranked]))
        ).all()
    }
    dept_ids = {a.department_id for a in articles.values() if a.department_id}
    depts = (
        {d.id: d for d in session.exec(select(Department).where(col(Department.id).in_(dept_ids))).all()}
        if dept_ids
        else {}
    )
    return [
        Hit(articles[i], depts.get(articles[i].department_id), rank) for i, rank in ranked if i in articles
    ]


def _ranked(session: Session, words: list[str], limit: int, language: str | None) -> list[tuple[int, float]]:
    """(article id, rank), best first, of the articles holding any of the words (in `language` if given)."""
    if session.get_bind().dialect.name == "sqlite":
        # each word quoted (no FTS syntax from callers) and prefix-matched; OR semantics
        match = " OR ".join(f'"{w}"*' for w in words)
        rows = session.exec(  # type: ignore[call-overload]
            text(
                "SELECT knowledge_fts.rowid, bm25(knowledge_fts, 10.0, 1.0, 5.0) AS r FROM knowledge_fts "
                "JOIN knowledge_article a ON a.id = knowledge_fts.rowid "
                "WHERE knowledge_fts MATCH :m"
                + (" AND a.language = :lang" if language else "")
                + " ORDER BY r LIMIT :n"
            ),
            params={"m": match, "n": limit, "lang": language},
        ).all()
        return [(int(r[0]), -float(r[1])) for r in rows]
    q = " | ".join(f"{w}:*" for w in words)  # words are plain [^\W_]+ runs: safe in to_tsquery
    # the expression exactly as migration 0002 indexes it (GIN), so the index is used
    rows = session.exec(  # type: ignore[call-overload]
        text(
            f"SELECT id, ts_rank({PG_VECTOR}, to_tsquery('english'::regconfig, :q), 1) AS r "
            f"FROM knowledge_article WHERE ({PG_VECTOR}) @@ to_tsquery('english'::regconfig, :q)"
            + (" AND language = :lang" if language else "")
            + " ORDER BY r DESC, id LIMIT :n"
        ),
        params={"q": q, "n": limit, "lang": language},
    ).all()
    return [(int(r[0]), float(r[1])) for r in rows]


def get_article(session: Session, article_id: int) -> KnowledgeArticle | None:
    return session.get(KnowledgeArticle, article_id)
