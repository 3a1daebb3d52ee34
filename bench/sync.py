"""The field sync endpoint applying one device's batch: 500 events across 100 jobs, 50 of them photos.

    .venv/bin/python bench/sync.py [--quick]

For each database (a temporary SQLite file; PostgreSQL too when DATABASE_URL names one) the script makes a fresh
schema with the city's catalogue, 100 open jobs assigned to one crew (plus 5,000 other requests, --quick 500),
logs the crew in through the real app (TestClient, so routing, CSRF, JSON and the unit of work are all measured),
then sends what one phone would after a day offline: per job start, notes, an after-photo for half of the jobs,
completion. Non-photo events go in one POST /field/api/sync; photos one per POST /field/api/photos/{id}, as the
app does. It then sends everything again (all `duplicate`). --quick: 100 events across 20 jobs, 10 photos.

Also the app's first load with an empty cache, compressed (gzip -6) as a proxy for the bytes transferred: shell
page, CSS, scripts, manifest and icons (the shell loads no map library).

Last line: one JSON object with `batch_s` and `events_per_s` (SQLite; PostgreSQL under `postgresql`) and detail.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import pathlib
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make `server` importable

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from sqlalchemy import update  # noqa: E402
from sqlmodel import select  # noqa: E402

from server.city import load_city  # noqa: E402
from server.config import Settings  # noqa: E402
from server.db import make_engine, session_scope  # noqa: E402
from server.main import create_app  # noqa: E402
from server.migrations import upgrade  # noqa: E402
from server.models import Crew, ServiceRequest, Status  # noqa: E402
from server.services.accounts import create_user  # noqa: E402
from server.services.catalogue import import_city  # noqa: E402
from server.services.demo import generate  # noqa: E402
from tests.databases import scratch_postgres  # noqa: E402

SECRET = "bench-secret-key-not-for-production-0123456789"
PASSWORD = "bench crew password"


def photo_bytes() -> bytes:
    """A phone-like photo: 2000x1500 with some detail, about 0.3 MB."""
    im = Image.new("RGB", (2000, 1500), (90, 90, 95))
    d = ImageDraw.Draw(im)
    for i in range(0, 2000, 40):
        d.line([(i, 0), (2000 - i, 1500)], fill=(i % 255, 120, 200 - i % 150), width=3)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def prepare(settings: Settings, jobs: int, others: int) -> list[int]:
    upgrade(settings)
    engine = make_engine(settings)
    city = load_city(settings.city_file)
    with session_scope(engine) as s:
        import_city(session=s, city=city)
        generate(session=s, city=city, count=others + jobs, seed=7)
    with session_scope(engine) as s:
        crew = s.exec(select(Crew).order_by(Crew.id)).first()
        assert crew is not None
        create_user(
            session=s,
            email="crew@bench.example",
            name="Bench Crew",
            role="crew",
            password=PASSWORD,
            crew_name=crew.name,
        )
        ids = list(s.exec(select(ServiceRequest.id).order_by(ServiceRequest.id.desc()).limit(jobs)))  # type: ignore[union-attr]
        s.exec(  # type: ignore[call-overload]
            update(ServiceRequest)
            .where(ServiceRequest.id.in_(ids))  # type: ignore[union-attr]
            .values(crew_id=crew.id, status=Status.open, close_reason=None, closed_at=None)
        )
    engine.dispose()
    return ids


def day_of_work(
    job_ids: list[int], user_id: int, events_per_job: int, photo_jobs: int
) -> list[dict[str, Any]]:
    """What a phone queues: per job start, notes, (an after-photo), completion: in the outbox's order."""
    out: list[dict[str, Any]] = []
    for n, job in enumerate(job_ids):
        kinds = ["start"] + ["note"] * (events_per_job - 2) + ["complete"]
        if n < photo_jobs:
            kinds[2] = "photo"
        for k in kinds:
            ev: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "job": job,
                "kind": k,
                "user_id": user_id,
                "client_time": datetime.now(UTC).isoformat(),
            }
            if k == "note":
                ev.update(note=f"Note {n}: filled and rolled", public=n % 2 == 0)
            if k == "complete":
                ev.update(resolution="fixed", note="Done")
            out.append(ev)
    return out


def send(
    client: TestClient, token: str, events: list[dict[str, Any]], photo: bytes
) -> tuple[float, float, list[str]]:
    """The app's order: runs of non-photo events in one POST, each photo on its own. Returns (sync_s, photo_s)."""
    headers = {"X-CSRF-Token": token}
    statuses: list[str] = []
    sync_s = photo_s = 0.0
    batch = [e for e in events if e["kind"] != "photo"]
    t = time.perf_counter()
    r = client.post("/field/api/sync", json={"events": batch}, headers=headers)
    r.raise_for_status()
    sync_s += time.perf_counter() - t
    statuses += [x["status"] for x in r.json()["results"]]
    t = time.perf_counter()
    for e in (e for e in events if e["kind"] == "photo"):
        meta = {k: e[k] for k in ("job", "user_id", "client_time")}
        r = client.post(
            f"/field/api/photos/{e['id']}",
            data={"event": json.dumps(meta)},
            files={"photo": ("p.jpg", photo, "image/jpeg")},
            headers=headers,
        )
        r.raise_for_status()
        statuses.append(r.json()["result"]["status"])
    photo_s += time.perf_counter() - t
    return sync_s, photo_s, statuses


def run_db(settings: Settings, quick: bool) -> dict[str, Any]:
    jobs, per_job, photos = (20, 5, 10) if quick else (100, 5, 50)
    t = time.perf_counter()
    job_ids = prepare(settings, jobs, 500 if quick else 5000)
    fill_s = time.perf_counter() - t
    app = create_app(settings)
    photo = photo_bytes()
    with TestClient(app) as client:
        page = client.get("/login")
        token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        r = client.post(
            "/login",
            data={"email": "crew@bench.example", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        me = client.get("/field/api/session").json()
        jobs_body = client.get("/field/api/jobs").content  # what the phone downloads in the morning
        events = day_of_work(job_ids, me["user_id"], per_job, photos)
        cpu = time.process_time()
        sync_s, photo_s, statuses = send(client, me["csrf"], events, photo)
        cpu_s = time.process_time() - cpu
        assert statuses.count("applied") == len(events), statuses
        again_sync_s, again_photo_s, again = send(client, me["csrf"], events, photo)
        assert set(again) == {"duplicate"}, set(again)
    app.state.engine.dispose()
    total = sync_s + photo_s
    return {
        "events": len(events),
        "jobs": jobs,
        "photos": photos,
        "batch_s": round(total, 3),
        "events_per_s": round(len(events) / total, 1),
        "sync_call_s": round(sync_s, 3),
        "photo_calls_s": round(photo_s, 3),
        "photo_ms_each": round(1000 * photo_s / photos, 1),
        "cpu_s": round(cpu_s, 3),  # this process's CPU time: the shared machine's load inflates wall time
        "replay_s": round(again_sync_s + again_photo_s, 3),
        "jobs_list_gzip_bytes": len(gzip.compress(jobs_body, 6)),
        "fill_s": round(fill_s, 2),
    }


def first_load(settings: Settings) -> dict[str, Any]:
    """Bytes of the field app's first load with an empty cache, gzip -6 (what a compressing proxy sends)."""
    from server.pages.field import ICONS, SCRIPTS, STYLES

    app = create_app(settings)
    sizes: dict[str, int] = {}
    with TestClient(app) as client:
        token = client.get("/login").text.split('name="csrf-token" content="')[1].split('"')[0]
        client.post("/login", data={"email": "crew@bench.example", "password": PASSWORD, "csrf_token": token})
        for url in ["/field/", "/field/sw.js", "/field/manifest.webmanifest", *SCRIPTS, *STYLES, *ICONS]:
            body = client.get(url).content
            sizes[url] = len(gzip.compress(body, 6))
    app.state.engine.dispose()
    return {"first_load_gzip_bytes": sum(sizes.values()), "target_bytes": 150_000, "files": sizes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 events across 20 jobs, 10 photos")
    args = ap.parse_args()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        var = pathlib.Path(tmp)
        sqlite = Settings(database_url=f"sqlite:///{var / 'bench.db'}", secret_key=SECRET, var_dir=var)
        out["sqlite"] = run_db(sqlite, args.quick)
        print("sqlite", json.dumps(out["sqlite"]), flush=True)
        out["page"] = first_load(sqlite)
        print("first load", json.dumps(out["page"]), flush=True)
        with scratch_postgres("bench_sync") as url:
            if url:
                pg = Settings(database_url=url, secret_key=SECRET, var_dir=var / "pg")
                out["postgresql"] = run_db(pg, args.quick)
                print("postgresql", json.dumps(out["postgresql"]), flush=True)
    result = {
        "batch_s": out["sqlite"]["batch_s"],
        "events_per_s": out["sqlite"]["events_per_s"],
        "first_load_gzip_bytes": out["page"]["first_load_gzip_bytes"],
        "quick": args.quick,
        "detail": out,
    }
    if "postgresql" in out:
        result["postgresql"] = {k: out["postgresql"][k] for k in ("batch_s", "events_per_s")}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
