"""Human-friendly public ids such as 311-2026-000123."""

from __future__ import annotations

import re
from datetime import datetime

# Row ids are INTEGER columns: 32-bit on PostgreSQL (SQLite's are 64-bit), so this is the largest id either holds.
MAX_ROW_ID = 2**31 - 1
# ASCII digits only (`\d` would take "²" and "٣"), and no more of them than a row id can have
PUBLIC_ID_RE = re.compile(r"^(?P<prefix>[A-Z0-9]{1,8})-(?P<year>[0-9]{4})-(?P<seq>[0-9]{6,10})$")


def format_public_id(prefix: str, created_at: datetime, number: int) -> str:
    """`number` is the row id: unique without a counter table, so bulk inserts can precompute it."""
    return f"{prefix}-{created_at.year:04d}-{number:06d}"


def parse_public_id(value: str) -> int | None:
    m = PUBLIC_ID_RE.match(value.strip().upper())
    n = int(m["seq"]) if m else 0
    return n if 1 <= n <= MAX_ROW_ID else None
