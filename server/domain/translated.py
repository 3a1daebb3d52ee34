"""City data in the reader's language: a service's name, a question, an answer, as the city file translates them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def translated(item: Any, field: str, lang: str) -> str:
    """`field` of a service (its `translations`) or of a question or answer dict (its "i18n"), in `lang` when the
    city file gives it, else as written."""
    if isinstance(item, Mapping):
        base, table = item.get(field), item.get("i18n")
    else:
        base, table = getattr(item, field, None), getattr(item, "translations", None)
    text = ((table or {}).get(lang) or {}).get(field)
    return str(text) if text else ("" if base is None else str(base))
