"""Show times in the viewer's own zone (Moscow by default)."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.utils import timezone


class UserTimezoneMiddleware:
    """Activate the signed-in user's time zone for rendering."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        tzname = getattr(user, "timezone", None) if user and user.is_authenticated else None
        try:
            timezone.activate(ZoneInfo(tzname or "Europe/Moscow"))
        except (KeyError, ValueError):
            timezone.activate(ZoneInfo("Europe/Moscow"))
        return self.get_response(request)
