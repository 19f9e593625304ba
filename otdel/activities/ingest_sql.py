"""Call ingestion on PostgreSQL, set-based, each call written once with its verdict.

1. the batch is COPYed into a staging table;
2. one statement matches extensions to people and numbers (each distinct number once) to
   clients by joins, skips calls already stored, and gives each new call its id up front;
3. the new calls join the verdict run with the later calls of their clients (a call arriving
   late is history to those), and are judged in SQL (otdel.activities.verdicts_sql,
   otdel.activities.judge_sql);
4. one statement inserts the new calls with their verdicts (ON CONFLICT DO NOTHING: a parallel
   ingester may have stored some a moment ago); a call is its own entry on its client's
   timeline, so nothing else is written. Stored calls whose verdict changed are updated. The
   references (person, client, contact) were read under a lock a delete's check waits for,
   taken before the matching: the set-based checks of migration activities 0008 step aside for
   this statement (0009).

Same rules as the portable path in otdel.activities.calls.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from django.db import connection

from otdel.activities import verdicts_sql
from otdel.activities.models import Call, CallDirection
from otdel.clients.models import Client, ContactPhone
from otdel.people.models import User
from otdel.telephony.models import PhoneAccount
from otdel.telephony.records import CallRecord

CALLS = Call._meta.db_table
STAGE = "otdel_call_stage"
NEW = "otdel_call_new"


@dataclass(frozen=True)
class Stored:
    """A call this batch stored."""

    id: int
    client_id: int | None
    user_id: int | None
    direction: str
    started_at: dt.datetime | None  # only for the effective ones (their owners' clocks)
    effective: bool


def typed_numbers(records: Iterable[CallRecord]) -> dict[str, tuple[str, bool]]:
    """calls.typed_numbers, remembering each number across batches: a phone system reports
    the same numbers again and again."""
    numbers: dict[str, tuple[str, bool]] = {}
    internal = CallDirection.INTERNAL
    for r in records:
        if r.direction != internal and r.their_number not in numbers:
            numbers[r.their_number] = _quick_e164(r.their_number)
    return numbers


@lru_cache(maxsize=100_000)
def _quick_e164(number: str) -> tuple[str, bool]:
    from otdel.activities.calls import quick_e164

    return quick_e164(number)


def _stage(records: Iterable[CallRecord], e164_of: dict[str, tuple[str, bool]]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
        cursor.execute(
            f"""CREATE TEMP TABLE {STAGE} (
                ord int, source text, external_id text, started_at timestamptz,
                answered_at timestamptz, ended_at timestamptz, direction text, disposition text,
                talk_seconds int, ring_seconds int, account text, their_number text,
                their_e164 text, checked boolean, recording_url text, raw jsonb) ON COMMIT DROP"""
        )
    internal = CallDirection.INTERNAL
    # Lines of COPY's text format written by hand: a row written through write_row costs more
    # than the rest of the staging (values are escaped; times are ISO with their offset).
    lines = []
    for n, r in enumerate(records):
        e164, checked = ("", True) if r.direction == internal else e164_of[r.their_number]
        lines.append(
            "\t".join(
                (
                    str(n),
                    _text(r.source),
                    _text(r.external_id),
                    r.started_at.isoformat(),
                    _time(r.answered_at),
                    _time(r.ended_at),
                    _text(r.direction),
                    _text(r.disposition),
                    str(max(r.talk_seconds, 0)),
                    str(max(r.ring_seconds, 0)),
                    _text(r.account),
                    _text(r.their_number),
                    e164,  # digits and a plus
                    "t" if checked else "f",
                    _text(r.recording_url),
                    "{}"
                    if isinstance(r.raw, dict) and not r.raw
                    else _text(json.dumps(r.raw, ensure_ascii=False)),
                )
            )
        )
    with connection.connection.cursor() as raw, raw.copy(f"COPY {STAGE} FROM STDIN") as copy:
        copy.write("\n".join(lines) + "\n" if lines else "")


# COPY's text format: a backslash, tab, newline or carriage return inside a value is escaped.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def _time(value: dt.datetime | None) -> str:
    return "\\N" if value is None else value.isoformat()


def _sequence(table: str) -> str:
    """The sequence behind a table's id (looked up once per process)."""
    if table not in _SEQUENCES:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            _SEQUENCES[table] = cursor.fetchone()[0]
    return _SEQUENCES[table]


_SEQUENCES: dict[str, str] = {}


def _match_new() -> int:
    """The staged calls not stored yet, matched and numbered; returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {NEW}")
        cursor.execute(
            f"""
            CREATE TEMP TABLE {NEW} ON COMMIT DROP AS
            -- Each distinct number is looked up once (a phone system reports the same numbers
            -- again and again), among live clients' contacts.
            WITH numbers AS MATERIALIZED (
                SELECT DISTINCT their_e164 FROM {STAGE} WHERE their_e164 <> ''
            ), found AS MATERIALIZED (
                SELECT p.e164, p.id AS phone_id, p.contact_id, p.client_id, cl.owner_id,
                       cl.team_id
                FROM numbers n
                JOIN {ContactPhone._meta.db_table} p ON p.e164 = n.their_e164
                JOIN {Client._meta.db_table} cl
                    ON cl.id = p.client_id AND cl.merged_into_id IS NULL
            ), matched AS (
                -- A number shared by several live clients goes to the caller's own client
                -- first, else to the lowest client id.
                SELECT DISTINCT ON (s.ord) s.*, pa.user_id, f.contact_id, f.client_id,
                    f.owner_id, COALESCE(u.team_id, f.team_id) AS team
                FROM {STAGE} s
                LEFT JOIN {PhoneAccount._meta.db_table} pa
                    ON pa.source = s.source AND pa.account = s.account
                LEFT JOIN {User._meta.db_table} u ON u.id = pa.user_id
                LEFT JOIN found f ON f.e164 = s.their_e164
                ORDER BY s.ord, (pa.user_id IS NOT NULL AND f.owner_id = pa.user_id) DESC,
                         f.client_id, f.phone_id
            )
            SELECT m.*, nextval(%(calls_seq)s::regclass) AS id
            FROM matched m
            -- Re-sent records change nothing. A probe of the unique index per record, whatever
            -- the statistics say (an anti-join planned on a table analysed while nearly empty
            -- compared every record with every stored call).
            LEFT JOIN LATERAL (
                SELECT true AS known FROM {CALLS} k
                WHERE k.source = m.source AND k.external_id = m.external_id LIMIT 1
            ) k ON true
            WHERE k.known IS NULL
            ORDER BY m.ord
            """,  # noqa: S608 - table names are ours
            {"calls_seq": _sequence(CALLS)},
        )
        return cursor.rowcount


def _check_unmatched_numbers() -> None:
    """Numbers rewritten without a check that matched no contact are checked now; an invalid
    one keeps no E.164 form (it is not a phone number the base could ever match)."""
    from otdel.activities.calls import e164_or_blank

    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT DISTINCT their_e164 FROM {NEW}
                WHERE client_id IS NULL AND NOT checked AND their_e164 <> ''"""  # noqa: S608
        )
        candidates = [row[0] for row in cursor.fetchall()]
        wrong = [(c, e164_or_blank(c)) for c in candidates]
        wrong = [(c, e) for c, e in wrong if c != e]
        if wrong:
            cursor.execute(
                f"""UPDATE {NEW} n SET their_e164 = v.e164
                    FROM unnest(%s::text[], %s::text[]) AS v(candidate, e164)
                    WHERE n.their_e164 = v.candidate AND n.client_id IS NULL
                      AND NOT n.checked""",  # noqa: S608
                [[c for c, _ in wrong], [e for _, e in wrong]],
            )


def _insert_judged(now: dt.datetime) -> list[Stored]:
    """Insert the new calls with their verdicts in one statement (each is its own timeline
    entry: nothing else is written)."""
    with connection.cursor() as cursor:
        # Every reference was read under the lock `ingest` took first: the statement's
        # reference checks step aside, for it alone.
        cursor.execute("SELECT set_config('otdel.refs_locked', 'on', true)")
        cursor.execute(
            f"""
            INSERT INTO {CALLS} (id, source, external_id, started_at, answered_at, ended_at,
                direction, disposition, talk_seconds, ring_seconds, account, user_id,
                their_number, their_e164, contact_id, client_id, recording_url,
                self_reported, raw, created_at, effective, verdict_reasons, measure,
                classified_at)
            SELECT n.id, n.source, n.external_id, n.started_at, n.answered_at, n.ended_at,
                n.direction, n.disposition, n.talk_seconds, n.ring_seconds, n.account,
                n.user_id, n.their_number, n.their_e164, n.contact_id, n.client_id,
                n.recording_url, false, n.raw, %s, v.effective, v.reasons, v.measure, %s
            FROM {NEW} n JOIN ({verdicts_sql.new_verdicts()}) v ON v.id = n.id
            ORDER BY n.id
            -- Stored a moment ago by a parallel ingester: skipped.
            ON CONFLICT (source, external_id) DO NOTHING
            -- A start is read back only where a clock may need it (parsing 10,000 moments
            -- costs more than the rest of the answer).
            RETURNING id, client_id, user_id, direction,
                CASE WHEN effective THEN started_at END, effective
            """,  # noqa: S608 - table names are ours, values are parameters
            [now, now],
        )
        stored = [Stored(*row) for row in cursor.fetchall()]
        cursor.execute("SELECT set_config('otdel.refs_locked', 'off', true)")
        return stored


def ingest(
    records: Iterable[CallRecord], now: dt.datetime, e164: dict[str, tuple[str, bool]]
) -> tuple[list[Stored], list[tuple[int, int, dt.datetime]]]:
    """Store and judge the records not stored yet (inside the caller's transaction): the calls
    stored, and (client, person, started) of stored later calls that became effective. `e164`
    maps a typed number to its E.164 candidate and whether it was checked (calls.quick_e164)."""
    with connection.cursor() as cursor:
        # Before anything is read: a delete of a person, client or contact checks for references at its commit under a SHARE lock on these tables, which now
        # waits for this transaction; one that checked first keeps this one waiting until it
        # committed, so the matching below no longer sees the row. Either way the references
        # the matching reads stay valid, and the insert needs no check of its own (migration
        # activities 0009).
        cursor.execute(f"LOCK TABLE {CALLS} IN ROW EXCLUSIVE MODE")
        # A few statements over many rows: compiling them costs more than it saves (a third
        # of a second for the matching of 100,000 calls).
        cursor.execute("SET LOCAL jit = off")
    _stage(records, e164)
    if not _match_new():
        return [], []
    _check_unmatched_numbers()
    verdicts_sql.start_run()
    verdicts_sql.add_new(
        f"""SELECT id, true, started_at, direction, disposition, talk_seconds, false, user_id,
                   client_id, team, raw -> 'outcomes', owner_id
            FROM {NEW}"""  # noqa: S608
    )
    # Another ingester judging some of these clients finishes first (and its calls are then
    # read as history): verdicts_sql.lock_clients.
    verdicts_sql.lock_clients()
    verdicts_sql.add_later_calls()
    verdicts_sql.judge_run()
    became = verdicts_sql.write_stored(now)
    stored = _insert_judged(now)
    verdicts_sql.end_run()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {NEW}")
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
    return stored, became
