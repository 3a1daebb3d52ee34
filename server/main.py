"""The composition root: create_app(settings) -> FastAPI. `app` is what the Procfile serves."""

from __future__ import annotations

import gc
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from . import errors
from .api import ROUTERS as API_ROUTERS
from .auth import csrf_protect
from .bodylimit import BodyLimit
from .city import load_city
from .config import Settings
from .db import make_engine, make_lookup_engine
from .inputs import close_form_after, refuse_unstorable_text
from .middleware import LanguageAndHeaders
from .pages import ROUTERS as PAGE_ROUTERS
from .services.photos import configure_decoding
from .templating import FIELD, WEB


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="civic311",
        description="311 constituent services. The Open311 GeoReport v2 API lives at /open311/.",
        dependencies=[Depends(close_form_after), Depends(csrf_protect), Depends(refuse_unstorable_text)],
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings)
    app.state.lookup_engine = make_lookup_engine(settings, app.state.engine)
    app.state.city = load_city(settings.city_file)
    configure_decoding(  # one gate per process: the last app made in a process sets it
        budget_mb=settings.photo_decode_budget_mb,
        concurrency=settings.photo_decode_concurrency,
        wait_s=settings.photo_decode_wait_s,
    )

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

    # inside LanguageAndHeaders, so that a 413 comes in the page's language with the security headers
    app.add_middleware(BodyLimit, limit=settings.body_limit)
    # residents are often on a weak mobile signal: compress pages, scripts and JSON
    app.add_middleware(GZipMiddleware, minimum_size=800, compresslevel=5)  # 9 costs 3x the CPU for ~2% less
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret,
        session_cookie="civic311_session",
        max_age=30 * 86400,  # the cookie; a staff login itself expires after SESSION_MAX_AGE_S
        same_site="lax",
        https_only=settings.secure_cookies,  # "always"; over HTTPS LanguageAndHeaders adds Secure anyway
    )
    # outside the session middleware: it marks the session cookie Secure when the request came over HTTPS
    app.add_middleware(LanguageAndHeaders, csp=csp, secure_cookies=settings.secure_cookies)
    if proxies := trusted_proxies(settings):
        # outermost: the client's address and scheme are settled before anything reads them; the headers are
        # believed only from these addresses (anyone else could name any address and dodge every throttle)
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)
    app.add_middleware(errors.LastResort)  # added last, so outermost: a bug never costs the connection
    return app


def trusted_proxies(settings: Settings) -> list[str]:
    return [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]


def __getattr__(name: str) -> FastAPI:
    # `server.main:app` for uvicorn, built lazily so importing this module reads no environment
    if name == "app":
        app = create_app()
        # what the process has loaded by now lives as long as it does: keep it out of the collector's full
        # passes, which otherwise pause every request in flight (the worst of the Open311 tail latency)
        gc.collect()
        gc.freeze()
        return app
    raise AttributeError(name)
