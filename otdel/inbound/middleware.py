"""Refuse an oversized post to the public web-form addresses before anything reads it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import escape
from django.utils.translation import gettext as _

from otdel.inbound.webform import MAX_BODY_BYTES, TooLarge

PUBLIC_PREFIXES = ("/api/inbound/forms/", "/f/")


class FormSizeLimit:
    """A form post is a few fields; a bigger body is answered 413 without being read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path.startswith(PUBLIC_PREFIXES):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > MAX_BODY_BYTES:
                message = _("The form is too large (more than %(kb)s KB).") % {
                    "kb": MAX_BODY_BYTES // 1024
                }
                if request.path.startswith("/f/"):
                    # A visitor of the embedded form reads a page, not JSON.
                    return HttpResponse(
                        f"<!doctype html><meta charset=utf-8><p>{escape(message)}</p>",
                        status=413,
                        content_type="text/html; charset=utf-8",
                    )
                return JsonResponse(
                    {"code": TooLarge.code, "message": message, "details": {}}, status=413
                )
        return self.get_response(request)
