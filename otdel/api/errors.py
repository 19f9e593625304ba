"""Every API error is JSON {"code", "message", "details"} with a stable code and a fitting status."""

from __future__ import annotations

from typing import Any

import pydantic
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from otdel.core.errors import DomainError


class ErrorOut(Schema):
    """An error: `code` is for programs (stable), `message` for people (in their language)."""

    code: str
    message: str
    details: dict[str, Any] = {}


# The error statuses every authenticated operation may answer with (documented in OpenAPI).
COMMON = {401: ErrorOut, 422: ErrorOut}
READ_ERRORS = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}

# Messages for the pydantic error types people meet most, in their language.
_FIELD_MESSAGES = {
    "missing": lambda: _("This field is required."),
    "string_too_short": lambda: _("This field must not be empty."),
    "string_too_long": lambda: _("The value is too long."),
    "int_parsing": lambda: _("Enter a whole number."),
    "bool_parsing": lambda: _("Enter true or false."),
    "datetime_parsing": lambda: _("Enter a date and time (ISO 8601)."),
    "datetime_from_date_parsing": lambda: _("Enter a date and time (ISO 8601)."),
    "too_long": lambda: _("Too many items."),
    "extra_forbidden": lambda: _("Unknown field."),
    "literal_error": lambda: _("Choose one of the allowed values."),
    "enum": lambda: _("Choose one of the allowed values."),
    "json_invalid": lambda: _("The request body is not valid JSON."),
}


def _body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


def field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic/ninja errors as [{"field": "legal_entities.0.inn", "message": ..., "type": ...}]."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        # ninja prefixes the source ("body", "query") and the parameter name; people need the field.
        if loc and loc[0] in {"body", "query", "path", "form", "file", "header", "cookie"}:
            loc = loc[2:] if len(loc) > 2 else loc[1:]
        kind = str(err.get("type", ""))
        ctx = err.get("ctx") or {}
        if kind == "value_error" and "error" in ctx:
            message = str(ctx["error"])
        elif kind in _FIELD_MESSAGES:
            message = _FIELD_MESSAGES[kind]()
        else:
            message = str(err.get("msg", ""))
        out.append({"field": ".".join(loc), "message": message, "type": kind})
    return out


def _validation_response(api: NinjaAPI, request: HttpRequest, errors: list[dict[str, Any]]) -> Any:
    fields = field_errors(errors)
    summary = "; ".join(
        f"{f['field']}: {f['message']}" if f["field"] else f["message"] for f in fields[:5]
    )
    return api.create_response(
        request,
        _body(
            "validation_error",
            _("Check the data: %(errors)s") % {"errors": summary},
            fields=fields,
        ),
        status=422,
    )


def install(api: NinjaAPI) -> None:
    """Replace ninja's default error bodies with ours (handlers get the exception they are
    registered for; ninja's stubs type it loosely, hence `Any`)."""

    def on_domain(request: HttpRequest, exc: Any) -> HttpResponse:
        return api.create_response(
            request, _body(exc.code, exc.message, **exc.details), status=exc.status
        )

    def on_validation(request: HttpRequest, exc: Any) -> HttpResponse:
        return _validation_response(api, request, exc.errors)

    def on_pydantic(request: HttpRequest, exc: Any) -> HttpResponse:
        errors = [dict(e) for e in exc.errors(include_url=False)]
        return _validation_response(api, request, errors)

    def on_auth(request: HttpRequest, exc: Any) -> HttpResponse:
        return api.create_response(
            request,
            _body(
                "unauthorized",
                _("Sign in or send a valid API token: Authorization: Bearer <token>."),
            ),
            status=401,
        )

    def on_http(request: HttpRequest, exc: Any) -> HttpResponse:
        if exc.status_code == 403 and "CSRF" in exc.message:
            body = _body("csrf_failed", _("The CSRF check failed: reload the page and try again."))
        else:
            body = _body(f"http_{exc.status_code}", str(exc.message))
        return api.create_response(request, body, status=exc.status_code)

    def on_404(request: HttpRequest, exc: Any) -> HttpResponse:
        return api.create_response(request, _body("not_found", _("Not found.")), status=404)

    api.add_exception_handler(DomainError, on_domain)
    api.add_exception_handler(ValidationError, on_validation)
    api.add_exception_handler(pydantic.ValidationError, on_pydantic)
    api.add_exception_handler(AuthenticationError, on_auth)
    api.add_exception_handler(HttpError, on_http)
    api.add_exception_handler(Http404, on_404)
