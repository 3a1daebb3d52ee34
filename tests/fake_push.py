"""A local push service on 127.0.0.1 for tests and bench/push.py, plus a browser-like subscription.

The service records every POST (path, headers, body) and answers from a script of responses per path
(default 201). `decrypt()` and `verify_vapid()` do what a browser and a push service would.

Like a real one it speaks HTTPS under a host name (FAKE_HOST, with a certificate from a test CA), so the
endpoints pass the server's production rules when a browser subscribes. The worker reaches it through
`local_sender()`: a push.Sender whose resolver maps FAKE_HOST to 127.0.0.1 (and refuses every other name,
so no test leaves the machine), whose rules also accept loopback, and which trusts the test CA.
`FakePushService(tls=False)` is plain http://127.0.0.1:port (bench/push.py, another process).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import socket
import ssl
import tempfile
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from typing import Any

import http_ece
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from server import push
from server.config import Settings
from server.domain.push_endpoints import Address, EndpointRules, is_public_address

FAKE_HOST = "push.fake-push.example"  # every fake service answers to this name (on its own port)


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

    def __init__(
        self, keep_bodies: bool = True, tls: bool = True, bind: tuple[str, int] = ("127.0.0.1", 0)
    ) -> None:
        self.received: list[Received] = []
        self.count = 0
        self.keep_bodies = keep_bodies
        self._scripts: dict[str, deque[tuple[int, dict[str, str]]]] = defaultdict(deque)
        self._lock = threading.Lock()
        svc = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real push services
            timeout = 10

            def setup(self) -> None:
                if tls:  # in this connection's thread, not in the accepting one
                    self.request.settimeout(self.timeout)
                    self.request.do_handshake()
                super().setup()

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

        self.httpd = ThreadingHTTPServer(bind, Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *a: None  # type: ignore[method-assign]  # refused handshakes
        if tls:
            self.httpd.socket = _server_context().wrap_socket(
                self.httpd.socket, server_side=True, do_handshake_on_connect=False
            )
            self.base = f"https://{FAKE_HOST}:{self.httpd.server_port}"
        else:
            self.base = f"http://{bind[0]}:{self.httpd.server_port}"
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


# --- reaching it: the test CA, the resolver, the sender ---------------------------------------------


@cache
def _certificates() -> tuple[bytes, bytes, bytes]:
    """A test CA and a server certificate for FAKE_HOST signed by it: (CA PEM, certificate PEM, key PEM)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "civic311 test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, FAKE_HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(FAKE_HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem


@cache
def _server_context() -> ssl.SSLContext:
    _ca, cert, key = _certificates()
    folder = tempfile.mkdtemp(prefix="fake-push-")
    with open(os.path.join(folder, "cert.pem"), "wb") as f:
        f.write(cert + key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(folder, "cert.pem"))
    return ctx


def client_ssl_context() -> ssl.SSLContext:
    """Trusts the test CA only (and checks the certificate's name, as for any HTTPS request)."""
    return ssl.create_default_context(cadata=_certificates()[0].decode())


def local_resolve(host: str, port: int) -> list[Address]:
    """FAKE_HOST is 127.0.0.1; no other name resolves (a test must never reach the real network)."""
    if host == FAKE_HOST:
        return [IPv4Address("127.0.0.1")]
    raise socket.gaierror(socket.EAI_NONAME, f"{host}: not a test host")


def loopback_or_public(ip: Address) -> bool:
    return ip.is_loopback or is_public_address(ip)


# production's rules, plus loopback (where the fake services listen) and http (bench/push.py)
LOOPBACK_RULES = EndpointRules(schemes=frozenset({"https", "http"}), address_ok=loopback_or_public)


def local_sender(settings: Settings, **kwargs: Any) -> push.Sender:
    """A push.Sender that reaches the fake push services; keyword arguments replace its parts."""
    parts: dict[str, Any] = {
        "rules": LOOPBACK_RULES,
        "resolve": local_resolve,
        "ssl_context": client_ssl_context(),
    }
    return push.Sender(settings, **{**parts, **kwargs})


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

    with FakePushService(keep_bodies=False, tls=False) as service:
        print(service.base, flush=True)
        sys.stdin.read()
