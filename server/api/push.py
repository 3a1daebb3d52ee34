"""Push subscriptions (JSON): the VAPID public key, subscribe, list, remove; a dispatcher's overdue alerts.

Residents have no account: the browser keeps the subscription's `token` (returned when it subscribes)
and sends it as `X-Push-Token` to list or remove it. Staff subscriptions belong to the signed-in user.
Endpoints must be https URLs of public hosts (PUSH_ALLOWED_HOSTS narrows them to known push services);
a token is only ever returned to the subscription's owner (see subscriptions.save_subscription).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from .. import push
from ..auth import DispatcherUser, OptionalUser
from ..deps import ReadSessionDep, SessionDep, SettingsDep
from ..domain.push_endpoints import EndpointRules
from ..i18n import current_language
from ..i18n import gettext as _
from ..inputs import PathId
from ..models import PushSubscription, User
from ..services import accounts, followers, notify, subscriptions
from ..services.requests import find_request

router = APIRouter(tags=["push"])

TokenHeader = Annotated[str, Header(alias="X-Push-Token", max_length=64)]


def endpoint_rules(settings: SettingsDep) -> EndpointRules:
    """Which endpoints a browser may register: production's rules, from the settings."""
    return push.endpoint_rules(settings)


EndpointRulesDep = Annotated[EndpointRules, Depends(endpoint_rules)]


class Keys(BaseModel):
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)


class BrowserSubscription(BaseModel):
    """`PushSubscription.toJSON()` as the browser gives it."""

    endpoint: str = Field(max_length=1000)
    keys: Keys
    expirationTime: float | None = None


class Subscribe(BaseModel):
    subscription: BrowserSubscription
    public_id: str = Field("", max_length=32, description="follow this request with this device")
    follower_token: str = Field("", max_length=64, description="or: link this follower (from a follow link)")
    staff: bool = Field(False, description="signed-in staff: this device gets my crew jobs and alerts")


class OverdueAlerts(BaseModel):
    enabled: bool


def _out(session: Session, sub: PushSubscription, *, with_token: bool = False) -> dict[str, Any]:
    following = [
        {
            "public_id": r.public_id,
            "url": notify.RESIDENT_URL.format(public_id=r.public_id),
            "follower": f.token,
        }
        for r, f in followers.followed_requests(session, sub)
    ]
    out: dict[str, Any] = {
        "id": sub.id,
        "endpoint": sub.endpoint,
        "staff": sub.user_id is not None,
        "created_at": sub.created_at.isoformat(),
        "following": following,
    }
    if with_token:
        out["token"] = sub.token
    return out


def _owned(session: Session, sub_id: int, user: User | None, token: str) -> PushSubscription:
    return subscriptions.owned_subscription(session, sub_id, user_id=user.id if user else None, token=token)


def labels() -> dict[str, str]:
    """push.js's words, in the page's language (so pages need not pass them)."""
    return {
        "follow_on": _("Notify me on this device"),
        "follow_off": _("Stop notifications on this device"),
        "staff_on": _("Turn on notifications on this device"),
        "staff_off": _("Turn off notifications on this device"),
        "on": _("Notifications are on for this device."),
        "off": _("Notifications are off for this device."),
        "denied": _("Notifications are blocked for this site. Allow them in the browser settings."),
        "unsupported": _("This browser cannot show notifications."),
        "error": _("Something went wrong. Please try again."),
        "remove": _("Remove"),
        "removed": _("Removed."),
        "stop_following": _("Stop following"),
        "none": _("No device gets notifications from this browser or account."),
        "this_device": _("This device"),
        "other_device": _("Another device"),
    }


@router.get("/api/push/key")
def public_key(settings: SettingsDep) -> dict[str, Any]:
    return {"publicKey": push.application_server_key(settings), "labels": labels()}


@router.post("/api/push/subscriptions", status_code=201)
def subscribe(
    body: Subscribe, session: SessionDep, user: OptionalUser, rules: EndpointRulesDep, token: TokenHeader = ""
) -> dict[str, Any]:
    sub = subscriptions.save_subscription(
        session,
        endpoint=body.subscription.endpoint,
        p256dh=body.subscription.keys.p256dh,
        auth=body.subscription.keys.auth,
        language=current_language(),
        user_id=user.id if (user is not None and body.staff) else None,
        rules=rules,
        owner_user_id=user.id if user is not None else None,
        owner_token=token,
    )
    if body.public_id or body.follower_token:
        req = find_request(session, body.public_id) if body.public_id else None
        if req is None:
            _, req = followers.follower_by_token(session, body.follower_token)
        followers.follow_with_subscription(session, req=req, sub=sub, follower_token=body.follower_token)
    return _out(session, sub, with_token=True)  # the caller owns it: proven, or a fresh row (see above)


@router.get("/api/push/subscriptions")
def my_subscriptions(
    session: ReadSessionDep, user: OptionalUser, token: TokenHeader = ""
) -> dict[str, list[dict[str, Any]]]:
    subs = subscriptions.subscriptions_of(session, user_id=user.id if user else None, token=token)
    return {"subscriptions": [_out(session, s) for s in subs]}


@router.delete("/api/push/subscriptions/{sub_id}", status_code=204)
def unsubscribe(
    sub_id: PathId, session: SessionDep, user: OptionalUser, token: TokenHeader = "", staff_only: bool = False
) -> Response:
    """Remove a device. `staff_only`: only my work notifications; requests it follows stay followed."""
    sub = _owned(session, sub_id, user, token)
    if staff_only and followers.followed_requests(session, sub):
        subscriptions.stop_staff_messages(session, sub)
    else:
        subscriptions.forget_subscription(session, sub.id, reason="removed by its owner")  # type: ignore[arg-type]
    return Response(status_code=204)


@router.delete("/api/push/subscriptions/{sub_id}/follows/{public_id}", status_code=204)
def stop_following_on_device(
    sub_id: PathId, public_id: str, session: SessionDep, user: OptionalUser, token: TokenHeader = ""
) -> Response:
    sub = _owned(session, sub_id, user, token)
    req = find_request(session, public_id)
    for r, f in followers.followed_requests(session, sub):
        if r.id == req.id:
            followers.unlink_device(session, f)
    return Response(status_code=204)


@router.put("/api/push/overdue-alerts")
def overdue_alerts(body: OverdueAlerts, session: SessionDep, user: DispatcherUser) -> dict[str, bool]:
    accounts.set_overdue_alerts(session, user_id=user.id, enabled=body.enabled)  # type: ignore[arg-type]
    return {"enabled": body.enabled}
