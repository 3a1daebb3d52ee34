"""JSON and XML APIs. Add a new module's router here."""

ROUTERS: list = []
