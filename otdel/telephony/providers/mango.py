"""Mango Office (Виртуальная АТС, API «Коннектор») webhook events → CallRecords.

Pure parsing and the signature check; no database. How Mango talks to us, as we read its VPBX
API description (assumptions marked *):
- Mango POSTs `application/x-www-form-urlencoded` with three fields: `vpbx_api_key` (the
  account's unique code), `sign` and `json` (the event, as a JSON string);
- `sign` = hex(sha256(vpbx_api_key + json + api_salt)); the salt never travels. The whole
  event text is signed, so nothing in it can be changed without the salt;
- Mango appends the event's path to the address configured in the account: `…/events/call`
  (every state change of a call leg: Appeared, Connected, OnHold, Disconnected),
  `…/events/summary` (once, when the whole call ended), `…/events/recording`, `…/events/dtmf`
  and others. Only `events/summary` is the call fact; the rest are acknowledged unwritten;
- the summary carries `entry_id` (the id of the whole call, our external id), `call_direction`
  (0 internal, 1 inbound, 2 outbound)*, `from` / `to` objects with `extension` (our side) and
  `number`, `line_number` (our external line), and unix timestamps `create_time`,
  `forward_time`, `talk_time` (the moment the conversation began, 0 when nobody answered)*,
  `end_time`, plus `entry_result` (1 answered, 0 not)* and `disconnect_reason` (Mango's code);
- where `call_direction` is absent, the direction comes from which side has an extension:
  only `from.extension` → outbound, only `to.extension` → inbound, both → internal;
- talk time = end_time − talk_time (`answer_time` is read when `talk_time` is absent*);
- a caller who hung up before anyone answered an inbound call (`disconnect_reason` 1110, "ended
  by the caller"*) is "abandoned"; other unanswered calls are "no answer" when the code is a
  normal clearing (11xx)* and "failed" otherwise. Busy is not told apart (Mango's code table for
  it was not confirmed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from django.utils.translation import gettext as _

from otdel.activities.models import CallDirection, CallDisposition
from otdel.core.errors import DomainError, Forbidden, Invalid
from otdel.telephony.records import CallRecord

SUMMARY_EVENT = "events/summary"
ENDED_BY_CALLER = 1110


@dataclass
class MangoEvent:
    """One signed delivery: which event, its JSON, and the call it finished (summary only)."""

    event: str
    data: dict[str, Any]
    records: list[CallRecord] = field(default_factory=list)
    event_time: dt.datetime | None = None


def sign(api_key: str, json_text: str, api_salt: str) -> str:
    """Mango's signature of one delivery (also what tests sign with)."""
    return hashlib.sha256((api_key + json_text + api_salt).encode()).hexdigest()


def read_form(body: bytes) -> tuple[str, str, str]:
    """(vpbx_api_key, sign, json) from the posted form; absent fields are ''."""
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise DomainError(_("The body is not UTF-8 text."), code="malformed") from None

    def first(name: str) -> str:
        values = form.get(name) or [""]
        return values[0]

    return first("vpbx_api_key"), first("sign"), first("json")


def verify(body: bytes, *, api_key: str, api_salt: str) -> str:
    """Return the signed JSON text, or refuse: wrong account key or a signature without salt."""
    sent_key, sent_sign, json_text = read_form(body)
    expected = sign(api_key, json_text, api_salt)
    key_ok = hmac.compare_digest(sent_key.encode(), api_key.encode())
    sign_ok = hmac.compare_digest(sent_sign.strip().lower().encode(), expected.encode())
    if not (key_ok and sign_ok):
        raise Forbidden(_("The Mango Office signature does not match."), code="bad_signature")
    return json_text


def parse(event: str, json_text: str, *, source: str) -> MangoEvent:
    """The event's JSON; for `events/summary` also the finished call as a CallRecord."""
    event = event.strip("/")
    try:
        data = json.loads(json_text)
    except ValueError:
        raise DomainError(_("The event is not valid JSON."), code="malformed") from None
    if not isinstance(data, dict):
        raise DomainError(_("The event must be a JSON object."), code="malformed")
    parsed = MangoEvent(event=event, data=data)
    if event == SUMMARY_EVENT:
        record = summary_record(data, source=source)
        parsed.records.append(record)
        parsed.event_time = record.ended_at or record.started_at
    return parsed


def _required(data: dict[str, Any], name: str) -> Any:
    value = data.get(name)
    if value is None or value == "":
        raise Invalid(
            _("The field %(field)s is missing.") % {"field": name}, code="missing_field", field=name
        )
    return value


def _moment(data: dict[str, Any], name: str, *, required: bool = False) -> dt.datetime | None:
    """A unix timestamp field as an aware moment; 0 or absent is None."""
    value = _required(data, name) if required else data.get(name)
    if value in (None, "", 0, "0"):
        if required:
            raise Invalid(
                _("The field %(field)s is missing.") % {"field": name},
                code="missing_field",
                field=name,
            )
        return None
    try:
        return dt.datetime.fromtimestamp(int(float(value)), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise Invalid(
            _("The field %(field)s is not a unix time.") % {"field": name},
            code="invalid",
            field=name,
        ) from None


def _side(data: dict[str, Any], name: str) -> dict[str, str]:
    value = data.get(name)
    if value is None:
        raise Invalid(
            _("The field %(field)s is missing.") % {"field": name}, code="missing_field", field=name
        )
    if not isinstance(value, dict):
        raise Invalid(
            _("The field %(field)s must be an object.") % {"field": name},
            code="invalid",
            field=name,
        )
    return {k: "" if v is None else str(v) for k, v in value.items()}


def _direction(data: dict[str, Any], caller: dict[str, str], callee: dict[str, str]) -> str:
    code = str(data.get("call_direction", "")).strip()
    if code in {"0", "1", "2"}:
        return {
            "0": CallDirection.INTERNAL,
            "1": CallDirection.INBOUND,
            "2": CallDirection.OUTBOUND,
        }[code]
    ours_calls, ours_answers = bool(caller.get("extension")), bool(callee.get("extension"))
    if ours_calls and ours_answers:
        return CallDirection.INTERNAL
    if ours_calls:
        return CallDirection.OUTBOUND
    return CallDirection.INBOUND


def _disposition(direction: str, answered: bool, reason: Any) -> str:
    if answered:
        return CallDisposition.ANSWERED
    try:
        code = int(reason)
    except (TypeError, ValueError):
        code = 0
    if direction == CallDirection.INBOUND and code == ENDED_BY_CALLER:
        return CallDisposition.ABANDONED
    if code == 0 or 1100 <= code < 1200:
        return CallDisposition.NO_ANSWER
    return CallDisposition.FAILED


def summary_record(data: dict[str, Any], *, source: str) -> CallRecord:
    """The call an `events/summary` describes: our side is the extension, theirs the number."""
    entry_id = str(_required(data, "entry_id"))
    caller, callee = _side(data, "from"), _side(data, "to")
    started = _moment(data, "create_time", required=True)
    ended = _moment(data, "end_time", required=True)
    assert started is not None and ended is not None  # required=True never returns None
    answered = _moment(data, "talk_time") or _moment(data, "answer_time")
    if str(data.get("entry_result", "")).strip() == "0":
        answered = None
    direction = _direction(data, caller, callee)
    if direction == CallDirection.INBOUND:
        account, their = callee.get("extension", ""), caller.get("number", "")
    else:
        account = caller.get("extension", "")
        their = callee.get("number", "") or callee.get("extension", "")
    talk = int((ended - answered).total_seconds()) if answered else 0
    ring_until = answered or ended
    ring = int((ring_until - started).total_seconds())
    return CallRecord(
        source=source,
        external_id=entry_id,
        started_at=started,
        direction=direction,
        disposition=_disposition(direction, answered is not None, data.get("disconnect_reason")),
        talk_seconds=max(talk, 0),
        ring_seconds=max(ring, 0),
        answered_at=answered,
        ended_at=ended,
        account=account,
        their_number=their,
        recording_url="",
        raw={"provider": "mango", "event": SUMMARY_EVENT, **data},
    )
