"""The Outbox worker (`python -m server worker`): delivers queued notifications by Web Push or e-mail.

Claiming: due rows are leased (`locked_until`) in a short transaction, on PostgreSQL with
`SELECT ... FOR UPDATE SKIP LOCKED` so several workers never claim the same row; on SQLite the write lock
(BEGIN IMMEDIATE) serialises the claims. A worker never sends a row after its lease has run out (it gives
the rest of the batch back first), so another worker cannot be sending it at the same time. The outcome
of each message is committed right after it is sent.

Outcomes: 2xx sent; 404/410 the subscription is deleted and its queued rows are dead; 429, 5xx and
network errors retried with exponential backoff, or after `Retry-After` when the service gives one;
other 4xx and 3xx (redirects are never followed) dead at once; after MAX_ATTEMPTS dead. An endpoint the
sender refuses (not https, a private or local address, also after DNS resolution, or a host outside
PUSH_ALLOWED_HOSTS) is never contacted: the refusal is logged and the subscription forgotten like a gone one.
"""

from __future__ import annotations

import logging
import random
import signal
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urljoin

from sqlalchemy import Engine, or_, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from . import push
from .config import Settings
from .db import make_engine, session_scope
from .models import Outbox, PushSubscription, utcnow
from .services import media
from .services.notify import queue_overdue_alerts, translate
from .services.subscriptions import forget_subscription

log = logging.getLogger("civic311.worker")
mail_log = logging.getLogger("civic311.mail")


@dataclass
class Policy:
    batch: int = 50
    lease_s: float = 300.0
    max_attempts: int = 12
    base_backoff_s: float = 30.0
    max_backoff_s: float = 6 * 3600.0
    max_retry_after_s: float = 24 * 3600.0
    jitter: float = 0.2  # +0..20 % so retries of many rows spread out

    def backoff(self, attempts: int) -> float:
        delay = min(self.max_backoff_s, self.base_backoff_s * 2 ** max(0, attempts - 1))
        return delay * (1 + random.random() * self.jitter)


@dataclass
class Stats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    gone: int = 0
    released: int = 0
    refused: int = 0

    def add(self, other: Stats) -> None:
        for k in ("claimed", "sent", "retried", "dead", "gone", "released", "refused"):
            setattr(self, k, getattr(self, k) + getattr(other, k))


@dataclass
class Job:
    """A claimed row, detached from the session."""

    id: int
    channel: str
    email: str
    payload: dict[str, Any]
    attempts: int
    subscription_id: int | None
    subscription: dict[str, Any] | None


@dataclass
class Outcome:
    kind: str  # sent | retry | dead | gone | refused
    error: str = ""
    delay_s: float = 0.0


class Worker:
    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        *,
        policy: Policy | None = None,
        clock: Callable[[], datetime] = utcnow,
        sender: push.Sender | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings)
        self.policy = policy or Policy()
        self.clock = clock
        self.sender = sender or push.Sender(settings)

    # --- claiming ------------------------------------------------------------------------------------

    def claim(self, now: datetime) -> list[Job]:
        lease = now + timedelta(seconds=self.policy.lease_s)
        with session_scope(self.engine) as s:
            due = (
                select(Outbox.id)
                .where(
                    col(Outbox.sent_at).is_(None),
                    col(Outbox.dead).is_(False),
                    col(Outbox.available_at) <= now,
                    or_(col(Outbox.locked_until).is_(None), col(Outbox.locked_until) < now),
                )
                .order_by(col(Outbox.available_at), col(Outbox.id))
                .limit(self.policy.batch)
                .with_for_update(skip_locked=True)
            )
            ids = list(s.exec(due).all())
            if not ids:
                return []
            s.exec(update(Outbox).where(col(Outbox.id).in_(ids)).values(locked_until=lease))  # type: ignore[call-overload]
            rows = s.exec(
                select(Outbox, PushSubscription)
                .join(PushSubscription, col(Outbox.subscription_id) == PushSubscription.id, isouter=True)
                .where(col(Outbox.id).in_(ids))
                .order_by(col(Outbox.available_at), col(Outbox.id))
            ).all()
            return [
                Job(
                    id=o.id,  # type: ignore[arg-type]
                    channel=o.channel,
                    email=o.email,
                    payload=dict(o.payload or {}),
                    attempts=o.attempts,
                    subscription_id=o.subscription_id,
                    subscription=push.subscription_info(p.endpoint, p.p256dh, p.auth) if p else None,
                )
                for o, p in rows
            ]

    def release(self, ids: list[int]) -> None:
        if ids:
            with session_scope(self.engine) as s:
                s.exec(update(Outbox).where(col(Outbox.id).in_(ids)).values(locked_until=None))  # type: ignore[call-overload]

    # --- sending -------------------------------------------------------------------------------------

    def deliver(self, job: Job, now: datetime) -> Outcome:
        if job.channel == "push":
            if job.subscription is None:
                return Outcome("dead", "no push subscription")
            result = self.sender.send(job.subscription, job.payload)
            if result.refused:
                return Outcome("refused", f"endpoint refused: {result.refused}")
            if result.ok:
                return Outcome("sent")
            if result.gone:
                return Outcome("gone", f"{result.status} {result.error}")
            if result.retryable:
                delay = result.retry_after_s
                if delay is None:
                    delay = self.policy.backoff(job.attempts + 1)
                delay = min(max(delay, 1.0), self.policy.max_retry_after_s)
                return Outcome("retry", f"{result.status} {result.error}".strip(), delay)
            return Outcome("dead", f"{result.status} {result.error}")
        if job.channel == "email":
            return self.send_email(job)
        return Outcome("dead", f"unknown channel {job.channel!r}")

    def compose_email(self, job: Job) -> EmailMessage:
        p = job.payload
        lang = p.get("lang") or "en"
        base = self.settings.base_url.rstrip("/") + "/"
        lines = [p.get("body", ""), ""]
        if p.get("url"):
            lines.append(translate(lang, "Open: %(url)s", url=urljoin(base, p["url"].lstrip("/"))))
        if p.get("unfollow_url"):
            lines += [
                "",
                translate(lang, "Stop following: %(url)s", url=urljoin(base, p["unfollow_url"].lstrip("/"))),
            ]
        msg = EmailMessage()
        msg["From"] = self.settings.smtp_from
        msg["To"] = job.email
        msg["Subject"] = p.get("title", "")
        msg["Message-ID"] = f"<outbox-{job.id}@{self.settings.smtp_from.rpartition('@')[2] or 'civic311'}>"
        msg.set_content("\n".join(lines) + "\n")
        return msg

    def send_email(self, job: Job) -> Outcome:
        msg = self.compose_email(job)
        st = self.settings
        if not st.smtp_host:
            mail_log.info("e-mail (SMTP off) to %s: %s\n%s", job.email, msg["Subject"], msg.get_content())
            return Outcome("sent")
        try:
            with smtplib.SMTP(st.smtp_host, st.smtp_port, timeout=push.TIMEOUT_S) as smtp:
                if st.smtp_starttls:
                    smtp.starttls()
                if st.smtp_user:
                    smtp.login(st.smtp_user, st.smtp_password)
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            return Outcome("dead", f"recipient refused: {e.recipients}"[:480])
        except smtplib.SMTPResponseException as e:
            text = f"SMTP {e.smtp_code} {e.smtp_error!r}"[:480]
            if 500 <= e.smtp_code < 600:
                return Outcome("dead", text)
            return Outcome("retry", text, self.policy.backoff(job.attempts + 1))
        except (smtplib.SMTPException, OSError) as e:
            return Outcome("retry", f"{type(e).__name__}: {e}"[:480], self.policy.backoff(job.attempts + 1))
        return Outcome("sent")

    # --- recording -----------------------------------------------------------------------------------

    def finish(self, job: Job, outcome: Outcome, now: datetime) -> None:
        attempts = job.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "locked_until": None,
            "last_error": outcome.error[:500],
        }
        kind = outcome.kind
        if kind == "retry" and attempts >= self.policy.max_attempts:
            kind, values["last_error"] = "dead", f"gave up after {attempts} attempts: {outcome.error}"[:500]
        if kind == "sent":
            values["sent_at"] = now
        elif kind == "retry":
            values["available_at"] = now + timedelta(seconds=outcome.delay_s)
        else:
            values["dead"] = True
        with session_scope(self.engine) as s:
            self._no_fsync_wait(s)
            s.exec(update(Outbox).where(col(Outbox.id) == job.id).values(**values))  # type: ignore[call-overload]
            if kind in ("gone", "refused") and job.subscription_id:
                forget_subscription(s, job.subscription_id, reason=outcome.error)

    def _no_fsync_wait(self, session: Session) -> None:
        """PostgreSQL: do not wait for the WAL flush when recording an outcome. A crash of the worker loses
        nothing (the server has the commit); only a crash of the database server in the next ~0.2 s can
        forget an outcome, and then that message is sent again. Doubles throughput on slow disks."""
        if self.engine.dialect.name == "postgresql":
            session.exec(text("SET LOCAL synchronous_commit TO OFF"))  # type: ignore[call-overload]

    def run_once(self, now: datetime | None = None) -> Stats:
        """Claim one batch and deliver it. `now` pins the clock (tests)."""
        stats = Stats()
        started = time.monotonic()
        jobs = self.claim(now or self.clock())
        stats.claimed = len(jobs)
        # stop sending while there is still time to finish one message inside the lease
        deadline = started + self.policy.lease_s - push.TIMEOUT_S - 5
        gone: set[int] = set()
        for i, job in enumerate(jobs):
            if time.monotonic() > deadline:
                self.release([j.id for j in jobs[i:]])
                stats.released = len(jobs) - i
                break
            if job.subscription_id in gone:  # its row was marked dead with the subscription
                stats.dead += 1
                continue
            outcome = self.deliver(job, now or self.clock())
            self.finish(job, outcome, now or self.clock())
            if outcome.kind == "sent":
                stats.sent += 1
            elif outcome.kind == "gone":
                stats.gone += 1
                gone.add(job.subscription_id)  # type: ignore[arg-type]
            elif outcome.kind == "refused":  # someone registered an endpoint we must not contact: say so
                stats.refused += 1
                gone.add(job.subscription_id)  # type: ignore[arg-type]
                log.warning(
                    "outbox %s: subscription %s forgotten, %s", job.id, job.subscription_id, outcome.error
                )
                continue
            elif outcome.kind == "retry" and job.attempts + 1 < self.policy.max_attempts:
                stats.retried += 1
            else:
                stats.dead += 1
            if outcome.error:
                log.info("outbox %s %s: %s", job.id, outcome.kind, outcome.error)
        return stats

    def drain(self, now: datetime | None = None, max_rounds: int = 1000) -> Stats:
        """run_once until nothing is due (tests, benchmarks)."""
        total = Stats()
        for _ in range(max_rounds):
            stats = self.run_once(now)
            total.add(stats)
            if not stats.claimed:
                break
        return total

    def queue_overdue(self, now: datetime | None = None) -> int:
        try:
            with session_scope(self.engine) as s:
                return queue_overdue_alerts(s, now=now or self.clock())
        except IntegrityError:
            return 0  # another worker queued the same alerts at the same moment

    def collect_media(self) -> media.Collected:
        """Temporary photo files and files no row refers to, older than an hour (``media-gc``)."""
        done = media.collect(engine=self.engine, media_dir=self.settings.media_path)
        if done.removed or done.recovered:
            log.info("media: removed %s files, recovered %s", len(done.removed), len(done.recovered))
        return done

    def run_forever(
        self,
        stop: threading.Event | None = None,
        idle_s: float = 2.0,
        overdue_every_s: float = 300.0,
        media_every_s: float = 3600.0,
    ) -> None:
        stop = stop or threading.Event()
        next_overdue = next_media = 0.0
        log.info("worker started")
        while not stop.is_set():
            try:
                if time.monotonic() >= next_overdue:
                    self.queue_overdue()
                    next_overdue = time.monotonic() + overdue_every_s
                if time.monotonic() >= next_media:
                    next_media = (
                        time.monotonic() + media_every_s
                    )  # first: a failing collection waits its turn
                    self.collect_media()
                stats = self.run_once()
            except OperationalError as e:  # database restarting: wait and try again
                log.warning("database error, retrying: %s", e)
                stop.wait(5)
                continue
            except Exception:  # a bug must not stop the deliveries: leased rows come back after the lease
                log.exception("worker round failed")
                stop.wait(5)
                continue
            if stats.claimed:
                log.info(
                    "sent %s, retry %s, dead %s, gone %s", stats.sent, stats.retried, stats.dead, stats.gone
                )
            else:
                stop.wait(idle_s)
        log.info("worker stopped")


def run_once(settings: Settings, engine: Engine | None = None, now: datetime | None = None) -> Stats:
    worker = Worker(settings, engine)
    try:
        return worker.run_once(now)
    finally:
        worker.sender.close()
        if engine is None:
            worker.engine.dispose()


def run_forever(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker = Worker(settings)
    try:
        worker.run_forever(stop)
    finally:
        worker.sender.close()
