"""Notification throughput: one Outbox worker sending queued Web Push messages to a local push service.

    .venv/bin/python bench/push.py [--quick] [--messages N]

10,000 messages (1,000 with --quick) to 1,000 subscriptions are queued in the Outbox of a temporary SQLite
file, and of a fresh PostgreSQL database too when DATABASE_URL names one. One worker (server.worker.Worker,
the code `python -m server worker` runs) sends them: aes128gcm encryption, a VAPID signature, an HTTP POST
to the push service and one committed outcome per message. The push service is a separate process on
127.0.0.1 (tests/fake_push.py) that answers 201 without decrypting, so the worker's own cost is measured.
Memory: the worker's resident anonymous memory (RssAnon: its heap) after the first 500 messages (warm)
and at the end; pages of mapped files (SQLite's database and WAL, RssFile) are reported apart.
The last line printed is one JSON object: per_s and rss_growth_mb (SQLite), and each database's details.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make `server` and `tests` importable

import httpx  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from server.city import load_city  # noqa: E402
from server.config import Settings  # noqa: E402
from server.db import make_engine, session_scope  # noqa: E402
from server.migrations import upgrade  # noqa: E402
from server.models import Outbox, PushSubscription, utcnow  # noqa: E402
from server.services.catalogue import import_city  # noqa: E402
from server.worker import Policy, Worker  # noqa: E402
from tests.fake_push import BrowserKeys, local_sender  # noqa: E402

DEVICES = 1000
WARM = 500


def rss_mb(kind: str = "RssAnon") -> float:
    """RssAnon: the worker's own (heap) memory. RssFile counts pages of files the process maps (SQLite's
    database and WAL), which the kernel can drop at any time; it is reported apart."""
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(kind + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def queue(engine, base: str, n: int) -> None:  # type: ignore[no-untyped-def]
    keys = BrowserKeys()  # one key pair is enough: the service does not decrypt
    now = utcnow()
    with session_scope(engine) as s:
        s.execute(
            insert(PushSubscription),
            [
                {
                    "endpoint": f"{base}/push/d{i}",
                    "p256dh": keys.p256dh,
                    "auth": keys.auth,
                    "token": f"bench-{i}",
                    "language": "en",
                    "created_at": now,
                }
                for i in range(DEVICES)
            ],
        )
    with session_scope(engine) as s:
        first = s.execute(PushSubscription.__table__.select().order_by("id").limit(1)).first().id  # type: ignore[attr-defined]
        rows = [
            {
                "channel": "push",
                "subscription_id": first + i % DEVICES,
                "email": "",
                "payload": {
                    "kind": "status",
                    "title": f"311-2026-{i:06d} is in progress",
                    "body": "A crew is on the way. " * 4,
                    "url": f"/requests/311-2026-{i:06d}",
                    "public_id": f"311-2026-{i:06d}",
                    "icon": "/static/icons/icon-192.png",
                    "unfollow_url": f"/unfollow/token-{i}",
                },
                "created_at": now,
                "available_at": now,
                "attempts": 0,
                "dead": False,
                "last_error": "",
            }
            for i in range(n)
        ]
        for i in range(0, n, 2000):
            s.execute(insert(Outbox), rows[i : i + 2000])


def run(database_url: str, var_dir: pathlib.Path, base: str, n: int, label: str) -> dict:
    settings = Settings(
        database_url=database_url, var_dir=var_dir, secret_key="bench-secret-key-0123456789abcdef"
    )
    upgrade(settings)
    engine = make_engine(settings)
    with session_scope(engine) as s:
        import_city(session=s, city=load_city(settings.city_file))
    queue(engine, base, n)
    count0 = int(httpx.get(base + "/count").text)
    sender = local_sender(settings)  # the service is plain http on 127.0.0.1: refused by production's rules
    worker = Worker(settings, engine, policy=Policy(batch=100), sender=sender)
    sent = 0
    while sent < min(WARM, n // 2):  # warm-up: imports, key loading, connection pools, allocator
        sent += worker.run_once().sent
    rss_start, file_start = rss_mb(), rss_mb("RssFile")
    rss_max = rss_start
    started = time.perf_counter()
    measured = 0
    while True:
        stats = worker.run_once()
        if not stats.claimed:
            break
        measured += stats.sent
        rss_max = max(rss_max, rss_mb())
    elapsed = time.perf_counter() - started
    rss_end, file_end = rss_mb(), rss_mb("RssFile")
    received = int(httpx.get(base + "/count").text) - count0
    sender.close()
    engine.dispose()
    return {
        "db": label,
        "messages": n,
        "received_by_push_service": received,
        "measured_messages": measured,
        "seconds": round(elapsed, 2),
        "per_s": round(measured / elapsed, 1) if elapsed else 0.0,
        "rss_start_mb": round(rss_start, 1),
        "rss_max_mb": round(rss_max, 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_growth_mb": round(rss_end - rss_start, 1),
        "mapped_file_growth_mb": round(file_end - file_start, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 messages (under a minute)")
    ap.add_argument("--messages", type=int, default=None)
    args = ap.parse_args()
    n = args.messages or (1000 if args.quick else 10_000)

    service = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_push"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    results = []
    pg_url = None
    try:
        base = service.stdout.readline().strip()  # type: ignore[union-attr]
        with tempfile.TemporaryDirectory() as tmp:
            var = pathlib.Path(tmp)
            r = run(f"sqlite:///{var / 'bench.db'}", var, base, n, "sqlite")
            print(json.dumps(r))
            results.append(r)
            if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql")):
                from tests.databases import create_pg_database, drop_pg_database

                pg_url = create_pg_database("benchpush")
                try:
                    r = run(pg_url, var / "pg", base, n, "postgresql")  # type: ignore[arg-type]
                    print(json.dumps(r))
                    results.append(r)
                finally:
                    drop_pg_database(pg_url)  # type: ignore[arg-type]
    finally:
        service.stdin.close()  # type: ignore[union-attr]
        service.wait(10)
    first = results[0]
    print(
        json.dumps(
            {
                "per_s": first["per_s"],
                "rss_growth_mb": first["rss_growth_mb"],
                "messages": n,
                "quick": args.quick,
                "cpu_count": os.cpu_count(),
                "runs": results,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
