"""Dispatch and intake query speed with a million requests, on SQLite and on PostgreSQL.

    .venv/bin/python bench/queries.py [--quick] [--count N] [--runs N]

Fills a fresh database (a temporary SQLite file; and a throwaway PostgreSQL database beside the one DATABASE_URL
names, when it is set) with the Haverhill catalogue, its address list and N generated requests
(server.services.demo.generate; 1,000,000 by default, 50,000 with --quick), then times server-side:
the triage queue's first page with typical filters (server.services.dispatch.queue), the operator's service
autocomplete (server.services.catalogue.search_services) and address suggestions (suggest_addresses).
The last line printed is one JSON object: p50_ms and p95_ms (the worst over queries and databases) and detail.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make `server` importable

from sqlalchemy import text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from server.city import load_city  # noqa: E402
from server.config import Settings  # noqa: E402
from server.db import make_engine, session_scope  # noqa: E402
from server.migrations import upgrade  # noqa: E402
from server.models import Crew, Department, Service  # noqa: E402
from server.services.addresses import import_addresses, suggest_addresses  # noqa: E402
from server.services.catalogue import import_city, search_services  # noqa: E402
from server.services.demo import generate  # noqa: E402
from server.services.dispatch import QueueFilter, queue  # noqa: E402
from tests.databases import scratch_postgres  # noqa: E402

TARGET_P50_MS = 50
TARGET_P95_MS = 150
CITY_FILE = ROOT / "server" / "cities" / "haverhill.toml"
ADDRESSES = ROOT / "server" / "cities" / "haverhill_addresses.csv"
SERVICE_TEXTS = ["hole in the road", "pothole", "street light out", "trash not picked up", "graffiti"]
ADDRESS_TEXTS = ["12 main", "washington", "merrimack st", "1", "summer s"]


def queue_cases(session: Session) -> dict[str, dict[str, str]]:
    """Filters a dispatcher really uses, with ids from the loaded catalogue."""
    pothole = session.exec(select(Service.id).where(Service.code == "pothole")).one()
    dept = session.exec(select(Department.id).where(Department.code == "dpw-highway")).one()
    crew = session.exec(select(Crew.id).order_by(Crew.id)).first()
    return {
        "queue_default": {},
        "queue_open_pothole": {"status": "open", "service": str(pothole)},
        "queue_department": {"department": str(dept)},
        "queue_unassigned": {"crew": "none"},
        "queue_crew_by_priority": {"crew": str(crew), "sort": "priority"},
        "queue_overdue_by_due": {"overdue": "1", "sort": "due"},
        "queue_phone_channel": {"channel": "phone"},
        "queue_older_7d_oldest": {"age": "7d", "sort": "oldest"},
        "queue_all_closed_page3": {"status": "closed", "page": "3"},
    }


def time_ms(fn: Callable[[], Any], runs: int) -> list[float]:
    for _ in range(3):  # warm-up: statement cache, page cache
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 2), "p95_ms": round(p95, 2)}


def fill(settings: Settings, count: int) -> tuple[Any, float]:
    city = load_city(CITY_FILE)
    upgrade(settings)
    engine = make_engine(settings)
    start = time.perf_counter()
    with session_scope(engine) as s:
        import_city(session=s, city=city)
        import_addresses(session=s, city=city, path=ADDRESSES)
    done = 0
    while done < count:  # commit in slices: bounded transaction size on both databases
        n = min(100_000, count - done)
        with session_scope(engine) as s:
            generate(session=s, city=city, count=n, seed=done + 1)
        done += n
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # what autovacuum (PostgreSQL) / PRAGMA optimize (SQLite) keep fresh on a live database; otherwise the
        # first timed queries would race the background vacuum of a million fresh rows
        conn.execute(text("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE"))
    return engine, time.perf_counter() - start


def run_db(name: str, settings: Settings, count: int, runs: int) -> dict[str, Any]:
    engine, fill_s = fill(settings, count)
    print(f"{name}: {count:,} requests loaded in {fill_s:.0f} s", flush=True)
    results: dict[str, Any] = {}
    with Session(engine) as session:
        for label, params in queue_cases(session).items():
            f = QueueFilter.parse(params)
            results[label] = summary(time_ms(lambda f=f: queue(session, f), runs))
        for t in SERVICE_TEXTS:  # the operator's service search (named match_services before catalogue.py)
            fn = lambda t=t: search_services(session, t, limit=8)  # noqa: E731
            results[f"match_services[{t}]"] = summary(time_ms(fn, runs))
        for t in ADDRESS_TEXTS:
            fn = lambda t=t: suggest_addresses(session, t, 8)  # noqa: E731
            results[f"suggest_addresses[{t}]"] = summary(time_ms(fn, runs))
    engine.dispose()
    for label, r in results.items():
        shown = r if isinstance(r, str) else "p50 {p50_ms:7.2f} ms  p95 {p95_ms:7.2f} ms".format(**r)
        print(f"  {label:42} {shown}")
    return {"fill_s": round(fill_s, 1), "queries": results}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="50,000 requests and fewer runs (under a minute)"
    )
    parser.add_argument("--count", type=int, help="requests to generate (default 1,000,000; --quick 50,000)")
    parser.add_argument("--runs", type=int, help="timed runs per query (default 30; --quick 20)")
    args = parser.parse_args(argv)
    count = args.count or (50_000 if args.quick else 1_000_000)
    runs = args.runs or (20 if args.quick else 30)
    detail: dict[str, Any] = {"count": count, "runs": runs}
    with tempfile.TemporaryDirectory(prefix="bench-queries-") as tmp:
        var_dir = pathlib.Path(tmp)
        sqlite = Settings(
            database_url=f"sqlite:///{var_dir / 'bench.db'}", var_dir=var_dir, city_file=CITY_FILE
        )
        detail["sqlite"] = run_db("sqlite", sqlite, count, runs)
        with scratch_postgres("bench_queries") as url:
            if url is None:
                detail["postgresql"] = "skipped: DATABASE_URL is not set"
            else:
                settings = Settings(database_url=url, var_dir=var_dir, city_file=CITY_FILE)
                detail["postgresql"] = run_db("postgresql", settings, count, runs)
    timed = [
        (db, q, r)
        for db in ("sqlite", "postgresql")
        if isinstance(detail[db], dict)
        for q, r in detail[db]["queries"].items()
        if isinstance(r, dict)
    ]
    worst50 = max(timed, key=lambda t: t[2]["p50_ms"])
    worst95 = max(timed, key=lambda t: t[2]["p95_ms"])
    out = {
        "p50_ms": worst50[2]["p50_ms"],
        "p95_ms": worst95[2]["p95_ms"],
        "worst_p50": f"{worst50[0]} {worst50[1]}",
        "worst_p95": f"{worst95[0]} {worst95[1]}",
        "target_p50_ms": TARGET_P50_MS,
        "target_p95_ms": TARGET_P95_MS,
        "ok": worst50[2]["p50_ms"] < TARGET_P50_MS and worst95[2]["p95_ms"] < TARGET_P95_MS,
        "detail": detail,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
