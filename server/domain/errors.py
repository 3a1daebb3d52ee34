"""Domain errors, mapped to HTTP (or to Open311 error bodies) in one place: server/errors.py."""

from __future__ import annotations


class DomainError(Exception):
    """Base: `message` is safe to show to the user who caused it."""

    status_code = 400

    def __init__(
        self, message: str, *, field: str | None = None, code: str | None = None, **params: object
    ) -> None:
        """`message` is an English template with %(name)s placeholders filled from `params`: the template is
        what the catalogues translate (server/errors.py), the filled-in text what logs and the CLI show."""
        self.template = message
        self.params = params
        self.message = message % params if params else message
        super().__init__(self.message)
        self.field = field
        self.code = code or type(self).__name__


class Invalid(DomainError):
    status_code = 400


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    """Someone else changed the thing first (optimistic concurrency) or it is a duplicate."""

    status_code = 409


class InvalidTransition(Conflict):
    pass
