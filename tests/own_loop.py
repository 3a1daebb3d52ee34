"""asyncio.run in a thread of its own: the browser tests leave an event loop running in the main thread of an
xdist worker, and asyncio.run refuses to start inside a running loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any


def in_own_loop(coro_fn: Callable[[], Awaitable[Any]], timeout: float = 10) -> Any:
    out: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(asyncio.run(coro_fn()))  # type: ignore[arg-type]
        except BaseException as e:  # handed back to the caller's thread
            errors.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout)
    if errors:
        raise errors[0]
    return out[0]
