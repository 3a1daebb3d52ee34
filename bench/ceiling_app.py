"""What bench/open311.py serves: the real application plus a bare "ceiling" endpoint, for comparison.

    python -m uvicorn bench.ceiling_app:app ...   (bench/open311.py starts it with the options `serve` uses)

GET /open311/v2/_ceiling.json?bytes=N answers a precomputed JSON body about N bytes long through the same
middleware as every other answer (compression, headers, the error guard), so the ratio of GET requests.json to
it measures our own work. It lives here, not in server/, so production never serves it.
"""

from __future__ import annotations

import json
import random
from functools import lru_cache

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.responses import Response

CEILING_PATH = "/open311/v2/_ceiling.json"


@lru_cache(maxsize=8)
def ceiling_body(size: int) -> bytes:
    """JSON as varied as a real answer (so compressing it costs the same), about `size` bytes long."""
    rng = random.Random(size)
    items: list[dict[str, object]] = []
    length = 2
    while length < size:
        item = {
            "service_request_id": f"311-2026-{rng.randint(1, 999999):06d}",
            "status": rng.choice(["open", "closed"]),
            "service_code": rng.choice(["pothole", "graffiti", "streetlight-out", "missed-trash"]),
            "description": " ".join(
                rng.choice(["hole", "near", "the", "school", "light", "out", "trash"])
                for _ in range(rng.randint(3, 30))
            ),
            "requested_datetime": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:{rng.randint(0, 59):02d}:00Z",
            "address": f"{rng.randint(1, 999)} Main St",
            "lat": round(rng.uniform(42.72, 42.84), 6),
            "long": round(rng.uniform(-71.19, -70.99), 6),
        }
        items.append(item)
        length += len(json.dumps(item)) + 2
    return json.dumps(items).encode()


async def ceiling(bytes: int = 1000) -> Response:
    return Response(ceiling_body(bytes), media_type="application/json")


def with_ceiling(application: FastAPI) -> FastAPI:
    # first in the route list: the Open311 router's catch-all (/open311/v2/{rest:path}) would answer 404 first
    application.router.routes.insert(
        0, APIRoute(CEILING_PATH, ceiling, methods=["GET"], include_in_schema=False)
    )
    return application


_app: FastAPI | None = None


def __getattr__(name: str) -> FastAPI:
    # `bench.ceiling_app:app` for uvicorn, built (as `server.main:app` is, from the environment) on first use, so
    # importing this module to test with_ceiling reads no environment
    global _app
    if name == "app":
        if _app is None:
            from server.main import app as real

            _app = with_ceiling(real)
        return _app
    raise AttributeError(name)
