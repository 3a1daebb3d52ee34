"""python -m server <command>: the operations an install needs."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from .config import ROOT, Settings

# npm package files copied into static folders by `vendor` (the setup command runs it after `npm ci`)
VENDOR_FILES = {
    "htmx.org/dist/htmx.min.js": ["web/static/vendor/htmx.min.js"],
    "leaflet/dist/leaflet.js": ["web/static/vendor/leaflet/leaflet.js"],
    "leaflet/dist/leaflet.css": ["web/static/vendor/leaflet/leaflet.css"],
    "leaflet/dist/images/marker-icon.png": ["web/static/vendor/leaflet/images/marker-icon.png"],
    "leaflet/dist/images/marker-icon-2x.png": ["web/static/vendor/leaflet/images/marker-icon-2x.png"],
    "leaflet/dist/images/marker-shadow.png": ["web/static/vendor/leaflet/images/marker-shadow.png"],
    "axe-core/axe.min.js": ["tests/e2e/vendor/axe.min.js"],
}


def _engine_and_city(settings: Settings):  # type: ignore[no-untyped-def]
    from .city import load_city
    from .db import make_engine

    return make_engine(settings), load_city(settings.city_file)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from .migrations import current_revision, upgrade

    before = current_revision(settings)
    upgrade(settings)
    after = current_revision(settings)
    if before is None:
        print(f"Created the database at migration {after}")
    elif before != after:
        print(f"Migrated from {before} to {after}")
    else:
        print(f"Already at the latest migration ({after})")
    return 0


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    from .db import session_scope
    from .services.demo import seed_demo

    engine, city = _engine_and_city(settings)
    addresses = settings.city_file.with_name(settings.city_file.stem + "_addresses.csv")
    with session_scope(engine) as session:
        logins = seed_demo(session=session, city=city, var_dir=settings.var_dir, addresses_csv=addresses)
    print(f"Demo city {city.name} is loaded. Staff log in at {settings.base_url.rstrip('/')}/login with")
    print(f"(also in {settings.var_dir / 'demo-logins.json'}):")
    print(f"  {'ROLE':<10} {'NAME':<16} {'E-MAIL':<29} {'PASSWORD':<13} CREW")
    for login in logins:
        print(
            f"  {login['role']:<10} {login['name']:<16} {login['email']:<29} {login['password']:<13} "
            f"{login['crew'] or '-'}"
        )
    return 0


def cmd_import_city(settings: Settings, args: argparse.Namespace) -> int:
    from .city import load_city
    from .db import make_engine, session_scope
    from .services.catalogue import import_city

    city = load_city(Path(args.file).resolve())
    with session_scope(make_engine(settings)) as session:
        changed = import_city(session=session, city=city)
    print(f"imported {city.name}: " + ", ".join(f"{v} {k} added or changed" for k, v in changed.items()))
    return 0


def cmd_import_addresses(settings: Settings, args: argparse.Namespace) -> int:
    from .db import session_scope
    from .services.addresses import import_addresses

    engine, city = _engine_and_city(settings)
    with session_scope(engine) as session:
        added = import_addresses(session=session, city=city, path=Path(args.file))
    print(f"{added} addresses added")
    return 0


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from .db import make_engine, session_scope
    from .services.admin import create_user_audited
    from .services.audit import COMMAND_LINE

    with session_scope(make_engine(settings)) as session:
        user = create_user_audited(
            session,
            actor=COMMAND_LINE,
            email=args.email,
            name=args.name,
            role=args.role,
            password=args.password,
            crew_name=args.crew,
        )
        print(f"created {user.role.value} {user.email}")
    return 0


def cmd_create_api_key(settings: Settings, args: argparse.Namespace) -> int:
    from .db import make_engine, session_scope
    from .services.admin import new_api_key
    from .services.audit import COMMAND_LINE

    with session_scope(make_engine(settings)) as session:
        row, key = new_api_key(session, name=args.name, actor=COMMAND_LINE)
        print(f"API key {row.id} for {row.name}; keep it now, it is not shown again:")
    print(key)
    return 0


def cmd_revoke_api_key(settings: Settings, args: argparse.Namespace) -> int:
    from .db import make_engine, session_scope
    from .services.admin import revoke_key
    from .services.audit import COMMAND_LINE

    with session_scope(make_engine(settings)) as session:
        row = revoke_key(session, key_id=args.id, actor=COMMAND_LINE)
        print(f"revoked API key {row.id} ({row.name})")
    return 0


def cmd_generate(settings: Settings, args: argparse.Namespace) -> int:
    from .db import session_scope
    from .services.demo import generate

    engine, city = _engine_and_city(settings)
    started = time.perf_counter()
    with session_scope(engine) as session:
        n = generate(session=session, city=city, count=args.requests, seed=args.seed)
    elapsed = time.perf_counter() - started
    print(f"generated {n} requests in {elapsed:.1f} s ({n / max(elapsed, 1e-9):,.0f} per second)")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from .migrations import upgrade

    upgrade(settings)
    _recover_media(settings)
    port = args.port or int(os.environ.get("PORT", "8000"))
    uvicorn.run(
        "server.main:app",
        host=args.host,
        port=port,
        workers=args.workers,
        # uvloop, not asyncio's loop: with several workers asyncio leaves Nagle on for accepted sockets (they come
        # from a socket made with proto 0), which held the end of every keep-alive response for ~40 ms
        loop="auto" if sys.platform == "win32" else "uvloop",
        http="httptools",
        access_log=settings.access_log,
        # forwarded headers are the app's business (TRUSTED_PROXIES, applied in create_app): uvicorn's own
        # default would believe any X-Forwarded-For sent from 127.0.0.1
        proxy_headers=False,
    )
    return 0


def _recover_media(settings: Settings) -> None:
    """Photo files whose report committed just before a crash, still under their temporary name."""
    from .db import make_engine
    from .services.media import recover

    engine = make_engine(settings)
    try:
        for path in recover(engine=engine, media_dir=settings.media_path):
            print(f"recovered {path}")
    finally:
        engine.dispose()


def cmd_media_gc(settings: Settings, args: argparse.Namespace) -> int:
    from .db import make_engine
    from .services.media import collect

    engine = make_engine(settings)
    try:
        done = collect(engine=engine, media_dir=settings.media_path, min_age_s=args.min_age, report=print)
    finally:
        engine.dispose()
    print(
        f"removed {len(done.removed)} files, recovered {len(done.recovered)}, kept {done.kept} "
        f"that rows refer to, left {done.young} younger than {args.min_age:g} s"
    )
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from .worker import Worker, run_forever

    if args.once:
        s = Worker(settings).drain()
        print(f"sent {s.sent}, to retry {s.retried}, dead {s.dead}, subscriptions gone {s.gone}")
        return 0
    run_forever(settings)
    return 0


def cmd_vendor(settings: Settings, args: argparse.Namespace) -> int:
    src_root = ROOT / "node_modules"
    for src, dests in VENDOR_FILES.items():
        src_path = src_root / src
        if not src_path.exists():
            print(f"missing {src_path}: run `npm ci` first", file=sys.stderr)
            return 1
        for dest in dests:
            out = ROOT / dest
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src_path, out)
    print(f"copied {len(VENDOR_FILES)} browser library files from node_modules (static, e2e tests)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m server", description="civic311 operations")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)
    sub.add_parser("seed-demo", help="load the demo city, staff and history (idempotent)").set_defaults(
        fn=cmd_seed_demo
    )
    s = sub.add_parser("import-city", help="load or update a city file (TOML)")
    s.add_argument("file")
    s.set_defaults(fn=cmd_import_city)
    s = sub.add_parser("import-addresses", help="load known addresses from a CSV of number,street,lat,long")
    s.add_argument("file")
    s.set_defaults(fn=cmd_import_addresses)
    s = sub.add_parser("create-user", help="create a staff account")
    s.add_argument("--email", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--role", required=True, choices=["admin", "dispatcher", "operator", "crew"])
    s.add_argument("--password", required=True)
    s.add_argument("--crew", help="crew name, for the crew role")
    s.set_defaults(fn=cmd_create_user)
    s = sub.add_parser("create-api-key", help="create an Open311 API key; the key is the last line printed")
    s.add_argument("name")
    s.set_defaults(fn=cmd_create_api_key)
    s = sub.add_parser("revoke-api-key", help="revoke an Open311 API key by its number")
    s.add_argument("id", type=int)
    s.set_defaults(fn=cmd_revoke_api_key)
    s = sub.add_parser("generate", help="bulk-insert N plausible requests for load tests")
    s.add_argument("--requests", type=int, required=True)
    s.add_argument("--seed", type=int, default=1)
    s.set_defaults(fn=cmd_generate)
    s = sub.add_parser("serve", help="migrate, then serve HTTP")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(fn=cmd_serve)
    s = sub.add_parser("worker", help="send queued notifications (Web Push, e-mail) until stopped")
    s.add_argument("--once", action="store_true", help="send what is due now, then exit")
    s.set_defaults(fn=cmd_worker)
    s = sub.add_parser("media-gc", help="remove temporary photo files and files no row refers to")
    s.add_argument(
        "--min-age", type=float, default=3600.0, help="seconds; younger files are left (default 3600)"
    )
    s.set_defaults(fn=cmd_media_gc)
    sub.add_parser("vendor", help="copy browser libraries from node_modules").set_defaults(fn=cmd_vendor)
    return p


def main(argv: list[str] | None = None) -> int:
    from .domain.errors import DomainError

    args = build_parser().parse_args(argv)
    try:
        return args.fn(Settings(), args)
    except DomainError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
