"""The operators' call log and the knowledge base they answer from."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from .base import TimeField


class CallOutcome(StrEnum):
    information = "information"
    request_created = "request_created"
    transferred = "transferred"
    follower_added = "follower_added"
    other = "other"


class Call(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    operator_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    caller_phone: str = Field(default="", max_length=40, index=True)
    caller_name: str = Field(default="", max_length=200)
    started_at: datetime = TimeField(default_now=True, index=True)
    ended_at: datetime | None = TimeField(nullable=True)
    outcome: CallOutcome | None = Field(default=None, max_length=20)
    topic: str = Field(default="", max_length=200)
    notes: str = Field(default="", max_length=2000)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    request_id: int | None = Field(default=None, foreign_key="service_request.id")
    article_id: int | None = Field(default=None, foreign_key="knowledge_article.id")


class KnowledgeArticle(SQLModel, table=True):
    __tablename__ = "knowledge_article"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, max_length=100)
    title: str = Field(max_length=200)
    body: str = Field(max_length=10000)
    keywords: str = Field(default="", max_length=1000)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    language: str = Field(default="en", max_length=8)
    updated_at: datetime = TimeField(default_now=True)
