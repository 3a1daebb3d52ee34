from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from ..deps import ReadSessionDep

router = APIRouter()


@router.get("/healthz", tags=["ops"])
def healthz(session: ReadSessionDep) -> JSONResponse:
    try:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception as e:  # the load balancer needs an answer, not a stack trace
        return JSONResponse({"status": "error", "database": type(e).__name__}, 503)
    return JSONResponse({"status": "ok", "database": "ok"})
