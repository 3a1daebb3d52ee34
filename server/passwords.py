"""Password hashing (argon2 via pwdlib): the only module that knows the algorithm."""

from __future__ import annotations

from pwdlib import PasswordHash

_hasher = PasswordHash.recommended()  # argon2id with current parameters
# hashed once so that a login for an unknown e-mail costs the same time (no user-exists oracle)
_DUMMY = _hasher.hash("civic311-dummy-password")

MIN_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, hashed: str | None) -> tuple[bool, str | None]:
    """(ok, new_hash): new_hash is set when the stored hash should be upgraded."""
    if not hashed:
        _hasher.verify(password, _DUMMY)
        return False, None
    try:
        return _hasher.verify_and_update(password, hashed)
    except Exception:  # a malformed stored hash must not crash the login page
        return False, None
