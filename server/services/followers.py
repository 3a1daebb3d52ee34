"""Followers: every way to follow a request and to stop following it (by e-mail or phone, by a device's push
subscription, as the reporter, as a caller on the phone), and the lookups of who follows what."""

from __future__ import annotations

import secrets

from sqlmodel import Session, col, select

from ..domain.errors import NotFound
from ..i18n import current_language
from ..models import Follower, PushSubscription, ServiceRequest
from .timeline import RESIDENT, Actor, record


def add_follower(
    *,
    session: Session,
    req: ServiceRequest,
    name: str = "",
    email: str = "",
    phone: str = "",
    push_subscription_id: int | None = None,
    push_endpoint: str = "",
    language: str = "",
    actor: Actor = RESIDENT,
    announce: bool = True,
) -> Follower:
    """A new follower of `req`, with its own unfollow token; `announce` writes the internal "follow" entry of the
    timeline (a reporter following their own new request has none: the "created" entry says it).

    'Follow this request' on its page sends the browser's `push_endpoint`: a subscription it already saved
    is linked by it (an unknown endpoint links nothing)."""
    if push_endpoint and push_subscription_id is None:
        push_subscription_id = session.exec(
            select(PushSubscription.id).where(PushSubscription.endpoint == push_endpoint)
        ).first()
    follower = Follower(
        request_id=req.id,  # type: ignore[arg-type]
        name=name.strip()[:200],
        email=email.strip()[:254],
        phone=phone.strip()[:40],
        push_subscription_id=push_subscription_id,
        token=secrets.token_urlsafe(24),
        language=language or current_language(),
    )
    session.add(follower)
    if announce:
        record(session=session, req=req, actor=actor, kind="follow", public=False, data={})
    return follower


def follow_with_subscription(
    session: Session, *, req: ServiceRequest, sub: PushSubscription, follower_token: str = ""
) -> Follower:
    """This device follows the request. With a follower token (from a "follow" link or e-mail) that
    follower row gets the device; otherwise the device becomes a follower of its own."""
    if follower_token:
        f = session.exec(select(Follower).where(Follower.token == follower_token)).first()
        if f is None or f.request_id != req.id:
            raise NotFound("No such follower.", code="follower_not_found")
        f.push_subscription_id = sub.id
        session.add(f)
        session.flush()
        return f
    existing = session.exec(
        select(Follower).where(Follower.request_id == req.id, Follower.push_subscription_id == sub.id)
    ).first()
    if existing is not None:
        return existing
    return add_follower(session=session, req=req, push_subscription_id=sub.id)


def follower_by_token(session: Session, token: str) -> tuple[Follower, ServiceRequest]:
    f = session.exec(select(Follower).where(Follower.token == token)).first() if token else None
    if f is None:
        raise NotFound("You are not following this request.", code="follower_not_found")
    return f, session.get(ServiceRequest, f.request_id)  # type: ignore[return-value]


def unfollow(*, session: Session, token: str) -> ServiceRequest:
    """The unfollow link of a message: the follower row goes, the timeline says so (internally)."""
    follower, _ = follower_by_token(session, token)
    req = session.get(ServiceRequest, follower.request_id, with_for_update=True)
    session.delete(follower)
    record(session=session, req=req, actor=RESIDENT, kind="unfollow", public=False, data={})  # type: ignore[arg-type]
    return req  # type: ignore[return-value]


def unlink_device(session: Session, follower: Follower) -> None:
    """This device stops following: a follower who also left an e-mail or phone stays (and gets e-mail)."""
    if follower.email or follower.phone:
        follower.push_subscription_id = None
        session.add(follower)
    else:
        session.delete(follower)
    session.flush()


def followed_requests(session: Session, sub: PushSubscription) -> list[tuple[ServiceRequest, Follower]]:
    """What one device follows, oldest follow first."""
    return list(
        session.exec(
            select(ServiceRequest, Follower)
            .join(Follower, col(Follower.request_id) == ServiceRequest.id)
            .where(Follower.push_subscription_id == sub.id)
            .order_by(col(Follower.id))
        ).all()
    )


def email_follows(session: Session, req: ServiceRequest, email: str) -> bool:
    """Whether this e-mail address still follows the request."""
    return (
        session.exec(
            select(Follower.id).where(Follower.request_id == req.id, Follower.email == email).limit(1)
        ).first()
        is not None
    )


def followers_of(session: Session, req: ServiceRequest) -> list[Follower]:
    """Who follows the request, in the order they began."""
    return list(
        session.exec(select(Follower).where(Follower.request_id == req.id).order_by(col(Follower.id))).all()
    )


def move_followers(session: Session, *, duplicate: ServiceRequest, master: ServiceRequest) -> int:
    """A merged duplicate's followers now follow the master; those already following it (the same e-mail or
    phone) are dropped, told once. Returns how many moved."""
    known = {(f.email, f.phone) for f in followers_of(session, master)}
    moved = 0
    for follower in followers_of(session, duplicate):
        if (follower.email, follower.phone) in known and (follower.email or follower.phone):
            session.delete(follower)  # already told about the master
            continue
        follower.request_id = master.id  # type: ignore[assignment]
        session.add(follower)
        moved += 1
    return moved


def followed_by_phone(session: Session, phone: str, limit: int) -> list[ServiceRequest]:
    """The requests a phone number follows (a caller's history), newest first."""
    return list(
        session.exec(
            select(ServiceRequest)
            .join(Follower, col(Follower.request_id) == ServiceRequest.id)
            .where(Follower.phone == phone)
            .order_by(col(ServiceRequest.created_at).desc())
            .limit(limit)
        ).all()
    )
