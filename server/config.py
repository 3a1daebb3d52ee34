"""Settings: the only module that reads the environment (and an optional `.env`)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from limits import parse as parse_limit
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every setting is documented in README.md (a test checks it)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite at VAR_DIR/civic311.db")
    secret_key: str = Field("", description="Signs sessions; generated into VAR_DIR/secret_key when empty")
    var_dir: Path = Field(ROOT / "var", description="Writable state: SQLite file, keys, media")
    media_dir: Path | None = Field(None, description="Photo renditions; default VAR_DIR/media")
    city_file: Path = Field(ROOT / "server" / "cities" / "haverhill.toml", description="The city's data file")
    tile_url: str = Field(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png", description="Map tiles (Leaflet URL template)"
    )
    tile_attribution: str = Field("© OpenStreetMap contributors", description="Map tile attribution")
    base_url: str = Field("http://127.0.0.1:8000", description="Public URL, used in notifications")
    duplicate_radius_m: float = Field(50.0, description="Radius for 'already reported?' suggestions")
    photo_max_bytes: int = Field(15_000_000, description="Largest photo upload accepted")
    photo_max_pixels: int = Field(50_000_000, description="Largest photo in pixels (decompression bombs)")
    photo_decode_budget_mb: int = Field(512, description="Memory all photo decodes of one process may hold")
    photo_decode_concurrency: int = Field(2, description="Photo decodes at once per process")
    photo_decode_wait_s: float = Field(
        5.0, description="How long a photo waits for a decode slot before a 503"
    )
    max_body_bytes: int | None = Field(
        None, description="Largest request body; default 5 x PHOTO_MAX_BYTES + 1 MB"
    )
    session_max_age_s: int = Field(12 * 3600, description="Staff login lifetime in seconds")
    secure_cookies: bool = Field(
        False, description="Always set the Secure flag on cookies (requests over HTTPS get it anyway)"
    )
    trusted_proxies: str = Field(
        "", description="Comma-separated IPs/CIDRs whose X-Forwarded-For/-Proto are believed; empty: none"
    )
    login_rate_limit: str = Field("5/15minutes", description="Failed logins per account before a lockout")
    login_address_rate_limit: str = Field(
        "30/15minutes", description="Failed logins per client address before a lockout"
    )
    login_lockout_s: int = Field(60, ge=1, description="First lockout; each further one within a day doubles")
    login_lockout_max_s: int = Field(900, ge=1, description="Longest lockout")
    open311_rate_limit: str = Field("60/minute", description="POST requests per API key (limits syntax)")
    open311_rate_limit_address: str = Field(
        "120/minute", description="Open311 POSTs per client address, counted before the api_key is checked"
    )
    report_rate_limit_address: str = Field("40/hour", description="Anonymous resident reports per address")
    report_rate_limit_device: str = Field("10/hour", description="Anonymous resident reports per device")
    access_log: bool = Field(False, description="Log every HTTP request (the proxy in front usually does)")
    vapid_private_key: str = Field("", description="VAPID private key PEM; generated into VAR_DIR when empty")
    vapid_subject: str = Field("mailto:311@example.org", description="VAPID 'sub' claim")
    push_allowed_hosts: str = Field(
        "", description="Push endpoints' host suffixes, comma-separated; empty means any public host"
    )
    smtp_host: str = Field("", description="SMTP server; empty disables e-mail (messages are logged)")
    smtp_port: int = Field(25, description="SMTP port")
    smtp_user: str = Field("", description="SMTP user")
    smtp_password: str = Field("", description="SMTP password")
    smtp_from: str = Field("311@example.org", description="Sender address of e-mails")
    smtp_starttls: bool = Field(False, description="Use STARTTLS")

    @field_validator(
        "login_rate_limit",
        "login_address_rate_limit",
        "open311_rate_limit",
        "open311_rate_limit_address",
        "report_rate_limit_address",
        "report_rate_limit_device",
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_limit(value)  # "40/hour", "1 per 10 seconds": a typo stops the start, not every post
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)  # an address is a network of one
            except ValueError:
                raise ValueError(f"TRUSTED_PROXIES: {part!r} is not an IP address or CIDR network") from None
        return value

    @cached_property
    def media_path(self) -> Path:
        return self.media_dir or (self.var_dir / "media")

    @property
    def body_limit(self) -> int:
        """Five photos (a report's most) at their largest, plus the form's other fields and multipart framing."""
        return self.max_body_bytes or 5 * self.photo_max_bytes + 1_000_000

    @cached_property
    def db_url(self) -> str:
        url = self.database_url or f"sqlite:///{self.var_dir / 'civic311.db'}"
        # Heroku-style and psql-style URLs mean psycopg 3 here.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @cached_property
    def session_secret(self) -> str:
        if self.secret_key:
            return self.secret_key
        return read_or_create_secret(self.var_dir / "secret_key", lambda: secrets.token_urlsafe(48))


def read_or_create_secret(path: Path, make: Callable[[], str]) -> str:
    """Keep a generated secret under VAR_DIR so every process of one install shares it. Safe when threads or
    processes race to create the file: each writes its own temporary file and the first link() wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = make()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # one per writer
    tmp.write_text(value)
    tmp.chmod(0o600)
    try:
        # link() fails if another process won the race; then use its value
        path.hardlink_to(tmp)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()
