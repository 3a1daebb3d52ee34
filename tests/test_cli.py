"""python -m server ...: seed-demo is idempotent, create-user, create-api-key, import-addresses, generate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from server.config import ROOT
from server.models import Activity, Address, ApiKey, Service, ServiceRequest, User
from server.services.apikeys import check_api_key
from tests.e2e.conftest import server_env


def run(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env=server_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )


def counts(engine) -> dict[str, int]:
    with Session(engine) as s:
        return {
            m.__name__: s.exec(select(func.count()).select_from(m)).one()
            for m in (ServiceRequest, Activity, User, Service, Address)
        }


def test_seed_demo_twice_changes_nothing(db, settings) -> None:
    first = run(settings, "seed-demo")
    assert first.returncode == 0, first.stderr
    after_first = counts(db)
    assert after_first["ServiceRequest"] >= 200 and after_first["User"] == 5 and after_first["Address"] > 100
    second = run(settings, "seed-demo")
    assert second.returncode == 0, second.stderr
    assert counts(db) == after_first
    # the same logins are printed each time, and they work
    assert first.stdout.splitlines()[1:] == second.stdout.splitlines()[1:]
    assert "admin@civic311.example" in first.stdout
    with Session(db) as s:
        statuses = dict(
            s.exec(select(ServiceRequest.status, func.count()).group_by(ServiceRequest.status)).all()
        )
    assert set(statuses) == {"open", "in_progress", "closed"}


def test_create_user_and_bad_role(db, settings) -> None:
    ok = run(
        settings,
        "create-user",
        "--email",
        "New@Example.org",
        "--name",
        "New Person",
        "--role",
        "operator",
        "--password",
        "a long enough password",
    )
    assert ok.returncode == 0, ok.stderr
    with Session(db) as s:
        assert s.exec(select(User.role).where(User.email == "new@example.org")).one() == "operator"
    bad = run(
        settings,
        "create-user",
        "--email",
        "x@example.org",
        "--name",
        "X",
        "--role",
        "operator",
        "--password",
        "short",
    )
    assert bad.returncode == 2 and "at least 10 characters" in bad.stderr
    dup = run(
        settings,
        "create-user",
        "--email",
        "new@example.org",
        "--name",
        "Y",
        "--role",
        "admin",
        "--password",
        "a long enough password",
    )
    assert dup.returncode == 2 and "already exists" in dup.stderr


def test_create_api_key_prints_the_key_last(db, settings) -> None:
    out = run(settings, "create-api-key", "SeeClickFix bridge")
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip().splitlines()[-1]
    with Session(db) as s:
        row = check_api_key(session=s, key=key)
        assert row is not None and row.name == "SeeClickFix bridge"
        assert key not in str(s.exec(select(ApiKey)).all())  # only the hash is stored
    revoke = run(settings, "revoke-api-key", str(row.id))
    assert revoke.returncode == 0
    with Session(db) as s:
        assert check_api_key(session=s, key=key) is None


def test_import_addresses_refuses_a_bad_file_and_writes_nothing(db, settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("number,street,lat,long\n1,Main St,42.78,-71.08\n2,Boston Common,42.355,-71.065\n")
    out = run(settings, "import-addresses", str(bad))
    assert out.returncode == 2 and "outside Haverhill" in out.stderr
    assert counts(db)["Address"] == 0
    good = tmp_path / "good.csv"
    good.write_text("number,street,lat,long\n1,Main St,42.78,-71.08\n")
    assert run(settings, "import-addresses", str(good)).returncode == 0
    assert run(settings, "import-addresses", str(good)).returncode == 0
    assert counts(db)["Address"] == 1


def test_generate_bulk_inserts_requests_with_their_timeline(db, settings) -> None:
    out = run(settings, "generate", "--requests", "2500")
    assert out.returncode == 0, out.stderr
    c = counts(db)
    assert c["ServiceRequest"] == 2500 and c["Activity"] == 2500
    with Session(db) as s:
        ids = s.exec(select(ServiceRequest.public_id).limit(5)).all()
    assert all(i.startswith("311-") for i in ids)


def test_seed_demo_queues_no_notifications_for_its_history(db, settings) -> None:
    from server.models import Outbox

    assert run(settings, "seed-demo").returncode == 0
    with Session(db) as s:
        assert s.exec(select(func.count()).select_from(Outbox)).one() == 0
