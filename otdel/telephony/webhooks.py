"""Cloud phone systems post their call events here; a finished call becomes a call fact.

Every endpoint does the same, in this order, and writes only at the very end (record_calls is
one transaction, so a refused request writes nothing and nothing is half-written):
1. body over OTDEL_WEBHOOK_MAX_BYTES → 413 "too_large";
2. no secret configured for this provider and source → 404 "unknown_source";
3. signature check → 403 "bad_signature" (Zadarma signs form fields, so an unreadable body is
   400 "malformed" before it; Mango and ours sign the raw text, so the check comes first);
4. the event's time outside ±OTDEL_WEBHOOK_MAX_AGE_SECONDS (default 900) of now → 403 "stale":
   a captured request cannot be replayed later. Mango: the summary's end_time. Zadarma: the end
   (call_start + duration) and, since duration is unsigned, call_start no older than the window
   plus OTDEL_ZADARMA_MAX_CALL_SECONDS. Generic: the signed X-Otdel-Timestamp;
5. malformed JSON → 400 "malformed"; a missing field → 422 "missing_field" with the field;
6. intermediate events (a call appeared, rings, was answered) → 200 "acknowledged", nothing
   written; a finished call → record_calls → 200 with counts. The same call sent again is
   "already known" (source, external_id unique): 200 and nothing new. A number nobody has is
   stored without a client (record_calls counts it as unknown) → 200.

Zadarma signs only three fields, not the call id, duration or result: a signature already seen
with another call id is refused as a replay (403 "replay"), remembered in Django's cache for the
window plus the longest call. A durable table would survive a cache flush; see docs/telephony.md.

Secrets come per source from settings or the environment, never from the repository:
OTDEL_MANGO_<SOURCE>_API_KEY / _API_SALT, OTDEL_ZADARMA_<SOURCE>_SECRET (+ _TZ),
OTDEL_WEBHOOK_<SOURCE>_TOKEN (+ _TZ); <SOURCE> is the URL's source in upper case, '-' → '_'.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from otdel.activities.calls import IngestResult, record_calls
from otdel.core import clock
from otdel.core.errors import DomainError, Forbidden, NotFound
from otdel.telephony.providers import generic, mango, zadarma
from otdel.telephony.records import CallRecord

log = logging.getLogger("otdel.telephony.webhooks")


class TooLarge(DomainError):
    """The body is bigger than a phone system's event ever is (413)."""

    status = 413
    code = "too_large"


def setting(name: str, default: str = "") -> str:
    """A setting from Django settings (tests) or the environment (deployments)."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return str(value)


def _env_key(source: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", source.upper())


def _int_setting(name: str, default: int) -> int:
    try:
        return int(setting(name, str(default)))
    except ValueError:
        return default


def _max_age() -> dt.timedelta:
    return dt.timedelta(seconds=_int_setting("OTDEL_WEBHOOK_MAX_AGE_SECONDS", 900))


def _read_body(request: HttpRequest) -> bytes:
    limit = _int_setting("OTDEL_WEBHOOK_MAX_BYTES", 1024 * 1024)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise TooLarge(_("The request is too large."), limit=limit)
    body = request.body
    if len(body) > limit:
        raise TooLarge(_("The request is too large."), limit=limit)
    return body


def _check_fresh(moment: dt.datetime, *, older_allowed: dt.timedelta | None = None) -> None:
    """Refuse an event from too long ago (a replay) or from the future (a forged clock)."""
    window = _max_age()
    now = clock.now()
    if moment < now - (older_allowed or window) or moment > now + window:
        raise Forbidden(
            _("The event is too old or from the future; it is refused as a possible replay."),
            code="stale",
            event_time=moment.isoformat(),
        )


def _refuse(err: DomainError, provider: str, source: str) -> JsonResponse:
    log.warning("webhook %s/%s refused: %s %s", provider, source, err.code, err.details)
    return JsonResponse(
        {"code": err.code, "message": err.message, "details": err.details}, status=err.status
    )


def _acknowledged(event: str) -> JsonResponse:
    return JsonResponse({"status": "acknowledged", "event": event})


def _stored(records: list[CallRecord]) -> JsonResponse:
    result: IngestResult = record_calls(records)
    return JsonResponse(
        {
            "status": "stored",
            "created": result.created,
            "already_known": result.already_known,
            "unknown_numbers": result.unknown_numbers,
        }
    )


def _unknown_source() -> NotFound:
    return NotFound(_("No phone system is configured under this address."), code="unknown_source")


# The phone system posts from its own servers with no session and cannot obtain a CSRF token;
# each request is authenticated by its signature instead, so CSRF is off for these views only.
@csrf_exempt
@require_POST
def mango_event(request: HttpRequest, source: str, event: str = "") -> HttpResponse:
    """Mango Office VPBX: a summary is a finished call; other events are acknowledged."""
    try:
        body = _read_body(request)
        key = _env_key(source)
        api_key = setting(f"OTDEL_MANGO_{key}_API_KEY")
        api_salt = setting(f"OTDEL_MANGO_{key}_API_SALT")
        if not (api_key and api_salt):
            raise _unknown_source()
        json_text = mango.verify(body, api_key=api_key, api_salt=api_salt)
        parsed = mango.parse(event or "", json_text, source=source)
        if parsed.event_time is not None:
            _check_fresh(parsed.event_time)
        if not parsed.records:
            return _acknowledged(parsed.event)
        return _stored(parsed.records)
    except DomainError as err:
        return _refuse(err, "mango", source)


# CSRF-exempt for the same reason as mango_event: the PBX signs its requests, it has no token.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def zadarma_event(request: HttpRequest, source: str) -> HttpResponse:
    """Zadarma: NOTIFY_END / NOTIFY_OUT_END are finished calls; other events are acknowledged."""
    try:
        key = _env_key(source)
        secret = setting(f"OTDEL_ZADARMA_{key}_SECRET")
        if not secret:
            raise _unknown_source()
        if request.method == "GET":
            # Zadarma checks the address when it is saved: it sends zd_echo and wants it back.
            echo = request.GET.get("zd_echo", "")
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", echo):
                return JsonResponse({"code": "malformed", "message": "zd_echo"}, status=400)
            return HttpResponse(echo, content_type="text/plain")
        body = _read_body(request)
        data = zadarma.read_params(body, request.content_type or "")
        signature = request.headers.get("Signature", "")
        zadarma.verify(data, signature, secret=secret)
        tz = setting(f"OTDEL_ZADARMA_{key}_TZ", zadarma.DEFAULT_TZ)
        parsed = zadarma.parse(data, signature, source=source, tz=tz)
        if not parsed.records:
            return _acknowledged(parsed.event)
        record = parsed.records[0]
        longest = dt.timedelta(seconds=_int_setting("OTDEL_ZADARMA_MAX_CALL_SECONDS", 4 * 3600))
        _check_fresh(record.started_at, older_allowed=_max_age() + longest)
        assert parsed.event_time is not None
        _check_fresh(parsed.event_time)
        signed_text = zadarma.signing_string(data)
        _refuse_reused_signature(source, parsed.event, signed_text, record.external_id, longest)
        return _stored(parsed.records)
    except DomainError as err:
        return _refuse(err, "zadarma", source)


def _refuse_reused_signature(
    source: str, event: str, signed_text: str, call_id: str, longest: dt.timedelta
) -> None:
    """A Zadarma signature belongs to one call: the same one with another call id is forged.
    Keyed by the signed text, not the header, because two encodings of it are accepted."""
    digest = hashlib.sha256(signed_text.encode()).hexdigest()
    cache_key = f"otdel:webhook:zadarma:{source}:{event}:{digest}"
    timeout = int((_max_age() * 2 + longest).total_seconds())
    if cache.add(cache_key, call_id, timeout):
        return
    if cache.get(cache_key) != call_id:
        raise Forbidden(
            _("This signature was already used for another call."), code="replay", call_id=call_id
        )


# CSRF-exempt for the same reason as mango_event: the sender signs with its token instead.
@csrf_exempt
@require_POST
def generic_event(request: HttpRequest, source: str) -> HttpResponse:
    """otdel's own JSON webhook: one finished call or a batch, signed with the source's token."""
    try:
        body = _read_body(request)
        key = _env_key(source)
        token = setting(f"OTDEL_WEBHOOK_{key}_TOKEN")
        if not token:
            raise _unknown_source()
        sent_at = generic.verify(
            body,
            timestamp=request.headers.get("X-Otdel-Timestamp", ""),
            signature=request.headers.get("X-Otdel-Signature", ""),
            token=token,
        )
        _check_fresh(sent_at)
        tz = setting(f"OTDEL_WEBHOOK_{key}_TZ", generic.DEFAULT_TZ)
        records = generic.parse(body, source=source, tz=tz)
        if not records:
            return _acknowledged("empty")
        return _stored(records)
    except DomainError as err:
        return _refuse(err, "generic", source)
