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


# --- no import cycles ---------------------------------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SERVER.rglob("*.py")}


def server_imports(name: str, path: Path) -> set[str]:
    """The modules of server/ that `name` imports, as the interpreter loads them.

    Every import counts, at the top of the module or inside a function: an import moved into a function still
    needs the other module, it only hides the cycle until the function runs. Importing a.b.c runs the packages
    a.b and a.b.c (their __init__ imports too); the importer's own parent packages are already loading.
    """
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            # `from pkg import name` imports the submodule pkg.name when there is one
            targets |= {
                f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names
            }
    loaded = {".".join(t.split(".")[:i]) for t in targets for i in range(2, len(t.split(".")) + 1)}
    return {m for m in loaded if m in MODULES and m != name and not name.startswith(m + ".")}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = stack[stack.index(node) :]
                    del stack[stack.index(node) :]
                    if len(component) > 1:
                        found.append(_one_cycle(graph, set(component)))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in stack:
                low[node] = min(low[node], index[child])
    return found


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A path a -> ... -> a inside the component, for the failure message."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & component):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    return sorted(component)


def test_no_import_cycles_in_server() -> None:
    graph = {name: server_imports(name, path) for name, path in MODULES.items()}
    assert graph["server.main"], "the import graph is empty: the parser went wrong"
    cycles = import_cycles(graph)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c", "a"]]


# --- routes own no transaction ------------------------------------------------------------------------------

TRANSACTION_CALLS = {"add", "flush", "rollback", "commit", "get"}


def transaction_calls(source: str) -> list[int]:
    """Lines calling session.add/get/flush/rollback/commit, or .flush()/.rollback()/.commit() on anything.

    `request.session.get(...)` is the signed cookie, not the database: only a bare `session` name counts for
    add and get (every route names its database session `session`, see deps.SessionDep).
    """
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        attr, owner = node.func.attr, node.func.value
        if attr in {"flush", "rollback", "commit"} or (
            attr in TRANSACTION_CALLS and isinstance(owner, ast.Name) and owner.id == "session"
        ):
            lines.append(node.lineno)
    return lines


def test_routes_leave_writes_and_transactions_to_services() -> None:
    """A route parses, calls a service and renders; what it writes and when it commits belong to the service."""
    offenders = [
        f"{f.relative_to(ROOT)}:{line}"
        for f in [*files("pages"), *files("api")]
        for line in transaction_calls(f.read_text())
    ]
    assert offenders == []


def test_the_transaction_check_sees_each_call() -> None:
    for call in ("session.add(x)", "session.get(User, 1)", "s.flush()", "session.rollback()", "db.commit()"):
        assert transaction_calls(f"def route(session):\n    {call}\n") == [2], call
    assert transaction_calls("def route(request):\n    request.session.get('device')\n") == []
