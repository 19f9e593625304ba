"""otdel's own JSON webhook for phone systems we have no adapter for → CallRecords.

Pure parsing and the signature check; no database. The format is ours (docs/telephony.md):
- POST `application/json`: one finished call as an object, or `{"calls": [ … ]}` (at most
  MAX_CALLS); each call has `id`, `started_at`, `direction`, `disposition` and optionally
  `talk_seconds`, `ring_seconds`, `answered_at`, `ended_at`, `account` (our extension),
  `their_number`, `recording_url`;
- times are ISO 8601; a time without an offset is read in the source's zone (a setting);
- `X-Otdel-Timestamp` (unix seconds) and `X-Otdel-Signature: sha256=<hex>` where the hex is
  HMAC-SHA256 with the source's token over `<timestamp>.<raw body>`: the body cannot be
  changed, and the timestamp (checked against a window by the view) stops an old request from
  being replayed later; re-sending the same call within the window is harmless (its id).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from otdel.core.errors import DomainError, Forbidden, Invalid
from otdel.telephony.records import CallRecord

MAX_CALLS = 1000
DEFAULT_TZ = "Europe/Moscow"


class GenericCall(BaseModel):
    """One finished call as another phone system reports it to otdel."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=128)
    started_at: dt.datetime
    direction: Literal["out", "in", "internal"]
    disposition: Literal["answered", "busy", "no_answer", "failed", "abandoned"]
    talk_seconds: int = Field(default=0, ge=0)
    ring_seconds: int = Field(default=0, ge=0)
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    account: str = Field(default="", max_length=64)
    their_number: str = Field(default="", max_length=64)
    recording_url: str = Field(default="", max_length=500)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("recording_url")
    @classmethod
    def _web_link_only(cls, value: str) -> str:
        # The link is rendered on the client's timeline: a javascript: URL would run there.
        if value and not value.lower().startswith(("https://", "http://")):
            raise ValueError("must be an http(s) link")
        return value


def sign(token: str, timestamp: str, body: bytes) -> str:
    """The signature header value for one request (what senders compute, and tests)."""
    digest = hmac.new(token.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(body: bytes, *, timestamp: str, signature: str, token: str) -> dt.datetime:
    """Refuse a request not signed with the token; return the moment it says it was sent."""
    expected = sign(token, timestamp or "", body)
    if not timestamp or not hmac.compare_digest(
        (signature or "").strip().encode(), expected.encode()
    ):
        raise Forbidden(_("The webhook signature does not match."), code="bad_signature")
    try:
        return dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise Forbidden(
            _("The webhook timestamp is not a unix time."), code="bad_signature"
        ) from None


def _aware(moment: dt.datetime | None, tz: ZoneInfo) -> dt.datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=tz)


def _field_path(loc: tuple[Any, ...], index: int | None) -> str:
    prefix = f"calls[{index}]." if index is not None else ""
    return prefix + ".".join(str(part) for part in loc)


def parse(body: bytes, *, source: str, tz: str = DEFAULT_TZ) -> list[CallRecord]:
    """The calls in a verified request; malformed JSON is 400, a missing or wrong field 422."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise DomainError(_("The body is not valid JSON."), code="malformed") from None
    if isinstance(data, dict) and "calls" in data:
        items, batch = data["calls"], True
    else:
        items, batch = [data], False
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise DomainError(_("Calls must be JSON objects."), code="malformed")
    if len(items) > MAX_CALLS:
        raise Invalid(
            _("At most %(count)s calls per request.") % {"count": MAX_CALLS},
            code="too_many_calls",
            field="calls",
        )
    zone = ZoneInfo(tz)
    records: list[CallRecord] = []
    for index, item in enumerate(items):
        try:
            call = GenericCall.model_validate(item)
        except ValidationError as exc:
            error = exc.errors()[0]
            path = _field_path(tuple(error["loc"]), index if batch else None)
            if error["type"] == "missing":
                raise Invalid(
                    _("The field %(field)s is missing.") % {"field": path},
                    code="missing_field",
                    field=path,
                ) from None
            raise Invalid(
                _("The field %(field)s is wrong: %(error)s")
                % {"field": path, "error": error["msg"]},
                code="invalid",
                field=path,
            ) from None
        started = _aware(call.started_at, zone)
        assert started is not None
        records.append(
            CallRecord(
                source=source,
                external_id=call.id,
                started_at=started,
                direction=call.direction,
                disposition=call.disposition,
                talk_seconds=call.talk_seconds,
                ring_seconds=call.ring_seconds,
                answered_at=_aware(call.answered_at, zone),
                ended_at=_aware(call.ended_at, zone),
                account=call.account,
                their_number=call.their_number,
                recording_url=call.recording_url,
                raw={"provider": "generic", **item},
            )
        )
    return records
