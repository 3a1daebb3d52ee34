"""Web Push: the only module that imports the push libraries (pywebpush, py_vapid).

The VAPID key pair is generated on first run into VAR_DIR/vapid_private_key.pem (every process of one
install shares it) unless VAPID_PRIVATE_KEY gives a PEM. Payloads are encrypted with aes128gcm.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from .config import Settings

TIMEOUT_S = 10  # pywebpush's default is no timeout at all
TTL_S = 24 * 3600  # how long the push service keeps a message for an offline device
GONE = (404, 410)  # the subscription no longer exists: delete it
RETRYABLE = (408, 425, 429, 500, 502, 503, 504)


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@lru_cache(maxsize=8)
def _vapid_from_pem(pem: str) -> Vapid:
    return Vapid.from_pem(pem.encode())


def private_pem(settings: Settings) -> str:
    if settings.vapid_private_key.strip():
        return settings.vapid_private_key.strip().replace("\\n", "\n") + "\n"

    def make() -> str:
        v = Vapid()
        v.generate_keys()
        return v.private_pem().decode()

    return _read_or_create(settings.var_dir / "vapid_private_key.pem", make) + "\n"


_create_lock = threading.Lock()


def _read_or_create(path: Path, make) -> str:  # type: ignore[no-untyped-def]
    """Like config.read_or_create_secret, safe when threads or processes race to create the file:
    each writes its own temporary file and the first link() wins."""
    with _create_lock:
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(make())
        tmp.chmod(0o600)
        try:
            path.hardlink_to(tmp)  # fails if the file exists: atomic "create once"
        except FileExistsError:
            pass  # another process won: use its key
        finally:
            tmp.unlink(missing_ok=True)
        return path.read_text().strip()


def vapid(settings: Settings) -> Vapid:
    return _vapid_from_pem(private_pem(settings))


def application_server_key(settings: Settings) -> str:
    """The public key the pages give to `pushManager.subscribe` (b64url, uncompressed P-256 point)."""
    pub = vapid(settings).public_key
    return _b64u(pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


@dataclass
class Result:
    """What the push service said. `status` 0 means a network error (no answer)."""

    status: int
    retry_after_s: float | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status in GONE

    @property
    def retryable(self) -> bool:
        return self.status == 0 or self.status in RETRYABLE or self.status >= 500


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_local = threading.local()


def _http() -> requests.Session:
    """One keep-alive HTTP session per thread (connections to the push service are reused)."""
    s = getattr(_local, "session", None)
    if s is None:
        s = _local.session = requests.Session()
        # read proxy settings once, not per message (trust_env re-reads the environment and netrc each call)
        s.trust_env = False
        s.proxies.update({k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")})
    return s


def valid_keys(p256dh: str, auth: str) -> bool:
    """A browser's keys: an uncompressed P-256 point and a 16-byte auth secret, both b64url."""
    try:
        point = base64.urlsafe_b64decode(p256dh + "=" * (-len(p256dh) % 4))
        secret = base64.urlsafe_b64decode(auth + "=" * (-len(auth) % 4))
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, TypeError):
        return False
    return len(point) == 65 and len(secret) == 16


def subscription_info(endpoint: str, p256dh: str, auth: str) -> dict[str, Any]:
    return {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}


def send(
    subscription: dict[str, Any],
    payload: dict[str, Any],
    *,
    settings: Settings,
    ttl: int = TTL_S,
    timeout: float = TIMEOUT_S,
    urgency: str = "normal",
) -> Result:
    """Encrypt and POST one message. Never raises for an HTTP or network failure: returns a Result."""
    key = vapid(settings)  # outside the try: a key problem is not a network error
    try:
        resp = webpush(
            subscription_info=subscription,
            data=json.dumps(payload, separators=(",", ":")),
            vapid_private_key=key,
            # a NEW dict every call: webpush() writes aud and exp into it
            vapid_claims={"sub": settings.vapid_subject},
            ttl=ttl,
            timeout=timeout,
            headers={"Urgency": urgency},
            requests_session=_http(),
        )
    except WebPushException as e:
        if e.response is None:  # refused before sending: broken subscription keys
            return Result(status=400, error=_short(f"bad subscription: {e.message}"))
        status = e.status_code or 0
        return Result(status=status, retry_after_s=parse_retry_after(e.retry_after), error=_short(str(e)))
    except (requests.RequestException, OSError) as e:
        return Result(status=0, error=_short(f"{type(e).__name__}: {e}"))
    except ValueError as e:  # broken subscription keys: never deliverable
        return Result(status=400, error=_short(f"bad subscription: {e}"))
    return Result(status=resp.status_code)  # type: ignore[union-attr]


def _short(text: str) -> str:
    return " ".join(text.split())[:480]
