"""Every rule of `verdicts.judge`, set-based, on PostgreSQL.

The Python `judge` stays the reference (and SQLite's path); this module gives the calls of a
verdict run (`verdicts_sql`) the same verdicts, measures and reasons — the same JSON, code and
parameters — with a handful of statements over the whole run, so a million calls are judged
without a million rows crossing into Python. tests/activities/test_judge_sql_equivalence.py
checks both agree on random histories and policies.

How each rule becomes SQL:

- the version in force at each call: one row per version with the span it is in force
  ([effective_from, next version's effective_from)), joined on the team and the span;
- the owner at the call: the ownership ledger as spans per client (before the first change: the
  loser of the first change; from each change on: its receiver), joined the same way;
- callbacks: the run's calls and the other calls of their clients (from the lookback before the
  client's first call in the run), in time order per client (one sort); an inbound call opens a
  *segment* (a running count of inbound calls), "the latest inbound call" is a running max, and
  "the longest answered outbound talk since" a running max of (segment, talk) packed in one
  number, up to the row before: its segment part says whether it is the current segment's;
- the reasons: the judging keeps only which rules fail and the facts they name; the JSON is
  written once, by the statement that writes the verdicts;
- once per client per N days: the calls that pass every other rule, with the stored effective
  calls of their clients, per (client, person) in time order. With N ≤ 1 a call counts when it is
  the first of its (client, person, Moscow day) — exact, since the first such call of a day always
  counts; with N ≥ 2 the greedy chain ("counts when the last counted call is N days back") is a
  recursive step through each (client, person)'s calls, only for the pairs that need it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection

from otdel.activities.call_policy import EffectiveCallPolicyDocument
from otdel.activities.models import (
    Call,
    CallDirection,
    CallDisposition,
    CallMeasure,
    CallOutcome,
    EffectiveCallPolicy,
)
from otdel.core import clock
from otdel.ownership.models import EventKind, OwnershipEvent

CALLS = Call._meta.db_table
POL = "otdel_judge_policy"
OWN = "otdel_judge_owner"
VERD = "otdel_judge_verdict"
DEEP = "otdel_judge_deep"
CHAIN = "otdel_judge_chain"

# The wall calendar the rules count days in (verdicts._days_between), as a day number.
TZ = clock.MOSCOW.key


def _day(column: str) -> str:
    return f"(({column} AT TIME ZONE '{TZ}')::date - DATE '2000-01-01')"


def _policies() -> tuple[list[tuple[Any, ...]], dt.timedelta, dt.timedelta, int, bool, bool]:
    """One row per version (index 0: the defaults, for calls before any version), the
    lookback every rule needs, how far back a counted call can stop another from counting,
    the shortest minimum talk, and whether any version requires outcomes or counts once per
    more than one day."""
    default = EffectiveCallPolicyDocument()
    rows: list[tuple[Any, ...]] = []
    docs = [default]

    def row(index: int, pid: Any, team: Any, lo: Any, hi: Any, doc: Any) -> tuple[Any, ...]:
        return (
            index,
            pid,
            team,
            lo,
            hi,
            doc.min_talk_seconds,
            list(doc.counted_directions),
            doc.phone_system_only,
            doc.client_scope == "own_base_or_pool",
            list(doc.required_outcomes),
            doc.once_per_client_days,
            doc.inbound_callback_max_age_days,
            doc.inbound_callback_horizon_days,
            doc.stale_callbacks == "separate",
        )

    rows.append(row(0, None, None, None, None, default))
    versions = list(
        EffectiveCallPolicy.objects.order_by("team_id", "effective_from", "version").values_list(
            "pk", "team_id", "effective_from", "document"
        )
    )
    for n, (pk, team, start, document) in enumerate(versions):
        doc = EffectiveCallPolicyDocument.model_validate(document)
        docs.append(doc)
        following = versions[n + 1] if n + 1 < len(versions) else None
        end = following[2] if following is not None and following[1] == team else None
        rows.append(row(n + 1, pk, team, start, end, doc))
    lookback = dt.timedelta(days=max(d.lookback_days for d in docs))
    # In days of the wall calendar: a day more covers any time of the first day.
    counted_back = dt.timedelta(days=max(d.once_per_client_days for d in docs) + 1)
    min_talk = min(d.min_talk_seconds for d in docs)
    outcomes = any(d.required_outcomes for d in docs)
    deep = any(d.once_per_client_days >= 2 for d in docs)
    return rows, lookback, counted_back, min_talk, outcomes, deep


def _create_policies(rows: list[tuple[Any, ...]]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {POL}")
        cursor.execute(
            f"""CREATE TEMP TABLE {POL} (
                idx int PRIMARY KEY, pid bigint, team bigint, lo timestamptz, hi timestamptz,
                min_talk int, dirs text[], phone_only boolean, pool_ok boolean,
                required text[], once_days int, cb_max int, cb_horizon int,
                cb_separate boolean) ON COMMIT DROP"""
        )
        cursor.executemany(
            f"INSERT INTO {POL} VALUES"  # noqa: S608 - the table name is ours
            f" (%s, %s, %s, COALESCE(%s, '-infinity'::timestamptz),"
            " COALESCE(%s, 'infinity'::timestamptz), %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


def _create_owner_spans(run: str) -> None:
    """Who owned each of the run's clients when: the same rule as ownership.ledger.owners_then (the last
    change at or before a moment names the receiver; before the first change, its loser)."""
    events = OwnershipEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {OWN}")
        cursor.execute(
            f"""
            CREATE TEMP TABLE {OWN} ON COMMIT DROP AS
            WITH e AS (
                -- One index probe per client (a join would read the whole ledger).
                SELECT e.client_id, e.at, e.id, e.from_user_id, e.to_user_id
                FROM (SELECT DISTINCT client_id FROM {run} WHERE client_id IS NOT NULL) k
                CROSS JOIN LATERAL (
                    SELECT e.* FROM {events} e
                    WHERE e.client_id = k.client_id AND e.kind <> %(warning)s
                    OFFSET 0  -- kept a probe: flattened, it becomes a join over the ledger
                ) e
            )
            SELECT client_id, at AS lo,
                   COALESCE(lead(at) OVER (PARTITION BY client_id ORDER BY at, id),
                            'infinity'::timestamptz) AS hi,
                   to_user_id AS owner
            FROM e
            UNION ALL
            (SELECT DISTINCT ON (client_id) client_id, '-infinity'::timestamptz, at,
                    from_user_id
             FROM e ORDER BY client_id, at, id)
            """,  # noqa: S608 - table names are ours
            {"warning": EventKind.WARNING},
        )
        cursor.execute(f"ANALYZE {OWN}")


def _outcomes_sql(run_alias: str) -> str:
    """The outcomes a run's call has: those reported with the record (a JSON list of strings)
    and those marked on the post-call card of a stored call, unless the data refuted them."""
    r = run_alias
    return f"""ARRAY(
        SELECT o #>> '{{}}' FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof({r}.outs) = 'array' THEN {r}.outs ELSE '[]'::jsonb END) o
        WHERE jsonb_typeof(o) = 'string'
        UNION
        SELECT m.kind FROM {CallOutcome._meta.db_table} m
        WHERE NOT {r}.is_new AND m.call_id = {r}.id
          AND m.verified IS DISTINCT FROM false)"""  # noqa: S608


def _reason(code: str, params: str = "'{}'") -> str:
    """SQL text of one reason's JSON ({"code": …, "params": …}); params is SQL text."""
    return f"""'{{"code":"{code}","params":' || {params} || '}}'"""


# The reasons as SQL text of their JSON, one per rule (the codes and parameters of judge); `v`
# is a row of the verdict table, `p` its version, `c` its row of the chain.
R_INTERNAL = _reason("internal")
R_DIRECTION = _reason("direction_not_counted", """'{"direction":' || to_json(v.direction) || '}'""")
R_SELF = _reason("self_reported")
R_NOT_ANSWERED = _reason("not_answered", """'{"disposition":' || to_json(v.disposition) || '}'""")
R_TALK = _reason(
    "talk_time", """'{"seconds":' || v.talk_seconds || ',"min":' || p.min_talk || '}'"""
)
R_PERSON = _reason("no_person")
R_CLIENT = _reason("no_client")
R_NOT_YOURS = _reason(
    "not_your_client",
    """CASE WHEN v.owner_at IS NULL THEN '{"owner":"pool"}' ELSE '{"owner":"other"}' END""",
)
R_OUTCOMES = _reason(
    "outcomes_missing", """'{"missing":' || json_agg(q.o ORDER BY q.i)::text || '}'"""
)
R_STALE = _reason("stale_callback", """'{"age_days":' || v.age || '}'""")
R_CALLBACK = _reason("counted_as_callback", """'{"age_days":' || v.age || '}'""")
R_ALREADY = _reason(
    "already_counted",
    """'{"on":"' || to_char(DATE '2000-01-01' + c.last_day, 'YYYY-MM-DD') || '"}'""",
)
R_EFFECTIVE = _reason(
    "effective",
    """'{"direction":' || to_json(v.direction) || ',"seconds":' || v.talk_seconds
       || CASE WHEN v.owner_at = v.user_id THEN ',"scope":"own_base"' ELSE ',"scope":"pool"' END
       || CASE WHEN v.age IS NOT NULL THEN ',"callback_age_days":' || v.age ELSE '' END
       || '}'""",
)

# Each rule as a condition on a verdict row `v` and its version `p` (true: the rule fails). The
# verdict table keeps only whether some rule failed; the reasons are written from these again
# when the verdicts are written, so a million calls carry no JSON through the judging.
F_INTERNAL = "v.direction = 'internal'"
F_DIRECTION = "NOT (v.direction = ANY(p.dirs))"
F_SELF = "(v.self_reported AND p.phone_only)"
F_NOT_ANSWERED = f"v.disposition <> '{CallDisposition.ANSWERED.value}'"
F_TALK = "v.talk_seconds < p.min_talk"
F_PERSON = "v.user_id IS NULL"
F_CLIENT = "v.client_id IS NULL"
F_NOT_YOURS = """(v.user_id IS NOT NULL AND v.owner_at IS DISTINCT FROM v.user_id
                  AND NOT (v.owner_at IS NULL AND p.pool_ok))"""
F_OUTCOMES = "(cardinality(p.required) > 0 AND NOT (p.required <@ v.present))"
FAILED = " OR ".join(
    (F_INTERNAL, F_DIRECTION, F_SELF, F_NOT_ANSWERED, F_TALK, F_PERSON, F_CLIENT, F_NOT_YOURS)
)


def _create_verdicts(
    run: str,
    extra: str,
    lookback: dt.timedelta,
    counted_back: dt.timedelta,
    min_talk: int,
    outcomes: bool,
) -> None:
    """Every rule but "once per N days", per call of the run: whether some rule fails, the
    callback's age and whether it is stale, and the facts the reasons are written from.

    On the way (one statement, one sort of the run): each call's facts (the version in force,
    the owner then, the outcomes) and, for calls with a client, the callback state before it —
    the latest inbound call and the longest answered outbound talk since — from the run's calls
    and the other calls of their clients (in_run false; the effective ones are kept: their
    stored verdicts are history for "once per N days")."""
    present = _outcomes_sql("r") if outcomes else "NULL::text[]"
    relevant = """(c.direction = %(inbound)s OR (c.direction = %(outbound)s
                   AND c.disposition = %(answered)s AND c.talk_seconds >= %(min_talk)s))"""
    out = CallDirection.OUTBOUND.value
    failed = f"({FAILED} OR {F_OUTCOMES})" if outcomes else f"({FAILED})"
    params: dict[str, Any] = {
        "lookback": lookback,
        "counted_back": counted_back,
        "min_talk": min_talk,
        "inbound": CallDirection.INBOUND,
        "outbound": CallDirection.OUTBOUND,
        "answered": CallDisposition.ANSWERED,
    }
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {VERD}")
        cursor.execute(
            f"""
            CREATE TEMP TABLE {VERD} ON COMMIT DROP AS
            WITH k AS MATERIALIZED (
                -- Each client's history before its first call in the run: from its latest
                -- inbound call within the lookback (older calls are in callback segments that
                -- are over) or from the last days a counted call can stop another from
                -- counting, whichever is earlier. The latest inbound call is found by walking
                -- back from the run; the rest of the lookback is not read.
                SELECT f.client_id, f.lo, f.hi,
                       GREATEST(LEAST(li.at, f.lo - %(counted_back)s),
                                f.lo - %(lookback)s) AS since
                FROM (
                    SELECT client_id, min(started_at) AS lo, max(started_at) AS hi
                    FROM {run} WHERE client_id IS NOT NULL GROUP BY client_id
                ) f
                LEFT JOIN LATERAL (
                    SELECT c.started_at AS at FROM {CALLS} c
                    WHERE c.client_id = f.client_id AND c.direction = %(inbound)s
                      AND c.started_at >= f.lo - %(lookback)s AND c.started_at < f.lo
                    ORDER BY c.started_at DESC LIMIT 1
                ) li ON true
            ), t AS (
                SELECT r.id, true AS in_run, r.is_new, r.started_at, r.direction, r.disposition,
                       r.talk_seconds, r.self_reported, r.user_id, r.client_id,
                       COALESCE(p.idx, 0) AS pidx,
                       CASE WHEN r.client_id IS NULL THEN NULL
                            WHEN o.client_id IS NOT NULL THEN o.owner
                            ELSE r.owner_now END AS owner_at,
                       {present} AS present, NULL::boolean AS eff
                FROM {run} r
                LEFT JOIN {POL} p
                    ON p.team = r.team AND r.started_at >= p.lo AND r.started_at < p.hi
                LEFT JOIN {OWN} o
                    ON o.client_id = r.client_id AND r.started_at >= o.lo AND r.started_at < o.hi
                UNION ALL
                -- The other calls of the run's clients that matter to a rule (inbound calls,
                -- answered outbound calls long enough for some version, effective calls):
                -- those before the client's first call in the run, since `since`...
                SELECT c.id, false, false, c.started_at, c.direction, c.disposition,
                       c.talk_seconds, NULL, c.user_id, c.client_id, NULL, NULL, NULL, c.effective
                FROM k
                CROSS JOIN LATERAL (
                    SELECT c.id, c.started_at, c.direction, c.disposition, c.talk_seconds,
                           c.user_id, c.client_id, c.effective
                    FROM {CALLS} c
                    WHERE c.client_id = k.client_id
                      AND c.started_at >= k.since AND c.started_at < k.lo
                      AND {relevant}
                    OFFSET 0  -- kept a probe per client: flattened, it scans every call
                ) c
                UNION ALL
                -- ...and those made while the run's calls were that the run does not judge.
                SELECT c.id, false, false, c.started_at, c.direction, c.disposition,
                       c.talk_seconds, NULL, c.user_id, c.client_id, NULL, NULL, NULL, c.effective
                FROM {extra} c JOIN k ON k.client_id = c.client_id
                WHERE c.started_at >= k.lo AND c.started_at <= k.hi AND {relevant}
            ), s AS (
                -- Each inbound call opens a segment of its client's calls (seg counts them);
                -- the latest inbound call so far is the segment's first.
                SELECT t.*, count(*) FILTER (WHERE direction = %(inbound)s) OVER w AS seg,
                    max(started_at) FILTER (WHERE direction = %(inbound)s) OVER w AS last_in
                FROM t
                WINDOW w AS (PARTITION BY client_id ORDER BY started_at, id
                             ROWS UNBOUNDED PRECEDING)
            ), h AS (
                -- In the same order (no second sort): the longest answered outbound talk
                -- before this call in its segment, as (segment, talk) packed in one number,
                -- so the running max is the one of the latest segment that has one.
                SELECT s.*,
                    max(seg * 4294967296 + talk_seconds) FILTER (
                        WHERE direction = %(outbound)s AND disposition = %(answered)s)
                        OVER (PARTITION BY client_id ORDER BY started_at, id
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS packed
                FROM s
            ), v AS (
                SELECT h.id, h.in_run, h.eff, h.is_new, h.started_at, h.direction,
                    h.disposition, h.talk_seconds, h.self_reported, h.user_id, h.client_id,
                    h.owner_at, h.pidx, h.present, p.once_days AS n, d.day,
                    -- A callback: an outbound call after the client's inbound call with nobody
                    -- having talked to him the minimum since, within the horizon.
                    CASE WHEN h.direction = '{out}' AND h.client_id IS NOT NULL
                              AND h.last_in IS NOT NULL
                              AND (CASE WHEN h.packed >> 32 = h.seg
                                        THEN h.packed & 4294967295 ELSE 0 END) < p.min_talk
                              AND d.day - d.in_day <= p.cb_horizon
                         THEN d.day - d.in_day END AS age,
                    p.cb_max
                FROM h LEFT JOIN {POL} p ON p.idx = h.pidx
                CROSS JOIN LATERAL (
                    SELECT {_day("h.started_at")} AS day, {_day("h.last_in")} AS in_day
                ) d
                WHERE h.in_run OR h.eff
            )
            SELECT v.id, v.in_run, v.eff, v.is_new, v.started_at, v.direction, v.disposition,
                v.talk_seconds, v.self_reported, v.user_id, v.client_id, v.owner_at, v.pidx,
                v.present, v.n, v.day, v.age, COALESCE(v.age > v.cb_max, false) AS stale,
                COALESCE(v.in_run AND {failed}, false) AS failed
            FROM v LEFT JOIN {POL} p ON p.idx = v.pidx
            """,  # noqa: S608 - table names are ours; every text is a constant of ours
            params,
        )


def _create_chain(deep: bool) -> None:
    """Which candidates count under "once per client per N days", and for those that do not,
    the day of the last counted call (the reason names it)."""
    fixed = f"""SELECT id, client_id, user_id, started_at, {_day("started_at")} AS day,
                       0 AS n, true AS fixed
                FROM {VERD} WHERE NOT in_run AND eff AND user_id IS NOT NULL"""  # noqa: S608
    candidates = f"""SELECT id, client_id, user_id, started_at, day, n, false AS fixed
                     FROM {VERD} WHERE in_run AND NOT failed AND NOT stale"""  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {CHAIN}")
        cursor.execute(f"DROP TABLE IF EXISTS {DEEP}")
        deep_window = "bool_or(n >= 2) OVER (PARTITION BY client_id, user_id)" if deep else "false"
        # With N ≤ 1: a candidate counts when N is 0 or it is its pair's first call of the day
        # (the first such call of a day always counts, so any later one finds it counted).
        cursor.execute(
            f"""
            CREATE TEMP TABLE {CHAIN} ON COMMIT DROP AS
            WITH e AS ({candidates} UNION ALL {fixed}),
            w AS (
                SELECT e.*, {deep_window} AS deep,
                    row_number() OVER (PARTITION BY client_id, user_id, day
                                       ORDER BY started_at, id) AS nth
                FROM e
            )
            SELECT id, (n = 0 OR nth = 1) AS counted, day AS last_day, deep, client_id, user_id,
                   started_at, day, n, fixed
            FROM w WHERE deep OR NOT fixed
            """  # noqa: S608
        )
        if not deep:
            return
        cursor.execute(
            f"""
            CREATE TEMP TABLE {DEEP} ON COMMIT DROP AS
            SELECT id, client_id, user_id, day, n, fixed,
                   row_number() OVER (PARTITION BY client_id, user_id ORDER BY started_at, id)
                       AS seq
            FROM {CHAIN} WHERE deep
            """  # noqa: S608
        )
        cursor.execute(f"CREATE INDEX ON {DEEP} (client_id, user_id, seq)")
        cursor.execute(f"ANALYZE {DEEP}")
        counts = "(d.fixed OR d.n = 0 OR d.day - r.last >= d.n)"
        # The greedy chain, one step per call of each pair: a candidate counts when the last
        # counted call is at least its N days back (or N is 0); a stored effective call is
        # counted as it is.
        cursor.execute(
            f"""
            WITH RECURSIVE r AS (
                SELECT id, client_id, user_id, seq, fixed, true AS counted,
                       NULL::int AS prev, day AS last
                FROM {DEEP} WHERE seq = 1
                UNION ALL
                SELECT d.id, d.client_id, d.user_id, d.seq, d.fixed, {counts}, r.last,
                       CASE WHEN {counts} THEN d.day ELSE r.last END
                FROM r
                JOIN {DEEP} d
                    ON d.client_id = r.client_id AND d.user_id = r.user_id AND d.seq = r.seq + 1
            )
            UPDATE {CHAIN} c SET counted = r.counted, last_day = r.prev
            FROM r WHERE c.id = r.id AND NOT r.fixed AND c.deep AND NOT c.fixed
            """  # noqa: S608
        )
        cursor.execute(f"DELETE FROM {CHAIN} WHERE fixed")  # noqa: S608


def verdicts_select(where: str = "true") -> str:
    """SQL of the run's verdicts as the Python judge writes them — (id, is_new, effective,
    reasons (JSON), measure) — for the run's calls that satisfy `where` (on `v`)."""
    outcomes = f"""(SELECT {R_OUTCOMES} FROM unnest(p.required) WITH ORDINALITY AS q(o, i)
                    WHERE NOT (q.o = ANY(v.present)) HAVING count(*) > 0)"""  # noqa: S608
    effective, callback = CallMeasure.EFFECTIVE.value, CallMeasure.CALLBACK.value
    return f"""
        SELECT v.id, v.is_new, x.effective, x.reasons::jsonb AS reasons,
               CASE WHEN x.effective THEN '{effective}'
                    WHEN NOT v.failed AND v.stale AND p.cb_separate THEN '{callback}'
                    ELSE '' END AS measure
        FROM {VERD} v
        JOIN {POL} p ON p.idx = v.pidx
        LEFT JOIN {CHAIN} c ON c.id = v.id
        CROSS JOIN LATERAL (
            SELECT (NOT v.failed AND NOT v.stale AND c.counted) IS TRUE AS effective,
                CASE WHEN v.failed THEN '[' || concat_ws(',',
                         CASE WHEN {F_INTERNAL} THEN {R_INTERNAL}
                              WHEN {F_DIRECTION} THEN {R_DIRECTION} END,
                         CASE WHEN {F_SELF} THEN {R_SELF} END,
                         CASE WHEN {F_NOT_ANSWERED} THEN {R_NOT_ANSWERED}
                              WHEN {F_TALK} THEN {R_TALK} END,
                         CASE WHEN {F_PERSON} THEN {R_PERSON} END,
                         CASE WHEN {F_CLIENT} THEN {R_CLIENT}
                              WHEN {F_NOT_YOURS} THEN {R_NOT_YOURS} END,
                         CASE WHEN cardinality(p.required) > 0 THEN {outcomes} END,
                         CASE WHEN v.stale THEN {R_STALE} END) || ']'
                     WHEN v.stale AND NOT p.cb_separate THEN '[' || {R_STALE} || ']'
                     WHEN v.stale THEN '[' || {R_CALLBACK} || ']'
                     WHEN NOT c.counted THEN '[' || {R_ALREADY} || ']'
                     ELSE '[' || {R_EFFECTIVE} || ']' END AS reasons
        ) x
        WHERE v.in_run AND ({where})"""  # noqa: S608 - table names are ours; texts constants


def judge_run(run: str, extra: str, *, large: bool = False) -> None:
    """Judge every call of the run table; `verdicts_select` then yields the verdicts, until
    `end_run`. The run holds every call of its clients from the client's first call in the
    run on, but those in `extra` (history, not judged); `large`: many calls (re-judging)."""
    rows, lookback, counted_back, min_talk, outcomes, deep = _policies()
    _create_policies(rows)
    _create_owner_spans(run)
    _create_verdicts(run, extra, lookback, counted_back, min_talk, outcomes)
    _create_chain(deep)
    if large:
        with connection.cursor() as cursor:
            # Their sizes for the planner: the verdicts of a million calls are joined with
            # the few chain rows by hash, not sorted for a merge.
            cursor.execute(f"ANALYZE {VERD}")
            cursor.execute(f"ANALYZE {CHAIN}")


def end_run() -> None:
    """Drop the judge's tables (they are dropped at commit anyway)."""
    with connection.cursor() as cursor:
        for table in (CHAIN, DEEP, VERD, OWN, POL):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
