"""Knowledge base search on the database this run uses (SQLite FTS5 or PostgreSQL full text)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from server.models import KnowledgeArticle
from server.services import knowledge


@pytest.mark.parametrize(
    ("question", "slug"),
    [
        ("what time does city hall close", "city-hall-hours"),
        ("how do I get a birth certificate", "birth-certificates"),
        ("my licence renewal", "rmv-license-registration"),
        ("When is trash day?", "trash-recycling-schedule"),
        ("register to vote", "voter-registration"),
    ],
)
def test_spoken_questions_find_the_right_article_first(session: Session, question: str, slug: str) -> None:
    hits = knowledge.search(session, question)
    assert hits, question
    assert hits[0].article.slug == slug


def test_hits_carry_the_department_for_transfer(session: Session) -> None:
    hit = knowledge.search(session, "birth certificate")[0]
    assert hit.department is not None and hit.department.code == "city-clerk"


def test_search_syntax_in_the_question_is_harmless(session: Session) -> None:
    for q in ['"unbalanced', "city AND OR NOT", "hall*:* & | !", "NEAR(", "-", "'; drop table x; --"]:
        knowledge.search(session, q)  # no error
    assert knowledge.search(session, "   ") == []
    assert knowledge.search(session, "the a of") == []


def test_the_index_follows_inserts_updates_and_deletes(session: Session) -> None:
    art = KnowledgeArticle(slug="zebra", title="Zebra crossings", body="Painted stripes.", keywords="zebra")
    session.add(art)
    session.commit()
    assert [h.article.slug for h in knowledge.search(session, "zebra")] == ["zebra"]
    art.title, art.keywords, art.body = "Crosswalk painting", "crosswalk", "Stripes repainted every spring."
    session.add(art)
    session.commit()
    assert knowledge.search(session, "zebra") == []
    assert knowledge.search(session, "crosswalk painting")[0].article.slug == "zebra"
    session.delete(art)
    session.commit()
    assert knowledge.search(session, "crosswalk painting") == [] or all(
        h.article.slug != "zebra" for h in knowledge.search(session, "crosswalk painting")
    )


def test_terms_drop_stop_words_and_duplicates() -> None:
    assert knowledge.terms("What time does City Hall close? city hall!") == ["time", "city", "hall", "close"]


def test_every_article_is_found_by_its_title(session: Session) -> None:
    for art in session.exec(select(KnowledgeArticle)).all():
        assert art.slug in [h.article.slug for h in knowledge.search(session, art.title, limit=5)], art.title
