"""The verdicts of many calls on PostgreSQL, set-based: one streamed query brings every call to
judge with its facts (the owner at the call from the ledger, the team, the policy's inputs) and
the client's other calls it depends on, in time order; the Python `judge` decides each call in
one forward pass (it stays the single source of truth for a verdict and its reasons); the
verdicts go back by COPY into a staging table and one UPDATE.

The run (the calls to judge) is a temporary table of ids filled by the caller.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db import connection

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
# Rows fetched from the server per round trip, and verdicts copied per COPY.
FETCH = 20_000


def start_run() -> None:
    """An empty run table for this transaction (dropped at commit)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {RUN}")
        cursor.execute(f"CREATE TEMP TABLE {RUN} (id bigint PRIMARY KEY) ON COMMIT DROP")


def add_ids(call_ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {RUN} (id) SELECT DISTINCT unnest(%s::bigint[]) ON CONFLICT DO NOTHING",
            [list(call_ids)],
        )


def add_team_since(team_id: int, since: dt.datetime) -> None:
    """The team's calls from `since` on: the caller's team, or the client's when no person."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {RUN} (id)
            SELECT c.id FROM {CALLS} c
            LEFT JOIN {User._meta.db_table} u ON u.id = c.user_id
            LEFT JOIN {Client._meta.db_table} cl ON cl.id = c.client_id
            WHERE c.started_at >= %(since)s
              AND (u.team_id = %(team)s OR (c.user_id IS NULL AND cl.team_id = %(team)s))
            """,  # noqa: S608 - table names are ours, values are parameters
            {"since": since, "team": team_id},
        )


def _outcomes() -> dict[int, set[str]]:
    marked: dict[int, set[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT o.call_id, o.kind FROM {CallOutcome._meta.db_table} o
                JOIN {RUN} r ON r.id = o.call_id
                WHERE o.verified IS DISTINCT FROM false"""  # noqa: S608
        )
        for call_id, kind in cursor.fetchall():
            marked.setdefault(call_id, set()).add(kind)
    return marked


def _stream_sql(min_talk: int) -> tuple[str, dict[str, Any]]:
    """The run's calls with their facts, and the other calls of their clients that shape the
    history (inbound calls; answered outbound calls long enough to matter), in time order."""
    events = OwnershipEvent._meta.db_table
    sql = f"""
        WITH run AS (
            SELECT c.id, c.started_at, c.direction, c.disposition, c.talk_seconds,
                   c.self_reported, c.user_id, c.client_id, COALESCE(u.team_id, cl.team_id) AS team,
                   (c.raw -> 'outcomes')::text AS outs, cl.owner_id AS owner_now
            FROM {RUN} r JOIN {CALLS} c ON c.id = r.id
            LEFT JOIN {User._meta.db_table} u ON u.id = c.user_id
            LEFT JOIN {Client._meta.db_table} cl ON cl.id = c.client_id
        )
        SELECT run.id, run.started_at, run.direction, run.disposition, run.talk_seconds,
               run.self_reported, run.user_id, run.client_id, run.team, run.outs,
               CASE WHEN b.hit THEN b.owner WHEN a.hit THEN a.owner ELSE run.owner_now END,
               NULL::boolean, true
        FROM run
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
        FROM (SELECT DISTINCT client_id FROM run WHERE client_id IS NOT NULL) k
        -- Each client's calls in the window, through the (client, started_at) index.
        CROSS JOIN LATERAL (
            SELECT * FROM {CALLS} c
            WHERE c.client_id = k.client_id AND c.started_at >= %(lo)s AND c.started_at <= %(hi)s
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


def classify_run(now: dt.datetime) -> int:
    """Judge every call of the run in time order and write the verdicts; returns how many."""
    from otdel.activities.verdicts import CallFacts, _History, _Run, judge

    run = _Run([])
    versions = run.versions
    marked = _outcomes()
    sql, params = _stream_sql(run.min_talk)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT min(c.started_at), max(c.started_at) FROM {RUN} r JOIN {CALLS} c ON c.id = r.id"  # noqa: S608
        )
        first, last = cursor.fetchone()
        if first is None:
            return 0
        params.update(lo=first - run.lookback, hi=last)
        # The run's size is known only now: let the planner see it. JIT costs more than it saves.
        cursor.execute(f"ANALYZE {RUN}")
        cursor.execute("SET LOCAL jit = off")
    states: dict[int, _History] = {}
    noted = (CallDirection.INBOUND, CallDirection.OUTBOUND)
    answered = CallDisposition.ANSWERED
    inbound = CallDirection.INBOUND
    done = 0
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {OUT}")
        cursor.execute(
            f"CREATE TEMP TABLE {OUT} (id bigint, effective boolean, reasons jsonb,"
            " policy_id bigint) ON COMMIT DROP"
        )
        # Sorting a million rows of the run wants memory, not disk. Local to this transaction.
        cursor.execute("SET LOCAL work_mem = '256MB'")
    raw = connection.connection
    pending: list[tuple[int, bool, str, int | None]] = []

    def flush() -> None:
        with raw.cursor() as out, out.copy(f"COPY {OUT} FROM STDIN") as copy:
            for row in pending:
                copy.write_row(row)
        pending.clear()

    with raw.cursor(name="otdel_verdicts") as stream:
        stream.itersize = FETCH
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
            outs = json.loads(outs) if isinstance(outs, str) else outs
            reported = {o for o in outs if isinstance(o, str)} if isinstance(outs, list) else set()
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
            pending.append((cid, verdict.effective, _dumps(verdict.reasons), policy_id))
            done += 1
            if client_id is not None and (
                direction == inbound or (direction in noted and disposition == answered)
            ):
                state.note(started, direction, talk, user_id, verdict.effective)
            if len(pending) >= FETCH:
                flush()
    if pending:
        flush()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {CALLS} AS c
            SET effective = v.effective, verdict_reasons = v.reasons,
                verdict_policy_id = v.policy_id, classified_at = %s
            FROM {OUT} v WHERE c.id = v.id
            """,  # noqa: S608
            [now],
        )
        cursor.execute(f"DROP TABLE {OUT}")
        cursor.execute(f"DROP TABLE {RUN}")
    return done


def _dumps(reasons: list[Any]) -> str:
    return json.dumps([r.as_json() for r in reasons], ensure_ascii=False)
