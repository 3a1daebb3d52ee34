"""Web Push: the only module that imports the push libraries (pywebpush, py_vapid) and the only one in the
server that makes an HTTP request (tests/test_push_ssrf.py keeps it so).

The VAPID key pair is generated on first run into VAR_DIR/vapid_private_key.pem (every process of one
install shares it) unless VAPID_PRIVATE_KEY gives a PEM. Payloads are encrypted with aes128gcm by pywebpush;
the Sender POSTs them itself (httpcore), because the endpoint is a URL that anyone may have given us: it
checks the URL, resolves the name, checks every address, connects to a checked address (so a second DNS
answer cannot send it elsewhere), never follows a redirect and never uses a proxy.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from ipaddress import ip_address
from typing import Any

import httpcore
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException

from .config import Settings, read_or_create_secret
from .domain.errors import Invalid
from .domain.push_endpoints import Address, EndpointRules, check_endpoint, check_resolved, parse_allowed_hosts

TIMEOUT_S = 10  # for each step: connect, write, each read
VAPID_LIFETIME_S = 12 * 3600
ERROR_BODY_BYTES = 2048  # of an error answer, for the log; the rest is not read
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

    return read_or_create_secret(settings.var_dir / "vapid_private_key.pem", make) + "\n"


def vapid(settings: Settings) -> Vapid:
    return _vapid_from_pem(private_pem(settings))


def application_server_key(settings: Settings) -> str:
    """The public key the pages give to `pushManager.subscribe` (b64url, uncompressed P-256 point)."""
    pub = vapid(settings).public_key
    return _b64u(pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


@dataclass
class Result:
    """What the push service said. `status` 0 means a network error (no answer); `refused` says why the
    endpoint or the address its name resolved to is not one we send to (nothing was sent)."""

    status: int
    retry_after_s: float | None = None
    error: str = ""
    refused: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status in GONE

    @property
    def retryable(self) -> bool:
        return not self.refused and (self.status == 0 or self.status in RETRYABLE or self.status >= 500)


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


def endpoint_rules(settings: Settings) -> EndpointRules:
    """Production's rules: https, public addresses, and the PUSH_ALLOWED_HOSTS list when it is set."""
    return EndpointRules(allowed_hosts=parse_allowed_hosts(settings.push_allowed_hosts))


Resolver = Callable[[str, int], list[Address]]


def resolve_host(host: str, port: int) -> list[Address]:
    """The system resolver: every address of the name, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ip_address(info[4][0]) for info in infos]


class _CheckedNetwork(httpcore.NetworkBackend):
    """httpcore asks this backend for every new connection: it resolves the name once, refuses the name if
    any address fails the rules, and connects to a checked address. TLS then runs over that socket with
    the name as SNI and certificate name, as with any HTTPS request."""

    def __init__(self, rules: EndpointRules, resolve: Resolver) -> None:
        self.rules, self.resolve = rules, resolve
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = [ip_address(host)]
        except ValueError:
            addresses = self.resolve(host, port)
        error: Exception = httpcore.ConnectError(f"{host} has no address")
        for ip in check_resolved(addresses, self.rules):  # raises Invalid
            try:
                return self._tcp.connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e
        raise error

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("push messages go over TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Sender:
    """Encrypts and POSTs messages to push services; keeps connections alive between messages.

    `rules`, `resolve` and `ssl_context` default to production's (settings, system DNS, system CAs via
    httpcore). Tests pass their own to reach a fake push service on 127.0.0.1.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        rules: EndpointRules | None = None,
        resolve: Resolver = resolve_host,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.rules = rules or endpoint_rules(settings)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            network_backend=_CheckedNetwork(self.rules, resolve),
            keepalive_expiry=120,
        )

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self,
        subscription: dict[str, Any],
        payload: dict[str, Any],
        *,
        ttl: int = TTL_S,
        timeout: float = TIMEOUT_S,
        urgency: str = "normal",
    ) -> Result:
        """Encrypt and POST one message. Never raises for a refused endpoint, an HTTP or a network failure."""
        try:  # again at send time: the rules may have changed since the browser subscribed
            endpoint = check_endpoint(subscription["endpoint"], self.rules)
        except Invalid as e:
            return Result(status=0, refused=e.message)
        key = vapid(self.settings)  # outside the try: a key problem is not a network error
        try:
            data = json.dumps(payload, separators=(",", ":")).encode()
            body = WebPusher(subscription).encode(data, content_encoding="aes128gcm")["body"]
        except (WebPushException, ValueError, TypeError) as e:  # broken subscription keys: never deliverable
            return Result(status=400, error=_short(f"bad subscription: {e}"))
        claims = {
            "sub": self.settings.vapid_subject,
            "aud": endpoint.origin,
            "exp": int(time.time()) + VAPID_LIFETIME_S,
        }
        headers = {
            "Host": endpoint.netloc,
            **key.sign(claims),
            "Content-Encoding": "aes128gcm",
            "TTL": str(ttl),
            "Urgency": urgency,
        }
        url = httpcore.URL(
            scheme=endpoint.scheme, host=endpoint.host, port=endpoint.port, target=endpoint.target
        )
        steps = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        try:
            # httpcore never follows redirects: a 3xx is an answer like any other (and not a success)
            with self._pool.stream(
                "POST", url, headers=list(headers.items()), content=body, extensions={"timeout": steps}
            ) as resp:
                text = _read_some(resp)
        except Invalid as e:  # the name resolved to a refused address: nothing was sent
            return Result(status=0, refused=e.message)
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError, OSError) as e:
            return Result(status=0, error=_short(f"{type(e).__name__}: {e}"))
        return _result(resp, text)


def _read_some(resp: httpcore.Response) -> str:
    """The start of the answer's body (push services explain errors there); an answer longer than that is
    not read further (the connection is closed instead)."""
    got = b""
    for chunk in resp.iter_stream():
        got += chunk
        if len(got) >= ERROR_BODY_BYTES:
            break
    return got[:ERROR_BODY_BYTES].decode("utf-8", "replace")


def _header(resp: httpcore.Response, name: str) -> str | None:
    wanted = name.lower().encode()
    for k, v in resp.headers:
        if k.lower() == wanted:
            return v.decode("latin-1")
    return None


def _result(resp: httpcore.Response, text: str) -> Result:
    status = resp.status
    if 200 <= status < 300:
        return Result(status=status)
    if 300 <= status < 400:
        return Result(status=status, error=_short(f"redirect to {_header(resp, 'Location')!r} not followed"))
    return Result(
        status=status,
        retry_after_s=parse_retry_after(_header(resp, "Retry-After")),
        error=_short(f"{resp.extensions.get('reason_phrase', b'').decode('latin-1')} {text}"),
    )


def _short(text: str) -> str:
    return " ".join(text.split())[:480]
