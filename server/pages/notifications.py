"""Notification pages: "my notifications" (devices and followed requests) and the "stop following" link."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..auth import OptionalUser
from ..deps import ReadSessionDep
from ..models import Role
from ..services import followers
from ..templating import render

router = APIRouter()


@router.get("/notifications")
def my_notifications(request: Request, user: OptionalUser) -> Response:
    """Residents see this browser's subscriptions (push.js); staff also their own devices and alerts."""
    return render(
        request,
        "notifications/index.html",
        {
            "me": user,
            "can_overdue": user is not None and user.role in (Role.dispatcher, Role.admin),
        },
    )


@router.get("/unfollow/{token}")
def unfollow_page(request: Request, session: ReadSessionDep, token: str) -> Response:
    """The link in every notification: confirm, then POST /follow/stop (a GET must not change anything)."""
    follower, req = followers.follower_by_token(session, token[:64])
    return render(
        request,
        "notifications/unfollow.html",
        {"public_id": req.public_id, "token": follower.token},
        headers={"Referrer-Policy": "no-referrer", "Cache-Control": "private, no-store"},
    )
