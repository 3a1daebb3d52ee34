"""Translations: gettext catalogues (.po) compiled in memory at start-up; the language per request."""

from __future__ import annotations

import gettext as _gettext
import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = {"en": "English", "es": "Español"}
DEFAULT = "en"

_current: ContextVar[str] = ContextVar("language", default=DEFAULT)


@cache
def catalog(lang: str) -> _gettext.NullTranslations:
    files = sorted((TRANSLATIONS / lang / "LC_MESSAGES").glob("*.po"))
    if not files:
        return _gettext.NullTranslations()
    # every area keeps its own catalogue (core.po, resident.po, ...): merge them all into one
    cat = None
    for po in files:
        with open(po, "rb") as f:
            part = read_po(f, locale=lang)
        if cat is None:
            cat = part
            continue
        for message in part:
            if message.id and message.string:
                cat[message.id] = message
    assert cat is not None
    buf = io.BytesIO()
    write_mo(buf, cat)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def set_language(lang: str) -> None:
    _current.set(lang if lang in LANGUAGES else DEFAULT)


def current_language() -> str:
    return _current.get()


def gettext(message: str, **params: object) -> str:
    text = catalog(_current.get()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: object) -> str:
    text = catalog(_current.get()).ngettext(singular, plural, n)
    params.setdefault("num", n)
    return text % params


_ = gettext


def N_(message: str) -> str:
    """Mark for extraction; translated where shown."""
    return message


def pick_language(query: str | None, cookie: str | None, accept: str | None) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate  # type: ignore[return-value]
    for part in (accept or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT
