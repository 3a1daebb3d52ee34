"""Where Web Push messages may go: https URLs of public hosts, never an address inside the network.

A push endpoint comes from a browser, that is from anyone: without these rules the worker could be made to
POST to 127.0.0.1, to a cloud metadata service (169.254.169.254) or to any private address. The same rules
run twice: on the URL when a browser subscribes (server/services/notify.py), and in the sender on every
address the host name resolves to, just before connecting (server/push.py), so a name that later
resolves inside is caught too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

from .errors import Invalid

Address = IPv4Address | IPv6Address

# IANA special-purpose ranges (RFC 6890 and successors). Python's `is_global` is not enough on its own:
# it calls multicast, 64:ff9b::/96 and 2002::/16 global, and its lists differ between Python versions.
_REFUSED_V4: tuple[IPv4Network, ...] = tuple(
    IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata services
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255 broadcast
    )
)
_GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")  # every public IPv6 address is in here
_REFUSED_V6: tuple[IPv6Network, ...] = tuple(
    IPv6Network(n)
    for n in (
        "2001::/23",  # IETF protocol assignments (Teredo, benchmarking, ORCHID, ...)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: carries an IPv4 address, possibly a private one
        "3fff::/20",  # documentation
    )
)
# Names that never lead to a public host: RFC 6761 / 6762 / 8375 special-use names and the usual
# internal ones (metadata.google.internal, instance-data.ec2.internal, ...).
_LOCAL_SUFFIXES = ("localhost", "local", "localdomain", "internal", "home.arpa", "arpa", "invalid", "onion")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")  # how inet_aton and browsers read IPv4 parts
_URL_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces or control characters


def is_public_address(ip: Address) -> bool:
    """True for a unicast address on the public Internet; IPv4-mapped IPv6 is judged by its IPv4 address."""
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public_address(ip.ipv4_mapped)
        # outside 2000::/3: ::1, ::, fc00::/7, fe80::/10, ff00::/8, 64:ff9b::/96 (NAT64), ...
        if ip.scope_id or ip not in _GLOBAL_UNICAST_V6:
            return False
        return ip.is_global and not any(ip in n for n in _REFUSED_V6)
    return ip.is_global and not any(ip in n for n in _REFUSED_V4)


def parse_allowed_hosts(value: str) -> tuple[str, ...]:
    """PUSH_ALLOWED_HOSTS: comma-separated host suffixes (`fcm.googleapis.com`, `*.notify.windows.com`)."""
    return tuple(h.strip().lower().rstrip(".") for h in value.split(",") if h.strip())


def host_matches(host: str, pattern: str) -> bool:
    """`example.com` matches itself and its subdomains; `*.example.com` only its subdomains."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern or host.endswith("." + pattern)


@dataclass(frozen=True)
class EndpointRules:
    """What the subscription check and the sender accept. The defaults are production's; tests that deliver
    to a local fake push service pass their own `address_ok` (nothing in the settings can loosen it)."""

    allowed_hosts: tuple[str, ...] = ()  # empty: any public host
    schemes: frozenset[str] = frozenset({"https"})
    address_ok: Callable[[Address], bool] = field(default=is_public_address)

    def host_allowed(self, host: str) -> bool:
        return not self.allowed_hosts or any(host_matches(host, p) for p in self.allowed_hosts)


@dataclass(frozen=True)
class Endpoint:
    """A checked endpoint URL, split into the parts the sender connects with."""

    url: str
    scheme: str
    host: str  # lower case, without brackets or a trailing dot
    port: int
    netloc: str  # for the Host header and the VAPID audience
    target: str  # path and query
    literal: Address | None  # the host is an IP address

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.netloc}"


def check_endpoint(url: str, rules: EndpointRules) -> Endpoint:
    """The endpoint, or Invalid (400) saying why it is refused. Looks at the URL only, never at DNS."""
    if not _URL_CHARS.fullmatch(url) or "\\" in url:
        raise _not_an_endpoint()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _not_an_endpoint() from None
    scheme = parts.scheme.lower()
    if scheme not in rules.schemes:
        raise Invalid(
            "A push endpoint must be an https:// address.", field="endpoint", code="endpoint_scheme"
        )
    if "@" in parts.netloc or not parts.hostname or port == 0:
        raise _not_an_endpoint()
    literal = _ip_literal(parts.hostname)
    host = str(literal) if literal is not None else parts.hostname.rstrip(".")
    if literal is not None:
        check_address(literal, rules)
    else:
        _check_name(host)
    if not rules.host_allowed(host) or (literal is not None and rules.allowed_hosts):
        raise Invalid(
            "This push endpoint is not at a known push service.",
            field="endpoint",
            code="endpoint_not_allowed",
        )
    netloc = f"[{host}]" if isinstance(literal, IPv6Address) else host
    if port is not None:
        netloc += f":{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if scheme == "https" else 80
    return Endpoint(url, scheme, host, port or default_port, netloc, target, literal)


def check_address(ip: Address, rules: EndpointRules) -> None:
    if not rules.address_ok(ip):
        raise _inside()


def check_resolved(addresses: Iterable[Address], rules: EndpointRules) -> list[Address]:
    """Every address a name resolves to must pass: one inside answer refuses the name (DNS rebinding)."""
    found = list(dict.fromkeys(addresses))
    if not found:
        raise _not_an_endpoint()
    for ip in found:
        check_address(ip, rules)
    return found


def _not_an_endpoint() -> Invalid:
    return Invalid("This push subscription has no valid endpoint.", field="endpoint", code="endpoint_invalid")


def _inside() -> Invalid:
    return Invalid(
        "Push endpoints on private, local or reserved addresses are refused.",
        field="endpoint",
        code="endpoint_address",
    )


def _ip_literal(hostname: str) -> Address | None:
    try:
        return ip_address(hostname)
    except ValueError:
        return None


def _check_name(host: str) -> None:
    """A DNS name of a public host: dotted labels, not a special-use name, and not an IPv4 address in a
    disguise that the resolver would still read as one (2130706433, 0177.0.0.1, 0x7f.1, 127.1)."""
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _not_an_endpoint()
    if len(labels) < 2 or _NUMERIC_LABEL.fullmatch(labels[-1]) or _is_local_name(host):
        # one label resolves through the search domains, to internal hosts ("metadata", "intranet")
        raise _inside()


def _is_local_name(host: str) -> bool:
    return any(host == s or host.endswith("." + s) for s in _LOCAL_SUFFIXES)
