"""A local push service on 127.0.0.1 for tests and bench/push.py, plus a browser-like subscription.

The service records every POST (path, headers, body) and answers from a script of responses per path
(default 201). `decrypt()` and `verify_vapid()` do what a browser and a push service would.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


@dataclass
class BrowserKeys:
    """What a browser's PushSubscription holds: a P-256 key pair and a 16-byte auth secret."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        pub = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64u(pub)

    @property
    def auth(self) -> str:
        return b64u(self.auth_secret)

    def subscription(self, endpoint: str) -> dict[str, Any]:
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        }

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
        )
        return json.loads(plain)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class FakePushService:
    """`with FakePushService() as svc:` ... `svc.endpoint("sub-1")`; `svc.script("/push/sub-1", [(500, {}), ...])`."""

    def __init__(self, keep_bodies: bool = True) -> None:
        self.received: list[Received] = []
        self.count = 0
        self.keep_bodies = keep_bodies
        self._scripts: dict[str, deque[tuple[int, dict[str, str]]]] = defaultdict(deque)
        self._lock = threading.Lock()
        svc = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real push services

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with svc._lock:
                    svc.count += 1
                    if svc.keep_bodies:
                        svc.received.append(
                            Received(
                                self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()
                            )
                        )
                    script = svc._scripts.get(self.path)
                    status, headers = script.popleft() if script else (201, {})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if status == 201:
                    self.send_header("Location", f"/msg/{svc.count}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # GET /count: how many messages arrived (bench/push.py)
                body = str(svc.count).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def endpoint(self, name: str) -> str:
        return f"{self.base}/push/{name}"

    def script(self, endpoint_or_path: str, responses: list[tuple[int, dict[str, str]]]) -> None:
        path = endpoint_or_path.removeprefix(self.base)
        with self._lock:
            self._scripts[path].extend(responses)

    def to(self, endpoint: str) -> list[Received]:
        path = endpoint.removeprefix(self.base)
        return [r for r in self.received if r.path == path]

    def __enter__(self) -> FakePushService:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def verify_vapid(authorization: str, expected_key: str) -> dict[str, Any]:
    """Check `Authorization: vapid t=<JWT>, k=<key>` as a push service does; return the JWT claims."""
    scheme, params = authorization.split(" ", 1)
    assert scheme == "vapid", scheme
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    token, k = parts["t"], parts["k"]
    assert k == expected_key, "the JWT was not signed with the server's VAPID key"
    header_b64, claims_b64, sig_b64 = token.split(".")
    assert json.loads(unb64u(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    sig = unb64u(sig_b64)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(k))
    pub.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if forged
    return json.loads(unb64u(claims_b64))


if __name__ == "__main__":  # a separate process for bench/push.py: prints its base URL, stops at EOF on stdin
    import sys

    with FakePushService(keep_bodies=False) as service:
        print(service.base, flush=True)
        sys.stdin.read()
