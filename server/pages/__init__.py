"""HTML routes, one module per audience. Add a new module's router here."""

from . import auth, health, home

ROUTERS = [health.router, auth.router, home.router]
