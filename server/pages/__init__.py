"""HTML routes, one module per audience. Add a new module's router here."""

from . import admin, auth, dispatch, field, health, home, media, notifications, operator, resident

ROUTERS = [
    health.router,
    auth.router,
    home.router,
    media.router,
    dispatch.router,
    admin.router,
    field.router,
    resident.router,
    operator.router,
    notifications.router,
]
