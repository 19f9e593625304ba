"""Calls from the phone system become facts: stored once, matched to people and clients,
judged by the team's effective-call policy; each is its own entry on the client's timeline."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from django.db import connection, transaction

from otdel.activities import ingest_sql
from otdel.activities.models import Call, CallDirection
from otdel.clients.models import ContactPhone
from otdel.clients.normalize import ValidationFailure, normalize_phone
from otdel.core import clock
from otdel.ownership import services as ownership
from otdel.telephony.models import PhoneAccount
from otdel.telephony.records import CallRecord


@dataclass
class IngestResult:
    """What one batch did: new facts, records already known, numbers nobody matched."""

    created: int = 0
    already_known: int = 0
    unknown_numbers: int = 0
    call_ids: list[int] = field(default_factory=list)


@lru_cache(maxsize=100_000)
def e164_or_blank(number: str) -> str:
    """The number in E.164, or '' when it is not a phone number (an extension, 'anonymous').
    Memoised: a phone system reports the same numbers again and again, and parsing one costs
    more than storing the call."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) < 10:
        return ""
    try:
        return normalize_phone(number)
    except ValidationFailure:
        return ""


# An extension after the number ("доб. 12", "ext 12", "x12"), as normalize_phone drops it.
_EXTENSION = re.compile(r"(?i)\s*(?:доб\.?|ext\.?|x)\s*\d+\s*$")


def quick_e164(number: str) -> tuple[str, bool]:
    """The E.164 form of a typed number, and whether it was checked. A number typed with a
    +7, 8 or 7 prefix is only rewritten (+7 and ten digits): it is checked later, and only if it
    matches no stored contact (a stored number was checked when it was saved), so a million
    calls to known clients cost no parsing. Anything else is checked now."""
    raw = number.strip()
    digits = "".join(ch for ch in _EXTENSION.split(raw)[0] if ch.isdigit())
    if len(digits) == 11:
        if raw.startswith("+"):
            if digits[0] == "7":
                return "+" + digits, False
        elif digits[0] in "78":
            return "+7" + digits[1:], False
    return e164_or_blank(number), True


def typed_numbers(records: Iterable[CallRecord]) -> dict[str, tuple[str, bool]]:
    """Each distinct number of the records' other side → (E.164 candidate, checked)."""
    numbers: dict[str, tuple[str, bool]] = {}
    for r in records:
        if r.direction != CallDirection.INTERNAL and r.their_number not in numbers:
            numbers[r.their_number] = quick_e164(r.their_number)
    return numbers


@dataclass(frozen=True)
class _Match:
    contact_id: int
    client_id: int
    owner_id: int | None


def match_numbers(numbers: set[str]) -> dict[str, list[_Match]]:
    """Every live client contact with one of these numbers, lowest client id first (one
    query)."""
    found: dict[str, list[_Match]] = {}
    rows = (
        ContactPhone.objects.filter(e164__in=numbers, client__merged_into__isnull=True)
        .order_by("client_id")
        .values_list("e164", "contact_id", "client_id", "client__owner_id")
    )
    for e164, contact_id, client_id, owner_id in rows:
        found.setdefault(e164, []).append(_Match(contact_id, client_id, owner_id))
    return found


def _pick(matches: list[_Match], user_id: int | None) -> _Match | None:
    """A number shared by several clients goes to the caller's own client first."""
    if not matches:
        return None
    return next((m for m in matches if user_id and m.owner_id == user_id), matches[0])


def record_calls(records: Iterable[CallRecord]) -> IngestResult:
    """Store calls a phone system reported. A call already stored (same source and external id)
    changes nothing, so adapters may re-send freely (after a reconnect, a re-import)."""
    unique: dict[tuple[str, str], CallRecord] = {}
    for record in records:
        unique.setdefault((record.source, record.external_id), record)
    result = IngestResult()
    if not unique:
        return result
    if connection.vendor == "postgresql":
        return _record_calls_postgresql(list(unique.values()))
    sources = {s for s, _ in unique}
    external_ids = [e for _, e in unique]
    known: set[tuple[str, str]] = set()
    for start in range(0, len(external_ids), 900):
        known.update(
            Call.objects.filter(
                source__in=sources, external_id__in=external_ids[start : start + 900]
            ).values_list("source", "external_id")
        )
    fresh = [r for key, r in unique.items() if key not in known]
    result.already_known = len(unique) - len(fresh)
    if not fresh:
        return result

    accounts = {
        (a.source, a.account): a.user_id
        for a in PhoneAccount.objects.filter(
            source__in=sources, account__in={r.account for r in fresh if r.account}
        )
    }
    typed = typed_numbers(fresh)
    matches = match_numbers({e164 for e164, _ in typed.values() if e164})
    # Unchecked numbers that match no contact are checked now (an invalid one is kept as typed).
    numbers = {
        r.external_id: e164 if checked or e164 in matches else e164_or_blank(e164)
        for r in fresh
        if r.direction != CallDirection.INTERNAL
        for e164, checked in [typed[r.their_number]]
    }
    now = clock.now()
    calls: list[Call] = []
    for r in fresh:
        user_id = accounts.get((r.source, r.account))
        e164 = numbers.get(r.external_id, "")
        match = _pick(matches.get(e164, []), user_id) if e164 else None
        if r.direction != CallDirection.INTERNAL and match is None:
            result.unknown_numbers += 1
        calls.append(
            Call(
                source=r.source,
                external_id=r.external_id,
                started_at=r.started_at,
                answered_at=r.answered_at,
                ended_at=r.ended_at,
                direction=r.direction,
                disposition=r.disposition,
                talk_seconds=max(r.talk_seconds, 0),
                ring_seconds=max(r.ring_seconds, 0),
                account=r.account,
                user_id=user_id,
                their_number=r.their_number,
                their_e164=e164,
                contact_id=match.contact_id if match else None,
                client_id=match.client_id if match else None,
                recording_url=r.recording_url,
                self_reported=False,
                raw=r.raw,
                created_at=now,
            )
        )
    with transaction.atomic():
        # A parallel ingester may have stored some of them a moment ago: those are skipped.
        Call.objects.bulk_create(calls, ignore_conflicts=True, batch_size=1000)
        # Ours are the rows stamped with this batch's moment (created_at is never edited).
        stored: list[int] = []
        ids = [c.external_id for c in calls]
        for start in range(0, len(ids), 900):
            stored.extend(
                Call.objects.filter(
                    source__in=sources, external_id__in=ids[start : start + 900], created_at=now
                ).values_list("pk", flat=True)
            )
        result.created = len(stored)
        result.call_ids = stored
        result.already_known += len(calls) - len(stored)
        judge_new_calls(result.call_ids)
    return result


def _record_calls_postgresql(records: list[CallRecord]) -> IngestResult:
    """The same, set-based (otdel.activities.ingest_sql): each call is judged before it is
    written, so it is written once; numbers are normalised here, once per distinct number."""
    result = IngestResult()
    with transaction.atomic():
        stored, became = ingest_sql.ingest(records, clock.now(), ingest_sql.typed_numbers(records))
        result.call_ids = [c.id for c in stored]
        result.created = len(stored)
        result.already_known = len(records) - len(stored)
        result.unknown_numbers = sum(
            1 for c in stored if c.client_id is None and c.direction != CallDirection.INTERNAL
        )
        if stored:
            _after_judging(
                result.call_ids,
                [
                    (c.client_id, c.user_id, c.started_at)
                    for c in stored
                    if c.effective
                    and c.client_id is not None
                    and c.user_id is not None
                    and c.started_at is not None
                ]
                + became,
            )
    return result


def judge_new_calls(call_ids: list[int]) -> int:
    """Give calls their verdict (and the later calls of their clients, whose history they
    are); a call closes the caller's open task on that client; an effective call by the owner
    restarts his clock. Returns how many clocks restarted."""
    from otdel.activities.verdicts import judge_calls

    if not call_ids:
        return 0
    return _after_judging(call_ids, judge_calls(call_ids).became_effective)


def _after_judging(call_ids: list[int], effective: list[tuple[int, int, dt.datetime]]) -> int:
    """What follows a verdict: tasks the calls complete, and owners' clocks the effective ones
    restart (note_effective_calls keeps only callers who still own the client)."""
    from otdel.planning.services import complete_tasks_for_calls

    complete_tasks_for_calls(call_ids)
    return ownership.note_effective_calls(effective)
