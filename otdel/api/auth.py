"""Who is calling: a personal API token (Bearer), or the browser's session with its CSRF token."""

from __future__ import annotations

from typing import Any, cast

from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer, SessionAuth

from otdel.people.models import User
from otdel.people.services import user_for_token


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <token>`: a wrong or revoked token is refused outright (401),
    it never falls back to a session that happens to ride along."""

    def authenticate(self, request: HttpRequest, token: str) -> User:
        user = user_for_token(token.strip()) if token.strip() else None
        if user is None:
            raise AuthenticationError()
        request.user = user
        return user


class SessionWithCsrf(SessionAuth):
    """The signed-in browser; unsafe methods must carry the CSRF token (ninja's csrf=True).

    Anonymous requests are simply not authenticated (401), not refused for CSRF.
    """

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Any:
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)


AUTH = [TokenAuth(), SessionWithCsrf()]


def viewer(request: HttpRequest) -> User:
    """The authenticated person behind the request."""
    return cast(User, request.auth)  # type: ignore[attr-defined]
