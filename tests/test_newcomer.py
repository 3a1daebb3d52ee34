"""What a newcomer meets first: `make run`, the demo logins, `migrate` saying what it did."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from server.config import ROOT
from tests.conftest import make_settings
from tests.databases import create_pg_database, drop_pg_database
from tests.e2e.conftest import server_env


def cli(settings, *args: str) -> str:  # type: ignore[no-untyped-def]
    done = subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env=server_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_migrate_says_whether_it_created_migrated_or_had_nothing_to_do(tmp_path: Path) -> None:
    from server.migrations import downgrade
    from server.migrations import upgrade as head

    pg = create_pg_database("newcomer")
    settings = make_settings(tmp_path, pg or f"sqlite:///{tmp_path / 'new.db'}")
    try:
        created = cli(settings, "migrate").strip()
        latest = re.fullmatch(r"Created the database at migration (\d{4})", created)
        assert latest, created
        assert cli(settings, "migrate").strip() == f"Already at the latest migration ({latest.group(1)})"
        downgrade(settings, "0003")
        assert cli(settings, "migrate").strip() == f"Migrated from 0003 to {latest.group(1)}"
        head(settings)
    finally:
        if pg:
            drop_pg_database(pg)


def test_demo_logins_give_role_name_email_password_and_crew(db, settings) -> None:
    (settings.var_dir / "demo-logins.json").unlink(missing_ok=True)
    printed = cli(settings, "seed-demo")
    logins = json.loads((settings.var_dir / "demo-logins.json").read_text())
    assert [(d["role"], d["name"], d["email"]) for d in logins][:3] == [
        ("admin", "Alex Admin", "admin@civic311.example"),
        ("dispatcher", "Dana Dispatcher", "dispatcher@civic311.example"),
        ("operator", "Olivia Operator", "operator@civic311.example"),
    ]
    crews = [d["crew"] for d in logins if d["role"] == "crew"]
    assert len(crews) == 2 and all(crews) and crews[0] != crews[1]
    assert all(d["password"] for d in logins)
    # what `make run` prints: the same table, and where to log in
    assert re.search(r"Staff log in at http://\S+/login", printed)
    for d in logins:
        row = next(line for line in printed.splitlines() if d["email"] in line).split()
        assert row[0] == d["role"] and d["password"] in row and (d["crew"] or "-").split()[-1] == row[-1]
    # an install made before this change kept {e-mail: password}: its passwords are kept, the file is upgraded
    old = {d["email"]: d["password"] for d in logins}
    (settings.var_dir / "demo-logins.json").write_text(json.dumps(old))
    cli(settings, "seed-demo")
    again = json.loads((settings.var_dir / "demo-logins.json").read_text())
    assert {d["email"]: d["password"] for d in again} == old and again[0]["name"] == "Alex Admin"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_port_moves_base_url_unless_it_is_set(tmp_path: Path) -> None:
    # a copy of the project's Makefile and the files its targets depend on, so .env is the test's own
    for name in ("Makefile", "pyproject.toml", "package.json", "package-lock.json"):
        shutil.copyfile(ROOT / name, tmp_path / name)

    def dry_run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
        out = subprocess.run(
            ["make", "-n", "run", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", **(env or {})},
        ).stdout
        return next(line for line in out.splitlines() if "-m server serve" in line)

    serve = dry_run(tmp_path, "PORT=8123")
    assert serve.startswith("BASE_URL=http://127.0.0.1:8123 ") and serve.endswith("--port 8123")
    serve = dry_run(tmp_path, "PORT=8123", env={"BASE_URL": "https://311.example.org"})
    assert serve.startswith("BASE_URL=https://311.example.org ")
    (tmp_path / ".env").write_text("BASE_URL=https://from-dotenv.example.org\n")
    serve = dry_run(tmp_path, "PORT=8123")
    assert "BASE_URL=" not in serve and serve.endswith("--port 8123")  # .env's own value stands
