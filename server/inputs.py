"""The input boundary: every id, number, date and text that arrives from outside is parsed here, one function
(and one FastAPI type) per kind. Routes, forms and APIs use these instead of `int()`, `float()`,
`datetime.fromisoformat()` or a bare `str`, so an out-of-range or malformed value is a 400 or 404 with a clear
message, never a 500 from the database, the XML writer or the standard library.

What the storage and the wire formats cannot carry:
- ids: every id column is an `INTEGER`, 32-bit on PostgreSQL (64 on SQLite): 1 .. 2**31-1 fits both;
- dates: Python's datetime covers years 1..9999, but a UTC shift or a 90-day window at either end overflows, and
  PostgreSQL's range differs from SQLite's; 1900..2200 is every date a 311 system can mean;
- text: PostgreSQL refuses NUL; UTF-8 cannot encode lone surrogates; XML 1.0 forbids most C0 controls, U+FFFE
  and U+FFFF; noncharacters (U+FDD0..U+FDEF, U+xFFFE/U+xFFFF in every plane, incl. U+10FFFF) break range
  arithmetic and mean nothing. Such text is refused, never silently changed, so what is stored is what was sent.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query, Request
from pydantic import AfterValidator, BeforeValidator, Field

from .domain.errors import Invalid, NotFound
from .domain.ids import MAX_ROW_ID as MAX_ID

MIN_YEAR, MAX_YEAR = 1900, 2200

# Everything XML 1.0 allows (tab, LF, CR, U+0020..U+D7FF, U+E000..U+FFFD, U+10000..U+10FFFF), minus the
# noncharacters; the complement is what we refuse.
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    + "".join(f"{chr(p * 0x10000 + 0xFFFE)}{chr(p * 0x10000 + 0xFFFF)}" for p in range(1, 17))
    + "]"
)
# The same for ASCII text (most of it): a short character class is several times faster to scan, and this runs
# on every value of every request and every string the Open311 XML writer writes.
_FORBIDDEN_ASCII = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also says yes to "²" and "٣"
# what an ISO 8601 date-time is written with: Python 3.11's fromisoformat() ignores a stray character after the
# seconds ("2026-01-01T00:00:00\x00Z" parses), so anything else is refused before it is asked
_DATE_CHARS = re.compile(r"[0-9TtWZz:+\-., ]+")


def forbidden_character(value: str) -> str | None:
    """The first character that storage or XML cannot carry, as U+XXXX, or None."""
    m = (_FORBIDDEN_ASCII if value.isascii() else _FORBIDDEN).search(value)
    return f"U+{ord(m.group()):04X}" if m else None


def check_text(value: str, name: str = "text") -> str:
    bad = forbidden_character(value)
    if bad:
        raise Invalid(
            "%(name)s contains a character that cannot be stored (%(char)s). Remove it and try again.",
            field=name,
            code="bad_text",
            name=name,
            char=bad,
        )
    return value


def xml_safe(value: str) -> str:
    """For writers: drop what XML 1.0 cannot carry (text stored before this boundary existed, or imported)."""
    pattern = _FORBIDDEN_ASCII if value.isascii() else _FORBIDDEN
    return pattern.sub("", value) if pattern.search(value) else value


def text(value: Any, name: str, max_len: int = 4000, *, strip: bool = True) -> str:
    """A form or query text: checked, trimmed and cut to `max_len` ("" for a missing or non-text value)."""
    if not isinstance(value, str):
        return ""
    value = check_text(value, name)
    return (value.strip() if strip else value)[:max_len]


def parse_id(value: Any, name: str = "id") -> int | None:
    """A database id from a form or query: ASCII digits in 1..MAX_ID, else None (the caller says what's missing)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= MAX_ID else None
    if not isinstance(value, str) or len(value) > 40 or not _DIGITS.fullmatch(value.strip()):
        return None
    n = int(value.strip())
    return n if 1 <= n <= MAX_ID else None


def require_id(value: Any, name: str = "id") -> int:
    n = parse_id(value, name)
    if n is None:
        raise Invalid("%(name)s must be a whole number from 1.", field=name, code="bad_id", name=name)
    return n


def optional_id(value: Any, name: str = "id") -> int | None:
    """A form's optional id: empty is None ("none chosen", "a new one"); anything else must be an id (a 400
    otherwise, never read as "none": a mangled id must not turn an edit into a new row)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return require_id(value, name)


def parse_int(value: Any, name: str, lo: int = 0, hi: int = MAX_ID) -> int:
    """A whole number in lo..hi (ASCII digits, optional sign), or a 400 saying which bounds."""
    raw = value.strip() if isinstance(value, str) else value
    if isinstance(raw, str) and len(raw) <= 100 and re.fullmatch(r"[+-]?[0-9]+", raw):
        n = int(raw)  # at most 100 digits: far below int()'s own limit, and out of range anyway
    elif isinstance(raw, int) and not isinstance(raw, bool):
        n = raw
    else:
        raise Invalid("%(name)s must be a whole number.", field=name, code="bad_number", name=name)
    if not lo <= n <= hi:
        raise _out_of_range(name, lo, hi)
    return n


def _out_of_range(name: str, lo: object, hi: object) -> Invalid:
    return Invalid(
        "%(name)s must be between %(lo)s and %(hi)s.",
        field=name,
        code="out_of_range",
        name=name,
        lo=lo,
        hi=hi,
    )


def parse_float(value: Any, name: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    """A finite number in lo..hi (no NaN, no infinity, no 1e400), or a 400."""
    try:
        f = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise Invalid("%(name)s must be a number.", field=name, code="bad_number", name=name) from None
    if not math.isfinite(f):
        raise Invalid("%(name)s must be a number.", field=name, code="bad_number", name=name)
    if not lo <= f <= hi:
        raise _out_of_range(name, lo, hi)
    return f


def optional_float(value: Any, name: str, lo: float = -math.inf, hi: float = math.inf) -> float | None:
    """Like parse_float, but an empty or missing value is None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_float(value, name, lo, hi)


def latitude(value: Any, name: str = "lat") -> float | None:
    return optional_float(value, name, -90.0, 90.0)


def longitude(value: Any, name: str = "long") -> float | None:
    return optional_float(value, name, -180.0, 180.0)


def parse_datetime(value: Any, name: str, *, naive_is_utc: bool = True) -> datetime:
    """A W3C/ISO 8601 date-time as clients send it (Z or an offset, without seconds, or a bare date), as aware
    UTC in MIN_YEAR..MAX_YEAR. A "+" that came unencoded in a query string arrives as a space: put it back."""
    if not isinstance(value, str) or len(value) > 64 or not _DATE_CHARS.fullmatch(value):
        raise _bad_date(name)
    s = value.strip()
    if "T" in s or "t" in s:
        s = s.replace(" ", "+")
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
        if dt.tzinfo is None:
            if not naive_is_utc:
                raise _bad_date(name)
            dt = dt.replace(tzinfo=UTC)
        dt = dt.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad_date(name) from None
    if not MIN_YEAR <= dt.year <= MAX_YEAR:
        raise Invalid(
            "%(name)s must be a date between %(lo)s and %(hi)s.",
            field=name,
            code="out_of_range",
            name=name,
            lo=MIN_YEAR,
            hi=MAX_YEAR,
        )
    return dt


def optional_datetime(value: Any, name: str, *, naive_is_utc: bool = True) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_datetime(value, name, naive_is_utc=naive_is_utc)


def _bad_date(name: str) -> Invalid:
    return Invalid(
        "%(name)s is not a date-time, e.g. 2026-01-31T12:00:00Z.", field=name, code="bad_date", name=name
    )


def _id_or_404(value: Any) -> int:
    n = parse_id(value)
    if n is None:
        raise NotFound("Not found.", code="not_found")
    return n


def _checked_text(value: str) -> str:
    return check_text(value)


def _blank_is_none(value: Any) -> Any:
    # an HTML form's "any" choice sends `?service=`: that is no id, not a bad one
    return None if isinstance(value, str) and not value.strip() else value


# FastAPI types: a path id that cannot be stored is a 404 (no such thing), a query id a 400 (the
# RequestValidationError handler in server/errors.py). The bounds sit on the inner int so that pydantic keeps
# them native: they show as minimum/maximum in /openapi.json and None need not satisfy them.
_Id = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[_Id, BeforeValidator(_id_or_404), Path()]
QueryId = Annotated[_Id | None, BeforeValidator(_blank_is_none), Query()]
MAX_PAGE = 100_000
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
SafeStr = Annotated[str, AfterValidator(_checked_text)]


# Where a body's text is checked by its own parser instead, event by event (one bad event must not refuse a batch,
# and a refused photo upload is a result the phone shows, not a 400 it would send again for ever).
_BODY_CHECKED_ELSEWHERE = ("/field/api/sync", "/field/api/photos/")


async def close_form_after(request: Request) -> AsyncIterator[None]:
    """App-wide dependency, listed first: the form a dependency parsed (CSRF, the text check) is closed however
    the request ends. A request refused before its route runs would otherwise leave an uploaded file's
    temporary spool open until the garbage collector finds it."""
    try:
        yield
    finally:
        await request.close()


async def refuse_unstorable_text(request: Request) -> None:
    """App-wide dependency: the path, query and form or JSON text of every request, checked once. Runs after
    FastAPI parsed the body (cached on the request), so it costs a walk over values already in memory."""
    check_text(request.url.path, "path")
    for key, value in request.query_params.multi_items():
        check_text(key, "query")
        check_text(value, key if forbidden_character(key) is None else "query")
    if request.method in ("GET", "HEAD", "OPTIONS", "DELETE") or request.url.path.startswith(
        _BODY_CHECKED_ELSEWHERE
    ):
        return
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        for key, value in form.multi_items():
            check_text(key, "form")
            if isinstance(value, str):
                check_text(value, key)
            elif value.filename:
                check_text(value.filename, key)
    elif ctype.startswith("application/json"):
        try:
            data = await request.json()
        except ValueError:
            return  # the route's own parser answers a malformed body
        _walk(data, "body")


def _walk(value: Any, name: str) -> None:
    if isinstance(value, str):
        check_text(value, name)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_text(str(k), name)
            _walk(v, str(k))
    elif isinstance(value, list):
        for v in value:
            _walk(v, name)
