"""The field crews' app: its shell page, service worker and manifest, all scoped to /field/."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..auth import CrewUser
from ..domain.lifecycle import PRIORITY_WORDS, FieldResult, Status, UnableReason, field_forecast, words
from ..i18n import gettext as _
from ..templating import asset, render, templates

router = APIRouter(tags=["field"])

SCRIPTS = ("/field/static/js/outbox.js", "/field/static/js/sync.js", "/field/static/js/field.js")
STYLES = ("/field/static/css/field.css",)
ICONS = (
    "/field/static/icons/icon-192.png",
    "/field/static/icons/icon-512.png",
    "/field/static/icons/maskable-512.png",
)
PUSH_SCRIPT = "/static/js/sw-push.js"  # the web push handlers, imported by the worker


def lifecycle_words() -> dict[str, str]:
    """The lifecycle's words as the crew app names them (domain.lifecycle), keyed as field.js looks them up."""
    keys = {
        **{f"status_{v}": k for v, k in words(Status, "field").items()},
        **words(FieldResult, "field"),
        **words(UnableReason, "field"),
        **{f"p{n}": k for n, k in PRIORITY_WORDS.items()},
    }
    return {key: _(msgid) for key, msgid in keys.items()}


def strings() -> dict[str, str]:
    """Every word field.js shows, translated for the request's language."""
    return {
        **lifecycle_words(),
        "online": _("Online"),
        "offline": _("Offline"),
        "waiting": _("waiting"),
        "last_sync": _("Last sync"),
        "never": _("never"),
        "sync_now": _("Sync now"),
        "syncing": _("Syncing…"),
        "login_again": _("Log in again to send your work"),
        "login": _("Log in"),
        "no_jobs": _("No jobs. Pull in new ones with Sync now."),
        "jobs": _("Jobs"),
        "back": _("Back to jobs"),
        "navigate": _("Navigate"),
        "start": _("Start work"),
        "note": _("Note"),
        "add_note": _("Add note"),
        "public_note": _("Resident can see this note"),
        "photo": _("After photo"),
        "add_photo": _("Add photo"),
        "complete": _("Complete"),
        "resolution": _("Result"),
        "unable": _("Cannot complete"),
        "reason": _("Reason"),
        "priority": _("Priority"),
        "due": _("Due"),
        "pending": _("not sent yet"),
        "history": _("History"),
        "details": _("Details"),
        "resident_photos": _("Photos"),
        "held": _("Work saved by another crew member on this phone. It is sent only when they log in."),
        "refused": _("Not accepted by the server"),
        "dismiss": _("Dismiss"),
        "conflict": _("Sent; a supervisor will review it"),
        "r_not_assigned": _("This job is not assigned to your crew."),
        "r_not_found": _("This job does not exist."),
        "r_wrong_user": _("Made by another user."),
        "r_other": _("The server could not use this."),
        "r_bad_text": _("It contains a character that cannot be stored."),
        "r_bad_time": _("The phone's clock gave an impossible date."),
        "r_rejected": _("The server could not store this."),
        "reassigned": _("Reassigned to another crew"),
        "away": _("No longer yours: your work was kept for a supervisor"),
        "saved": _("Saved on the phone"),
        "error": _("The server had a problem. Your work is safe; it will try again."),
        "overdue": _("Overdue"),
        "state_queued": _("Waiting to be sent"),
        "state_sent": _("Sent"),
        "state_refused": _("Refused"),
    }


def _shell_assets() -> list[str]:
    return [*(asset(s) for s in SCRIPTS), *(asset(s) for s in STYLES), *(asset(i) for i in ICONS)]


def shell_version() -> str:
    """Changes with any asset: the service worker keeps a fresh shell only if it names the assets it cached."""
    return hashlib.sha256("|".join(_shell_assets()).encode()).hexdigest()[:12]


@router.get("/field/")
def field_shell(request: Request, user: CrewUser) -> Response:
    """The app shell. The service worker caches it, so it holds no user data: field.js asks the API."""
    response = render(
        request,
        "field/shell.html",
        {
            "strings": strings(),
            "results": [r.value for r in FieldResult],
            "unable_reasons": [r.value for r in UnableReason],
            "forecast": field_forecast(),
            "scripts": [asset(s) for s in SCRIPTS],
            "styles": [asset(s) for s in STYLES],
            "icon": asset(ICONS[0]),
        },
    )
    response.headers["X-Shell-Version"] = shell_version()
    return response


@router.get("/field/sw.js", include_in_schema=False)
def field_service_worker(request: Request) -> Response:
    """Rendered with versioned asset URLs, so a changed asset changes this file and the browser updates it."""
    body = templates.env.get_template("field/sw.js").render(
        version=shell_version(),
        shell=["/field/", "/field/manifest.webmanifest", *_shell_assets()],
        imports=[asset(SCRIPTS[0]), asset(SCRIPTS[1])],
        push=PUSH_SCRIPT,
    )
    return Response(
        body,
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/field/"},
    )


@router.get("/field/manifest.webmanifest", include_in_schema=False)
def field_manifest(request: Request) -> Response:
    city = request.app.state.city
    return JSONResponse(
        {
            "id": "/field/",
            "name": f"{city.name} 311 — " + _("Field crew"),
            "short_name": _("311 Crew"),
            "start_url": "/field/",
            "scope": "/field/",
            "display": "standalone",
            "orientation": "portrait",
            "background_color": "#000000",
            "theme_color": "#000000",
            "icons": [
                {"src": asset(ICONS[0]), "sizes": "192x192", "type": "image/png", "purpose": "any"},
                {"src": asset(ICONS[1]), "sizes": "512x512", "type": "image/png", "purpose": "any"},
                {"src": asset(ICONS[2]), "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
            ],
        },
        media_type="application/manifest+json",
    )
