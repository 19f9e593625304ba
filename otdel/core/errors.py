"""Domain errors: a stable code the API maps to an HTTP status and the UI to a message."""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise


class DomainError(Exception):
    """A business rule said no. `code` is stable and machine-readable; `message` is for people."""

    status = 400
    code = "domain_error"

    def __init__(self, message: str | Promise, *, code: str | None = None, **details: Any):
        super().__init__(str(message))
        self.message = str(message)
        if code:
            self.code = code
        self.details = details


class Conflict(DomainError):
    """The state changed or a rule forbids it now (409): taken, over the cap, cooling down."""

    status = 409
    code = "conflict"


class NotFound(DomainError):
    """Missing, or not yours to act on (404 for both, so nothing leaks)."""

    status = 404
    code = "not_found"


class Forbidden(DomainError):
    """Authenticated, but this person may not do this (403)."""

    status = 403
    code = "forbidden"


class Invalid(DomainError):
    """The input is wrong (422), with field-level details."""

    status = 422
    code = "invalid"
