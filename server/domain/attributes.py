"""Open311 service questions ('attributes'): validation of the answers given."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import Invalid

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if str(v).strip() != ""]
    return [str(value)] if str(value).strip() != "" else []


def clean_answers(attributes: list[dict[str, Any]], given: Mapping[str, Any]) -> dict[str, Any]:
    """Check answers against the service definition; return them normalised.

    Raises Invalid naming the first bad attribute. Unknown codes are ignored (clients send extras).
    """
    out: dict[str, Any] = {}
    for attr in sorted(attributes, key=lambda a: a.get("order", 0)):
        if attr.get("variable", True) is False:
            continue
        code, dtype = attr["code"], attr.get("datatype", "string")
        label = attr.get("description") or code
        values = _as_list(given.get(code))
        if not values:
            if attr.get("required"):
                raise Invalid("Please answer: %(label)s", field=code, code="attribute_required", label=label)
            continue
        allowed = {str(v["key"]) for v in attr.get("values", [])}
        if dtype == "multivaluelist":
            bad = [v for v in values if v not in allowed]
            if bad:
                raise Invalid(
                    "'%(value)s' is not a choice for: %(label)s",
                    field=code,
                    code="attribute_value",
                    value=bad[0],
                    label=label,
                )
            out[code] = values
            continue
        value = values[0].strip()
        if dtype == "singlevaluelist":
            if value not in allowed:
                raise Invalid(
                    "'%(value)s' is not a choice for: %(label)s",
                    field=code,
                    code="attribute_value",
                    value=value,
                    label=label,
                )
        elif dtype == "number":
            try:
                num = float(value)
            except ValueError:
                num = math.nan
            if not math.isfinite(
                num
            ):  # "nan" and "inf" are floats, but JSON (and PostgreSQL) has no such number
                raise Invalid(
                    "A number is needed for: %(label)s", field=code, code="attribute_value", label=label
                )
            out[code] = int(num) if num.is_integer() else num
            continue
        elif dtype == "datetime":
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise Invalid(
                    "A date is needed for: %(label)s", field=code, code="attribute_value", label=label
                ) from None
        elif len(value) > 2000:
            raise Invalid(
                "The answer is too long for: %(label)s", field=code, code="attribute_value", label=label
            )
        out[code] = value
    return out


def answers_as_read(attributes: list[dict[str, Any]], answers: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(question, answer) as people read them: the question's text and the chosen values' names, not their
    keys ("medium" -> "About the size of a car tire"), in the service's order; answers to questions the
    service no longer asks come last, as stored."""
    shown: list[tuple[str, str]] = []
    asked = sorted(attributes, key=lambda a: a.get("order", 0))
    for attr in asked:
        code = attr.get("code")
        if code not in answers:
            continue
        names = {str(v.get("key")): str(v.get("name") or v.get("key")) for v in attr.get("values") or []}
        values = _as_list(answers[code])
        shown.append((str(attr.get("description") or code), ", ".join(names.get(v, v) for v in values)))
    known = {a.get("code") for a in asked}
    shown += [(str(code), ", ".join(_as_list(v))) for code, v in answers.items() if code not in known]
    return shown
