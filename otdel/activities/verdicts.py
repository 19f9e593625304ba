"""The verdict of every call under the effective-call policy in force when it started.

`judge` is a pure function of plain facts; `classify_calls` and `reclassify` load the facts of
many calls in a few set-based queries (the call rows, the ownership ledger, the client's earlier
calls, the policy versions), judge them in memory in time order and write the verdicts back in
one bulk statement per chunk. Reasons are stored as code + params, so the viewer's language
renders them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from otdel.activities import verdicts_sql
from otdel.activities.call_policy import EffectiveCallPolicyDocument
from otdel.activities.models import (
    Call,
    CallDirection,
    CallDisposition,
    CallOutcome,
    EffectiveCallPolicy,
)
from otdel.core import clock
from otdel.ownership.ledger import owners_then

# Calls judged (and written) together; bounded so IN lists stay small on every database.
CHUNK = 5000

OUTCOME_LABELS = {
    "decision_maker_reached": "decision maker reached",
    "mobile_obtained": "mobile obtained",
    "email_obtained": "e-mail obtained",
    "presentation_sent": "presentation sent",
}


# --- the verdict as data --------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """Why a call is (not) effective: a stable code and its parameters; text renders them."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return render_reason(self.code, self.params)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params}


@dataclass(frozen=True)
class Verdict:
    """Effective or not, the reasons, and the measure the call counts in (None: none)."""

    effective: bool
    reasons: list[Reason]
    measure: str | None = None  # "effective" or "callback" (stale callbacks counted separately)

    @property
    def texts(self) -> list[str]:
        return [reason.text for reason in self.reasons]


@dataclass(frozen=True)
class CallFacts:
    """Everything the policy looks at for one call, as the phone system and the ledger knew it."""

    started_at: dt.datetime
    direction: str
    disposition: str
    talk_seconds: int
    self_reported: bool = False
    user_id: int | None = None
    client_id: int | None = None
    # Who owned the client when the call started (None: the pool).
    owner_id_at_call: int | None = None
    outcomes: frozenset[str] = frozenset()
    # The client's latest inbound call before this one, and the longest answered outbound call
    # anyone of ours had with the client after it (0: nobody has talked to him since).
    last_inbound_at: dt.datetime | None = None
    longest_outbound_talk_since_inbound: int = 0
    # The same person's latest earlier effective call to the same client.
    last_counted_at: dt.datetime | None = None


def _days_between(earlier: dt.datetime, later: dt.datetime) -> int:
    """Calendar days between two moments, as a Moscow wall calendar counts them."""
    return (later.astimezone(clock.MOSCOW).date() - earlier.astimezone(clock.MOSCOW).date()).days


def callback_age_days(facts: CallFacts, policy: EffectiveCallPolicyDocument) -> int | None:
    """Age in days of the inbound call this outbound call answers, or None if it is no callback.

    A callback: the client called us (answered or missed), nobody of ours has talked to him for
    at least the minimum talk time since, and that inbound call is within the horizon.
    """
    if facts.direction != CallDirection.OUTBOUND or facts.last_inbound_at is None:
        return None
    if facts.longest_outbound_talk_since_inbound >= policy.min_talk_seconds:
        return None
    age = _days_between(facts.last_inbound_at, facts.started_at)
    return age if age <= policy.inbound_callback_horizon_days else None


def judge(facts: CallFacts, policy: EffectiveCallPolicyDocument) -> Verdict:
    """Apply every rule of the policy to one call; list every rule it fails, in a fixed order."""
    reasons: list[Reason] = []
    if facts.direction == CallDirection.INTERNAL:
        reasons.append(Reason("internal"))
    elif facts.direction not in policy.counted_directions:
        reasons.append(Reason("direction_not_counted", {"direction": facts.direction}))
    if facts.self_reported and policy.phone_system_only:
        reasons.append(Reason("self_reported"))
    if facts.disposition != CallDisposition.ANSWERED:
        reasons.append(Reason("not_answered", {"disposition": facts.disposition}))
    elif facts.talk_seconds < policy.min_talk_seconds:
        reasons.append(
            Reason("talk_time", {"seconds": facts.talk_seconds, "min": policy.min_talk_seconds})
        )
    if facts.user_id is None:
        reasons.append(Reason("no_person"))
    if facts.client_id is None:
        reasons.append(Reason("no_client"))
    elif facts.user_id is not None and facts.owner_id_at_call != facts.user_id:
        in_pool = facts.owner_id_at_call is None
        if not (in_pool and policy.client_scope == "own_base_or_pool"):
            reasons.append(Reason("not_your_client", {"owner": "pool" if in_pool else "other"}))
    missing = [o for o in policy.required_outcomes if o not in facts.outcomes]
    if missing:
        reasons.append(Reason("outcomes_missing", {"missing": missing}))
    age = callback_age_days(facts, policy)
    stale = age is not None and age > policy.inbound_callback_max_age_days
    if stale and (reasons or policy.stale_callbacks == "exclude"):
        reasons.append(Reason("stale_callback", {"age_days": age}))
    if reasons:
        return Verdict(False, reasons)
    if stale:
        return Verdict(False, [Reason("counted_as_callback", {"age_days": age})], "callback")
    if (
        policy.once_per_client_days > 0
        and facts.last_counted_at is not None
        and _days_between(facts.last_counted_at, facts.started_at) < policy.once_per_client_days
    ):
        day = facts.last_counted_at.astimezone(clock.MOSCOW).date().isoformat()
        return Verdict(False, [Reason("already_counted", {"on": day})])
    params: dict[str, Any] = {
        "direction": facts.direction,
        "seconds": facts.talk_seconds,
        "scope": "own_base" if facts.owner_id_at_call == facts.user_id else "pool",
    }
    if age is not None:
        params["callback_age_days"] = age
    return Verdict(True, [Reason("effective", params)], "effective")


# --- rendering ------------------------------------------------------------------------------


def _mmss(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def _direction_label(direction: str) -> str:
    return str(dict(CallDirection.choices).get(direction, direction))


def render_reason(code: str, params: dict[str, Any]) -> str:
    """The reason as a sentence in the active language (stored reasons are code + params)."""
    p = params
    if code == "effective":
        scope = _("client in your base") if p.get("scope") == "own_base" else _("pool client")
        what = _direction_label(p.get("direction", ""))
        if "callback_age_days" in p:
            what = ngettext(
                "%(direction)s callback to an inbound call %(n)s day old",
                "%(direction)s callback to an inbound call %(n)s days old",
                p["callback_age_days"],
            ) % {"direction": what, "n": p["callback_age_days"]}
            if p["callback_age_days"] == 0:
                what = _("%(direction)s callback to today's inbound call") % {
                    "direction": _direction_label(p.get("direction", ""))
                }
        return _("effective: %(what)s, %(talk)s, %(scope)s") % {
            "what": what,
            "talk": _mmss(int(p.get("seconds", 0))),
            "scope": scope,
        }
    if code == "internal":
        return _("not effective: internal call between colleagues")
    if code == "direction_not_counted":
        return _("not effective: %(direction)s calls do not count") % {
            "direction": _direction_label(p.get("direction", ""))
        }
    if code == "self_reported":
        return _("not effective: self-reported")
    if code == "not_answered":
        label = dict(CallDisposition.choices).get(p.get("disposition", ""), p.get("disposition"))
        return _("not effective: not answered (%(disposition)s)") % {"disposition": label}
    if code == "talk_time":
        return _("not effective: talk time %(seconds)s s < %(min)s s") % {
            "seconds": p.get("seconds"),
            "min": p.get("min"),
        }
    if code == "no_person":
        return _("not effective: the extension is not linked to a person")
    if code == "no_client":
        return _("not effective: the number is not a known client")
    if code == "not_your_client":
        if p.get("owner") == "other":
            return _("not effective: client in a colleague's base")
        return _("not effective: client not in your base")
    if code == "outcomes_missing":
        names = ", ".join(_(OUTCOME_LABELS.get(o, o)) for o in p.get("missing", []))
        return _("not effective: outcomes missing: %(names)s") % {"names": names}
    if code in ("stale_callback", "counted_as_callback"):
        sentence = (
            _("not effective: inbound callback, the client's inbound call is %(n)s days old")
            if code == "stale_callback"
            else _(
                "counted as a callback, not an effective call: the client's inbound call is %(n)s days old"
            )
        )
        return sentence % {"n": p.get("age_days")}
    if code == "already_counted":
        day = dt.date.fromisoformat(p["on"]) if p.get("on") else None
        return _(
            "not effective: an effective call to this client was already counted on %(day)s"
        ) % {"day": day.strftime("%d.%m") if day else "?"}
    return code


def reasons_of(call: Call) -> list[Reason]:
    """A stored call's reasons, ready to render in the viewer's language."""
    return [Reason(r.get("code", ""), r.get("params", {})) for r in call.verdict_reasons or []]


# --- policies in force ----------------------------------------------------------------------


class _Versions:
    """Every version of the teams' policies, to find the one in force at each call's start
    (the same rule as otdel.core.versioned.version_in_force, in one query)."""

    def __init__(self) -> None:
        self._by_team: dict[int, list[tuple[dt.datetime, int, EffectiveCallPolicy]]] = defaultdict(
            list
        )
        self._docs: dict[int, EffectiveCallPolicyDocument] = {}
        # Every team's versions: a handful of rows per team, read once per run.
        for record in EffectiveCallPolicy.objects.all():
            self._by_team[record.team_id].append((record.effective_from, record.version, record))
            self._docs[record.pk] = EffectiveCallPolicyDocument.model_validate(record.document)
        for versions in self._by_team.values():
            versions.sort(key=lambda v: (v[0], v[1]))
        # The start moments per team, built once: `at` runs for every call of a run.
        self._starts = {team: [v[0] for v in vs] for team, vs in self._by_team.items()}
        self.default = EffectiveCallPolicyDocument()

    def at(
        self, team_id: int | None, moment: dt.datetime
    ) -> tuple[int | None, EffectiveCallPolicyDocument]:
        starts = self._starts.get(team_id or 0)
        if not starts:
            return None, self.default
        index = bisect.bisect_right(starts, moment)
        if index == 0:
            return None, self.default
        record = self._by_team[team_id or 0][index - 1][2]
        return record.pk, self._docs[record.pk]

    def all_docs(self) -> list[EffectiveCallPolicyDocument]:
        return [self.default, *self._docs.values()]


# --- loading facts set-based ----------------------------------------------------------------


@dataclass
class _Row:
    id: int
    started_at: dt.datetime
    direction: str
    disposition: str
    talk_seconds: int
    self_reported: bool
    user_id: int | None
    client_id: int | None
    team_id: int | None
    outcomes: frozenset[str]
    # The verdict stored now (effective, reasons, measure), to write only what changes.
    stored: tuple[bool | None, Any, str] = (None, None, "")


def _marked_outcomes(call_ids: Sequence[int]) -> dict[int, set[str]]:
    """Outcomes callers marked on the post-call card (one query); an outcome the data refuted
    (verified False) does not count."""
    marked: dict[int, set[str]] = defaultdict(set)
    rows = (
        CallOutcome.objects.filter(call_id__in=call_ids)
        .exclude(verified=False)
        .values_list("call_id", "kind")
    )
    for call_id, kind in rows:
        marked[call_id].add(kind)
    return marked


def _load_rows(call_ids: Sequence[int]) -> list[_Row]:
    marked = _marked_outcomes(call_ids)
    values = (
        Call.objects.filter(pk__in=call_ids)
        .order_by("started_at", "id")
        .values_list(
            "id",
            "started_at",
            "direction",
            "disposition",
            "talk_seconds",
            "self_reported",
            "user_id",
            "client_id",
            "user__team_id",
            "client__team_id",
            "raw__outcomes",
            "effective",
            "verdict_reasons",
            "measure",
        )
    )
    rows = []
    for (
        cid,
        started,
        direction,
        disp,
        talk,
        self_rep,
        user,
        client,
        uteam,
        cteam,
        outs,
        *stored,
    ) in values:
        # Marked on the card, plus any an integration reported with the call record itself.
        reported = {o for o in outs if isinstance(o, str)} if isinstance(outs, list) else set()
        outcomes = frozenset(reported | marked.get(cid, set()))
        rows.append(
            _Row(
                cid,
                started,
                direction,
                disp,
                talk,
                self_rep,
                user,
                client,
                uteam or cteam,
                outcomes,
                (stored[0], stored[1], stored[2]),
            )
        )
    return rows


class _Run:
    """One classification run over calls in time order: the policy versions, and each client's
    history carried from chunk to chunk (so no chunk reloads what an earlier one saw)."""

    def __init__(self, ordered_ids: Sequence[int]) -> None:
        self.ids = set(ordered_ids)
        self.versions = _Versions()
        docs = self.versions.all_docs()
        self.lookback = dt.timedelta(days=max(d.lookback_days for d in docs))
        # Shorter outbound calls matter to no version: they neither end a callback nor count.
        self.min_talk = min(d.min_talk_seconds for d in docs)
        self.states: dict[int, _History] = {}
        self.noted_outside: set[int] = set()
        self.last_at: dt.datetime | None = None

    def context(self, client_ids: set[int], first: dt.datetime, last: dt.datetime) -> Any:
        """Qualifying calls of these clients that are not part of the run: a lookback for
        clients new to the run, what happened since the previous chunk for the others."""
        new = client_ids - self.states.keys()
        seen = client_ids & self.states.keys()
        scope = Q(pk__in=[])
        if new:
            scope |= Q(client_id__in=new, started_at__gte=first - self.lookback)
        if seen and self.last_at is not None:
            scope |= Q(client_id__in=seen, started_at__gte=self.last_at)
        return (
            Call.objects.filter(scope, started_at__lte=last)
            .filter(
                Q(direction=CallDirection.INBOUND)
                | Q(
                    direction=CallDirection.OUTBOUND,
                    disposition=CallDisposition.ANSWERED,
                    talk_seconds__gte=self.min_talk,
                )
            )
            .values_list(
                "client_id", "started_at", "id", "direction", "talk_seconds", "user_id", "effective"
            )
        )


def _judge_rows(rows: list[_Row], run: _Run) -> list[tuple[int, Verdict]]:
    """Judge the rows in time order, each client's earlier calls (and the verdicts just given
    to earlier rows of the run) forming its history."""
    versions = run.versions
    client_ids = {r.client_id for r in rows if r.client_id is not None}
    owner_at = owners_then(client_ids) if client_ids else (lambda c, m: None)
    history: dict[int, list[tuple[dt.datetime, int, str, int, int | None, bool]]] = defaultdict(
        list
    )
    if client_ids:
        context = run.context(client_ids, rows[0].started_at, rows[-1].started_at)
        for client_id, started, cid, direction, talk, user, effective in context:
            if cid in run.ids or cid in run.noted_outside:
                continue
            run.noted_outside.add(cid)
            history[client_id].append((started, cid, direction, talk, user, bool(effective)))
    run.last_at = rows[-1].started_at
    by_client: dict[int | None, list[_Row]] = defaultdict(list)
    for row in rows:
        by_client[row.client_id].append(row)
    verdicts: dict[int, tuple[int, Verdict]] = {}

    def decide(row: _Row, state: _History) -> Verdict:
        _policy_id, doc = versions.at(row.team_id, row.started_at)
        facts = CallFacts(
            started_at=row.started_at,
            direction=row.direction,
            disposition=row.disposition,
            talk_seconds=row.talk_seconds,
            self_reported=row.self_reported,
            user_id=row.user_id,
            client_id=row.client_id,
            owner_id_at_call=owner_at(row.client_id, row.started_at) if row.client_id else None,
            outcomes=row.outcomes,
            last_inbound_at=state.last_inbound_at,
            longest_outbound_talk_since_inbound=state.longest_talk,
            last_counted_at=state.last_counted.get(row.user_id),
        )
        verdict = judge(facts, doc)
        verdicts[row.id] = (row.id, verdict)
        return verdict

    for client_key, client_rows in by_client.items():
        if client_key is None:
            for row in client_rows:
                decide(row, _History())
            continue
        state = run.states.setdefault(client_key, _History())
        # One forward pass over the client's known calls and the batch rows, in time order.
        merged: list[tuple[dt.datetime, int, Any]] = [
            (k[0], k[1], k) for k in history.get(client_key, [])
        ]
        merged += [(r.started_at, r.id, r) for r in client_rows]
        for _at, _id, item in sorted(merged, key=lambda e: (e[0], e[1])):
            if isinstance(item, _Row):
                verdict = decide(item, state)
                if item.direction == CallDirection.INBOUND or (
                    item.direction == CallDirection.OUTBOUND
                    and item.disposition == CallDisposition.ANSWERED
                ):
                    state.note(
                        item.started_at,
                        item.direction,
                        item.talk_seconds,
                        item.user_id,
                        verdict.effective,
                    )
            else:
                started, _cid, direction, talk, caller, effective = item
                state.note(started, direction, talk, caller, effective)
    return [verdicts[row.id] for row in rows]


@dataclass
class _History:
    """What a client's earlier calls tell the judge, kept up to date by a forward pass."""

    last_inbound_at: dt.datetime | None = None
    longest_talk: int = 0
    last_counted: dict[int | None, dt.datetime] = field(default_factory=dict)

    def note(
        self, at: dt.datetime, direction: str, talk: int, user_id: int | None, effective: bool
    ) -> None:
        if direction == CallDirection.INBOUND:
            self.last_inbound_at, self.longest_talk = at, 0
        else:
            self.longest_talk = max(self.longest_talk, talk)
        if effective:
            self.last_counted[user_id] = at


# --- writing --------------------------------------------------------------------------------


@dataclass
class Judged:
    """What a classification did: calls judged, and (client, person, started) of the calls
    that became effective (their owners' clocks may restart)."""

    count: int = 0
    became_effective: list[tuple[int, int, dt.datetime]] = field(default_factory=list)


def _write(
    rows: list[_Row], verdicts: list[tuple[int, Verdict]], now: dt.datetime
) -> list[tuple[int, int, dt.datetime]]:
    """Write the verdicts that differ from the stored ones (one batched statement); returns
    (client, person, started) of the calls that became effective."""
    table = Call._meta.db_table
    changed = []
    became: list[tuple[int, int, dt.datetime]] = []
    for row, (cid, verdict) in zip(rows, verdicts, strict=True):
        reasons = [r.as_json() for r in verdict.reasons]
        measure = verdict.measure or ""
        if row.stored == (verdict.effective, reasons, measure):
            continue
        changed.append(
            (
                verdict.effective,
                json.dumps(reasons, ensure_ascii=False),
                measure,
                connection.ops.adapt_datetimefield_value(now),
                cid,
            )
        )
        if verdict.effective and not row.stored[0] and row.client_id and row.user_id:
            became.append((row.client_id, row.user_id, row.started_at))
    if changed:
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET effective = %s, verdict_reasons = %s, "  # noqa: S608
                "measure = %s, classified_at = %s WHERE id = %s",
                changed,
            )
    return became


def _classify_ordered(ordered_ids: Sequence[int]) -> Judged:
    """Judge and write calls given in time order, chunk by chunk (each chunk sees the verdicts
    the earlier chunks wrote). The portable path (SQLite); PostgreSQL uses verdicts_sql."""
    judged = Judged()
    now = clock.now()
    run = _Run(ordered_ids)
    for start in range(0, len(ordered_ids), CHUNK):
        rows = _load_rows(ordered_ids[start : start + CHUNK])
        if not rows:
            continue
        with transaction.atomic():
            verdicts = _judge_rows(rows, run)
            judged.became_effective += _write(rows, verdicts, now)
        judged.count += len(verdicts)
    return judged


def _with_later_calls(call_ids: Sequence[int]) -> list[int]:
    """The calls and every later call of their clients, in time order: a call that arrives
    late (an old CDR imported today) or whose outcomes changed is history to the later ones."""
    given = list(set(call_ids))
    earlier_given = Call.objects.filter(
        pk__in=given, client_id=OuterRef("client_id"), started_at__lte=OuterRef("started_at")
    )
    later = Call.objects.filter(
        client_id__in=Call.objects.filter(pk__in=given, client__isnull=False).values("client_id")
    ).filter(Exists(earlier_given))
    return list(
        Call.objects.filter(Q(pk__in=given) | Q(pk__in=later.values("pk")))
        .order_by("started_at", "id")
        .values_list("id", flat=True)
    )


def judge_calls(call_ids: Sequence[int]) -> Judged:
    """Give calls their verdict under the version in force at their start, and judge again the
    later calls of the same clients (their history changed). Writes only verdicts that change."""
    if not call_ids:
        return Judged()
    if connection.vendor == "postgresql":
        with transaction.atomic():
            verdicts_sql.start_run()
            verdicts_sql.add_ids(list(call_ids))
            verdicts_sql.lock_clients()
            verdicts_sql.add_later_calls()
            count = verdicts_sql.judge_run()
            became = verdicts_sql.write_stored(clock.now())
            verdicts_sql.end_run()
        return Judged(count, became)
    return _classify_ordered(_with_later_calls(call_ids))


def classify_calls(call_ids: list[int]) -> int:
    """Judge calls (and the later calls of their clients); returns how many were judged."""
    return judge_calls(call_ids).count


def reclassify(team_id: int, *, since: dt.datetime) -> int:
    """Judge again the team's calls that started at or after `since` (a new policy version's
    effective date); earlier calls keep the verdict of the version in force then. A call belongs
    to its caller's team, or to its client's team when no person is matched."""
    if connection.vendor == "postgresql":
        with transaction.atomic():
            verdicts_sql.start_run()
            verdicts_sql.lock_all_clients()
            verdicts_sql.add_team_since(team_id, since)
            count = verdicts_sql.judge_run()
            verdicts_sql.write_stored(clock.now())
            verdicts_sql.end_run()
        return count
    ordered = list(
        Call.objects.filter(started_at__gte=since)
        .filter(Q(user__team_id=team_id) | Q(user__isnull=True, client__team_id=team_id))
        .order_by("started_at", "id")
        .values_list("id", flat=True)
    )
    return _classify_ordered(ordered).count


def effective_owner_calls(call_ids: list[int]) -> list[tuple[int, int, dt.datetime]]:
    """(client, person, started) of the effective calls whose caller owns the client now: the
    calls that restart the owner's return-to-pool clock."""
    return list(
        Call.objects.filter(pk__in=call_ids, effective=True, client__owner_id=F("user_id"))
        .order_by("started_at", "id")
        .values_list("client_id", "user_id", "started_at")
    )
