"""Benchmarks of the call facts (issue 3): ingesting CDR-like records through record_calls vs a
bare COPY of the same rows, and re-judging every call under a new policy version (which writes
the verdicts that change).

The calls table first gets a history (committed and analysed, as a production table has), then
the measured rows are ingested as the CDR import stores them: its processes (one per core, up
to 4), each committing its batch.
Afterwards every bench call, its timeline entry and policy version is deleted and the clients'
clocks are put back, so the other benchmarks see the same department on every run.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SOURCE = "bench-pbx"


def _records(rows: int, *, start: dt.datetime, seed: int, prefix: str) -> list[Any]:
    """CDR-like records over 30 days before `start`: 70 % by the client's owner, 30 % by a
    colleague, 30 % of the numbers typed as 8…, 20 % inbound, a quarter unanswered."""
    from django.db import connection

    from otdel.people.models import Team, User
    from otdel.telephony.models import PhoneAccount
    from otdel.telephony.records import CallRecord

    team = Team.objects.get(name="Bench")
    rnd = random.Random(seed)
    owners = list(User.objects.filter(team=team, role="account_manager").order_by("pk")[:500])
    if not owners:
        owners = list(User.objects.filter(team=team).exclude(role="head_of_sales")[:500])
    PhoneAccount.objects.bulk_create(
        [PhoneAccount(source=SOURCE, account=str(1000 + i), user=u) for i, u in enumerate(owners)],
        ignore_conflicts=True,
    )
    extension = {u.pk: str(1000 + i) for i, u in enumerate(owners)}
    with connection.cursor() as cur:
        cur.execute(
            """SELECT p.e164, c.owner_id FROM clients_contactphone p
               JOIN clients_client c ON c.id = p.client_id
               WHERE p.id % 60 = 0 ORDER BY p.id LIMIT 50000"""
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
                source=SOURCE,
                external_id=f"{prefix}{i}",
                started_at=start - dt.timedelta(seconds=rnd.randint(0, 30 * 86400)),
                direction="out" if rnd.random() < 0.8 else "in",
                disposition="answered" if talk else "no_answer",
                talk_seconds=talk,
                account=extension[who],
                their_number="8" + e164[2:] if rnd.random() < 0.3 else e164,
            )
        )
    records.sort(key=lambda r: r.started_at)
    return records


def _ingest(records: list[Any], batch: int, jobs: int) -> tuple[float, int]:
    """As the CDR import stores them: `jobs` processes, `batch` records each per transaction."""
    from otdel.activities.parallel_ingest import chunked, parallel_ingester

    created = 0
    started = time.perf_counter()
    with parallel_ingester(jobs) as ingester:
        for _, result in ingester.record_all(chunked(records, batch * ingester.jobs)):
            created += result.created
    return time.perf_counter() - started, created


def _copy_text(records: list[Any], stamp: str, user_ids: list[int]) -> str:
    buffer = io.StringIO()
    for n, r in enumerate(records):
        buffer.write(
            f"{n}\t{r.source}\tc{n}\t{r.started_at.isoformat()}\t{r.direction}\t"
            f"{r.disposition}\t{r.talk_seconds}\t0\t{r.account}\t{r.their_number}\t"
            f"{r.their_number}\t\tf\t{{}}\t{stamp}\t[]\t\t{user_ids[n % len(user_ids)]}\n"
        )
    return buffer.getvalue()


def _bare_copy(records: list[Any], now: dt.datetime, *, level: str, user_ids: list[int]) -> float:
    """COPY the same rows into a table shaped like the calls table: "bare" without indexes
    (the raw write); "indexed" with the calls table's indexes and unique constraint (the least
    a database must do to keep these facts findable and unique); "constrained" also with the
    foreign key to the people the calls table checks for every row. Committed, then dropped."""
    from django.db import connection, transaction

    data = _copy_text(records, now.isoformat(), user_ids)
    like = "" if level == "bare" else "INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING CONSTRAINTS"
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_bare_calls")
        cur.execute(f"CREATE TABLE bench_bare_calls (LIKE activities_call {like})")
        if level == "constrained":
            cur.execute(
                "ALTER TABLE bench_bare_calls ADD FOREIGN KEY (user_id) REFERENCES people_user"
                " DEFERRABLE INITIALLY DEFERRED"
            )
    try:
        started = time.perf_counter()
        with (
            transaction.atomic(),
            connection.cursor() as cur,
            cur.cursor.copy(
                "COPY bench_bare_calls (id, source, external_id, started_at, direction,"
                " disposition, talk_seconds, ring_seconds, account, their_number, their_e164,"
                " recording_url, self_reported, raw, created_at, verdict_reasons, measure, user_id)"
                " FROM STDIN"
            ) as copy,
        ):
            copy.write(data)
        return time.perf_counter() - started
    finally:
        with connection.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS bench_bare_calls")


def _clean_up(team_id: int) -> None:
    """Delete the bench's calls, timeline entries and policy versions; put the clocks back."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT to_regclass('bench_clock_backup') IS NOT NULL")
        if not cur.fetchone()[0]:
            cur.execute(
                "CREATE TEMP TABLE bench_clock_backup (id bigint, activity_clock_at"
                " timestamptz, return_warned_at timestamptz) ON COMMIT DROP"
            )
        cur.execute(
            "UPDATE clients_client c SET activity_clock_at = b.activity_clock_at,"
            " return_warned_at = b.return_warned_at FROM bench_clock_backup b WHERE c.id = b.id"
        )
        cur.execute(
            "UPDATE planning_task SET done_by_call_id = NULL WHERE done_by_call_id IN"
            " (SELECT id FROM activities_call WHERE source = %s)",
            [SOURCE],
        )
        cur.execute("DELETE FROM activities_call WHERE source = %s", [SOURCE])
        cur.execute("DELETE FROM activities_activity WHERE source = %s", [SOURCE])
        cur.execute(
            "DELETE FROM activities_effectivecallpolicy WHERE team_id = %s AND version >= 1000",
            [team_id],
        )
        cur.execute("DROP TABLE IF EXISTS bench_clock_backup")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE activities_call")
        cur.execute("VACUUM ANALYZE activities_activity")
        # What autovacuum (off on the bench server) does to the catalogs: the temporary tables
        # of earlier runs and of other benchmarks leave dead rows there.
        cur.execute("VACUUM pg_class, pg_attribute, pg_type, pg_depend, pg_statistic")


@contextmanager
def _with_history(history: int, jobs: int) -> Iterator[tuple[Any, dt.datetime]]:
    """The bench team with a month of calls before the measured ones (ingested as the import
    stores them, committed and analysed); (team, the moment the measured calls end). Afterwards
    every bench call is deleted and the clients' clocks are put back."""
    from django.db import connection

    from otdel.people.models import Team
    from otdel.telephony.management.commands.asterisk_import_cdr import BATCH

    team = Team.objects.get(name="Bench")
    now = team.created_at
    _clean_up(team.pk)  # a run that was interrupted
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TABLE bench_clock_backup AS SELECT id, activity_clock_at, return_warned_at"
            " FROM clients_client WHERE team_id = %s",
            [team.pk],
        )
    try:
        past = _records(history, start=now - dt.timedelta(days=30), seed=7, prefix="h")
        _ingest(past, BATCH, jobs)
        with connection.cursor() as cur:
            cur.execute("ANALYZE activities_call")
            cur.execute("ANALYZE activities_activity")
        yield team, now
    finally:
        _clean_up(team.pk)


def bench_calls(rows: int, history: int = 200_000, jobs: int | None = None) -> dict[str, Any]:
    from django.db import connection, transaction

    from otdel.activities.call_policy import EffectiveCallPolicyDocument
    from otdel.activities.models import Call, EffectiveCallPolicy
    from otdel.activities.verdicts import reclassify
    from otdel.telephony.management.commands.asterisk_import_cdr import BATCH, default_jobs

    batch, jobs = BATCH, jobs or default_jobs()
    result: dict[str, Any] = {"rows": rows, "batch": batch, "jobs": jobs, "history": history}
    with _with_history(history, jobs) as (team, now):
        records = _records(rows, start=now, seed=11, prefix="b")
        ingest_s, created = _ingest(records, batch, jobs)
        # Statistics as autovacuum would have them by now (it is off on the bench server): a
        # period past the last analysed call looks empty to the planner.
        with connection.cursor() as cur:
            cur.execute("ANALYZE activities_call")
        result.update(
            created=created, ingest_s=round(ingest_s, 1), ingest_rows_per_s=round(rows / ingest_s)
        )
        from otdel.telephony.models import PhoneAccount

        user_ids = list(
            PhoneAccount.objects.filter(source=SOURCE).values_list("user_id", flat=True)
        )
        for level in ("bare", "indexed", "constrained"):
            name = f"copy_{level}"
            copy_s = _bare_copy(records, now, level=level, user_ids=user_ids)
            result.update(
                {
                    f"{name}_s": round(copy_s, 2),
                    f"{name}_rows_per_s": round(rows / copy_s),
                    f"ingest_vs_{name}": round(ingest_s / copy_s, 1),
                }
            )
        # A new policy version from the first measured call on: every such call judged again.
        first = records[0].started_at
        with transaction.atomic():
            EffectiveCallPolicy.objects.create(
                team=team,
                version=1000
                + EffectiveCallPolicy.objects.filter(team=team, version__gte=1000).count(),
                effective_from=first,
                document=EffectiveCallPolicyDocument(min_talk_seconds=120).model_dump(mode="json"),
                created_at=now,
            )
        from otdel.core import clock

        mark = clock.now()
        started = time.perf_counter()
        judged = reclassify(team.pk, since=first)
        classify_s = time.perf_counter() - started
        result.update(
            reclassified=judged,
            classify_s=round(classify_s, 1),
            classify_per_million_s=round(classify_s * 1_000_000 / max(judged, 1), 1),
            # Only the calls whose verdict, measure or reasons changed are written.
            rewritten=Call.objects.filter(source=SOURCE, classified_at__gte=mark).count(),
            effective=Call.objects.filter(source=SOURCE, effective=True).count(),
        )
    return result


def _cdr_line(n: int, r: Any) -> str:
    """A record as the line Asterisk 22's cdr_csv writes for it (Master.csv, local times)."""
    start = r.started_at.astimezone(dt.timezone(dt.timedelta(hours=3))).replace(tzinfo=None)
    talk = r.talk_seconds
    answer = f'"{start + dt.timedelta(seconds=3):%Y-%m-%d %H:%M:%S}"' if talk else ""
    end = start + dt.timedelta(seconds=3 + talk if talk else 15)
    status = "ANSWERED" if talk else "NO ANSWER"
    uid = f"1796{n:07d}.{n}"
    times = f'"{start:%Y-%m-%d %H:%M:%S}",{answer},"{end:%Y-%m-%d %H:%M:%S}"'
    tail = f'{(end - start).seconds},{talk},"{status}","DOCUMENTATION","{uid}"'
    ext, number = r.account, r.their_number
    if r.direction == "out":
        return (
            f'"{ext}","{ext}","{number}","from-managers","""M"" <{ext}>",'
            f'"PJSIP/{ext}-{n:08x}","PJSIP/carrier-{n:08x}","Dial","PJSIP/{number}@carrier,20",'
            f'{times},{tail},"","{ext}","{uid}",{n}\n'
        )
    return (
        f'"","{number}","74950000{ext}","from-trunk",""""" <{number}>",'
        f'"PJSIP/carrier-{n:08x}","PJSIP/{ext}-{n:08x}","Dial","PJSIP/{ext},15",'
        f'{times},{tail},"","{ext}","{uid}",{n}\n'
    )


def bench_cdr_file(rows: int, history: int = 200_000, jobs: int | None = None) -> dict[str, Any]:
    """The same kind of records written as a cdr_csv Master.csv and imported by the command a
    PBX's administrator runs (`asterisk_import_cdr`): the parsing in Python included."""
    import tempfile
    from pathlib import Path

    from django.core.management import call_command

    from otdel.activities.models import Call
    from otdel.telephony.management.commands.asterisk_import_cdr import default_jobs

    jobs = jobs or default_jobs()
    result: dict[str, Any] = {"rows": rows, "jobs": jobs, "history": history}
    with _with_history(history, jobs) as (_, now):
        records = _records(rows, start=now, seed=11, prefix="b")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "Master.csv"
            with path.open("w") as out:
                out.writelines(_cdr_line(n, r) for n, r in enumerate(records))
            report = io.StringIO()
            started = time.perf_counter()
            call_command(
                "asterisk_import_cdr",
                str(path),
                "--source",
                SOURCE,
                "--jobs",
                str(jobs),
                stdout=report,
            )
            import_s = time.perf_counter() - started
        result.update(
            import_s=round(import_s, 1),
            import_rows_per_s=round(rows / import_s),
            stored=Call.objects.filter(source=SOURCE, external_id__startswith="1796").count(),
            report=report.getvalue().strip().splitlines()[-1],
        )
    return result
