"""The verdicts of many calls on PostgreSQL, set-based.

A *run* is a temporary table of the calls to judge, with the facts the judge needs: calls
already stored (a new policy version, outcomes marked later) and calls not stored yet (the
ingestion judges a batch before inserting it, so each call is written once, verdict included).
The run is judged in SQL (otdel.activities.judge_sql: every rule of the Python `judge`, which
stays the reference, set-based); stored calls are then updated where their verdict, measure or
reasons changed (only those: the version that judged a call is not stored), and new calls are
inserted by the caller with theirs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import DataError, connection, transaction

from otdel.activities import judge_sql
from otdel.activities.models import Call
from otdel.clients.models import Client
from otdel.people.models import User

CALLS = Call._meta.db_table
RUN = "otdel_verdict_run"
# Stored calls of the run's clients, made while the run's calls were, that are not in the run
# (another team's calls when a team's calls are judged again): history, not judged. A run holds
# every other call of its clients from the client's first call in the run on.
EXTRA = "otdel_verdict_extra"

# A stored call as a row of the run (the column order of the run table).
_STORED = f"""
    SELECT c.id, false, c.started_at, c.direction, c.disposition, c.talk_seconds,
           c.self_reported, c.user_id, c.client_id, COALESCE(u.team_id, cl.team_id),
           c.raw -> 'outcomes', cl.owner_id
    FROM {CALLS} c
    LEFT JOIN {User._meta.db_table} u ON u.id = c.user_id
    LEFT JOIN {Client._meta.db_table} cl ON cl.id = c.client_id
"""  # noqa: S608 - table names are ours


def start_run() -> None:
    """An empty run for this transaction (dropped at commit)."""
    with connection.cursor() as cursor:
        # A run is a few statements over many rows: JIT compiling costs more than it saves;
        # sorting a million calls wants memory, not disk (both for this transaction only).
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # The run's temporary tables hold up to a few hundred MB: a session that has not used
        # temporary tables yet keeps them in memory rather than in 8 MB of buffers written
        # out to disk (PostgreSQL fixes the size at the first use of a temporary table).
        cursor.execute("SELECT pg_my_temp_schema() = 0")
        if cursor.fetchone()[0]:
            try:
                # In a savepoint: a session whose earlier transaction used temporary tables
                # and was rolled back has no temporary schema any more but has its buffers,
                # and refuses the change (the default size then stays).
                with transaction.atomic():
                    cursor.execute("SET temp_buffers = '256MB'")
            except DataError:
                pass
        cursor.execute(f"DROP TABLE IF EXISTS {RUN}")
        cursor.execute(f"DROP TABLE IF EXISTS {EXTRA}")
        cursor.execute(
            f"""CREATE TEMP TABLE {EXTRA} (
                id bigint, started_at timestamptz, direction text, disposition text,
                talk_seconds int, user_id bigint, client_id bigint, effective boolean
            ) ON COMMIT DROP"""
        )
        cursor.execute(
            f"""CREATE TEMP TABLE {RUN} (
                id bigint NOT NULL, is_new boolean NOT NULL, started_at timestamptz,
                direction text, disposition text, talk_seconds int, self_reported boolean,
                user_id bigint, client_id bigint, team bigint, outs jsonb, owner_now bigint
            ) ON COMMIT DROP"""
        )


# A verdict depends on the client's other calls: two transactions judging calls of one client
# at once would each miss the other's (both could count as "the one call of the day"). So a
# judging transaction holds, until it ends, a lock on each partition of clients it judges,
# taken in ascending order so that two of them never wait for each other in a circle;
# ingesters working on different partitions run side by side (otdel.activities.parallel_ingest
# splits a large import that way).
PARTITION_BITS = 6
CLIENT_PARTITIONS = 1 << PARTITION_BITS
LOCK_CLASS = 7_346_101  # the namespace of these advisory locks (a number of ours)
# A client's partition: the top PARTITION_BITS bits of a multiplicative hash of its id (Knuth's), so that
# ids in steps (every 4th, every 20th) still spread over every partition; the same in SQL.
_HASH = 2_654_435_761


def client_partition(client_id: int) -> int:
    """The lock partition of a client (as client_partition_sql computes it)."""
    return ((client_id % 2**32) * _HASH % 2**32) >> (32 - PARTITION_BITS)


def client_partition_sql(column: str) -> str:
    shift = 32 - PARTITION_BITS
    return f"((({column} %% 4294967296) * {_HASH} %% 4294967296) >> {shift})::int"


def lock_clients() -> None:
    """Wait for, then hold, the partitions of the run's clients (before any history is read)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT pg_advisory_xact_lock(%s, p) FROM (
                    SELECT DISTINCT {client_partition_sql("client_id")} AS p FROM {RUN}
                    WHERE client_id IS NOT NULL ORDER BY 1) partitions""",  # noqa: S608
            [LOCK_CLASS],
        )


def lock_all_clients() -> None:
    """Every partition: a team's whole period is about to be read and judged again."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, p) FROM generate_series(0, %s - 1) p ORDER BY p",
            [LOCK_CLASS, CLIENT_PARTITIONS],
        )


def add_ids(call_ids: list[int]) -> None:
    """Stored calls, by id."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {RUN} {_STORED} WHERE c.id = ANY(%s::bigint[])",
            [list(call_ids)],
        )


def add_team_since(team_id: int, since: dt.datetime) -> None:
    """The team's stored calls from `since` on: the caller's team, or the client's when no
    person is matched. The other calls of the period with a client are history (EXTRA)."""
    period = "otdel_verdict_period"
    with connection.cursor() as cursor:
        # The period first, then its people and clients: the calls of a recent period are
        # past the statistics' last bucket (estimated at a few rows however many there are),
        # so joined in one statement a million calls would look up their clients one by one.
        # Read in one pass: no index leads with the start (an index scan, chosen for those
        # few rows, reads a whole index and the heap in its order).
        cursor.execute(f"DROP TABLE IF EXISTS {period}")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            f"""CREATE TEMP TABLE {period} ON COMMIT DROP AS
            SELECT c.id, c.started_at, c.direction, c.disposition, c.talk_seconds,
                   c.self_reported, c.user_id, c.client_id, c.raw -> 'outcomes' AS outs,
                   c.effective
            FROM {CALLS} c WHERE c.started_at >= %s""",  # noqa: S608 - table names are ours
            [since],
        )
        cursor.execute("SET LOCAL enable_indexscan = on")
        cursor.execute("SET LOCAL enable_bitmapscan = on")
        cursor.execute(f"ANALYZE {period}")
        cursor.execute(
            f"""WITH facts AS MATERIALIZED (
                SELECT p.*, COALESCE(u.team_id, cl.team_id) AS team, cl.owner_id AS owner_now,
                       COALESCE(u.team_id = %(team)s
                                OR (p.user_id IS NULL AND cl.team_id = %(team)s), false) AS mine
                FROM {period} p
                LEFT JOIN {User._meta.db_table} u ON u.id = p.user_id
                LEFT JOIN {Client._meta.db_table} cl ON cl.id = p.client_id
            ), mine AS (
                INSERT INTO {RUN}
                SELECT id, false, started_at, direction, disposition, talk_seconds,
                       self_reported, user_id, client_id, team, outs, owner_now
                FROM facts WHERE mine
            )
            INSERT INTO {EXTRA}
            SELECT id, started_at, direction, disposition, talk_seconds, user_id, client_id,
                   effective
            FROM facts WHERE NOT mine AND client_id IS NOT NULL
            """,  # noqa: S608 - table names are ours
            {"team": team_id},
        )
        cursor.execute(f"DROP TABLE {period}")


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
            f"""INSERT INTO {RUN}
            SELECT later.* FROM (SELECT client_id, min(started_at) AS first FROM {RUN}
                                 WHERE client_id IS NOT NULL GROUP BY client_id) f
            CROSS JOIN LATERAL (
                {_STORED} WHERE c.client_id = f.client_id AND c.started_at >= f.first
                OFFSET 0  -- a probe per client: flattened, it would scan every call
            ) later
            WHERE NOT EXISTS (SELECT 1 FROM {RUN} r WHERE r.id = later.id)"""  # noqa: S608
        )
        return cursor.rowcount


def judge_run() -> int:
    """Judge every call of the run (judge_sql: the rules of verdicts.judge in SQL); the verdicts
    are then read with `new_verdicts` and written with `write_stored`. Returns how many calls
    were judged."""
    with connection.cursor() as cursor:
        # The run's size is known only now: let the planner see it.
        cursor.execute(f"ANALYZE {RUN}")
        cursor.execute(f"SELECT count(*) FROM {RUN}")  # noqa: S608
        count = int(cursor.fetchone()[0])
    judge_sql.judge_run(RUN, EXTRA, large=count > 100_000)
    return count


def new_verdicts() -> str:
    """SQL of the verdicts of the run's calls not stored yet: (id, is_new, effective, reasons,
    measure), for the statement that inserts them."""
    return judge_sql.verdicts_select("v.is_new")


def write_stored(now: dt.datetime) -> list[tuple[int, int, dt.datetime]]:
    """Write the verdicts of the run's stored calls where they changed; (client, person,
    started) of those that are effective now, whose owners' clocks may restart."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH written AS (
                UPDATE {CALLS} AS c
                SET effective = v.effective, verdict_reasons = v.reasons,
                    measure = v.measure, classified_at = %s
                -- OFFSET 0: each verdict is built once (not again for the comparison).
                FROM ({judge_sql.verdicts_select("NOT v.is_new")} OFFSET 0) v
                WHERE c.id = v.id
                  AND (c.effective IS DISTINCT FROM v.effective
                       OR c.measure IS DISTINCT FROM v.measure
                       OR c.verdict_reasons IS DISTINCT FROM v.reasons)
                RETURNING c.client_id, c.user_id, c.started_at, c.effective
            )
            SELECT client_id, user_id, started_at FROM written
            WHERE effective AND client_id IS NOT NULL AND user_id IS NOT NULL
            """,  # noqa: S608
            [now],
        )
        return [(client, user, started) for client, user, started in cursor.fetchall()]


def end_run() -> None:
    judge_sql.end_run()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {RUN}")
        cursor.execute(f"DROP TABLE IF EXISTS {EXTRA}")
