"""No request forgery through Web Push: endpoint rules (server/domain/push_endpoints.py) at subscription and
at send time after DNS (server/push.py), no redirects, no token disclosure on re-subscription, and no other
module of the server making outbound requests.

Every fake push service here listens on 127.0.0.1 (or 127.0.0.2); "public" and "internal" answers of DNS are
played by the resolver the sender is given, because name resolution lies outside the machine.
"""

from __future__ import annotations

import ast
import logging
import socket
from ipaddress import IPv4Address, IPv6Address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from server import push
from server.config import ROOT
from server.deps import get_settings
from server.domain.errors import Invalid
from server.domain.push_endpoints import (
    EndpointRules,
    check_endpoint,
    is_public_address,
    parse_allowed_hosts,
)
from server.models import Follower, Outbox, PushSubscription
from server.services import followers, subscriptions
from server.services.requests import Actor, add_note
from server.worker import Worker
from tests.factories import csrf, login, make_request, make_user
from tests.fake_push import FAKE_HOST, BrowserKeys, FakePushService, local_resolve, local_sender

PRODUCTION = EndpointRules()
RECOMMENDED = "fcm.googleapis.com,updates.push.services.mozilla.com,*.notify.windows.com,web.push.apple.com"

# What must never be reached, written out here rather than imported, so the test does not share a mistake
# with the code: loopback, private, carrier NAT, link-local, multicast, unspecified, documentation, reserved.
INSIDE = [
    ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/127",  # unspecified and loopback
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
        "2001:db8::/32",
        "64:ff9b::/96",  # NAT64: reaches any IPv4 address, private ones too
        "2002::/16",  # 6to4: the same
    )
]
# A sample of the public Internet (DNS resolvers, CDNs, the push services' own networks).
PUBLIC = [
    ip_network(n)
    for n in (
        "1.1.1.0/24",
        "8.8.8.0/24",
        "142.250.0.0/15",
        "151.101.0.0/16",
        "52.0.0.0/11",
        "2a00:1450::/32",
        "2606:4700::/32",
        "2620:fe::/48",
    )
]

inside_addresses = st.sampled_from(INSIDE).flatmap(lambda n: st.ip_addresses(network=n))
public_addresses = st.sampled_from(PUBLIC).flatmap(lambda n: st.ip_addresses(network=n))
inside_v4 = st.sampled_from([n for n in INSIDE if n.version == 4]).flatmap(
    lambda n: st.ip_addresses(network=n)
)


def url_of(ip: IPv4Address | IPv6Address, path: str = "/push/x") -> str:
    return f"https://{ip}{path}" if ip.version == 4 else f"https://[{ip}]{path}"


def refused(url: str, rules: EndpointRules = PRODUCTION) -> str:
    with pytest.raises(Invalid) as e:
        check_endpoint(url, rules)
    return e.value.code


# --- the address rules (properties) ----------------------------------------------------------------------


@given(inside_addresses)
def test_inside_addresses_are_always_refused(ip):
    assert not is_public_address(ip)
    assert refused(url_of(ip)) == "endpoint_address"


@given(inside_v4)
def test_inside_ipv4_is_refused_in_every_ipv6_disguise(ip):
    mapped = IPv6Address(f"::ffff:{ip}")
    nat64 = IPv6Address(int(IPv6Address("64:ff9b::")) | int(ip))
    six_to_four = IPv6Address((0x2002 << 112) | (int(ip) << 80))
    for v6 in (mapped, nat64, six_to_four):
        assert not is_public_address(v6), v6
        assert refused(url_of(v6)) == "endpoint_address"


@given(st.ip_addresses(v=4))
def test_no_ipv4_address_passes_in_a_form_the_resolver_would_still_read(ip):
    """inet_aton, curl and browsers read 2130706433, 0x7f000001, 0177.0.0.1, 127.1 and 127.0.1 as 127.0.0.1."""
    n, b = int(ip), ip.packed
    forms = [
        str(n),
        hex(n),
        ".".join(f"0{x:o}" for x in b),
        ".".join(hex(x) for x in b),
        f"{b[0]}.{n & 0xFFFFFF}",
        f"{b[0]}.{b[1]}.{n & 0xFFFF}",
        f"{ip}.",  # trailing dot
    ]
    for form in forms:
        assert refused(f"https://{form}/push/x") in ("endpoint_address", "endpoint_invalid"), form


@given(public_addresses)
def test_public_addresses_are_accepted(ip):
    assert is_public_address(ip)
    endpoint = check_endpoint(url_of(ip), PRODUCTION)
    assert endpoint.literal == ip and endpoint.port == 443
    if ip.version == 4:  # written as IPv4-mapped IPv6 it is the same public address
        assert is_public_address(IPv6Address(f"::ffff:{ip}"))


@given(st.ip_addresses())
def test_never_looser_than_the_standard_library(ip):
    plain = ip.ipv4_mapped if ip.version == 6 and ip.ipv4_mapped else ip
    if is_public_address(ip):
        assert plain.is_global and not plain.is_multicast


@given(st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]\.(com|org|net|io|de)", fullmatch=True))
def test_public_host_names_are_accepted(host):
    assert check_endpoint(f"https://{host}/wpush/v2/abc?x=1", PRODUCTION).host == host


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "api.localhost",
        "printer.local",
        "metadata.google.internal",
        "metadata",  # one label: the search domains make it an internal name
        "router.home.arpa",
        "1.0.0.127.in-addr.arpa",
    ],
)
def test_local_names_are_refused(host):
    assert refused(f"https://{host}/push/x") == "endpoint_address"


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@fcm.googleapis.com/fcm/send/x",  # whose host is it?
        "https://fcm.googleapis.com@127.0.0.1/x",
        "https://fcm.googleapis.com\\@127.0.0.1/x",
        "https://fcm.googleapis.com:0/x",
        "https://fcm.googleapis.com:99999/x",
        "https:///x",
        "https://fcm.goo gleapis.com/x",
        "https://fcm.googleapis.com/x\n",
        "https://bad_host.example.com/x",
        "https://-bad.example.com/x",
        "https://xn--bcher-kva.example/x\x00",
    ],
)
def test_malformed_endpoints_are_refused(url):
    assert refused(url) in ("endpoint_invalid", "endpoint_address")


def test_allowed_hosts_restrict_to_known_push_services():
    rules = EndpointRules(allowed_hosts=parse_allowed_hosts(RECOMMENDED))
    for ok in (
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/abc",
        "https://wns2-by3p.notify.windows.com/w/?token=abc",
        "https://web.push.apple.com/QGx",
    ):
        check_endpoint(ok, rules)
    for bad in (
        "https://push.example.com/x",
        "https://fcm.googleapis.com.evil.example/x",
        "https://evilfcm.googleapis.com.example/x",
        "https://notify.windows.com/x",  # "*." means a subdomain
        "https://xfcm.googleapis.com/x",
        "https://142.250.0.1/x",  # an IP address is no push service's name
    ):
        assert refused(bad, rules) == "endpoint_not_allowed", bad
    assert parse_allowed_hosts(" FCM.googleapis.com. , ,*.notify.windows.com") == (
        "fcm.googleapis.com",
        "*.notify.windows.com",
    )


# --- subscribing over HTTP --------------------------------------------------------------------------------

REFUSED_ENDPOINTS = [
    ("https://127.0.0.1/push/x", "endpoint_address"),
    ("https://127.0.0.1:8443/push/x", "endpoint_address"),
    ("https://10.1.2.3/push/x", "endpoint_address"),
    ("https://172.16.0.1/push/x", "endpoint_address"),
    ("https://172.31.255.254/push/x", "endpoint_address"),
    ("https://192.168.1.1/push/x", "endpoint_address"),
    ("https://169.254.169.254/latest/meta-data/", "endpoint_address"),
    ("https://[::1]/push/x", "endpoint_address"),
    ("https://[fc00::]/push/x", "endpoint_address"),
    ("https://[fe80::1%25eth0]/push/x", "endpoint_address"),
    ("https://[::ffff:127.0.0.1]/push/x", "endpoint_address"),
    ("https://[::ffff:a9fe:a9fe]/push/x", "endpoint_address"),
    ("https://0.0.0.0/push/x", "endpoint_address"),
    ("https://localhost/push/x", "endpoint_address"),
    ("https://2130706433/push/x", "endpoint_address"),
    ("https://0177.0.0.1/push/x", "endpoint_address"),
    ("https://0x7f.1/push/x", "endpoint_address"),
    ("http://2130706433/", "endpoint_scheme"),
    ("http://push.example.com/push/x", "endpoint_scheme"),
    ("ftp://push.example.com/push/x", "endpoint_scheme"),
]


@pytest.mark.parametrize(("endpoint", "code"), REFUSED_ENDPOINTS)
def test_subscribing_an_inside_endpoint_is_a_clear_400(client, session, endpoint, code):
    token = csrf(client)
    body = {"subscription": BrowserKeys().subscription(endpoint)}
    r = client.post("/api/push/subscriptions", json=body, headers={"X-CSRF-Token": token})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == code and r.json()["field"] == "endpoint"
    assert r.json()["message"] in (
        "Push endpoints on private, local or reserved addresses are refused.",
        "A push endpoint must be an https:// address.",
    )
    es = client.post(
        "/api/push/subscriptions", json=body, headers={"X-CSRF-Token": token, "Accept-Language": "es"}
    )
    assert es.status_code == 400 and es.json()["message"].startswith(("No se aceptan", "La dirección"))
    assert session.exec(select(PushSubscription)).all() == []


@pytest.fixture
def allow_only_known_services(app, settings):
    narrowed = settings.model_copy(update={"push_allowed_hosts": RECOMMENDED})
    app.dependency_overrides[get_settings] = lambda: narrowed
    yield
    app.dependency_overrides.pop(get_settings)


def test_push_allowed_hosts_is_checked_when_subscribing(client, session, allow_only_known_services):
    token = csrf(client)
    b = BrowserKeys()

    def post(endpoint):
        body = {"subscription": b.subscription(endpoint)}
        return client.post("/api/push/subscriptions", json=body, headers={"X-CSRF-Token": token})

    r = post("https://push.example.com/wpush/x")
    assert r.status_code == 400 and r.json()["error"] == "endpoint_not_allowed"
    assert r.json()["message"] == "This push endpoint is not at a known push service."
    assert post("https://fcm.googleapis.com/fcm/send/abc").status_code == 201


# --- sending: after DNS, to the checked address, no redirects ---------------------------------------------


@pytest.fixture
def service():
    with FakePushService() as svc:
        yield svc


def queue_one(session: Session, city, endpoint: str) -> PushSubscription:
    """A device following a request, and one public note for it in the outbox."""
    req = make_request(session, city)
    b = BrowserKeys()
    sub = subscriptions.save_subscription(session, endpoint=endpoint, p256dh=b.p256dh, auth=b.auth)
    followers.follow_with_subscription(session, req=req, sub=sub)
    add_note(session=session, req=req, actor=Actor(label="Ops"), note="On our way", public=True)
    session.commit()
    return sub


def outbox(session: Session) -> list[Outbox]:
    rows = list(
        session.exec(select(Outbox).order_by(col(Outbox.id)).execution_options(populate_existing=True))
    )
    session.commit()
    return rows


def test_a_name_resolving_to_loopback_at_send_time_is_refused(session, city, settings, db, service, caplog):
    endpoint = service.endpoint("victim")  # https://push.fake-push.example:port/...: fine when subscribing
    sub_id = queue_one(session, city, endpoint).id
    resolved = []

    def resolve_inside(host, port):  # the name now points at 127.0.0.1, where the fake service listens
        resolved.append(host)
        return local_resolve(host, port)

    production_rules = push.endpoint_rules(settings)
    with (
        local_sender(settings, rules=production_rules, resolve=resolve_inside) as sender,
        caplog.at_level(logging.WARNING, logger="civic311.worker"),
    ):
        stats = Worker(settings, db, sender=sender).run_once()
    assert resolved == [FAKE_HOST]  # it was looked up, at send time...
    assert (stats.refused, stats.sent, stats.retried) == (1, 0, 0)
    assert service.count == 0  # ...and nothing was sent
    [row] = outbox(session)
    assert row.dead and row.sent_at is None and "private, local or reserved" in row.last_error
    session.expire_all()
    assert session.get(PushSubscription, sub_id) is None  # forgotten: never retried
    session.commit()
    assert "forgotten" in caplog.text and "private, local or reserved" in caplog.text

    # the control: the same path with loopback allowed (tests only) does reach the service
    queue_one(session, city, service.endpoint("control"))
    with local_sender(settings) as sender:
        assert Worker(settings, db, sender=sender).run_once().sent == 1
    assert service.count == 1


def test_one_inside_answer_among_public_ones_refuses_the_name(settings, service):
    only_127_0_0_1 = EndpointRules(address_ok=lambda ip: ip == IPv4Address("127.0.0.1"))
    answers = [IPv4Address("127.0.0.1"), IPv4Address("10.0.0.1")]
    with local_sender(settings, rules=only_127_0_0_1, resolve=lambda h, p: answers) as sender:
        r = sender.send(BrowserKeys().subscription(service.endpoint("mixed")), {"t": 1})
    assert r.refused and not r.retryable and service.count == 0


def test_the_connection_goes_to_the_checked_address_not_to_a_second_answer(settings, monkeypatch):
    """DNS rebinding: the name is resolved once, by the sender; the socket gets the checked address. Here
    127.0.0.1 plays the public address and 127.0.0.2, on the same port, the internal one that a second
    lookup would answer."""
    with FakePushService() as outside:
        port = int(outside.base.rsplit(":", 1)[1])
        with FakePushService(bind=("127.0.0.2", port)) as inside:
            real = socket.getaddrinfo
            looked_up = []

            def rebinding_getaddrinfo(host, *args, **kwargs):
                looked_up.append(host)
                if host == FAKE_HOST:
                    return real("127.0.0.2", *args, **kwargs)
                return real(host, *args, **kwargs)

            monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
            first = EndpointRules(address_ok=lambda ip: ip == IPv4Address("127.0.0.1"))
            with local_sender(settings, rules=first) as sender:  # local_resolve answers 127.0.0.1
                r = sender.send(BrowserKeys().subscription(outside.endpoint("x")), {"t": 1})
            assert r.ok, r
            assert outside.count == 1 and inside.count == 0
            assert FAKE_HOST not in looked_up  # nothing below the sender resolved the name again


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_never_followed(session, city, settings, db, service, status):
    with FakePushService() as elsewhere:
        target = elsewhere.endpoint("stolen")
        queue_one(session, city, service.endpoint("moved"))
        service.script(service.endpoint("moved"), [(status, {"Location": target})])
        with local_sender(settings) as sender:
            stats = Worker(settings, db, sender=sender).run_once()
        assert elsewhere.count == 0
    assert service.count == 1
    assert (stats.sent, stats.retried, stats.dead) == (0, 0, 1)
    [row] = outbox(session)
    assert row.dead and "not followed" in row.last_error and str(status) in row.last_error


def test_old_rows_with_an_inside_endpoint_are_refused_at_send_time(session, city, settings, db):
    """A subscription stored before the rules existed (plain http to 127.0.0.1) is never contacted."""
    with FakePushService(tls=False) as plain:
        sub = queue_one(session, city, "https://push.example.com/placeholder")
        sub.endpoint = plain.endpoint("legacy")  # as the old code let anyone register it
        session.add(sub)
        session.commit()
        with push.Sender(settings) as sender:  # production's sender, production's rules
            stats = Worker(settings, db, sender=sender).run_once()
        assert plain.count == 0
    assert stats.refused == 1
    assert "https://" in outbox(session)[0].last_error


def test_push_allowed_hosts_is_checked_again_at_send_time(session, city, settings, db, service):
    queue_one(session, city, service.endpoint("anywhere"))  # registered before the list was set
    narrowed = settings.model_copy(update={"push_allowed_hosts": RECOMMENDED})
    lookups = []
    resolve = lambda h, p: lookups.append(h) or local_resolve(h, p)  # noqa: E731
    with local_sender(settings, rules=push.endpoint_rules(narrowed), resolve=resolve) as sender:
        assert Worker(settings, db, sender=sender).run_once().refused == 1
    assert service.count == 0 and lookups == []  # refused before any DNS lookup


def test_certificates_are_still_verified(settings, service):
    """Connecting to an address does not weaken TLS: the name is still the one the certificate must carry."""
    with local_sender(settings, ssl_context=None) as sender:  # the system's CAs do not know the test CA
        r = sender.send(BrowserKeys().subscription(service.endpoint("x")), {"t": 1})
    assert r.status == 0 and "CERTIFICATE_VERIFY_FAILED" in r.error and service.count == 0


# --- re-subscribing never discloses a token ---------------------------------------------------------------


def subscribe(client, endpoint, keys, headers=None, **extra):
    body = {"subscription": keys.subscription(endpoint), **extra}
    return client.post(
        "/api/push/subscriptions", json=body, headers={"X-CSRF-Token": csrf(client), **(headers or {})}
    )


def test_resubscribing_someone_elses_endpoint_gets_a_fresh_subscription_not_its_token(client, session, city):
    req = make_request(session, city)
    endpoint = "https://fcm.googleapis.com/fcm/send/victim-device"
    victim = subscribe(client, endpoint, BrowserKeys(), public_id=req.public_id).json()
    assert victim["following"] and victim["token"]

    client.cookies.clear()  # another browser, which learned the endpoint URL
    r = subscribe(client, endpoint, BrowserKeys())
    assert r.status_code == 201
    other = r.json()
    assert other["token"] != victim["token"] and other["following"] == []
    assert victim["token"] not in r.text
    assert all(f["follower"] not in r.text for f in victim["following"])
    mine = client.get("/api/push/subscriptions", headers={"X-Push-Token": other["token"]}).json()
    assert [s["following"] for s in mine["subscriptions"]] == [[]]
    # the old subscription is gone with its token: as if that browser had unsubscribed
    old = client.get("/api/push/subscriptions", headers={"X-Push-Token": victim["token"]}).json()
    assert old == {"subscriptions": []}
    session.expire_all()
    assert session.exec(select(Follower).where(col(Follower.push_subscription_id).is_not(None))).all() == []
    session.commit()


def test_the_owner_resubscribing_with_its_token_keeps_everything(client, session, city):
    req = make_request(session, city)
    keys = BrowserKeys()
    endpoint = "https://updates.push.services.mozilla.com/wpush/v2/mine"
    first = subscribe(client, endpoint, keys, public_id=req.public_id).json()
    again = subscribe(client, endpoint, keys, headers={"X-Push-Token": first["token"]}).json()
    assert (again["id"], again["token"]) == (first["id"], first["token"])
    assert [f["public_id"] for f in again["following"]] == [req.public_id]


def test_a_browser_that_lost_its_token_can_subscribe_again_and_is_notified(client, session, city):
    req = make_request(session, city)
    keys = BrowserKeys()
    endpoint = "https://web.push.apple.com/QGx-lost-token"
    subscribe(client, endpoint, keys, public_id=req.public_id)
    again = subscribe(client, endpoint, keys, public_id=req.public_id)  # no X-Push-Token: storage cleared
    assert again.status_code == 201 and again.json()["following"][0]["public_id"] == req.public_id
    add_note(session=session, req=req, actor=Actor(label="Ops"), note="Done", public=True)
    session.commit()
    assert [r.subscription_id for r in outbox(session)] == [again.json()["id"]]


def test_staff_prove_ownership_by_their_login(client, session):
    make_user(session, "crew", email="a@example.org")
    make_user(session, "crew", email="b@example.org")
    endpoint = "https://fcm.googleapis.com/fcm/send/crew-phone"
    keys = BrowserKeys()
    login(client, "a@example.org")
    first = subscribe(client, endpoint, keys, staff=True).json()
    assert subscribe(client, endpoint, keys, staff=True).json()["token"] == first["token"]  # same user

    client.cookies.clear()
    login(client, "b@example.org")  # another user, without the device's token
    other = subscribe(client, endpoint, keys, staff=True).json()
    assert other["token"] != first["token"]


# --- nothing else in the server fetches anything ----------------------------------------------------------

OUTBOUND = {
    "aiohttp",
    "ftplib",
    "http.client",
    "httpcore",
    "httpx",
    "imaplib",
    "poplib",
    "pycurl",
    "pywebpush",
    "requests",
    "smtplib",
    "socket",
    "telnetlib",
    "urllib.request",
    "urllib3",
    "websocket",
    "websockets",
    "xmlrpc.client",
}
# The only modules that may open connections, and to what: push.py to checked push endpoints, the worker to
# the SMTP server of the settings (never an address a user gave).
ALLOWED = {
    "server/push.py": {"httpcore", "pywebpush", "socket"},
    "server/worker.py": {"smtplib"},
}


def outbound_imports(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "__import__",
            "import_module",
        ):
            names = [
                a.value for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
        for name in names:
            parts = name.split(".")
            found |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & OUTBOUND
    return found


def test_the_scan_sees_the_usual_ways_of_importing():
    assert outbound_imports("import httpx") == {"httpx"}
    assert outbound_imports("from urllib import request") == {"urllib.request"}
    assert outbound_imports("import urllib.request as r") == {"urllib.request"}
    assert outbound_imports("from http.client import HTTPSConnection") == {"http.client"}
    assert outbound_imports("importlib.import_module('requests')") == {"requests"}
    assert outbound_imports("from urllib.parse import urlsplit") == set()


def test_only_the_push_sender_makes_outbound_connections():
    offenders = {}
    for path in sorted((ROOT / "server").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        extra = outbound_imports(path.read_text()) - ALLOWED.get(rel, set())
        if extra:
            offenders[rel] = sorted(extra)
    assert offenders == {}
