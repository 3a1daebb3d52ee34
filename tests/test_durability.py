"""`kill -9` in the middle of a burst of reports with photos: nothing acknowledged is lost, nothing is
half-written, and media-gc leaves only files that rows refer to.

A real `python -m server serve` in a subprocess with its own VAR_DIR and database (SQLite, or PostgreSQL
when DATABASE_URL names one), three clients posting reports with a photo and an idempotency key each, a
SIGKILL while they post, a restart, the clients' retries, then `python -m server media-gc --min-age 0`.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlmodel import Session, select

from server.config import ROOT, Settings
from server.db import make_engine, session_scope
from server.migrations import upgrade
from server.models import Photo, ServiceRequest
from server.photos import media_path
from server.services.catalogue import import_city
from tests import photo_samples
from tests.conftest import CITY_FILE, TEST_SECRET, make_settings
from tests.databases import create_pg_database, drop_pg_database
from tests.e2e.conftest import free_port
from tests.factories import HAVERHILL_CITY_HALL, csrf_from

CLIENTS = 3
KILL_AFTER_ACKS = 6  # acknowledged reports before the kill: the burst is well under way


@pytest.fixture
def install(tmp_path: Path, worker_id_str: str) -> Iterator[Settings]:
    """A fresh install: its own VAR_DIR and database, migrated, with the demo city's catalogue."""
    pg = create_pg_database(f"{worker_id_str}dur")
    settings = make_settings(tmp_path / "var", pg or f"sqlite:///{tmp_path / 'var' / 'civic311.db'}")
    upgrade(settings)
    engine = make_engine(settings)
    with session_scope(engine) as s:
        import_city(session=s, city=_city())
    engine.dispose()
    yield settings
    if pg:
        drop_pg_database(pg)


def _city():  # type: ignore[no-untyped-def]
    from server.city import load_city

    return load_city(CITY_FILE)


class Server:
    def __init__(self, settings: Settings, log: Path) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": settings.db_url,
            "SECRET_KEY": TEST_SECRET,
            "VAR_DIR": str(settings.var_dir),
            "CITY_FILE": str(settings.city_file),
            "PHOTO_DECODE_WAIT_S": "60",  # this test is about crashes, not about a busy machine's 503s
            "PYTHONUNBUFFERED": "1",
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> Server:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--port", str(port)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def command(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "server", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return out.stdout


def _photos(n: int) -> list[bytes]:
    """Different photos, so that every report has files of its own."""
    return [photo_samples.phone_jpeg(400 + i, 300, orientation=1) for i in range(n)]


def _post(client: httpx.Client, url: str, token: str, key: str, photo: bytes) -> httpx.Response:
    lat, long = HAVERHILL_CITY_HALL
    return client.post(
        url + "/report",
        data={
            "csrf_token": token,
            "idempotency_key": key,
            "service_code": "pothole",
            "attribute[size]": "large",
            "lat": str(lat),
            "long": str(long),
            "description": "Durability test",
        },
        files=[("photos", ("p.jpg", photo, "image/jpeg"))],
        headers={"Accept": "application/json"},
        timeout=30,
    )


def test_kill_9_mid_burst_loses_nothing_acknowledged_and_media_gc_cleans_up(
    install: Settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    server = Server(install, tmp_path / "server.log").start()
    photos = _photos(40)
    acked: dict[str, str] = {}  # idempotency key -> public id
    unanswered: dict[str, bytes] = {}  # sent, no answer: the client will send them again
    lock = threading.Lock()
    enough = threading.Event()

    def resident(n: int) -> None:
        with httpx.Client() as client:
            token = csrf_from(client.get(server.url + "/report").text)
            for i in range(n, len(photos), CLIENTS):
                key = str(uuid.uuid4())
                try:
                    r = _post(client, server.url, token, key, photos[i])
                except httpx.TransportError:  # the server died under this request
                    with lock:
                        unanswered[key] = photos[i]
                    return
                assert r.status_code == 201, r.text
                with lock:
                    acked[key] = r.json()["public_id"]
                    if len(acked) >= KILL_AFTER_ACKS:
                        enough.set()

    threads = [threading.Thread(target=resident, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    assert enough.wait(60), "no burst: " + server.log.read_text()[-2000:]
    server.kill9()
    for t in threads:
        t.join(60)
    assert len(acked) >= KILL_AFTER_ACKS and len(acked) < len(photos), "the kill came after the burst"

    server.start()  # the same VAR_DIR and database
    try:
        engine = make_engine(install)
        media = install.media_path
        with Session(engine) as s:
            # every acknowledged report is there, with its photo, whose files exist and decode
            for key, public_id in acked.items():
                req = s.exec(select(ServiceRequest).where(ServiceRequest.idempotency_key == key)).one()
                assert req.public_id == public_id
                [photo] = s.exec(select(Photo).where(Photo.request_id == req.id)).all()
                for k in (photo.display_key, photo.thumb_key):
                    with Image.open(media_path(media, k)) as im:
                        im.load()
            # no half-written report: every photo row's files exist
            for photo in s.exec(select(Photo)).all():
                assert (
                    media_path(media, photo.display_key).exists()
                    and media_path(media, photo.thumb_key).exists()
                )
            s.rollback()
        # the clients send again what got no answer: each becomes exactly one report
        with httpx.Client() as client:
            token = csrf_from(client.get(server.url + "/report").text)
            for key, photo in unanswered.items():
                assert _post(client, server.url, token, key, photo).status_code == 201
                assert _post(client, server.url, token, key, photo).status_code == 201  # a replay
        with Session(engine) as s:
            for key in unanswered:
                assert (
                    len(s.exec(select(ServiceRequest).where(ServiceRequest.idempotency_key == key)).all())
                    == 1
                )
            s.rollback()

        out = server.command("media-gc", "--min-age", "0")
        assert "removed" in out
        print(f"{len(acked)} acknowledged, {len(unanswered)} sent again; media-gc: {out.splitlines()[-1]}")

        with Session(engine) as s:
            referenced = {k for p in s.exec(select(Photo)).all() for k in (p.display_key, p.thumb_key)}
        files = [p for p in media.rglob("*") if p.is_file()]
        assert not [p for p in files if p.name.endswith(".part")]
        assert sorted(p.name for p in files) == sorted(referenced)
        assert all(p.parent == media_path(media, p.name).parent for p in files)
        engine.dispose()
        # and the restarted server still serves them
        some = next(iter(referenced))
        assert httpx.get(f"{server.url}/media/{some}").status_code == 200
        assert io.BytesIO(httpx.get(f"{server.url}/media/{some}").content).getbuffer().nbytes > 0
    finally:
        server.stop()
