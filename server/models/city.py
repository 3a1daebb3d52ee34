"""The city's organisation: departments, the service catalogue, crews, known addresses."""

from __future__ import annotations

from typing import Any

from sqlmodel import Field, SQLModel

from .base import JSONField


class Department(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=200)
    phone: str = Field(default="", max_length=40)
    extension: str = Field(default="", max_length=20)
    email: str = Field(default="", max_length=200)
    hours: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=500)


class Service(SQLModel, table=True):
    """An Open311 service; `attributes` holds its questions in Open311 form."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    group: str = Field(default="", max_length=100)
    keywords: str = Field(default="", max_length=2000)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    attributes: list[dict[str, Any]] = JSONField(list)
    # {"es": {"name": ..., "description": ...}}; questions and answers carry theirs under "i18n" in `attributes`
    translations: dict[str, dict[str, str]] = JSONField(dict)
    sla_hours: int | None = None
    active: bool = True
    public: bool = True


class Crew(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    active: bool = True


class Address(SQLModel, table=True):
    """A known street address, for operator suggestions and Open311 `address_id`."""

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(default="", max_length=20)
    street: str = Field(max_length=200)
    text: str = Field(max_length=250, unique=True)
    search: str = Field(max_length=250, index=True)
    lat: float
    long: float
