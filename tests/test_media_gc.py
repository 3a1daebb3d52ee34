"""server/services/media.py: photo files appear only when their row commits, and media-gc removes the rest."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest
from sqlmodel import Session

from server import cli
from server.config import Settings
from server.models import Photo
from server.photos import ProcessedPhoto, media_path, process_photo
from server.services import media
from server.services.photos import attach_photo
from server.worker import Worker
from tests import photo_samples
from tests.factories import make_request

HOUR = 3600.0


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    return tmp_path / "media"


def _photo(width: int) -> ProcessedPhoto:
    """A different photo (and so different file names) for each width."""
    return process_photo(photo_samples.phone_jpeg(width, 300, orientation=1))


def _keys(photo: ProcessedPhoto) -> list[str]:
    return [photo.display.key, photo.thumb.key]


def _files(media_dir: Path) -> list[str]:
    """Every file under media_dir, relative, temporary ones included."""
    return sorted(str(p.relative_to(media_dir)) for p in media_dir.rglob("*") if p.is_file())


def _final(media_dir: Path, photo: ProcessedPhoto) -> list[str]:
    return sorted(str(media_path(media_dir, k).relative_to(media_dir)) for k in _keys(photo))


def _file(media_dir: Path, name: str, data: bytes, age_s: float) -> Path:
    """A file as an earlier crash or deleted row left it, `age_s` seconds old."""
    path = media_path(media_dir, name) if "/" not in name and name.endswith(".jpg") else media_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (time.time() - age_s, time.time() - age_s))
    return path


# -- writing -------------------------------------------------------------------------------------------------


def test_files_appear_only_when_their_row_commits(session: Session, city, media_dir: Path) -> None:  # type: ignore[no-untyped-def]
    req = make_request(session, city)
    photo = _photo(400)

    attach_photo(session=session, media_dir=media_dir, req=req, photo=photo)
    assert [f.split("/")[0] for f in _files(media_dir)] == [".incoming", ".incoming"]
    assert all(f.endswith(".part") for f in _files(media_dir))

    session.commit()
    assert _files(media_dir) == _final(media_dir, photo)
    for r in (photo.display, photo.thumb):
        path = media_path(media_dir, r.key)
        assert path.read_bytes() == r.data
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # the web server may serve them directly


def test_a_rolled_back_report_leaves_no_file(session: Session, city, media_dir: Path) -> None:  # type: ignore[no-untyped-def]
    req = make_request(session, city)
    attach_photo(session=session, media_dir=media_dir, req=req, photo=_photo(400))
    session.rollback()
    assert _files(media_dir) == []

    attach_photo(session=session, media_dir=media_dir, req=req, photo=_photo(410))
    session.close()  # closed without a commit, as a request that failed
    assert _files(media_dir) == []


def test_a_savepoint_waits_for_the_real_commit(session: Session, city, media_dir: Path) -> None:  # type: ignore[no-untyped-def]
    req = make_request(session, city)
    photo = _photo(400)
    with session.begin_nested():
        attach_photo(session=session, media_dir=media_dir, req=req, photo=photo)
    assert not media_path(media_dir, photo.display.key).exists()
    session.commit()
    assert _files(media_dir) == _final(media_dir, photo)


def test_the_same_photo_twice_is_one_file_per_rendition(session: Session, city, media_dir: Path) -> None:  # type: ignore[no-untyped-def]
    photo = _photo(400)
    for _ in range(2):
        attach_photo(session=session, media_dir=media_dir, req=make_request(session, city), photo=photo)
        session.commit()
    assert _files(media_dir) == _final(media_dir, photo)


# -- collecting -------------------------------------------------------------------------------------------


def test_media_gc_removes_old_temporary_and_unreferenced_files_and_nothing_else(
    session: Session, city, media_dir: Path, engine
) -> None:  # type: ignore[no-untyped-def]
    kept = _photo(400)
    attach_photo(session=session, media_dir=media_dir, req=make_request(session, city), photo=kept)
    session.commit()
    for key in _keys(kept):  # old, but a row refers to them
        os.utime(media_path(media_dir, key), (time.time() - 2 * HOUR, time.time() - 2 * HOUR))
    orphan, young = _photo(500), _photo(600)
    for r in (orphan.display, orphan.thumb):
        _file(media_dir, r.key, r.data, age_s=2 * HOUR)  # the row was deleted, or never committed
    _file(media_dir, young.display.key, young.display.data, age_s=60)  # a report may be committing it
    old_part = _file(media_dir, f".incoming/{young.thumb.key}.abc123.part", b"half", age_s=2 * HOUR)
    new_part = _file(media_dir, f".incoming/{young.thumb.key}.def456.part", b"half", age_s=60)
    legacy = _file(media_dir, "ab/.tmp-x1y2z3.part", b"half", age_s=2 * HOUR)  # from the old file writer
    notes = _file(media_dir, "ab/README", b"not ours", age_s=2 * HOUR)
    heard: list[str] = []

    done = media.collect(engine=engine, media_dir=media_dir, report=heard.append)

    gone = {media_path(media_dir, k) for k in _keys(orphan)} | {old_part, legacy}
    assert set(done.removed) == gone and sorted(heard) == sorted(f"removed {p}" for p in gone)
    assert not any(p.exists() for p in gone)
    assert all(media_path(media_dir, k).exists() for k in _keys(kept))
    assert media_path(media_dir, young.display.key).exists() and new_part.exists() and notes.exists()
    assert (done.kept, done.young) == (2, 2)
    assert list((media_dir / media.TRASH).iterdir()) == []


def test_a_report_committed_while_media_gc_runs_keeps_its_file(
    session: Session, city, media_dir: Path, engine, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The race the trash step is for: media-gc found no row, then a report with the same photo commits
    before the file is deleted. The check made after the file left its place sees the new row."""
    photo = _photo(400)
    for r in (photo.display, photo.thumb):
        _file(media_dir, r.key, r.data, age_s=2 * HOUR)
    req = make_request(session, city)
    decide = media._decide

    def a_report_commits_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        attach_photo(session=session, media_dir=media_dir, req=req, photo=photo)
        session.commit()  # this report's own move runs now, while the old files sit in the trash
        return decide(*args, **kwargs)

    monkeypatch.setattr(media, "_decide", a_report_commits_first)
    done = media.collect(engine=engine, media_dir=media_dir)

    assert done.removed == []
    assert _files(media_dir) == _final(media_dir, photo)
    assert [media_path(media_dir, k).read_bytes() for k in _keys(photo)] == [
        photo.display.data,
        photo.thumb.data,
    ]


def test_a_file_whose_row_committed_just_before_a_crash_is_recovered(
    session: Session, city, media_dir: Path, engine, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    photo = _photo(400)

    def crash(tmp: Path, final: Path) -> None:  # killed between the commit and the move
        raise OSError("killed")

    monkeypatch.setattr(media, "_move_in", crash)
    attach_photo(session=session, media_dir=media_dir, req=make_request(session, city), photo=photo)
    session.commit()
    monkeypatch.undo()
    assert not media_path(media_dir, photo.display.key).exists()
    other = _photo(500)  # a half-written file under a referenced name must not be taken for it
    attach_photo(session=session, media_dir=media_dir, req=make_request(session, city), photo=other)
    session.commit()
    media_path(media_dir, other.thumb.key).unlink()
    half = _file(media_dir, f".incoming/{other.thumb.key}.aaaaaa.part", other.thumb.data[:100], age_s=0)

    recovered = media.recover(engine=engine, media_dir=media_dir)

    assert sorted(recovered) == sorted(media_path(media_dir, k) for k in _keys(photo))
    assert [media_path(media_dir, k).read_bytes() for k in _keys(photo)] == [
        photo.display.data,
        photo.thumb.data,
    ]
    assert half.exists() and not media_path(media_dir, other.thumb.key).exists()


def test_an_interrupted_media_gc_leaves_the_trash_to_the_next_one(
    session: Session, city, media_dir: Path, engine
) -> None:  # type: ignore[no-untyped-def]
    referenced, unreferenced = _photo(400), _photo(500)
    attach_photo(session=session, media_dir=media_dir, req=make_request(session, city), photo=referenced)
    session.commit()
    trash = media_dir / media.TRASH
    trash.mkdir()
    os.replace(media_path(media_dir, referenced.display.key), trash / referenced.display.key)
    _file(media_dir, f"{media.TRASH}/{unreferenced.display.key}", unreferenced.display.data, age_s=0)

    done = media.collect(engine=engine, media_dir=media_dir)

    assert media_path(media_dir, referenced.display.key).read_bytes() == referenced.display.data
    assert media_path(media_dir, unreferenced.display.key) in done.removed
    assert list((media_dir / media.TRASH).iterdir()) == []


def test_media_gc_merges_a_sorted_stream_of_names_in_batches(
    session: Session, city, media_dir: Path, engine, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Many rows and files over many folders, with tiny batches: exactly the unreferenced files go."""
    monkeypatch.setattr(media, "BATCH", 7)
    req = make_request(session, city)
    names = [f"{i * 7919 % 4096:03x}{i:061x}.jpg" for i in range(600)]  # spread over the 2-letter folders
    rows, orphans = names[:400], names[400:]
    session.add_all(
        Photo(request_id=req.id, sha256="0" * 64, display_key=a, thumb_key=b, width=1, height=1)
        for a, b in zip(rows[::2], rows[1::2], strict=True)
    )
    session.commit()
    for name in names[100:]:  # the first 100 referenced files are missing: nothing to do for them
        _file(media_dir, name, b"jpeg", age_s=2 * HOUR)

    done = media.collect(engine=engine, media_dir=media_dir)

    assert sorted(p.name for p in done.removed) == sorted(orphans)
    assert sorted(p.name for p in media_dir.glob("??/*")) == sorted(names[100:400])
    assert done.kept == 300


def test_media_gc_command_prints_what_it_removed(settings, media_dir: Path, monkeypatch, capsys, db) -> None:  # type: ignore[no-untyped-def]
    orphan = _file(media_dir, _photo(400).display.key, b"jpeg", age_s=10)
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("MEDIA_DIR", str(media_dir))
    monkeypatch.setenv("SECRET_KEY", settings.secret_key)

    assert cli.main(["media-gc"]) == 0  # an hour by default: too young
    assert orphan.exists() and "removed 0 files" in capsys.readouterr().out
    assert cli.main(["media-gc", "--min-age", "0"]) == 0
    out = capsys.readouterr().out
    assert not orphan.exists() and f"removed {orphan}" in out and "removed 1 files" in out


def test_the_worker_collects_media(settings, media_dir: Path, db) -> None:  # type: ignore[no-untyped-def]
    old = _file(media_dir, _photo(400).display.key, b"jpeg", age_s=2 * HOUR)
    young = _file(media_dir, _photo(500).display.key, b"jpeg", age_s=60)
    # a new Settings, not model_copy(): that would carry the cached media_path over
    worker = Worker(Settings(**{**settings.model_dump(), "media_dir": media_dir}))
    try:
        done = worker.collect_media()
    finally:
        worker.engine.dispose()
    assert done.removed == [old] and not old.exists() and young.exists()


def test_the_worker_runs_media_gc_as_one_of_its_periodic_jobs(settings, db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    worker = Worker(settings)
    stop = threading.Event()
    calls: list[int] = []

    def collect_media() -> None:
        calls.append(1)
        stop.set()

    monkeypatch.setattr(worker, "collect_media", collect_media)
    try:
        worker.run_forever(stop, idle_s=0.01)
    finally:
        worker.engine.dispose()
    assert calls == [1]
