"""Per-process cache of rendered Open311 request lists, and the freshness check every cached answer needs.

Many clients poll the same lists. An answer is cached under its query and the data version (a short index
lookup that any change to a published request moves), so a change shows in the very next answer, from any
process. Three pieces:

- ResponseCache: an LRU of rendered bodies, each also gzipped once, not once per client.
- SingleFlight: when many clients miss the same answer at once, one renders it and the rest wait for it.
- FreshRead: the version lookup, shared. Every caller gets a value read by a lookup that *started after it
  asked*, so a client sees its own change; callers that ask while a lookup is running share the next one.
  Under load one lookup serves a whole batch of requests, and none of them blocks the event loop.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")
Entry = tuple[bytes, bytes | None]  # the body, and its gzip when worth it


class ResponseCache:
    """A small LRU of rendered bodies; entries also expire, so the default 90-day window moves on."""

    def __init__(self, max_entries: int = 64, max_bytes: int = 64_000_000, ttl_s: float = 30.0) -> None:
        self.max_entries, self.max_bytes, self.ttl_s = max_entries, max_bytes, ttl_s
        self._items: OrderedDict[Hashable, tuple[float, Entry]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Entry | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or time.monotonic() - hit[0] > self.ttl_s:
                return None
            self._items.move_to_end(key)
            return hit[1]

    def put(self, key: Hashable, body: bytes) -> Entry:
        entry = (body, gzip.compress(body, 5) if len(body) > 800 else None)
        with self._lock:
            old = self._items.pop(key, None)
            if old:
                self._bytes -= _size(old[1])
            self._items[key] = (time.monotonic(), entry)
            self._bytes += _size(entry)
            while self._items and (len(self._items) > self.max_entries or self._bytes > self.max_bytes):
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= _size(dropped)
        return entry


def _size(entry: Entry) -> int:
    return len(entry[0]) + len(entry[1] or b"")


class SingleFlight(Generic[T]):
    """One computation per key at a time; concurrent callers for the same key await the same result."""

    def __init__(self) -> None:
        self._pending: dict[Hashable, asyncio.Future[T]] = {}

    async def run(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await compute()
            future.set_result(result)
            return result
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: waiters re-raise it, and no "never retrieved" warning when none wait
            raise
        finally:
            del self._pending[key]


class FreshRead(Generic[T]):
    """A value read by a lookup that started after the caller asked; concurrent callers share lookups."""

    def __init__(self, fetch: Callable[[], Awaitable[T]]) -> None:
        self._fetch = fetch
        self._running: asyncio.Future[T] | None = None
        self._queued: asyncio.Future[T] | None = None  # callers who arrived while a lookup was running

    async def get(self) -> T:
        loop = asyncio.get_running_loop()
        if self._running is None:
            waiter: asyncio.Future[T] = loop.create_future()
            self._start(waiter)
        else:  # the running lookup may have read before this caller's own change: wait for the next one
            if self._queued is None:
                self._queued = loop.create_future()
            waiter = self._queued
        return await asyncio.shield(waiter)

    def _start(self, waiter: asyncio.Future[T]) -> None:
        task = asyncio.ensure_future(self._fetch())
        self._running = task

        def done(task: asyncio.Future[T]) -> None:
            self._running = None
            _settle(waiter, task)
            queued, self._queued = self._queued, None
            if queued is not None:
                self._start(queued)

        task.add_done_callback(done)


def _settle(waiter: asyncio.Future[T], task: asyncio.Future[T]) -> None:
    if waiter.done():
        return
    if task.cancelled():
        waiter.cancel()
    elif (error := task.exception()) is not None:
        waiter.set_exception(error)
        waiter.add_done_callback(lambda f: f.exception())  # no "never retrieved" warning if every caller left
    else:
        waiter.set_result(task.result())
