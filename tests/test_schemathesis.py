"""Schemathesis against the app's own OpenAPI: no generated request, valid or not, gets a 5xx.

What the schema covers: every route FastAPI documents (the Open311 API, field sync, push, and the resident,
operator, dispatcher and admin pages with their path, query and typed form parameters: 76 operations), plus,
added here, the arguments that routes read by hand and so FastAPI cannot document: Open311 GET requests and
servicerequestupdates arguments, the Open311 POST form, the dispatcher's queue filters and bulk ids, the
resident's report form (multipart, with a photo) and the operator's call forms. Not covered: routes left out of
the schema on purpose (service workers, manifests, /media, the Open311 human page, /report/csrf).

Each operation runs as the roles allowed to use it (20 examples, valid and schema-breaking mixed, with the real
public id, user, key and subscription in the path half the time so that the route gets past its lookup), as
anonymous (public routes 20 examples, guarded ones 3: they must refuse before reading anything), and public
routes also as each staff role (5). Hypothesis runs derandomized (the same examples every run) without a
database or deadline. One pytest item per (role, operation), so `-n 2` splits them.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import pkgutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import schemathesis.core.jsonschema.patterns
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlmodel import Session

from server.db import session_scope
from server.main import create_app
from server.models import Role
from server.services.apikeys import create_api_key
from server.services.catalogue import import_city
from server.services.subscriptions import save_subscription
from tests.conftest import empty_database, make_settings
from tests.factories import csrf_from, login, make_request, make_user
from tests.fake_push import BrowserKeys
from tests.test_roles import _flat_routes, _roles


def _import_all(package: Any) -> None:
    """Import every schemathesis module now, at collection. pytest rewrites the asserts of a plugin's modules
    as they are imported, and schemathesis imports many lazily, mid-test; under CPython 3.11 a parse made then
    (deep in hypothesis, with Playwright's greenlets in the same worker) can fail with "AST constructor recursion
    depth mismatch"."""
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".", onerror=lambda _: None):
        with contextlib.suppress(Exception):
            importlib.import_module(info.name)


_import_all(schemathesis)

STAFF = [r.value for r in Role]
EXAMPLES, GUARDED_ANONYMOUS, PUBLIC_AS_STAFF = 20, 3, 5
SESSION_COOKIE = "civic311_session"

# ---------------------------------------------------------------- what routes read by hand


def _any(*schemas: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [*schemas, {"type": "string"}]}


TEXT: dict[str, Any] = {"type": "string"}
ID = _any({"type": "integer"})
NUMBER = _any({"type": "number"})
DATE = _any({"type": "string", "format": "date-time"}, {"type": "string", "format": "date"})
SERVICE = _any({"enum": ["pothole", "sidewalk-damage", "graffiti"]})
SIZE = _any({"enum": ["small", "medium", "large"]})
# the answers of two services: a list question (pothole) and a number question (sidewalk-damage)
ANSWERS = {
    "attribute[size]": SIZE,
    "attribute[problem]": _any({"enum": ["cracked"]}),
    "attribute[length_feet]": NUMBER,
}
CALL = {"call_id": ID, "caller_phone": TEXT, "caller_name": TEXT, "started_at": DATE}

HAND_PARSED_QUERY: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("get", "/open311/v2/requests.{fmt}"): {
        "service_request_id": TEXT,
        "service_code": SERVICE,
        "status": _any({"enum": ["open", "closed", "open,closed"]}),
        "start_date": DATE,
        "end_date": DATE,
        "updated_after": DATE,
        "updated_before": DATE,
        "page": ID,
        "page_size": ID,
        "bbox": TEXT,
        "lat": NUMBER,
        "long": NUMBER,
        "radius": NUMBER,
        "extensions": _any({"enum": ["true", "false"]}),
        "jurisdiction_id": TEXT,
    },
    ("get", "/open311/v2/servicerequestupdates.{fmt}"): {
        "start_date": DATE,
        "end_date": DATE,
        "page": ID,
        "page_size": ID,
        "jurisdiction_id": TEXT,
    },
    ("get", "/dispatch"): {
        "status": TEXT,
        "service": ID,
        "department": ID,
        "crew": _any({"enum": ["none"]}, {"type": "integer"}),
        "age": TEXT,
        "overdue": TEXT,
        "channel": TEXT,
        "sort": _any({"enum": ["newest", "oldest", "due", "priority"]}),
        "page": ID,
    },
}
HAND_PARSED_FORM: dict[tuple[str, str], tuple[str, dict[str, dict[str, Any]]]] = {
    ("post", "/open311/v2/requests.{fmt}"): (
        "application/x-www-form-urlencoded",
        {
            "api_key": TEXT,
            "service_code": SERVICE,
            "lat": NUMBER,
            "long": NUMBER,
            "address_string": TEXT,
            "address_id": ID,
            "email": TEXT,
            "first_name": TEXT,
            "last_name": TEXT,
            "phone": TEXT,
            "description": TEXT,
            "media_url": TEXT,
            **ANSWERS,
        },
    ),
    ("post", "/report"): (
        "multipart/form-data",
        {
            "service_code": SERVICE,
            "description": TEXT,
            "lat": NUMBER,
            "long": NUMBER,
            "address": TEXT,
            "name": TEXT,
            "email": TEXT,
            "phone": TEXT,
            "idempotency_key": TEXT,
            **ANSWERS,
            "photos": {"type": "string", "format": "binary"},
        },
    ),
    ("post", "/operator/call/requests"): (
        "application/x-www-form-urlencoded",
        {
            "service_code": SERVICE,
            "description": TEXT,
            "address": TEXT,
            "lat": NUMBER,
            "long": NUMBER,
            "caller_email": TEXT,
            "caller_language": TEXT,
            "idempotency_key": TEXT,
            "attr_size": SIZE,
            "attr_problem": _any({"enum": ["cracked"]}),
            "attr_length_feet": NUMBER,
            **CALL,
        },
    ),
    ("post", "/operator/call/follow"): (
        "application/x-www-form-urlencoded",
        {"request_ref": ID, "caller_email": TEXT, "caller_language": TEXT, **CALL},
    ),
    ("post", "/operator/call/answer"): ("application/x-www-form-urlencoded", {"article_id": ID, **CALL}),
    ("post", "/operator/call/transfer"): (
        "application/x-www-form-urlencoded",
        {"department_id": ID, "topic": TEXT, **CALL},
    ),
    ("post", "/operator/call/end"): (
        "application/x-www-form-urlencoded",
        {"outcome": TEXT, "topic": TEXT, "notes": TEXT, **CALL},
    ),
}
EXTRA_FORM_FIELDS = {("post", "/dispatch/bulk"): {"ids": {"type": "array", "items": ID}}}


def documented(openapi: dict[str, Any], known: dict[str, str]) -> dict[str, Any]:
    """The app's schema plus what routes parse by hand; path values offered as real ones half the time."""
    doc = copy.deepcopy(openapi)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            params = op.setdefault("parameters", [])
            for name, schema in HAND_PARSED_QUERY.get((method, path), {}).items():
                params.append({"name": name, "in": "query", "required": False, "schema": schema})
            for p in params:
                if p["in"] == "path":
                    real = known.get(p["name"])
                    p["schema"] = _any({"enum": [real]}, p["schema"]) if real else p["schema"]
            if (method, path) in HAND_PARSED_FORM:
                media, props = HAND_PARSED_FORM[(method, path)]
                op["requestBody"] = {"content": {media: {"schema": {"type": "object", "properties": props}}}}
            for name, schema in EXTRA_FORM_FIELDS.get((method, path), {}).items():
                ref = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["$ref"]
                doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"][name] = schema
    return doc


# ---------------------------------------------------------------- who runs what


def _plan() -> list[Any]:
    """(role, method, path, examples) for every documented operation: read from a throwaway app."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp), f"sqlite:///{tmp}/plan.db")
        app = create_app(settings)
        paths = app.openapi()["paths"]
        routes = [(m, p, _roles(d)) for m, p, d in _flat_routes(app) if m.lower() in paths.get(p, {})]
        app.state.engine.dispose()
        app.state.lookup_engine.dispose()
    out = []
    for method, path, roles in sorted(routes, key=lambda r: (r[1], r[0])):
        allowed = [r.value for r in roles] if roles else []
        runs = {"anonymous": EXAMPLES if not roles else GUARDED_ANONYMOUS}
        for role in STAFF:
            if role in allowed:
                runs[role] = EXAMPLES
            elif not roles and path not in ("/logout", "/login"):  # a role's own session must survive
                runs[role] = PUBLIC_AS_STAFF
        for role, n in runs.items():
            out.append(pytest.param(role, method, path, n, id=f"{role} {method} {path}"))
    return out


PLAN = _plan()
assert len(PLAN) > 150, "the plan reads the schema: fewer runs means routes went missing from it"


@dataclass
class Api:
    schema: Any
    sessions: dict[str, tuple[dict[str, str], dict[str, str]]]  # role -> (headers, cookies)
    api_key: str


@pytest.fixture(scope="module")
def api(app, engine, city) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    empty_database(engine)
    with session_scope(engine) as s:
        import_city(session=s, city=city)
    with Session(engine, expire_on_commit=False) as s:
        for role in STAFF:
            make_user(s, role)
        victim = make_user(s, "operator", email="victim@test.example")  # for admin's user edits
        req = make_request(s, city)
        _, key = create_api_key(session=s, name="schemathesis")
        spare, _ = create_api_key(session=s, name="revoked by the run")
        keys = BrowserKeys()
        sub = save_subscription(s, endpoint="https://push.example/one", p256dh=keys.p256dh, auth=keys.auth)
        s.commit()
        known = {
            "public_id": req.public_id or "",
            "request_id": req.public_id or "",
            "code": "pothole",
            "fmt": "json",
            "user_id": str(victim.id),
            "key_id": str(spare.id),
            "sub_id": str(sub.id),
            "token": req.private_token,
        }
    sessions: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    clients = []
    for role in ["anonymous", *STAFF]:
        c = TestClient(app)
        c.__enter__()
        clients.append(c)
        if role != "anonymous":
            assert login(c, f"{role}@test.example").status_code == 303
        token = csrf_from(c.get("/").text)
        sessions[role] = ({"X-CSRF-Token": token}, {SESSION_COOKIE: c.cookies[SESSION_COOKIE]})
    schema = schemathesis.openapi.from_dict(documented(app.openapi(), known))
    schema.app = app
    yield Api(schema, sessions, key)
    for c in clients:
        c.__exit__(None, None, None)


@pytest.mark.parametrize(("role", "method", "path", "examples"), PLAN)
def test_no_server_error(api: Api, role: str, method: str, path: str, examples: int) -> None:
    headers, cookies = api.sessions[role]
    operation = api.schema.include(method=method, path=path)
    strategies = [operation.as_strategy(GenerationMode.POSITIVE, headers=headers, cookies=cookies)]
    if _has_inputs(operation):
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE, headers=headers, cookies=cookies))
    seen: list[int] = []

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def run(case: Any) -> None:
        if path.startswith("/open311/v2/requests") and method == "POST" and isinstance(case.body, dict):
            case.body.setdefault("api_key", api.api_key)  # past the key check, to the parsing behind it
        response = case.call(headers=headers, cookies=cookies)
        seen.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    run()
    assert seen and max(seen) < 500


def _has_inputs(operation: Any) -> bool:
    """Schema-breaking data needs something to break: a parameter or a body."""
    op = next(iter(operation.get_all_operations())).ok()
    return bool(list(op.iter_parameters())) or bool(op.body)


def test_the_schema_documents_the_hand_parsed_arguments(api: Api) -> None:
    """The additions above point at routes that exist (a renamed route must not silently drop them)."""
    paths = api.schema.raw_schema["paths"]
    for method, path in [*HAND_PARSED_QUERY, *HAND_PARSED_FORM, *EXTRA_FORM_FIELDS]:
        assert method in paths.get(path, {}), f"{method.upper()} {path} is no longer in the schema"
