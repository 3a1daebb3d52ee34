"""THE ROLE MATRIX: every route either declares who may use it (a RequireRole dependency) or is public on purpose.

For each guarded route, every role that is not allowed gets 403 and an anonymous visitor gets 401 (or a redirect to
/login). The role check runs before the handler, so dummy path values are fine: a missing object would be 404 only
for an allowed role.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.auth import RequireRole
from server.models import Role
from tests.factories import csrf_from, login, make_user

# (method, path) pairs open to everyone on purpose, and why
PUBLIC = {
    ("GET", "/"): "resident home",
    ("GET", "/staff"): "redirects to the right home or to /login",
    ("GET", "/login"): "login",
    ("POST", "/login"): "login",
    ("POST", "/logout"): "logout (CSRF-protected; harmless when signed out)",
    ("GET", "/healthz"): "health check",
    ("GET", "/media/{key}"): "photo renditions: content-addressed, unguessable keys",
    ("GET", "/openapi.json"): "FastAPI schema",
    ("GET", "/docs"): "FastAPI docs",
    ("GET", "/docs/oauth2-redirect"): "FastAPI docs",
    ("GET", "/redoc"): "FastAPI docs",
    ("GET", "/offline"): "the resident app's offline page",
    ("GET", "/field/sw.js"): "the crew app's service worker must load before login",
    ("GET", "/field/manifest.webmanifest"): "the crew app's manifest",
    ("GET", "/api/push/key"): "VAPID public key for residents",
    ("POST", "/api/push/subscriptions"): "residents subscribe anonymously (token-based)",
    ("GET", "/api/push/subscriptions"): "token-based",
    ("DELETE", "/api/push/subscriptions/{sub_id}"): "token-based",
    ("DELETE", "/api/push/subscriptions/{sub_id}/follows/{public_id}"): "token-based",
    (
        "GET",
        "/notifications",
    ): "this browser's push subscriptions (token in localStorage) and, signed in, mine",
}
# Whole areas that are public by design: Open311 (API keys, not sessions), the resident pages.
PUBLIC_PREFIXES = ("/open311", "/requests", "/report", "/r/", "/follow", "/unfollow", "/manifest", "/sw.js")


def _flat_routes(app: Any) -> Iterator[tuple[str, str, Any]]:
    """(method, path, dependant) for every route, including routers included into the app."""
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        items = list(contexts()) if contexts else [route]
        for r in items:
            dependant = getattr(r, "dependant", None)
            if dependant is None:
                continue  # Mount (static files)
            for method in sorted(getattr(r, "methods", None) or []):
                if method != "HEAD":
                    yield method, r.path, dependant


def _roles(dependant: Any) -> frozenset[Role] | None:
    for dep in dependant.dependencies:
        if isinstance(dep.call, RequireRole):
            return dep.call.roles
        found = _roles(dep)
        if found is not None:
            return found
    return None


def _is_public(method: str, path: str) -> bool:
    return (method, path) in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: "json" if m.group(1) == "fmt" else "1", path)


def _matrix(app: Any) -> list[tuple[str, str, frozenset[Role]]]:
    return [(m, p, roles) for m, p, d in _flat_routes(app) if (roles := _roles(d)) is not None]


def test_every_route_is_guarded_or_public_on_purpose(app) -> None:  # type: ignore[no-untyped-def]
    unguarded = [f"{m} {p}" for m, p, d in _flat_routes(app) if _roles(d) is None and not _is_public(m, p)]
    assert unguarded == [], "add a role dependency (server/auth.py) or list the route in PUBLIC with a reason"
    assert len(_matrix(app)) >= 20  # the walk really finds the guarded routes


def test_known_areas_have_the_right_roles(app) -> None:  # type: ignore[no-untyped-def]
    by_path = {(m, p): r for m, p, r in _matrix(app)}
    assert by_path[("GET", "/dispatch")] == {Role.dispatcher, Role.admin}
    assert by_path[("POST", "/dispatch/bulk")] == {Role.dispatcher, Role.admin}
    assert by_path[("GET", "/admin/keys")] == {Role.admin}
    assert by_path[("POST", "/admin/users/{user_id}")] == {Role.admin}
    assert by_path[("GET", "/admin/audit")] == {Role.admin}
    assert by_path[("POST", "/admin/users/{user_id}/password")] == {Role.admin}
    assert by_path[("GET", "/account/password")] == set(Role)


def test_nothing_can_change_or_delete_the_audit_log(app) -> None:  # type: ignore[no-untyped-def]
    """Append-only: the log is read at GET /admin/audit and written only beside the changes it records."""
    assert [(m, p) for m, p, _ in _flat_routes(app) if "audit" in p] == [("GET", "/admin/audit")]


def _send(client: TestClient, method: str, path: str, token: str) -> Any:
    headers = {"X-CSRF-Token": token}
    if method == "GET":
        return client.get(path, follow_redirects=False)
    return client.request(method, path, headers=headers, data={"csrf_token": token}, follow_redirects=False)


@pytest.fixture
def clients(app, session) -> Iterator[dict[str, tuple[TestClient, str]]]:  # type: ignore[no-untyped-def]
    out: dict[str, tuple[TestClient, str]] = {}
    with TestClient(app) as anon:
        out["anonymous"] = (anon, csrf_from(anon.get("/login").text))
        for role in Role:
            c = TestClient(app)
            c.__enter__()
            make_user(session, role.value, email=f"{role.value}@roles.example")
            assert login(c, f"{role.value}@roles.example").status_code == 303
            out[role.value] = (c, _token_of(c))
        yield out
        for name, (c, _) in out.items():
            if name != "anonymous":
                c.__exit__(None, None, None)


def _token_of(c: TestClient) -> str:
    # any page that renders base.html carries the session's token; the resident home is public
    return csrf_from(c.get("/").text)


def test_roles_not_allowed_get_403_and_anonymous_must_log_in(app, clients) -> None:  # type: ignore[no-untyped-def]
    failures = []
    for method, path, allowed in _matrix(app):
        url = _concrete(path)
        for role in Role:
            if role in allowed:
                continue
            client, token = clients[role.value]
            r = _send(client, method, url, token)
            if r.status_code != 403:
                failures.append(f"{role.value} {method} {path} -> {r.status_code}")
        client, token = clients["anonymous"]
        r = _send(client, method, url, token)
        ok = r.status_code == 401 or (r.status_code == 303 and r.headers["location"].startswith("/login"))
        if not ok:
            failures.append(f"anonymous {method} {path} -> {r.status_code}")
    assert failures == []


def test_every_staff_page_and_private_answer_is_never_stored(app, clients, session, city) -> None:  # type: ignore[no-untyped-def]
    """Cache-Control: no-store on every guarded page (as a role allowed there, and as the anonymous visitor sent
    to log in) and on the public answers that carry personal data or a login."""
    from tests.factories import make_request

    failures = []
    for method, path, allowed in _matrix(app):
        if method != "GET":
            continue
        url = _concrete(path)
        for who in (min(allowed, key=lambda r: r.value).value, "anonymous"):
            r = clients[who][0].get(url, follow_redirects=False)
            if r.headers.get("cache-control") != "no-store":
                failures.append(f"{who} GET {path} -> {r.status_code} {r.headers.get('cache-control')}")
    req = make_request(session, city)
    anon, token = clients["anonymous"]
    for r in (
        anon.get(f"/r/{req.public_id}?t={req.private_token}"),
        anon.get("/api/push/subscriptions", headers={"X-Push-Token": "x"}),
        anon.get("/login"),
        anon.get("/notifications"),
        anon.post("/login", data={"csrf_token": token, "email": "a@b.example", "password": "wrong one"}),
        anon.post("/report", data={"csrf_token": token}),
    ):
        if r.headers.get("cache-control") != "no-store":
            failures.append(
                f"anonymous {r.request.method} {r.request.url.path} -> {r.headers.get('cache-control')}"
            )
    assert failures == []
    # public pages without personal data stay cacheable by the browser's normal rules
    assert anon.get(f"/requests/{req.public_id}").headers.get("cache-control") != "no-store"
