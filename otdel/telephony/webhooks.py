"""Cloud phone systems post their call events here; a finished call becomes a call fact.

Every endpoint does the same, in this order, and writes a call only at the very end (the call and
its signature's memory are one transaction, so a refused request writes nothing and nothing is
half-written):
1. more than OTDEL_WEBHOOK_RATE_PER_IP requests from this address in the current window
   (OTDEL_WEBHOOK_RATE_WINDOW_SECONDS) → 429 "rate_limited";
2. no secret configured for this provider and source → 404 "unknown_source";
3. the source has an allow-list (OTDEL_<PROVIDER>_<SOURCE>_ALLOWED_IPS) without this address →
   403 "forbidden_ip";
4. more than OTDEL_WEBHOOK_RATE_PER_SOURCE requests to this source in the window → 429;
5. body over OTDEL_WEBHOOK_MAX_BYTES → 413 "too_large";
6. signature check → 403 "bad_signature" (Zadarma signs form fields, so an unreadable body is
   400 "malformed" before it; Mango and ours sign the raw text, so the check comes first);
7. the event's time outside ±OTDEL_WEBHOOK_MAX_AGE_SECONDS (default 900) of now → 403 "stale":
   a captured request cannot be replayed later. Mango: the summary's end_time. Zadarma: the end
   (call_start + duration) and, since duration is unsigned, call_start no older than the window
   plus OTDEL_ZADARMA_MAX_CALL_SECONDS. Generic: the signed X-Otdel-Timestamp;
8. malformed JSON → 400 "malformed"; a missing field → 422 "missing_field" with the field;
9. intermediate events (a call appeared, rings, was answered) → 200 "acknowledged", nothing
   written; a finished call → record_calls → 200 with counts. The same call sent again is
   "already known" (source, external_id unique): 200 and nothing new. A number nobody has is
   stored without a client (record_calls counts it as unknown) → 200.

Zadarma signs only three fields, not the call id, duration or result: a signature already seen
with another call id is refused as a replay (403 "replay"). The memory is a table
(otdel.telephony.replays), so a cache flush or a second app process does not forget it; Mango
and the generic webhook sign the whole event, so a replay there is the same call, already known.

Secrets come per source from settings or the environment, never from the repository:
OTDEL_MANGO_<SOURCE>_API_KEY / _API_SALT, OTDEL_ZADARMA_<SOURCE>_SECRET (+ _TZ),
OTDEL_WEBHOOK_<SOURCE>_TOKEN (+ _TZ); <SOURCE> is the URL's source in upper case, '-' → '_'.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from otdel.activities.calls import IngestResult, record_calls
from otdel.core import clock
from otdel.core.errors import DomainError, Forbidden, NotFound
from otdel.telephony import admission, replays
from otdel.telephony.conf import env_key, int_setting, longest_call, max_age, setting
from otdel.telephony.providers import generic, mango, zadarma
from otdel.telephony.records import CallRecord

log = logging.getLogger("otdel.telephony.webhooks")

# The prefix of each provider's per-source settings (secrets, zone, allow-list).
_SETTING_PREFIX = {"mango": "MANGO", "zadarma": "ZADARMA", "generic": "WEBHOOK"}


class TooLarge(DomainError):
    """The body is bigger than a phone system's event ever is (413)."""

    status = 413
    code = "too_large"


def _admit(request: HttpRequest, provider: str, source: str, *, configured: bool) -> None:
    """Refuse before any work: a flooding address, an unknown source, an address the source's
    allow-list does not name, a flooded source. Counts the request against both limits."""
    address = admission.client_address(request)
    admission.count_request(
        admission.PER_IP,
        admission.address_subject(address),
        limit=int_setting("OTDEL_WEBHOOK_RATE_PER_IP", 600),
    )
    if not configured:
        raise _unknown_source()
    prefix = _SETTING_PREFIX[provider]
    admission.refuse_outside_allow_list(
        address, setting_name=f"OTDEL_{prefix}_{env_key(source)}_ALLOWED_IPS"
    )
    # Counted after the allow-list, so strangers cannot spend a listed source's budget.
    admission.count_request(
        admission.PER_SOURCE,
        f"{provider}:{source}",
        limit=int_setting("OTDEL_WEBHOOK_RATE_PER_SOURCE", 1200),
    )


def _read_body(request: HttpRequest) -> bytes:
    limit = int_setting("OTDEL_WEBHOOK_MAX_BYTES", 1024 * 1024)
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
    window = max_age()
    now = clock.now()
    if moment < now - (older_allowed or window) or moment > now + window:
        raise Forbidden(
            _("The event is too old or from the future; it is refused as a possible replay."),
            code="stale",
            event_time=moment.isoformat(),
        )


def _refuse(err: DomainError, provider: str, source: str) -> JsonResponse:
    response = JsonResponse(
        {"code": err.code, "message": err.message, "details": err.details}, status=err.status
    )
    if isinstance(err, admission.RateLimited):
        # The limiter logs the first refusal of each window with its subject; one more line here
        # for every refused request of a flood would tell nothing new.
        response["Retry-After"] = str(err.retry_after)
        return response
    log.warning("webhook %s/%s refused: %s %s", provider, source, err.code, err.details)
    return response


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
        key = env_key(source)
        api_key = setting(f"OTDEL_MANGO_{key}_API_KEY")
        api_salt = setting(f"OTDEL_MANGO_{key}_API_SALT")
        _admit(request, "mango", source, configured=bool(api_key and api_salt))
        body = _read_body(request)
        json_text = mango.verify(body, api_key=api_key, api_salt=api_salt)
        parsed = mango.parse(event or "", json_text, source=source)
        if parsed.event_time is not None:
            _check_fresh(parsed.event_time)
        if not parsed.records:
            return _acknowledged(parsed.event)
        # The whole event is signed, entry_id included: a replay is this call again, already
        # known, so no signature memory is needed (unlike Zadarma).
        return _stored(parsed.records)
    except DomainError as err:
        return _refuse(err, "mango", source)


# CSRF-exempt for the same reason as mango_event: the PBX signs its requests, it has no token.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def zadarma_event(request: HttpRequest, source: str) -> HttpResponse:
    """Zadarma: NOTIFY_END / NOTIFY_OUT_END are finished calls; other events are acknowledged."""
    try:
        key = env_key(source)
        secret = setting(f"OTDEL_ZADARMA_{key}_SECRET")
        _admit(request, "zadarma", source, configured=bool(secret))
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
        _check_fresh(record.started_at, older_allowed=max_age() + longest_call())
        assert parsed.event_time is not None
        _check_fresh(parsed.event_time)
        # The call id is not signed: the signature is remembered with the call it came with, in
        # the call's own transaction, so a refused or failed request leaves no memory behind.
        with transaction.atomic():
            replays.remember_signature(
                provider="zadarma",
                source=source,
                event=parsed.event,
                signed_text=zadarma.signing_string(data),
                external_id=record.external_id,
            )
            return _stored(parsed.records)
    except DomainError as err:
        return _refuse(err, "zadarma", source)


# CSRF-exempt for the same reason as mango_event: the sender signs with its token instead.
@csrf_exempt
@require_POST
def generic_event(request: HttpRequest, source: str) -> HttpResponse:
    """otdel's own JSON webhook: one finished call or a batch, signed with the source's token."""
    try:
        key = env_key(source)
        token = setting(f"OTDEL_WEBHOOK_{key}_TOKEN")
        _admit(request, "generic", source, configured=bool(token))
        body = _read_body(request)
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
        # The body is signed with its timestamp: a replay inside the window is the same calls
        # again, already known, so no signature memory is needed (unlike Zadarma).
        return _stored(records)
    except DomainError as err:
        return _refuse(err, "generic", source)
