"""Show times in the viewer's own zone (Moscow by default)."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import timezone, translation


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


class OtdelLocaleMiddleware(LocaleMiddleware):
    """Russian unless the person chose otherwise: the language switch (cookie), then the
    user's own setting. A browser's Accept-Language is honoured only by the API."""

    def process_request(self, request: HttpRequest) -> None:
        if request.path.startswith("/api/"):
            super().process_request(request)
            return
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        user = getattr(request, "user", None)
        if not language and user is not None and user.is_authenticated:
            language = getattr(user, "language", "")
        supported = {code for code, _name in settings.LANGUAGES}
        if language not in supported:
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
