"""Zadarma PBX notifications → CallRecords.

Pure parsing and the signature check; no database. What Zadarma sends, as we read its API
description and its own PHP client (zadarma/user-api-v1); assumptions marked *:
- a POST, `application/x-www-form-urlencoded`, with `event` and the event's fields; when the
  address is saved in the account, Zadarma first checks it with a GET `?zd_echo=<x>` and expects
  `<x>` back;
- events: NOTIFY_START (an inbound call begins), NOTIFY_INTERNAL, NOTIFY_ANSWER, NOTIFY_IVR,
  NOTIFY_OUT_START, NOTIFY_END (an inbound call ended), NOTIFY_OUT_END (an outbound call
  ended), NOTIFY_RECORD (a recording is ready). Only the two *_END events are call facts; the
  others are acknowledged unwritten;
- the `Signature` header is base64 of HMAC-SHA1 with the API secret over a few fields only:
  NOTIFY_START / NOTIFY_INTERNAL / NOTIFY_END: caller_id + called_did + call_start;
  NOTIFY_OUT_START / NOTIFY_OUT_END: internal + destination + call_start;
  NOTIFY_ANSWER: caller_id + destination + call_start; NOTIFY_RECORD: pbx_call_id +
  call_id_with_rec. Zadarma's PHP samples base64-encode the *hex* digest (PHP's hash_hmac
  default); we accept that and the base64 of the raw digest*;
- NOTIFY_END / NOTIFY_OUT_END fields: `pbx_call_id` (the id of the whole call, our external id),
  `call_start` (LOCAL time "YYYY-MM-DD HH:MM:SS" in the account's zone, a setting — default
  Europe/Moscow), `caller_id` (inbound: their number), `called_did` (inbound: our number),
  `destination` (outbound: their number as dialled), `internal` (our extension),
  `duration` (seconds — read as talk time for an answered call*, 0 otherwise), `disposition`
  ('answered', 'busy', 'cancel', 'no answer', 'failed', 'no money', 'unallocated number', …),
  `status_code` (Q.931), `is_recorded`, `call_id_with_rec`;
- since `pbx_call_id`, `duration` and `disposition` are NOT signed, the view also refuses a
  signature seen before with a different call id (see otdel.telephony.webhooks);
- an outbound call to a short number (under 7 digits) is another extension: internal*;
- a recording link needs a further API call (pbx/record/request) with the API key; it is not
  fetched here — `call_id_with_rec` is kept in the call's raw data.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from otdel.activities.models import CallDirection, CallDisposition
from otdel.core.errors import DomainError, Forbidden, Invalid
from otdel.telephony.records import CallRecord

DEFAULT_TZ = "Europe/Moscow"
END_EVENTS = {"NOTIFY_END", "NOTIFY_OUT_END"}

# Which fields each event signs, in order.
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
    "NOTIFY_IVR": ("caller_id", "called_did", "call_start"),
}

_DISPOSITIONS = {
    "answered": CallDisposition.ANSWERED,
    "busy": CallDisposition.BUSY,
    "no answer": CallDisposition.NO_ANSWER,
}


@dataclass
class ZadarmaEvent:
    """One signed notification: its name, fields, signature and the call it finished (END)."""

    event: str
    data: dict[str, str]
    signature: str
    records: list[CallRecord] = field(default_factory=list)
    event_time: dt.datetime | None = None


def read_params(body: bytes, content_type: str) -> dict[str, str]:
    """The notification's fields: a form (what Zadarma sends) or a JSON object."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise DomainError(_("The body is not UTF-8 text."), code="malformed") from None
    if "json" in content_type:
        try:
            data = json.loads(text)
        except ValueError:
            raise DomainError(_("The body is not valid JSON."), code="malformed") from None
        if not isinstance(data, dict):
            raise DomainError(_("The body must be a JSON object."), code="malformed")
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def signing_string(data: Mapping[str, str]) -> str:
    """The text Zadarma signs for this event ('' for an event we do not know)."""
    names = SIGNED_FIELDS.get(data.get("event", ""), ())
    return "".join(data.get(name, "") for name in names)


def sign(text: str, secret: str) -> str:
    """Zadarma's signature as its samples compute it: base64 of the hex HMAC-SHA1."""
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def verify(data: Mapping[str, str], signature: str, *, secret: str) -> None:
    """Refuse a notification whose Signature header is not the secret's."""
    text = signing_string(data)
    raw = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    accepted = (sign(text, secret), base64.b64encode(raw).decode())
    sent = (signature or "").strip().encode()
    ok = bool(text) and any(hmac.compare_digest(sent, a.encode()) for a in accepted)
    if not ok:
        raise Forbidden(_("The Zadarma signature does not match."), code="bad_signature")


def parse(
    data: dict[str, str], signature: str, *, source: str, tz: str = DEFAULT_TZ
) -> ZadarmaEvent:
    """A verified notification; for NOTIFY_END / NOTIFY_OUT_END also the finished call."""
    parsed = ZadarmaEvent(event=data.get("event", ""), data=data, signature=signature)
    if parsed.event in END_EVENTS:
        record = end_record(data, source=source, tz=tz)
        parsed.records.append(record)
        parsed.event_time = record.started_at + dt.timedelta(seconds=_duration(data))
    elif data.get("call_start"):
        parsed.event_time = _local_time(data, tz)
    return parsed


def _required(data: Mapping[str, str], name: str) -> str:
    value = (data.get(name) or "").strip()
    if not value:
        raise Invalid(
            _("The field %(field)s is missing.") % {"field": name}, code="missing_field", field=name
        )
    return value


def _local_time(data: Mapping[str, str], tz: str) -> dt.datetime:
    value = _required(data, "call_start")
    try:
        naive = dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise Invalid(
            _("The field %(field)s is not a date and time.") % {"field": "call_start"},
            code="invalid",
            field="call_start",
        ) from None
    return naive.replace(tzinfo=ZoneInfo(tz))


def _duration(data: Mapping[str, str]) -> int:
    value = (data.get("duration") or "0").strip()
    try:
        return max(int(float(value)), 0)
    except ValueError:
        raise Invalid(
            _("The field %(field)s is not a number.") % {"field": "duration"},
            code="invalid",
            field="duration",
        ) from None


def _disposition(value: str, direction: str) -> str:
    value = value.strip().lower()
    if value == "cancel":
        # Inbound: the caller hung up before anyone answered. Outbound: the manager did.
        return (
            CallDisposition.ABANDONED
            if direction == CallDirection.INBOUND
            else CallDisposition.NO_ANSWER
        )
    return _DISPOSITIONS.get(value, CallDisposition.FAILED)


def end_record(data: Mapping[str, str], *, source: str, tz: str = DEFAULT_TZ) -> CallRecord:
    """The call a NOTIFY_END (inbound) or NOTIFY_OUT_END (outbound) reports."""
    event = data.get("event", "")
    call_id = _required(data, "pbx_call_id")
    started = _local_time(data, tz)
    disposition_text = _required(data, "disposition")
    if event == "NOTIFY_OUT_END":
        their = _required(data, "destination")
        digits = sum(ch.isdigit() for ch in their)
        direction = CallDirection.OUTBOUND if digits >= 7 else CallDirection.INTERNAL
    else:
        their = _required(data, "caller_id")
        direction = CallDirection.INBOUND
    disposition = _disposition(disposition_text, direction)
    talk = _duration(data) if disposition == CallDisposition.ANSWERED else 0
    return CallRecord(
        source=source,
        external_id=call_id,
        started_at=started,
        direction=direction,
        disposition=disposition,
        talk_seconds=talk,
        account=(data.get("internal") or "").strip(),
        their_number=their,
        recording_url="",
        raw={"provider": "zadarma", **dict(data)},
    )
