"""Call ingestion on PostgreSQL, set-based: the batch is COPYed into a staging table, then one
INSERT … SELECT matches extensions to people and numbers to clients by joins and skips known
calls (ON CONFLICT DO NOTHING), one INSERT puts the matched calls on the timelines and links
them. Same rules as the portable path in otdel.activities.calls."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from django.db import connection

from otdel.activities.models import Activity, ActivityKind, Call, CallDirection, CallDisposition
from otdel.clients.models import Client, ContactPhone
from otdel.telephony.models import PhoneAccount
from otdel.telephony.records import CallRecord

CALLS = Call._meta.db_table
STAGE = "otdel_call_stage"


def insert_calls(
    records: Iterable[CallRecord], now: dt.datetime, e164: dict[str, str]
) -> list[tuple[int, int | None, str]]:
    """Store the records not stored yet; (id, client, direction) of each new call. `e164` maps
    a typed number to its E.164 form ('' when it is none)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
        cursor.execute(
            f"""CREATE TEMP TABLE {STAGE} (
                ord int, source text, external_id text, started_at timestamptz,
                answered_at timestamptz, ended_at timestamptz, direction text, disposition text,
                talk_seconds int, ring_seconds int, account text, their_number text,
                their_e164 text, recording_url text, raw jsonb) ON COMMIT DROP"""
        )
    internal = CallDirection.INTERNAL
    with connection.connection.cursor() as raw, raw.copy(f"COPY {STAGE} FROM STDIN") as copy:
        for n, r in enumerate(records):
            copy.write_row(
                (
                    n,
                    r.source,
                    r.external_id,
                    r.started_at,
                    r.answered_at,
                    r.ended_at,
                    r.direction,
                    r.disposition,
                    max(r.talk_seconds, 0),
                    max(r.ring_seconds, 0),
                    r.account,
                    r.their_number,
                    "" if r.direction == internal else e164[r.their_number],
                    r.recording_url,
                    json.dumps(r.raw, ensure_ascii=False),
                )
            )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {CALLS} (source, external_id, started_at, answered_at, ended_at,
                direction, disposition, talk_seconds, ring_seconds, account, user_id,
                their_number, their_e164, contact_id, client_id, recording_url, self_reported,
                raw, created_at, verdict_reasons)
            SELECT s.source, s.external_id, s.started_at, s.answered_at, s.ended_at,
                s.direction, s.disposition, s.talk_seconds, s.ring_seconds, s.account,
                pa.user_id, s.their_number, s.their_e164, m.contact_id, m.client_id,
                s.recording_url, false, s.raw, %(now)s, '[]'::jsonb
            FROM {STAGE} s
            LEFT JOIN {PhoneAccount._meta.db_table} pa
                ON pa.source = s.source AND pa.account = s.account
            -- A number shared by several live clients goes to the caller's own client first,
            -- else to the lowest client id.
            LEFT JOIN LATERAL (
                SELECT p.contact_id, p.client_id
                FROM {ContactPhone._meta.db_table} p
                JOIN {Client._meta.db_table} cl
                    ON cl.id = p.client_id AND cl.merged_into_id IS NULL
                WHERE s.their_e164 <> '' AND p.e164 = s.their_e164
                ORDER BY (pa.user_id IS NOT NULL AND cl.owner_id = pa.user_id) DESC,
                         p.client_id, p.id
                LIMIT 1
            ) m ON true
            ORDER BY s.ord
            -- Re-sent records and the ones a parallel ingester stored a moment ago are skipped.
            ON CONFLICT (source, external_id) DO NOTHING
            RETURNING id, client_id, direction
            """,  # noqa: S608 - table names are ours, values are parameters
            {"now": now},
        )
        rows = cursor.fetchall()
        cursor.execute(f"DROP TABLE {STAGE}")
    return rows


def add_to_timelines(call_ids: list[int]) -> None:
    """The new calls matched to a client appear on their timelines, linked in one statement."""
    labels = [(value, str(label)) for value, label in CallDisposition.choices]
    subject = "CASE c.disposition " + " ".join("WHEN %s THEN %s" for _ in labels)
    subject += " ELSE c.disposition END"
    params: list[Any] = [ActivityKind.CALL, CallDirection.INTERNAL]
    params += [p for pair in labels for p in pair]
    params.append(call_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH added AS (
                INSERT INTO {Activity._meta.db_table} (client_id, author_id, kind, occurred_at,
                    direction, talk_seconds, subject, body, source, external_id, self_reported,
                    created_at)
                SELECT c.client_id, c.user_id, %s, c.started_at,
                    CASE WHEN c.direction = %s THEN '' ELSE c.direction END, c.talk_seconds,
                    {subject}, '', c.source, c.external_id, false, c.created_at
                FROM {CALLS} c
                WHERE c.id = ANY(%s::bigint[]) AND c.client_id IS NOT NULL
                  AND c.activity_id IS NULL
                RETURNING id, source, external_id
            )
            UPDATE {CALLS} c SET activity_id = added.id FROM added
            WHERE c.source = added.source AND c.external_id = added.external_id
            """,  # noqa: S608
            params,
        )
