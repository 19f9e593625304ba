"""The verdicts of many calls on PostgreSQL, set-based.

A *run* is a temporary table of the calls to judge, with the facts the judge needs: calls
already stored (a new policy version, outcomes marked later) and calls not stored yet (the
ingestion judges a batch before inserting it, so each call is written once, verdict included).
One streamed query brings the run's calls with the owner at the call (from the ledger) and the
earlier calls of their clients they depend on, in time order; the Python `judge` decides each
call in one forward pass (it stays the single source of truth for a verdict and its reasons);
the verdicts go back by COPY into a second temporary table, from which stored calls are updated
where their verdict changed and new calls are inserted by the caller.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db import connection
from psycopg.types.datetime import TimestamptzLoader

from otdel.activities.models import (
    Call,
    CallDirection,
    CallDisposition,
    CallOutcome,
)
from otdel.clients.models import Client
from otdel.ownership.models import EventKind, OwnershipEvent
from otdel.people.models import User

CALLS = Call._meta.db_table
RUN = "otdel_verdict_run"
OUT = "otdel_verdict_out"
# NULL in COPY's text format.
NULL = "\\N"
# Rows fetched from the server per round trip, and verdicts copied per COPY.
FETCH = 20_000

# A stored call as a row of the run (the column order of the run table).
_STORED = f"""
    SELECT c.id, false, c.started_at, c.direction, c.disposition, c.talk_seconds,
           c.self_reported, c.user_id, c.client_id, COALESCE(u.team_id, cl.team_id),
           (c.raw -> 'outcomes')::text, cl.owner_id
    FROM {CALLS} c
    LEFT JOIN {User._meta.db_table} u ON u.id = c.user_id
    LEFT JOIN {Client._meta.db_table} cl ON cl.id = c.client_id
"""  # noqa: S608 - table names are ours


def start_run() -> None:
    """An empty run for this transaction (dropped at commit)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {RUN}")
        cursor.execute(
            f"""CREATE TEMP TABLE {RUN} (
                id bigint PRIMARY KEY, is_new boolean NOT NULL, started_at timestamptz,
                direction text, disposition text, talk_seconds int, self_reported boolean,
                user_id bigint, client_id bigint, team bigint, outs text, owner_now bigint
            ) ON COMMIT DROP"""
        )


def add_ids(call_ids: list[int]) -> None:
    """Stored calls, by id."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {RUN} {_STORED} WHERE c.id = ANY(%s::bigint[]) ON CONFLICT DO NOTHING",
            [list(call_ids)],
        )


def add_team_since(team_id: int, since: dt.datetime) -> None:
    """The team's stored calls from `since` on: the caller's team, or the client's when no
    person is matched."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {RUN} {_STORED}
            WHERE c.started_at >= %(since)s
              AND (u.team_id = %(team)s OR (c.user_id IS NULL AND cl.team_id = %(team)s))""",
            {"since": since, "team": team_id},
        )


def add_new(select_sql: str, params: Any = None) -> None:
    """Calls not stored yet: `select_sql` yields rows in the run's column order, is_new true."""
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {RUN} {select_sql}", params)


def add_later_calls() -> int:
    """Stored calls of the run's clients that started at or after the client's first call in
    the run: that call (one arriving late, an old CDR imported today, or one whose outcomes
    changed) is part of their history, so they are judged again. Returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {RUN} {_STORED}
            JOIN (SELECT client_id, min(started_at) AS first FROM {RUN}
                  WHERE client_id IS NOT NULL GROUP BY client_id) f
              ON c.client_id = f.client_id AND c.started_at >= f.first
            ON CONFLICT DO NOTHING"""  # noqa: S608
        )
        return cursor.rowcount


def _outcomes() -> dict[int, set[str]]:
    """Outcomes marked on the post-call card of the run's stored calls; one the data refuted
    does not count."""
    marked: dict[int, set[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT o.call_id, o.kind FROM {CallOutcome._meta.db_table} o
                JOIN {RUN} r ON r.id = o.call_id AND NOT r.is_new
                WHERE o.verified IS DISTINCT FROM false"""  # noqa: S608
        )
        for call_id, kind in cursor.fetchall():
            marked.setdefault(call_id, set()).add(kind)
    return marked


def _clients_sql() -> str:
    """Each client of the run with the span of its calls in the run."""
    return f"""SELECT client_id, min(started_at) AS lo, max(started_at) AS hi FROM {RUN}
               WHERE client_id IS NOT NULL GROUP BY client_id"""  # noqa: S608


def _history_before_run(lookback: dt.timedelta) -> dict[int, Any]:
    """What each client's calls before its first call in the run tell the judge, summarised
    in SQL (the latest inbound call, the longest answered outbound talk since, each person's
    latest effective call), so its cost grows with the run's clients, not with their past."""
    from otdel.activities.verdicts import _History

    states: dict[int, _History] = {}
    params: dict[str, Any] = {
        "lookback": lookback,
        "inbound": CallDirection.INBOUND,
        "outbound": CallDirection.OUTBOUND,
        "answered": CallDisposition.ANSWERED,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT k.client_id, li.at,
                (SELECT max(c.talk_seconds) FROM {CALLS} c
                 WHERE c.client_id = k.client_id AND c.direction = %(outbound)s
                   AND c.disposition = %(answered)s
                   AND c.started_at > li.at AND c.started_at < k.lo)
            FROM ({_clients_sql()}) k
            CROSS JOIN LATERAL (
                SELECT max(c.started_at) AS at FROM {CALLS} c
                WHERE c.client_id = k.client_id AND c.direction = %(inbound)s
                  AND c.started_at >= k.lo - %(lookback)s AND c.started_at < k.lo
            ) li
            WHERE li.at IS NOT NULL
            """,  # noqa: S608
            params,
        )
        for client_id, inbound_at, longest in cursor.fetchall():
            states[client_id] = _History(last_inbound_at=inbound_at, longest_talk=longest or 0)
        cursor.execute(
            f"""
            SELECT k.client_id, c.user_id, max(c.started_at)
            FROM ({_clients_sql()}) k
            JOIN {CALLS} c ON c.client_id = k.client_id AND c.effective
                AND c.started_at >= k.lo - %(lookback)s AND c.started_at < k.lo
            GROUP BY k.client_id, c.user_id
            """,  # noqa: S608
            params,
        )
        for client_id, user_id, at in cursor.fetchall():
            states.setdefault(client_id, _History()).last_counted[user_id] = at
    return states


def _stream_sql(min_talk: int) -> tuple[str, dict[str, Any]]:
    """The run's calls with their facts, and the other calls of their clients made while the
    run's calls were (inbound calls; answered outbound calls long enough to matter), in time
    order. What happened before is summarised by _history_before_run."""
    events = OwnershipEvent._meta.db_table
    sql = f"""
        SELECT run.id, run.started_at, run.direction, run.disposition, run.talk_seconds,
               run.self_reported, run.user_id, run.client_id, run.team, run.outs,
               CASE WHEN b.hit THEN b.owner WHEN a.hit THEN a.owner ELSE run.owner_now END,
               NULL::boolean, true
        FROM {RUN} run
        -- The owner at the call: the last change at or before it says who received the client;
        -- with none, the first later change says who had it; with no change, the owner now.
        LEFT JOIN LATERAL (
            SELECT e.to_user_id AS owner, true AS hit FROM {events} e
            WHERE e.client_id = run.client_id AND e.kind <> %(warning)s
              AND e.at <= run.started_at
            ORDER BY e.at DESC, e.id DESC LIMIT 1
        ) b ON true
        LEFT JOIN LATERAL (
            SELECT e.from_user_id AS owner, true AS hit FROM {events} e
            WHERE b.hit IS NULL AND e.client_id = run.client_id AND e.kind <> %(warning)s
            ORDER BY e.at, e.id LIMIT 1
        ) a ON true
        UNION ALL
        SELECT c.id, c.started_at, c.direction, c.disposition, c.talk_seconds,
               NULL, c.user_id, c.client_id, NULL, NULL, NULL, c.effective, false
        FROM ({_clients_sql()}) k
        -- Each client's calls between its first and last call in the run, through the
        -- (client, started_at) index; usually all of them are in the run.
        CROSS JOIN LATERAL (
            SELECT * FROM {CALLS} c
            WHERE c.client_id = k.client_id
              AND c.started_at >= k.lo AND c.started_at <= k.hi
              AND (c.direction = %(inbound)s OR (c.direction = %(outbound)s
                   AND c.disposition = %(answered)s AND c.talk_seconds >= %(min_talk)s))
        ) c
        WHERE NOT EXISTS (SELECT 1 FROM {RUN} r WHERE r.id = c.id)
        ORDER BY 2, 1
    """  # noqa: S608
    return sql, {
        "warning": EventKind.WARNING,
        "inbound": CallDirection.INBOUND,
        "outbound": CallDirection.OUTBOUND,
        "answered": CallDisposition.ANSWERED,
        "min_talk": min_talk,
    }


def judge_run() -> int:
    """Judge every call of the run in time order into the verdict table; returns how many."""
    from otdel.activities.verdicts import CallFacts, _History, _Run, judge

    run = _Run([])
    versions = run.versions
    marked = _outcomes()
    sql, params = _stream_sql(run.min_talk)
    with connection.cursor() as cursor:
        # The run's size is known only now: let the planner see it. JIT costs more than it saves.
        cursor.execute(f"ANALYZE {RUN}")
        cursor.execute("SET LOCAL jit = off")
    states = _history_before_run(run.lookback)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {OUT}")
        cursor.execute(
            f"CREATE TEMP TABLE {OUT} (id bigint PRIMARY KEY, effective boolean, reasons jsonb,"
            " policy_id bigint, measure text) ON COMMIT DROP"
        )
        # Sorting a million rows of the run wants memory, not disk. Local to this transaction.
        cursor.execute("SET LOCAL work_mem = '256MB'")
    noted = (CallDirection.INBOUND, CallDirection.OUTBOUND)
    answered = CallDisposition.ANSWERED
    inbound = CallDirection.INBOUND
    done = 0
    raw = connection.connection
    # Lines of COPY's text format, written by hand: a million write_row calls cost more than
    # the judging. Reasons are ASCII JSON (no tab, no newline); only backslashes need escaping.
    pending: list[str] = []

    def flush() -> None:
        with raw.cursor() as out, out.copy(f"COPY {OUT} FROM STDIN") as copy:
            copy.write("".join(pending))
        pending.clear()

    with raw.cursor(name="otdel_verdicts") as stream:
        stream.itersize = FETCH
        # psycopg's compiled loader for the times (Django registers a Python one on its
        # connections): a million rows are a million times parsed. The session's zone is UTC.
        stream.adapters.register_loader("timestamptz", TimestamptzLoader)
        stream.execute(sql, params)
        for (
            cid,
            started,
            direction,
            disposition,
            talk,
            self_rep,
            user_id,
            client_id,
            team,
            outs,
            owner,
            effective,
            in_run,
        ) in stream:
            state = states.get(client_id) if client_id is not None else None
            if state is None:
                state = _History()
                if client_id is not None:
                    states[client_id] = state
            if not in_run:
                state.note(started, direction, talk, user_id, bool(effective))
                continue
            # Outcomes an integration reported with the record itself (JSON text, or None).
            reported: set[str] = set()
            if outs is not None and outs != "null":
                listed = json.loads(outs)
                if isinstance(listed, list):
                    reported = {o for o in listed if isinstance(o, str)}
            extra = marked.get(cid)
            policy_id, doc = versions.at(team, started)
            facts = CallFacts(
                started_at=started,
                direction=direction,
                disposition=disposition,
                talk_seconds=talk,
                self_reported=self_rep,
                user_id=user_id,
                client_id=client_id,
                owner_id_at_call=owner if client_id is not None else None,
                outcomes=frozenset(reported | extra if extra else reported),
                last_inbound_at=state.last_inbound_at,
                longest_outbound_talk_since_inbound=state.longest_talk,
                last_counted_at=state.last_counted.get(user_id),
            )
            verdict = judge(facts, doc)
            reasons = dumps_reasons(verdict.reasons).replace("\\", "\\\\")
            policy = NULL if policy_id is None else policy_id
            effective = "t" if verdict.effective else "f"
            pending.append(f"{cid}\t{effective}\t{reasons}\t{policy}\t{verdict.measure or ''}\n")
            done += 1
            if client_id is not None and (
                direction == inbound or (direction in noted and disposition == answered)
            ):
                state.note(started, direction, talk, user_id, verdict.effective)
            if len(pending) >= FETCH:
                flush()
    if pending:
        flush()
    return done


def write_stored(now: dt.datetime) -> list[tuple[int, int, dt.datetime]]:
    """Write the verdicts of the run's stored calls where they changed; (client, person,
    started) of those that became effective, whose owners' clocks may restart."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {CALLS} AS c
            SET effective = v.effective, verdict_reasons = v.reasons,
                verdict_policy_id = v.policy_id, measure = v.measure, classified_at = %s
            FROM {OUT} v
            WHERE c.id = v.id
              AND (c.effective IS DISTINCT FROM v.effective
                   OR c.verdict_policy_id IS DISTINCT FROM v.policy_id
                   OR c.measure IS DISTINCT FROM v.measure
                   OR c.verdict_reasons IS DISTINCT FROM v.reasons)
            RETURNING c.client_id, c.user_id, c.started_at, c.effective
            """,  # noqa: S608
            [now],
        )
        return [
            (client, user, started)
            for client, user, started, effective in cursor.fetchall()
            if effective and client is not None and user is not None
        ]


def end_run() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {OUT}")
        cursor.execute(f"DROP TABLE IF EXISTS {RUN}")


def dumps_reasons(reasons: list[Any]) -> str:
    """The reasons as stored JSON (codes and parameters are ASCII; the default encoder is the
    fast one). A run repeats a few hundred distinct verdicts: each is encoded once."""
    key = tuple(
        (r.code, tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in r.params.items()))
        for r in reasons
    )
    text = _ENCODED.get(key)
    if text is None:
        if len(_ENCODED) > 50_000:
            _ENCODED.clear()
        text = _ENCODED[key] = json.dumps([r.as_json() for r in reasons])
    return text


_ENCODED: dict[tuple[Any, ...], str] = {}
