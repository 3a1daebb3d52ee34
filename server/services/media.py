"""Photo files on disk: put in place only when their row commits, and collected when no row refers to them.

Writing: each rendition is written and fsynced under ``MEDIA_DIR/.incoming/<key>.<random>.part`` while the
request is handled; when the session commits, an ``after_commit`` hook moves it to its content-addressed
place (``os.replace``, atomic); when the transaction ends any other way the file is deleted. A killed
process leaves at most ``.part`` files, never a finished file without its row. Between the commit and
the move there is a moment where a row's file is still a ``.part``: ``recover`` (run by ``serve`` at start
and by ``media-gc``) moves such a file in place when its checksum matches its name.

Collecting (``collect``, ``python -m server media-gc``, hourly in the worker): ``.part`` files and files no
row refers to, older than ``min_age_s``. The referenced names are streamed from the database in sorted
order and merged with each folder's sorted listing, so neither side is loaded whole. A file about to go
is first moved to ``MEDIA_DIR/.trash`` and only deleted if a fresh query still finds no row for it: a
report committed meanwhile moves its own copy in place after its commit, or makes that query see it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, event, select, union
from sqlmodel import Session

from ..db import readonly
from ..models import Photo
from ..photos import Rendition, media_path

log = logging.getLogger("civic311.media")

INCOMING = ".incoming"  # files waiting for their row's commit
TRASH = ".trash"  # files media-gc is about to delete, until a last check
GC_MIN_AGE_S = 3600.0  # nothing younger is collected: its report may still be on its way to a commit
BATCH = 500  # names per IN (...) query
_KEY = re.compile(r"[0-9a-f]{64}\.jpg")
_PREFIX = re.compile(r"[0-9a-f]{2}")
_PENDING = "media_pending"


# -- writing ---------------------------------------------------------------------------------------------


def stage(session: Session, media_dir: Path, renditions: Iterable[Rendition]) -> None:
    """Write the files now; they appear under their keys when `session` commits, and never otherwise."""
    pending = _pending(session)
    for rendition in renditions:
        tmp = _write_temp(media_dir, rendition.key, rendition.data)
        pending.append((tmp, media_path(media_dir, rendition.key)))


def _pending(session: Session) -> list[tuple[Path, Path]]:
    if _PENDING not in session.info:
        session.info[_PENDING] = []
        event.listen(session, "after_commit", _publish)
        event.listen(session, "after_transaction_end", _discard)
    return session.info[_PENDING]


def _publish(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint: wait for the real commit
        return
    pending, session.info[_PENDING] = session.info[_PENDING], []
    for tmp, final in pending:
        try:
            _move_in(tmp, final)
        except OSError:  # the row is committed: recover() or media-gc finishes the move from the .part
            log.exception("could not move %s to %s", tmp, final)


def _discard(session: Session, transaction: object) -> None:
    if getattr(transaction, "parent", None) is not None:
        return
    pending, session.info[_PENDING] = session.info[_PENDING], []
    for tmp, _final in pending:  # rolled back or closed without a commit
        tmp.unlink(missing_ok=True)


def _write_temp(media_dir: Path, key: str, data: bytes) -> Path:
    folder = Path(media_dir) / INCOMING
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{key}.{secrets.token_hex(6)}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # whatever the umask: a web server may serve these files
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # on disk before the row that names it commits
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _move_in(tmp: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, final)  # the same bytes if the file is already there: content-addressed
    except FileNotFoundError:
        if not final.exists():  # recover() moved it already, or it is really gone
            raise


# -- recovering and collecting -----------------------------------------------------------------------------


@dataclass
class Collected:
    removed: list[Path] = field(default_factory=list)
    recovered: list[Path] = field(default_factory=list)
    kept: int = 0  # files a row refers to
    young: int = 0  # unreferenced or temporary but younger than the minimum age


def recover(*, engine: Engine, media_dir: Path) -> list[Path]:
    """Move in every ``.part`` file whose row committed but whose move did not happen (a crash between the
    two). Never deletes anything. Safe to run while the server runs."""
    return _incoming(engine, Path(media_dir), min_age_s=None, now=time.time()).recovered


def collect(
    *,
    engine: Engine,
    media_dir: Path,
    min_age_s: float = GC_MIN_AGE_S,
    now: float | None = None,
    report: Callable[[str], None] = lambda line: None,
) -> Collected:
    """Remove temporary files and files no row refers to, older than `min_age_s`; `report` hears each."""
    media_dir, now = Path(media_dir), time.time() if now is None else now
    if not media_dir.is_dir():
        return Collected()
    done = _incoming(engine, media_dir, min_age_s=min_age_s, now=now)
    for path in done.recovered:
        report(f"recovered {path}")
    _empty_trash(engine, media_dir, done)
    candidates: list[Path] = []
    # on SQLite a reader, which never holds up a report; the stream is closed before its connection
    with readonly(engine).connect() as conn, contextlib.closing(_sorted_references(conn)) as references:
        current = next(references, None)
        for entry in _walk(media_dir):
            if not _KEY.fullmatch(entry.name):
                if entry.name.endswith(".part") and _old(entry, now, min_age_s):  # left by earlier versions
                    _remove(Path(entry.path), done)
                continue
            while current is not None and current < entry.name:
                current = next(references, None)
            if current == entry.name:
                done.kept += 1
            elif _old(entry, now, min_age_s):
                candidates.append(Path(entry.path))
                if len(candidates) >= BATCH:
                    _sweep(engine, media_dir, candidates, done)
                    candidates = []
            else:
                done.young += 1
    _sweep(engine, media_dir, candidates, done)
    for path in done.removed:
        report(f"removed {path}")
    return done


def _incoming(engine: Engine, media_dir: Path, *, min_age_s: float | None, now: float) -> Collected:
    """Temporary files: move in the committed ones (checked by checksum), delete the old others."""
    done = Collected()
    folder = media_dir / INCOMING
    if not folder.is_dir():
        return done
    entries = sorted(os.scandir(folder), key=lambda e: e.name)
    for batch in _chunks(entries, BATCH):
        keys = {e.name[:68] for e in batch if _KEY.fullmatch(e.name[:68])}
        referenced = _referenced(engine, keys)
        for entry in batch:
            key, path = entry.name[:68], Path(entry.path)
            final = media_path(media_dir, key) if _KEY.fullmatch(key) else None
            if final and key in referenced and not final.exists() and _holds(path, key):
                try:
                    _move_in(path, final)
                    done.recovered.append(final)
                    continue
                except OSError:
                    pass  # a request's own after-commit move won the race
            if min_age_s is None:
                continue
            if _old(entry, now, min_age_s):
                _remove(path, done)
            else:
                done.young += 1
    return done


def _empty_trash(engine: Engine, media_dir: Path, done: Collected) -> None:
    """What an interrupted media-gc left in the trash: back in place if a row refers to it, else deleted."""
    folder = media_dir / TRASH
    if folder.is_dir():
        names = sorted(e.name for e in os.scandir(folder) if _KEY.fullmatch(e.name))
        for batch in _chunks(names, BATCH):
            _decide(engine, media_dir, batch, done)


def _sweep(engine: Engine, media_dir: Path, candidates: list[Path], done: Collected) -> None:
    """Move the candidates to the trash, then look again: put back what a row now refers to, delete the rest."""
    if not candidates:
        return
    trash = media_dir / TRASH
    trash.mkdir(exist_ok=True)
    moved = []
    for path in candidates:
        try:
            os.replace(path, trash / path.name)
            moved.append(path.name)
        except FileNotFoundError:  # another media-gc took it
            pass
    _decide(engine, media_dir, moved, done)


def _decide(engine: Engine, media_dir: Path, names: list[str], done: Collected) -> None:
    referenced = _referenced(engine, set(names))  # a fresh query, after the files left their place
    for name in names:
        in_trash = media_dir / TRASH / name
        try:
            if name in referenced:
                _move_in(in_trash, media_path(media_dir, name))
                done.kept += 1
            else:
                in_trash.unlink()
                done.removed.append(media_path(media_dir, name))
        except FileNotFoundError:  # another media-gc decided first
            pass


def _sorted_references(conn) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Every file name a row refers to, in byte order (the order of a sorted folder listing), streamed."""
    names = union(select(Photo.display_key.label("k")), select(Photo.thumb_key)).subquery()  # type: ignore[attr-defined]
    key = names.c.k.collate("C") if conn.dialect.name == "postgresql" else names.c.k
    rows = conn.execution_options(stream_results=True, yield_per=10_000).execute(
        select(names.c.k).order_by(key)
    )
    try:
        for (name,) in rows:
            if name and _KEY.fullmatch(name):
                yield name
    finally:
        rows.close()  # PostgreSQL: a server-side cursor, which must close before its connection


def _referenced(engine: Engine, names: set[str]) -> set[str]:
    if not names:
        return set()
    found: set[str] = set()
    with readonly(engine).connect() as conn:
        for batch in _chunks(sorted(names), BATCH):
            for column in (Photo.display_key, Photo.thumb_key):
                found |= set(conn.execute(select(column).where(column.in_(batch))).scalars())  # type: ignore[attr-defined]
    return found


def _walk(media_dir: Path) -> Iterator[os.DirEntry[str]]:
    """Files under the two-letter folders, in the byte order of their names; one folder in memory at a time."""
    folders = sorted(
        (e for e in os.scandir(media_dir) if _PREFIX.fullmatch(e.name) and e.is_dir()), key=lambda e: e.name
    )
    for folder in folders:
        ours = (
            e for e in os.scandir(folder.path) if e.name.startswith(folder.name) or e.name.endswith(".part")
        )
        files = (e for e in ours if e.is_file())
        yield from sorted(files, key=lambda e: e.name)


def _holds(path: Path, key: str) -> bool:
    """The file's bytes are the ones its name promises (a half-written .part does not match)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == key[:64]


def _old(entry: os.DirEntry[str], now: float, min_age_s: float) -> bool:
    try:
        return now - entry.stat().st_mtime >= min_age_s
    except FileNotFoundError:
        return False


def _remove(path: Path, done: Collected) -> None:
    try:
        path.unlink()
        done.removed.append(path)
    except FileNotFoundError:
        pass


def _chunks(items: list, size: int) -> Iterator[list]:  # type: ignore[type-arg]
    for i in range(0, len(items), size):
        yield items[i : i + size]
