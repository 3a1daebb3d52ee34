"""Open311 GET requests.json under load, beside a bare endpoint returning an equally long body (the ceiling).

    .venv/bin/python bench/open311.py [--quick] [--requests N] [--seconds S] [--workers W] [--clients C]

For each database (a temporary SQLite file; PostgreSQL too when DATABASE_URL names one) the script fills a fresh
database with N requests (1,000,000; --quick 20,000) through server.services.demo.generate, starts the real
application under uvicorn with W workers and the options of `python -m server serve`, wrapped by
bench/ceiling_app.py (which adds /open311/v2/_ceiling.json; production never serves it), and drives it with C concurrent keep-alive HTTP/1.1 clients for three queries: the default window,
service_code+status, and a bbox. The load comes from wrk (Debian's package `wrk`: C and epoll, so the load
generator costs the shared two cores far less than the server); without it, from asyncio clients on raw sockets,
which cost more and so understate both sides. Clients send no Accept-Encoding: both sides answer the whole body.
Each query is compared with the ceiling endpoint answering a precomputed body of the same length, measured in
alternating slices (3 rounds of ours then ceiling; 1 with --quick) so that both see the same share of the machine.

The last line printed is one JSON object: `ratio` (worst throughput / ceiling throughput over the queries and
databases), `p99_ms` (worst 99th percentile latency), `targets`, and `detail` per database and query.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make `server` importable


from server.city import load_city  # noqa: E402
from server.config import Settings  # noqa: E402
from server.db import make_engine, session_scope  # noqa: E402
from server.migrations import upgrade  # noqa: E402
from server.services.addresses import import_addresses  # noqa: E402
from server.services.catalogue import import_city  # noqa: E402
from server.services.demo import generate  # noqa: E402
from tests.databases import scratch_postgres  # noqa: E402

TARGET_RATIO = 0.40
TARGET_P99_MS = 100.0
ADDRESSES = ROOT / "server" / "cities" / "haverhill_addresses.csv"
SECRET = "bench-secret-key-not-for-production-0123456789"


# what `python -m server serve` (server/cli.py cmd_serve) passes to uvicorn, so the figures are production's;
# the database is migrated by fill() already
SERVE_OPTIONS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--no-proxy-headers"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the databases ----------------------------------------------------------------------------------------


def fill(settings: Settings, count: int) -> float:
    """The catalogue, the city's known addresses (realistic positions), then `count` generated requests."""
    upgrade(settings)
    engine = make_engine(settings)
    city = load_city(settings.city_file)
    started = time.perf_counter()
    with session_scope(engine) as session:
        import_city(session=session, city=city)
        import_addresses(session=session, city=city, path=ADDRESSES)
    done = 0
    while done < count:  # commit in slices: bounded transaction size on both databases
        n = min(100_000, count - done)
        with session_scope(engine) as session:
            generate(session=session, city=city, count=n, seed=done + 1)
        done += n
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return time.perf_counter() - started


# --- the server -------------------------------------------------------------------------------------------


class Server:
    def __init__(self, settings: Settings, workers: int, log: pathlib.Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": settings.db_url,
            "SECRET_KEY": SECRET,
            "VAR_DIR": str(settings.var_dir),
            "BASE_URL": self.url,
            "PYTHONUNBUFFERED": "1",
        }
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bench.ceiling_app:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(workers),
                    *SERVE_OPTIONS,
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.log = log

    def wait(self) -> None:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.log.read_text()[-2000:])
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not start in 60 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# --- the load generator -----------------------------------------------------------------------------------


async def _client(port: int, path: str, until: float, lat: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    try:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def _load(
    port: int, path: str, seconds: float, clients: int, lat: list[float], errors: list[int]
) -> float:
    start = time.perf_counter()
    until = start + seconds
    await asyncio.gather(*(_client(port, path, until, lat, errors) for _ in range(clients)))
    return time.perf_counter() - start


def _summary(lat: list[float], errors: list[int], elapsed: float) -> dict[str, Any]:
    lat.sort()
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [lat[0]] * 99
    return {
        "requests": len(lat),
        "rps": round(len(lat) / elapsed, 1),
        "p50_ms": round(statistics.median(lat) * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
        "errors": len(errors),
    }


WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
"""


def _wrk(url: str, seconds: float, clients: int, script: pathlib.Path) -> dict[str, float]:
    """One wrk run (C, epoll: it costs the shared CPU far less than any Python client)."""
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    n, duration_us, p50_us, p99_us, errors = (int(v) for v in line.split()[1:])
    return {"n": n, "s": duration_us / 1e6, "p50": p50_us / 1e6, "p99": p99_us / 1e6, "errors": errors}


def compare(port: int, path: str, ceiling: str, seconds: float, clients: int) -> tuple[dict, dict]:
    """Ours and the ceiling in alternating slices, so both see the same machine (the CPU is shared).

    With wrk on the PATH (Debian's package `wrk`) it drives the load; otherwise the asyncio clients above do.
    Throughput is over all slices; p50 and p99 are the worst slice's (wrk reports percentiles per run)."""
    rounds = 3 if seconds >= 6 else 1  # wrk counts whole seconds
    if shutil.which("wrk") is None:
        return _compare_asyncio(port, path, ceiling, seconds, clients, rounds)
    base = f"http://127.0.0.1:{port}"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
    script = pathlib.Path(f.name)
    try:
        for target in (path, ceiling):  # warm-up: connections, caches
            _wrk(base + target, 1, clients, script)
        runs: dict[str, list[dict[str, float]]] = {"ours": [], "ceiling": []}
        for _ in range(rounds):
            for name, target in (("ours", path), ("ceiling", ceiling)):
                runs[name].append(_wrk(base + target, seconds / rounds, clients, script))
    finally:
        script.unlink()
    return tuple(  # type: ignore[return-value]
        {
            "requests": sum(r["n"] for r in rs),
            "rps": round(sum(r["n"] for r in rs) / sum(r["s"] for r in rs), 1),
            "p50_ms": round(max(r["p50"] for r in rs) * 1000, 1),
            "p99_ms": round(max(r["p99"] for r in rs) * 1000, 1),
            "errors": int(sum(r["errors"] for r in rs)),
            "load": "wrk",
        }
        for rs in runs.values()
    )


def _compare_asyncio(
    port: int, path: str, ceiling: str, seconds: float, clients: int, rounds: int
) -> tuple[dict, dict]:
    asyncio.run(_load(port, path, min(1.0, seconds / 3), clients, [], []))  # warm-up: connections, caches
    asyncio.run(_load(port, ceiling, min(1.0, seconds / 3), clients, [], []))
    runs: dict[str, tuple[list[float], list[int], list[float]]] = {
        "ours": ([], [], []),
        "ceiling": ([], [], []),
    }
    for _ in range(rounds):
        for name, target in (("ours", path), ("ceiling", ceiling)):
            lat, errors, elapsed = runs[name]
            elapsed.append(asyncio.run(_load(port, target, seconds / rounds, clients, lat, errors)))
    return tuple(  # type: ignore[return-value]
        {**_summary(lat, err, sum(el)), "load": "asyncio"} for lat, err, el in runs.values()
    )


# --- one database -----------------------------------------------------------------------------------------


def queries(settings: Settings) -> dict[str, str]:
    city = load_city(settings.city_file)
    lat, long = city.center
    bbox = f"{long - 0.01:.4f},{lat - 0.01:.4f},{long + 0.01:.4f},{lat + 0.01:.4f}"
    return {
        "default": "/open311/v2/requests.json",
        "service_code_status": "/open311/v2/requests.json?service_code=pothole&status=open",
        "bbox": f"/open311/v2/requests.json?bbox={bbox}",
    }


def bench_database(
    name: str, settings: Settings, args: argparse.Namespace, log: pathlib.Path
) -> dict[str, Any]:
    import httpx

    fill_s = fill(settings, args.requests)
    print(f"[{name}] {args.requests:,} requests generated in {fill_s:.1f} s", flush=True)
    server = Server(settings, args.workers, log)
    try:
        server.wait()
        out: dict[str, Any] = {"fill_s": round(fill_s, 1)}
        for label, path in queries(settings).items():
            first = httpx.get(server.url + path, timeout=60)
            first.raise_for_status()
            size = len(first.content)
            items = len(first.json())
            ceiling_path = f"/open311/v2/_ceiling.json?bytes={size}"
            ours, ceiling = compare(server.port, path, ceiling_path, args.seconds, args.clients)
            ratio = ours["rps"] / ceiling["rps"] if ceiling["rps"] else 0.0
            out[label] = {
                "path": path,
                "items": items,
                "bytes": size,
                "ours": ours,
                "ceiling": ceiling,
                "ratio": round(ratio, 3),
            }
            print(
                f"[{name}] {label:<20} {items:>5} items {size / 1000:>7.1f} kB  "
                f"{ours['rps']:>7.1f} req/s p50 {ours['p50_ms']:>6.1f} ms p99 {ours['p99_ms']:>6.1f} ms  |  "
                f"ceiling {ceiling['rps']:>7.1f} req/s p99 {ceiling['p99_ms']:>6.1f} ms  |  ratio {ratio:.2f}",
                flush=True,
            )
        return out
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 requests, 2 s per measurement")
    parser.add_argument("--requests", type=int, help="rows to generate (default 1,000,000; --quick 20,000)")
    parser.add_argument("--seconds", type=float, help="per measurement (default 10; --quick 2)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument(
        "--sqlite-only", action="store_true", help="skip PostgreSQL even if DATABASE_URL is set"
    )
    args = parser.parse_args(argv)
    args.requests = args.requests or (20_000 if args.quick else 1_000_000)
    args.seconds = args.seconds or (2.0 if args.quick else 10.0)

    detail: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-open311-") as tmp:
        tmp_path = pathlib.Path(tmp)
        sqlite = Settings(
            database_url=f"sqlite:///{tmp_path / 'bench.db'}", var_dir=tmp_path, secret_key=SECRET
        )
        detail["sqlite"] = bench_database("sqlite", sqlite, args, tmp_path / "server-sqlite.log")
        with scratch_postgres("bench_open311") as url:
            if url and not args.sqlite_only:
                settings = Settings(database_url=url, var_dir=tmp_path / "pg", secret_key=SECRET)
                detail["postgresql"] = bench_database(
                    "postgresql", settings, args, tmp_path / "server-pg.log"
                )

    results = [q for db in detail.values() for q in db.values() if isinstance(q, dict)]
    return {
        "ratio": min(q["ratio"] for q in results),
        "p99_ms": max(q["ours"]["p99_ms"] for q in results),
        "targets": {"ratio": TARGET_RATIO, "p99_ms": TARGET_P99_MS},
        "requests": args.requests,
        "clients": args.clients,
        "workers": args.workers,
        "seconds": args.seconds,
        "quick": args.quick,
        "cpus": os.cpu_count(),
        "detail": detail,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
