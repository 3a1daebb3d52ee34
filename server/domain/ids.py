"""Human-friendly public ids such as 311-2026-000123."""

from __future__ import annotations

import re
from datetime import datetime

PUBLIC_ID_RE = re.compile(r"^(?P<prefix>[A-Z0-9]{1,8})-(?P<year>\d{4})-(?P<seq>\d{6,})$")


def format_public_id(prefix: str, created_at: datetime, number: int) -> str:
    """`number` is the row id: unique without a counter table, so bulk inserts can precompute it."""
    return f"{prefix}-{created_at.year:04d}-{number:06d}"


def parse_public_id(value: str) -> int | None:
    m = PUBLIC_ID_RE.match(value.strip().upper())
    return int(m["seq"]) if m else None
