"""Calls from the phone system become facts: stored once, matched to people and clients,
judged by the team's effective-call policy, and shown on the client's timeline."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery

from otdel.activities import ingest_sql
from otdel.activities.models import Activity, ActivityKind, Call, CallDirection
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


@dataclass(frozen=True)
class _Match:
    contact_id: int
    client_id: int
    owner_id: int | None


def _match_numbers(numbers: set[str]) -> dict[str, list[_Match]]:
    """Every live client contact with one of these numbers (one query)."""
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
    numbers = {
        r.external_id: e164_or_blank(r.their_number)
        for r in fresh
        if r.direction != CallDirection.INTERNAL
    }
    matches = _match_numbers({n for n in numbers.values() if n})
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
        stored: list[Call] = []
        ids = [c.external_id for c in calls]
        for start in range(0, len(ids), 900):
            stored.extend(
                Call.objects.filter(
                    source__in=sources,
                    external_id__in=ids[start : start + 900],
                    created_at=now,
                    activity__isnull=True,
                )
            )
        add_to_timelines(stored)
        result.created = len(stored)
        result.call_ids = [c.pk for c in stored]
        result.already_known += len(calls) - len(stored)
        judge_new_calls(result.call_ids)
    return result


def _record_calls_postgresql(records: list[CallRecord]) -> IngestResult:
    """The same, set-based (otdel.activities.ingest_sql): COPY, one matching INSERT, one
    timeline INSERT; numbers are normalised here, while writing the COPY buffer."""
    numbers: dict[str, str] = {}
    for r in records:
        if r.their_number not in numbers:
            numbers[r.their_number] = e164_or_blank(r.their_number)
    result = IngestResult()
    with transaction.atomic():
        rows = ingest_sql.insert_calls(records, clock.now(), numbers)
        result.call_ids = [cid for cid, _client, _direction in rows]
        result.created = len(rows)
        result.already_known = len(records) - len(rows)
        result.unknown_numbers = sum(
            1
            for _cid, client, direction in rows
            if client is None and direction != CallDirection.INTERNAL
        )
        if result.call_ids:
            ingest_sql.add_to_timelines(result.call_ids)
            judge_new_calls(result.call_ids)
    return result


def add_to_timelines(calls: list[Call]) -> None:
    """Each call matched to a client appears on its timeline as an activity (also used when
    an unknown number is resolved later)."""
    matched = [c for c in calls if c.client_id is not None]
    activities = Activity.objects.bulk_create(
        [
            Activity(
                client_id=c.client_id,
                author_id=c.user_id,
                kind=ActivityKind.CALL,
                occurred_at=c.started_at,
                direction=c.direction if c.direction != CallDirection.INTERNAL else "",
                talk_seconds=c.talk_seconds,
                subject=c.get_disposition_display(),
                source=c.source,
                external_id=c.external_id,
                self_reported=False,
                created_at=c.created_at,
            )
            for c in matched
        ],
        batch_size=1000,
    )
    # Link each call to its timeline entry in one statement: they share (source, external_id).
    linked = [a.external_id for a in activities]
    for start in range(0, len(linked), 900):
        Call.objects.filter(
            source__in={a.source for a in activities},
            external_id__in=linked[start : start + 900],
            activity__isnull=True,
        ).update(
            activity_id=Subquery(
                Activity.objects.filter(
                    source=OuterRef("source"), external_id=OuterRef("external_id")
                ).values("id")[:1]
            )
        )
    by_key = {(a.source, a.external_id): a for a in activities}
    for call in matched:
        call.activity = by_key[(call.source, call.external_id)]


def judge_new_calls(call_ids: list[int]) -> int:
    """Give every new call its verdict; a call closes the caller's open task on that client;
    an effective call by the owner restarts his clock. Returns how many clocks restarted."""
    from otdel.activities.verdicts import classify_calls, effective_owner_calls

    if not call_ids:
        return 0
    from otdel.planning.services import complete_tasks_for_calls

    classify_calls(call_ids)
    complete_tasks_for_calls(call_ids)
    return ownership.note_effective_calls(effective_owner_calls(call_ids))
