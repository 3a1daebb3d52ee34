"""Who is told what. Every function only writes Outbox rows in the caller's transaction (it flushes, never
commits), so a notification is sent if and only if the change that caused it is committed. The worker
(server/worker.py) delivers them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from ..domain.lifecycle import notice_sentence, notice_title
from ..i18n import catalog
from ..models import (
    Activity,
    Outbox,
    OverdueNotice,
    PushSubscription,
    Role,
    Service,
    ServiceRequest,
    Status,
    User,
    utcnow,
)
from .followers import followers_of

# Where a notification leads (relative: the service worker resolves them against its origin, e-mails
# against BASE_URL). One place, so the pages' engineers can change them.
ICON = "/static/icons/icon-192.png"
RESIDENT_URL = "/requests/{public_id}"
CREW_URL = "/field/#job-{id}"  # the field app opens a job by its row id
OVERDUE_URL = "/dispatch?overdue=1"
UNFOLLOW_URL = "/unfollow/{token}"
MAX_BODY = 240
OVERDUE_WINDOW = timedelta(hours=24)  # only requests that became overdue lately (no flood when opting in)


def translate(lang: str, message: str, **params: object) -> str:
    """gettext in the recipient's language, not the language of whoever made the change."""
    text = catalog(lang).gettext(message)
    return text % params if params else text


def _clip(text: str, n: int = MAX_BODY) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _service_name(session: Session, req: ServiceRequest) -> str:
    service = session.get(Service, req.service_id)
    return service.name if service else ""


def payload(
    *, kind: str, title: str, body: str, url: str, public_id: str, lang: str, **extra: Any
) -> dict[str, Any]:
    """The JSON the service worker (web/static/js/sw-push.js) and the e-mail composer read."""
    return {
        "kind": kind,
        "title": title,
        "body": _clip(body),
        "url": url,
        "public_id": public_id,
        "icon": ICON,
        "tag": f"{kind}:{public_id}" if public_id else kind,
        "lang": lang,
        **extra,
    }


def _resident_message(
    session: Session, req: ServiceRequest, act: Activity, lang: str
) -> tuple[str, str] | None:
    public_id = req.public_id or ""
    if act.kind == "status":
        to = (act.data or {}).get("to") or str(req.status)
        title = translate(lang, notice_title(to), public_id=public_id)
        parts = []
        sentence = notice_sentence((act.data or {}).get("close_reason"))
        if to == "closed" and sentence:
            parts.append(translate(lang, sentence))
        if act.note:
            parts.append(act.note)
        if not parts:
            parts.append(_service_name(session, req) + (f", {req.address}" if req.address else ""))
        return title, " ".join(parts)
    if act.kind == "note":
        return translate(lang, "New update on %(public_id)s", public_id=public_id), act.note
    return None


def notify_request_change(session: Session, req: ServiceRequest, activity: Activity) -> int:
    """Tell the request's followers about a public status change or public note. Returns the rows queued.

    A follower with a push subscription gets a push; one with an e-mail address and no subscription gets
    an e-mail. A device or address following through several follower rows is told once.
    """
    if not activity.public or activity.kind not in ("status", "note"):
        return 0
    followers = followers_of(session, req)
    if not followers:
        return 0
    sub_ids = {f.push_subscription_id for f in followers if f.push_subscription_id}
    subs = (
        {s.id: s for s in session.exec(select(PushSubscription).where(col(PushSubscription.id).in_(sub_ids)))}
        if sub_ids
        else {}
    )
    url = RESIDENT_URL.format(public_id=req.public_id)
    seen_subs: set[int] = set()
    seen_emails: set[str] = set()
    rows = []
    for f in followers:
        sub = subs.get(f.push_subscription_id) if f.push_subscription_id else None
        if sub is not None:
            if sub.id in seen_subs:
                continue
            seen_subs.add(sub.id)  # type: ignore[arg-type]
            lang = sub.language or "en"
            channel, email = "push", ""
        elif f.email and f.email.lower() not in seen_emails:
            seen_emails.add(f.email.lower())
            lang, channel, email = f.language or "en", "email", f.email
        else:
            continue
        message = _resident_message(session, req, activity, lang)
        if message is None:
            return 0
        title, body = message
        data = payload(
            kind=activity.kind,
            title=title,
            body=body,
            url=url,
            public_id=req.public_id or "",
            lang=lang,
            unfollow_url=UNFOLLOW_URL.format(token=f.token),
            unfollow_label=translate(lang, "Stop following"),
        )
        rows.append(
            Outbox(
                channel=channel,
                subscription_id=sub.id if sub is not None else None,
                email=email,
                payload=data,
            )
        )
    session.add_all(rows)
    session.flush()
    return len(rows)


def _staff_subscriptions(session: Session, users: Iterable[User]) -> dict[int, list[PushSubscription]]:
    by_user: dict[int, list[PushSubscription]] = {u.id: [] for u in users}  # type: ignore[misc]
    if by_user:
        for s in session.exec(
            select(PushSubscription)
            .where(col(PushSubscription.user_id).in_(list(by_user)))
            .order_by(col(PushSubscription.id))
        ):
            by_user[s.user_id].append(s)  # type: ignore[index]
    return by_user


def notify_crew_assignment(
    session: Session, req: ServiceRequest, crew_from: int | None, crew_to: int | None
) -> int:
    """Push to the crew members' devices: the new crew gets the job, the old crew learns it was taken away."""
    rows = []
    service = _service_name(session, req)
    where = req.address or (f"{req.lat:.5f}, {req.long:.5f}" if req.lat is not None else "")
    for crew_id, assigned in ((crew_to, True), (crew_from, False)):
        if not crew_id:
            continue
        members = session.exec(select(User).where(User.crew_id == crew_id, col(User.active).is_(True))).all()
        subs = _staff_subscriptions(session, members)
        for user in members:
            lang = user.language or "en"
            if assigned:
                title = translate(lang, "New job %(public_id)s", public_id=req.public_id)
                body = translate(lang, "%(service)s at %(place)s", service=service, place=where or "?")
            else:
                title = translate(lang, "Job %(public_id)s was taken away", public_id=req.public_id)
                body = translate(lang, "It is no longer assigned to your crew.")
            data = payload(
                kind="assigned" if assigned else "unassigned",
                title=title,
                body=body,
                url=CREW_URL.format(id=req.id),
                public_id=req.public_id or "",
                lang=lang,
            )
            rows.extend(Outbox(channel="push", subscription_id=s.id, payload=data) for s in subs[user.id])  # type: ignore[index]
    session.add_all(rows)
    session.flush()
    return len(rows)


def queue_overdue_alerts(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """One digest per opted-in dispatcher for the requests that became overdue since the last run.

    Each request is alerted at most once (an OverdueNotice row, unique per request): two workers running
    this at once cannot both alert; the loser's transaction fails on the unique key and is rolled back.
    """
    now = now or utcnow()
    dispatchers = session.exec(
        select(User)
        .where(
            col(User.overdue_alerts).is_(True),
            col(User.active).is_(True),
            col(User.role).in_([Role.dispatcher, Role.admin]),
        )
        .order_by(col(User.id))
    ).all()
    if not dispatchers:
        return 0
    already = select(OverdueNotice.request_id)
    overdue = session.exec(
        select(ServiceRequest)
        .where(
            ServiceRequest.status != Status.closed,
            col(ServiceRequest.expected_at).is_not(None),
            col(ServiceRequest.expected_at) <= now,
            col(ServiceRequest.expected_at) > now - OVERDUE_WINDOW,
            col(ServiceRequest.id).not_in(already),
        )
        .order_by(col(ServiceRequest.expected_at))
        .limit(limit)
    ).all()
    if not overdue:
        return 0
    session.add_all(
        OverdueNotice(request_id=r.id, expected_at=r.expected_at)  # type: ignore[arg-type]
        for r in overdue
    )
    ids = [r.public_id or "" for r in overdue]
    subs = _staff_subscriptions(session, dispatchers)
    rows = []
    for user in dispatchers:
        lang = user.language or "en"
        n = len(ids)
        title = (
            translate(lang, "%(public_id)s is overdue", public_id=ids[0])
            if n == 1
            else translate(lang, "%(n)s requests are overdue", n=n)
        )
        body = ", ".join(ids[:8]) + (" …" if n > 8 else "")
        url = "/requests/" + ids[0] if n == 1 else OVERDUE_URL
        data = payload(
            kind="overdue", title=title, body=body, url=url, public_id=ids[0] if n == 1 else "", lang=lang
        )
        if subs[user.id]:  # type: ignore[index]
            rows.extend(Outbox(channel="push", subscription_id=s.id, payload=data) for s in subs[user.id])  # type: ignore[index]
        elif user.email:
            rows.append(Outbox(channel="email", email=user.email, payload=data))
    session.add_all(rows)
    session.flush()
    return len(rows)
