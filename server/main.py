"""The composition root: create_app(settings) -> FastAPI. `app` is what the Procfile serves."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

from . import errors, i18n
from .api import ROUTERS as API_ROUTERS
from .auth import csrf_protect
from .city import load_city
from .config import Settings
from .db import make_engine, make_lookup_engine
from .pages import ROUTERS as PAGE_ROUTERS
from .templating import FIELD, WEB


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="civic311",
        description="311 constituent services. The Open311 GeoReport v2 API lives at /open311/.",
        dependencies=[Depends(csrf_protect)],
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings)
    app.state.lookup_engine = make_lookup_engine(settings, app.state.engine)
    app.state.city = load_city(settings.city_file)

    errors.install(app)
    for router in (*API_ROUTERS, *PAGE_ROUTERS):
        app.include_router(router)

    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
    app.mount("/field/static", StaticFiles(directory=FIELD / "static", check_dir=False), name="field-static")

    tile_host = "{uri.scheme}://{uri.netloc}".format(uri=urlsplit(settings.tile_url.replace("{s}", "a")))
    csp = (
        "default-src 'self'; img-src 'self' data: blob: " + tile_host.replace("//a.", "//*.") + "; "
        "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )

    @app.middleware("http")
    async def language_and_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        lang = i18n.pick_language(
            request.query_params.get("lang"),
            request.cookies.get("lang"),
            request.headers.get("accept-language"),
        )
        i18n.set_language(lang)
        response: Response = await call_next(request)
        if request.query_params.get("lang") == lang:
            response.set_cookie(
                "lang", lang, max_age=365 * 86400, samesite="lax", secure=settings.secure_cookies
            )
        response.headers.setdefault("Content-Language", lang)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", csp)
        return response

    # residents are often on a weak mobile signal: compress pages, scripts and JSON
    app.add_middleware(GZipMiddleware, minimum_size=800, compresslevel=5)  # 9 costs 3x the CPU for ~2% less
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret,
        session_cookie="civic311_session",
        max_age=30 * 86400,  # the cookie; a staff login itself expires after SESSION_MAX_AGE_S
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    return app


def __getattr__(name: str) -> FastAPI:
    # `server.main:app` for uvicorn, built lazily so importing this module reads no environment
    if name == "app":
        return create_app()
    raise AttributeError(name)
