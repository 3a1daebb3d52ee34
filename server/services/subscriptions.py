"""Push subscriptions: the browsers and devices that receive Web Push. Saving one (its endpoint checked against
request forgery), who owns it, and forgetting it (its queued messages die, its followers fall back to e-mail)."""

from __future__ import annotations

import secrets

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from .. import push
from ..domain.errors import Forbidden, Invalid, NotFound
from ..domain.push_endpoints import EndpointRules, check_endpoint
from ..models import Follower, Outbox, PushSubscription

PUBLIC_HTTPS = EndpointRules()  # callers pass push.endpoint_rules(settings) to add PUSH_ALLOWED_HOSTS


def forget_subscription(session: Session, subscription_id: int, reason: str = "") -> None:
    """Delete a subscription (gone at the push service, or removed by its owner).

    Its queued messages are dead; followers who also left an e-mail address fall back to e-mail; follower
    rows that existed only for this device are deleted.
    """
    session.exec(  # type: ignore[call-overload]
        update(Outbox)
        .where(col(Outbox.subscription_id) == subscription_id, col(Outbox.sent_at).is_(None))
        .values(dead=True, locked_until=None, last_error=f"subscription removed: {reason}"[:500])
    )
    session.exec(  # type: ignore[call-overload]
        update(Outbox).where(col(Outbox.subscription_id) == subscription_id).values(subscription_id=None)
    )
    session.exec(  # type: ignore[call-overload]
        delete(Follower).where(
            col(Follower.push_subscription_id) == subscription_id, Follower.email == "", Follower.phone == ""
        )
    )
    session.exec(  # type: ignore[call-overload]
        update(Follower)
        .where(col(Follower.push_subscription_id) == subscription_id)
        .values(push_subscription_id=None)
    )
    session.exec(delete(PushSubscription).where(col(PushSubscription.id) == subscription_id))  # type: ignore[call-overload]
    session.flush()


def save_subscription(
    session: Session,
    *,
    endpoint: str,
    p256dh: str,
    auth: str,
    language: str = "en",
    user_id: int | None = None,
    rules: EndpointRules = PUBLIC_HTTPS,
    owner_user_id: int | None = None,
    owner_token: str = "",
) -> PushSubscription:
    """Create or refresh the subscription of one browser (its endpoint is unique). The endpoint must pass
    `rules` (https, a public host: no request forgery through the worker).

    Re-posting a known endpoint refreshes that row only for its owner: the signed-in user it belongs to
    (`owner_user_id`) or whoever holds its token (`owner_token`, the X-Push-Token header). Anyone else gets
    a fresh subscription for the endpoint, with a new token, and the old row is forgotten as if the browser
    had unsubscribed: its token, its follows and its staff owner are never handed out. We do not answer 409
    instead, because a real browser that lost its token (site storage cleared, another app on the origin
    overwrote it) keeps the same endpoint and must still be able to subscribe again and be notified; and we
    cannot keep two rows for one endpoint (it is unique). Only the browser, its push service and this
    server know an endpoint URL, so resetting someone else's row this way needs a secret already.
    """
    endpoint, p256dh, auth = endpoint.strip(), p256dh.strip(), auth.strip()
    if len(endpoint) > 1000:
        raise Invalid("This push subscription has no valid endpoint.", field="endpoint")
    check_endpoint(endpoint, rules)
    if len(p256dh) > 200 or len(auth) > 100 or not push.valid_keys(p256dh, auth):
        raise Invalid("This push subscription has no keys.", field="keys")
    sub = session.exec(select(PushSubscription).where(PushSubscription.endpoint == endpoint)).first()
    if sub is not None and not owns_subscription(sub, user_id=owner_user_id, token=owner_token):
        forget_subscription(session, sub.id, reason="subscribed again without its token")  # type: ignore[arg-type]
        session.expunge(sub)
        sub = None
    if sub is None:
        sub = PushSubscription(endpoint=endpoint, p256dh=p256dh, auth=auth, token=secrets.token_urlsafe(24))
    sub.p256dh, sub.auth, sub.language = p256dh, auth, language
    if user_id is not None:
        sub.user_id = user_id
    session.add(sub)
    session.flush()
    return sub


def owns_subscription(sub: PushSubscription, *, user_id: int | None, token: str) -> bool:
    """The signed-in user it belongs to, or the browser holding its token (compared in constant time)."""
    if user_id is not None and sub.user_id == user_id:
        return True
    return bool(token) and secrets.compare_digest(sub.token.encode(), token.encode())


def subscriptions_of(session: Session, *, user_id: int | None, token: str) -> list[PushSubscription]:
    """The devices a staff member registered, and the one this anonymous browser holds the token of."""
    subs: list[PushSubscription] = []
    if user_id is not None:
        subs += session.exec(
            select(PushSubscription)
            .where(PushSubscription.user_id == user_id)
            .order_by(col(PushSubscription.id))
        ).all()
    if token:
        sub = session.exec(select(PushSubscription).where(PushSubscription.token == token)).first()
        if sub is not None and sub not in subs:
            subs.append(sub)
    return subs


def owned_subscription(session: Session, sub_id: int, *, user_id: int | None, token: str) -> PushSubscription:
    """The subscription, if the caller owns it (signed in as its user, or holding its token)."""
    sub = session.get(PushSubscription, sub_id)
    if sub is None:
        raise NotFound("No such subscription.", code="subscription_not_found")
    if not owns_subscription(sub, user_id=user_id, token=token):
        raise Forbidden("This subscription is not yours.", code="forbidden")
    return sub


def stop_staff_messages(session: Session, sub: PushSubscription) -> None:
    """The device no longer gets its owner's work notifications; the requests it follows stay followed."""
    sub.user_id = None
    session.add(sub)
