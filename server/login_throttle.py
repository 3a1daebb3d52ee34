"""Failed staff log-ins, counted in the database so that every web process shares the count.

Two counts, each in the `rate_counter` table (server/ratelimit.py's storage): per account (the e-mail as typed,
hashed, whether or not such a user exists, so the answers never tell) and per client address (IPv6 by its /64,
which one machine usually holds whole). An attempt is counted *before* its password is checked, so a burst of
parallel guesses cannot slip past the limit; a success takes the attempt back.

When a count reaches its limit (LOGIN_RATE_LIMIT, LOGIN_ADDRESS_RATE_LIMIT) that account, or that address, is
locked for LOGIN_LOCKOUT_S, twice as long after each further lockout within a day, up to LOGIN_LOCKOUT_MAX_S.
During a lockout no password is checked at all: the right one does not log in either.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from limits import parse as parse_limit
from sqlalchemy import Engine

from .config import Settings
from .ratelimit import DatabaseStorage

LEVEL_MEMORY_S = 24 * 3600  # how long earlier lockouts make the next one longer


@dataclass(frozen=True)
class Lockout:
    seconds: int  # until log-ins may be tried again (Retry-After)
    scope: str  # "account" or "address", for the audit log; never shown (it would tell an account exists)
    started: bool = False  # this attempt's failure started it


@dataclass(frozen=True)
class _Count:
    scope: str
    key: str
    limit: int
    window_s: int

    def name(self, kind: str) -> str:
        return f"login:{kind}:{self.scope}:{self.key}"


@dataclass(frozen=True)
class Attempt:
    """An attempt that was counted and may check its password; `counts` are the counts including it."""

    counts: tuple[tuple[_Count, int], ...]


class LoginThrottle:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.store = DatabaseStorage(engine)
        self.first_s, self.max_s = settings.login_lockout_s, settings.login_lockout_max_s
        self._rates = (settings.login_rate_limit, settings.login_address_rate_limit)

    def _counts(self, account: str, address: str) -> tuple[_Count, _Count]:
        per_account, per_address = (parse_limit(r) for r in self._rates)
        return (
            _Count(
                "account",
                hashlib.sha256(account.encode()).hexdigest(),
                per_account.amount,
                per_account.get_expiry(),
            ),
            _Count("address", _address_bucket(address), per_address.amount, per_address.get_expiry()),
        )

    def attempt(self, *, account: str, address: str) -> Attempt | Lockout:
        """Before a password is checked: a lockout in force, or the attempt counted."""
        counts = self._counts(account, address)
        for c in counts:
            if wait := self._locked_for(c):
                return Lockout(wait, c.scope)
        counted = tuple((c, self.store.incr(c.name("fails"), c.window_s)) for c in counts)
        for c, n in counted:
            if n > c.limit:
                # a parallel attempt reached the limit first and is starting the lockout
                return Lockout(self._locked_for(c) or self.first_s, c.scope)
        return Attempt(counted)

    def failed(self, attempt: Attempt) -> Lockout | None:
        """After a wrong password: a lockout, if this failure brought a count to its limit."""
        started = [self._lock(c) for c, n in attempt.counts if n >= c.limit]
        return max(started, key=lambda lock: lock.seconds) if started else None

    def succeeded(self, attempt: Attempt) -> None:
        """After the right password: the account starts afresh; the address gets its attempt back."""
        for c, _ in attempt.counts:
            if c.scope == "account":
                self.store.clear(c.name("fails"))
                self.store.clear(c.name("level"))
            elif self.store.get(c.name("fails")) > 0:
                self.store.incr(c.name("fails"), c.window_s, amount=-1)

    def _lock(self, c: _Count) -> Lockout:
        level = self.store.incr(c.name("level"), LEVEL_MEMORY_S)
        seconds = min(self.first_s * 2 ** min(level - 1, 30), self.max_s)
        self.store.clear(c.name("lock"))
        self.store.incr(c.name("lock"), seconds)
        self.store.clear(c.name("fails"))  # the next lockout comes after as many failures again
        return Lockout(seconds, c.scope, started=True)

    def _locked_for(self, c: _Count) -> int:
        if self.store.get(c.name("lock")) <= 0:
            return 0
        return max(1, math.ceil(self.store.get_expiry(c.name("lock")) - time.time()))


def _address_bucket(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]  # "testclient", a unix socket: counted as written
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
