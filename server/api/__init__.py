"""JSON and XML APIs. Add a new module's router here."""

from . import field_sync, open311, push

ROUTERS: list = [open311.router, field_sync.router, push.router]
