"""Benchmarks of the call facts (issue 3): ingesting CDR-like records through record_calls vs a
bare COPY of the same rows, and re-judging every call under a new policy version.

Runs inside one transaction that is rolled back, so the bench database keeps no calls.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import time
from typing import Any


def bench_calls(rows: int, batch: int = 5000) -> dict[str, Any]:
    from django.db import connection, transaction

    from otdel.activities.call_policy import EffectiveCallPolicyDocument
    from otdel.activities.calls import record_calls
    from otdel.activities.models import Call, EffectiveCallPolicy
    from otdel.activities.verdicts import reclassify
    from otdel.people.models import Team, User
    from otdel.telephony.models import PhoneAccount
    from otdel.telephony.records import CallRecord

    team = Team.objects.get(name="Bench")
    now = team.created_at
    rnd = random.Random(11)
    source = "bench-pbx"
    result: dict[str, Any] = {"rows": rows, "batch": batch}
    with transaction.atomic():
        owners = list(User.objects.filter(team=team, role="account_manager").order_by("pk")[:500])
        if not owners:
            owners = list(User.objects.filter(team=team).exclude(role="head_of_sales")[:500])
        PhoneAccount.objects.bulk_create(
            [
                PhoneAccount(source=source, account=str(1000 + i), user=u)
                for i, u in enumerate(owners)
            ],
            ignore_conflicts=True,
        )
        extension = {u.pk: str(1000 + i) for i, u in enumerate(owners)}
        with connection.cursor() as cur:
            cur.execute(
                """SELECT p.e164, c.owner_id FROM clients_contactphone p
                   JOIN clients_client c ON c.id = p.client_id
                   WHERE p.id % 60 = 0 LIMIT 50000"""
            )
            numbers = cur.fetchall()
        records = []
        for i in range(rows):
            e164, owner_id = numbers[rnd.randrange(len(numbers))]
            who = (
                owner_id
                if owner_id in extension and rnd.random() < 0.7
                else owners[rnd.randrange(len(owners))].pk
            )
            talk = rnd.choice([0, 0, rnd.randint(5, 60), rnd.randint(60, 900)])
            records.append(
                CallRecord(
                    source=source,
                    external_id=f"b{i}",
                    started_at=now - dt.timedelta(seconds=rnd.randint(0, 30 * 86400)),
                    direction="out" if rnd.random() < 0.8 else "in",
                    disposition="answered" if talk else "no_answer",
                    talk_seconds=talk,
                    account=extension[who],
                    their_number="8" + e164[2:] if rnd.random() < 0.3 else e164,
                )
            )
        records.sort(key=lambda r: r.started_at)

        started = time.perf_counter()
        created = 0
        for start in range(0, rows, batch):
            created += record_calls(records[start : start + batch]).created
        ingest_s = time.perf_counter() - started
        result.update(
            created=created, ingest_s=round(ingest_s, 1), ingest_rows_per_s=round(rows / ingest_s)
        )

        # The bare COPY of the same rows into a table shaped like the calls table.
        with connection.cursor() as cur:
            cur.execute("CREATE TEMP TABLE bare_calls (LIKE activities_call INCLUDING DEFAULTS)")
            buffer = io.StringIO()
            stamp = now.isoformat()
            for n, r in enumerate(records):
                buffer.write(
                    f"{n}\t{r.source}\tc{n}\t{r.started_at.isoformat()}\t{r.direction}\t"
                    f"{r.disposition}\t{r.talk_seconds}\t0\t{r.account}\t{r.their_number}\t"
                    f"{r.their_number}\t\tf\t{{}}\t{stamp}\t[]\n"
                )
            data = buffer.getvalue()
            started = time.perf_counter()
            with cur.cursor.copy(
                "COPY bare_calls (id, source, external_id, started_at, direction, disposition,"
                " talk_seconds, ring_seconds, account, their_number, their_e164, recording_url,"
                " self_reported, raw, created_at, verdict_reasons) FROM STDIN"
            ) as copy:
                copy.write(data)
            copy_s = time.perf_counter() - started
        result.update(
            copy_s=round(copy_s, 2),
            copy_rows_per_s=round(rows / copy_s),
            ingest_vs_copy=round(ingest_s / copy_s, 1),
        )

        # A new policy version from the first call on: every call is judged again.
        first = records[0].started_at
        last = EffectiveCallPolicy.objects.filter(team=team).order_by("-version").first()
        EffectiveCallPolicy.objects.create(
            team=team,
            version=(last.version if last else 0) + 1,
            effective_from=first,
            document=EffectiveCallPolicyDocument(min_talk_seconds=120).model_dump(mode="json"),
            created_at=now,
        )
        started = time.perf_counter()
        judged = reclassify(team.pk, since=first)
        classify_s = time.perf_counter() - started
        result.update(
            reclassified=judged,
            classify_s=round(classify_s, 1),
            effective=Call.objects.filter(source=source, effective=True).count(),
        )
        transaction.set_rollback(True)
    return result
