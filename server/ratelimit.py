"""Rate limits counted in the database, so that N web processes allow the limit, not N times it.

The `limits` library keeps the strategy and the "60/minute" syntax; this is a storage backend for it over the
app's own database (a table of fixed windows), because the production setup has PostgreSQL and no Redis.
Each hit is one upsert in its own short transaction: it counts even when the request it limits then fails.
"""

from __future__ import annotations

import ipaddress
import math
import time
from typing import Any

from limits import parse as parse_limit
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from .domain.errors import DomainError

# One statement on both databases (SQLite 3.35+ and PostgreSQL): a new window, or one more hit in the current.
_INCR = text(
    "INSERT INTO rate_counter (key, hits, expires_at) VALUES (:key, :amount, :expires) "
    "ON CONFLICT (key) DO UPDATE SET "
    "hits = CASE WHEN rate_counter.expires_at <= :now THEN :amount ELSE rate_counter.hits + :amount END, "
    "expires_at = CASE WHEN rate_counter.expires_at <= :now THEN :expires ELSE rate_counter.expires_at END "
    "RETURNING hits"
)
_PURGE = text("DELETE FROM rate_counter WHERE expires_at < :before")  # keeps the table to live windows


class DatabaseStorage(Storage):
    """A `limits` storage over the rate_counter table."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(_PURGE, {"before": now - 60})
            row = conn.execute(_INCR, {"key": key, "amount": amount, "expires": now + expiry, "now": now})
            return int(row.scalar_one())

    def get(self, key: str) -> int:
        with self.engine.connect() as conn:
            hits = conn.execute(
                text("SELECT hits FROM rate_counter WHERE key = :key AND expires_at > :now"),
                {"key": key, "now": time.time()},
            ).scalar()
        return int(hits or 0)

    def get_expiry(self, key: str) -> float:
        with self.engine.connect() as conn:
            expires = conn.execute(
                text("SELECT expires_at FROM rate_counter WHERE key = :key"), {"key": key}
            ).scalar()
        return max(float(expires or 0), time.time())

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            return conn.execute(text("DELETE FROM rate_counter")).rowcount

    def clear(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM rate_counter WHERE key = :key"), {"key": key})


class RateLimited(DomainError):
    """Over a limit: 429 with a Retry-After header of `retry_after` seconds, in whatever format the caller
    gets its errors (server/errors.py, and the Open311 error documents)."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int, **params: object) -> None:
        super().__init__(message, code="rate_limit", **params)
        self.retry_after = retry_after


class RateLimiter:
    """`allow(rate, *identifiers)`: one more hit, and whether it is within `rate` ("60/minute")."""

    def __init__(self, engine: Engine) -> None:
        self._limiter = FixedWindowRateLimiter(DatabaseStorage(engine))

    def allow(self, rate: str, *identifiers: str) -> bool:
        return self._limiter.hit(parse_limit(rate), *identifiers)

    def retry_after(self, rate: str, *identifiers: str) -> int:
        """Whole seconds until the current window ends (for a Retry-After header)."""
        reset_at = self._limiter.get_window_stats(parse_limit(rate), *identifiers).reset_time
        return max(1, math.ceil(reset_at - time.time()))

    def wait(self, rate: str, *identifiers: str) -> int:
        """One more hit: 0 when it is within `rate`, else the whole seconds until the window ends."""
        if self.allow(rate, *identifiers):
            return 0
        return self.retry_after(rate, *identifiers)


def limiter_of(state: Any) -> RateLimiter:
    """The app's limiter (kept on `app.state`; the counts themselves are in the database)."""
    limiter = getattr(state, "rate_limiter", None)
    if limiter is None:
        limiter = state.rate_limiter = RateLimiter(state.engine)
    return limiter


def address_bucket(address: str) -> str:
    """What one client address counts as: an IPv6 client holds a whole /64 (it picks any address in it at
    will), so the /64 is counted; an IPv4 address as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]  # "testclient", "unknown": counted as given
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d from a dual-stack socket is that IPv4 address
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
