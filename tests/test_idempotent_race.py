"""Eight replays of one offline report arriving at once: one request, eight answers naming it, no error.

On PostgreSQL the replays really race: each finds no row with the key, all insert, the losers wait on the unique
index for the winner's commit. A barrier holds every replay at its first flush so that they all have looked
before any inserts (on SQLite writers queue on BEGIN IMMEDIATE, so the barrier times out and they run in turn).
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import event
from sqlmodel import Session, func, select

from server.models import ServiceRequest
from server.services.requests import NewRequest, create_request


def test_concurrent_replays_of_one_report_make_one_request(db, city) -> None:
    replays = 8
    barrier = threading.Barrier(replays, timeout=1.5)

    def replay(_: int) -> int:
        with Session(db, expire_on_commit=False) as session:

            @event.listens_for(session, "before_flush")
            def wait_for_the_others(*_args: object) -> None:
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait()

            req = create_request(
                session=session,
                city=city,
                new=NewRequest(
                    service_code="pothole",
                    description="Deep hole",
                    lat=city.center[0],
                    long=city.center[1],
                    attributes={"size": "medium"},
                    idempotency_key="offline-0f3c-race",
                ),
            )
            session.commit()
            return req.id  # type: ignore[return-value]

    with ThreadPoolExecutor(replays) as pool:
        ids = list(pool.map(replay, range(replays)))

    assert len(set(ids)) == 1
    with Session(db) as session:
        assert session.exec(select(func.count()).select_from(ServiceRequest)).one() == 1
