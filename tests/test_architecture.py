"""Imports point one way: domain <- models <- services <- api/pages <- main."""

from __future__ import annotations

import ast
from pathlib import Path

from server.config import ROOT

SERVER = ROOT / "server"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    pkg = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                found.add(".".join([*base, node.module or ""]).rstrip("."))
            else:
                found.add(node.module or "")
    return found


def files(folder: str) -> list[Path]:
    return sorted((SERVER / folder).rglob("*.py"))


def test_domain_imports_only_the_standard_library() -> None:
    for f in files("domain"):
        bad = {
            i
            for i in imports_of(f)
            if i.split(".")[0] in {"fastapi", "sqlmodel", "sqlalchemy", "starlette"}
            or (i.startswith("server.") and not i.startswith("server.domain"))
        }
        assert not bad, f"{f.name} imports {bad}"


def test_services_do_not_import_the_web_layer() -> None:
    for f in files("services"):
        bad = {
            i
            for i in imports_of(f)
            if i.split(".")[0] in {"fastapi", "starlette"}
            or i.startswith(("server.pages", "server.api", "server.main", "server.templating"))
        }
        assert not bad, f"{f.name} imports {bad}"


def test_models_do_not_import_services_or_web() -> None:
    for f in files("models"):
        bad = {i for i in imports_of(f) if i.startswith(("server.services", "server.pages", "server.api"))}
        assert not bad, f"{f.name} imports {bad}"


def test_only_photos_imports_pillow() -> None:
    users = [f.name for f in SERVER.rglob("*.py") if any(i.split(".")[0] == "PIL" for i in imports_of(f))]
    assert users == ["photos.py"]


def test_routes_ask_services_and_never_build_queries() -> None:
    """Routes are thin: what a page or an API lists comes from a service (the health check's SELECT 1 aside)."""
    offenders = []
    for f in [*files("pages"), *files("api")]:
        if f.name == "health.py":
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "select":
                offenders.append(f"{f.relative_to(ROOT)}:{node.lineno}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "exec"
                and getattr(node.value, "id", "") == "session"
            ):
                offenders.append(f"{f.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
