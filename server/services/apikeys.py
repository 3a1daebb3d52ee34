"""Open311 API keys: shown once, stored as a hash, revocable."""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import Session, select

from ..domain.errors import Invalid, NotFound
from ..models import ApiKey, utcnow


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def fingerprint(key: str) -> str:
    """What identifies a key without storing it (the rate limit's bucket)."""
    return _hash(key.strip())


def create_api_key(*, session: Session, name: str) -> tuple[ApiKey, str]:
    if not name.strip():
        raise Invalid("Give the key a name (the client it is for).", field="name")
    key = "c311_" + secrets.token_urlsafe(32)
    row = ApiKey(name=name.strip()[:200], key_hash=_hash(key), prefix=key[:12])
    session.add(row)
    session.flush()
    return row, key


def check_api_key(*, session: Session, key: str | None) -> ApiKey | None:
    if not key:
        return None
    row = session.exec(select(ApiKey).where(ApiKey.key_hash == _hash(key.strip()))).first()
    return row if row is not None and row.revoked_at is None else None


def revoke_api_key(*, session: Session, key_id: int) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound("No such API key.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
    return row
