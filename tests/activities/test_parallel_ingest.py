"""Several ingesters at once (a CDR import's processes, the AMI listener beside a webhook): a
client's calls are judged one transaction after another, so the verdicts are those of a single
ingester storing everything in order."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import pytest
from django.db import connection, connections, transaction

from otdel.activities import verdicts_sql
from otdel.activities.calls import record_calls
from otdel.activities.models import Call
from otdel.activities.parallel_ingest import _Router, chunked, parallel_ingester
from otdel.activities.verdicts import judge_calls
from otdel.core import clock
from otdel.telephony.models import PhoneAccount
from otdel.telephony.records import CallRecord
from tests.factories import make_client, make_head, make_team, make_user

PBX = "asterisk:office"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="several writers at once are PostgreSQL's"
    ),
]


def _call(external_id: str, number: str, at: dt.datetime, **kw: object) -> CallRecord:
    fields: dict = {
        "source": PBX,
        "external_id": external_id,
        "started_at": at,
        "direction": "out",
        "disposition": "answered",
        "talk_seconds": 200,
        "account": "101",
        "their_number": number,
    }
    fields.update(kw)
    return CallRecord(**fields)


def _waiting_on_a_client_lock(timeout: float = 10.0) -> bool:
    """Whether some other session is waiting for one of the judging's client locks."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                """SELECT count(*) FROM pg_locks
                   WHERE locktype = 'advisory' AND NOT granted AND classid = %s""",
                [verdicts_sql.LOCK_CLASS],
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.05)
    return False


def test_a_second_ingester_waits_and_sees_the_first_ones_call_of_the_day(frozen_clock):
    """Both calls are 200 s to the same client on the same day: only one counts. Judged side
    by side without a lock, neither would see the other and both would count."""
    team = make_team("Телефония")
    head = make_head(team)
    person = make_user("hunter", team=team)
    PhoneAccount.objects.create(source=PBX, account="101", user=person)
    client = make_client(head, team=team, owner=person, phones=["+74951234567"])
    morning = clock.now() + dt.timedelta(minutes=30)  # 10:30 in Moscow, then 12:30
    frozen_clock.advance(dt.timedelta(hours=4))
    first_in, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                record_calls([_call("c-1", "+74951234567", morning)])
                first_in.set()
                release.wait(20)  # holds its client's lock, uncommitted
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            first_in.wait(20)
            record_calls([_call("c-2", "84951234567", morning + dt.timedelta(hours=2))])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    assert first_in.wait(20)
    assert _waiting_on_a_client_lock(), "the second ingester did not wait for the first"
    assert not Call.objects.filter(external_id="c-2").exists()
    release.set()
    for t in threads:
        t.join(30)
    assert errors == []
    one, two = Call.objects.filter(client=client).order_by("started_at")
    assert (one.external_id, one.effective) == ("c-1", True)
    assert (two.external_id, two.effective) == ("c-2", False)
    assert [r["code"] for r in two.verdict_reasons] == ["already_counted"]


def test_client_partitions_are_the_same_in_python_and_in_sql():
    ids = [1, 2, 3, 4, 20, 40, 60, 1_000_000, 2**31 - 1, 2**32 + 5, 3_000_000_000]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {verdicts_sql.client_partition_sql('i')} FROM unnest(%s::bigint[]) i",
            [ids],
        )
        in_sql = [row[0] for row in cursor.fetchall()]
    assert in_sql == [verdicts_sql.client_partition(i) for i in ids]
    # Ids in steps still spread over the partitions (a plain modulo would not).
    assert len({verdicts_sql.client_partition(i) for i in range(20, 20 * 2000, 20)}) == 64


def test_a_parallel_import_gives_the_verdicts_of_one_ingester(frozen_clock):
    """A month of mixed calls (short ones, inbound callbacks, several a day, clients with two
    numbers, a number two clients share) stored by two processes: judging every call again in
    one transaction, with the whole history in view, changes no verdict."""
    rnd = random.Random(5)
    team = make_team("Телефония")
    head = make_head(team)
    people = [make_user("hunter", team=team) for _ in range(3)]
    for i, person in enumerate(people):
        PhoneAccount.objects.create(source=PBX, account=str(101 + i), user=person)
    numbers: list[str] = []
    for i in range(24):
        own = [f"+7495100{i:04d}", f"+7916200{i:04d}"] if i % 4 == 0 else [f"+7495100{i:04d}"]
        if i in (5, 6):
            own.append("+74953330000")  # one number, two clients
        make_client(head, team=team, owner=people[i % 3], phones=own)
        numbers.extend(own)
    start = clock.now() + dt.timedelta(minutes=1)
    frozen_clock.advance(dt.timedelta(days=31))
    typed = [n for number in numbers for n in (number, "8" + number[2:])]  # +7… and 8…
    records = [
        _call(
            f"r-{n}",
            rnd.choice(typed),
            start + dt.timedelta(minutes=rnd.randint(0, 30 * 24 * 60)),
            account=str(101 + rnd.randrange(3)),
            direction=rnd.choice(["out", "out", "out", "in"]),
            talk_seconds=rnd.choice([0, 20, 100, 160, 400]),
            disposition="answered",
        )
        for n in range(600)
    ]
    records.sort(key=lambda r: r.started_at)
    # The router spreads these clients over both processes.
    assert {p % 2 for p in _Router().partitions(records)} == {0, 1}

    created = 0
    with parallel_ingester(2) as ingester:
        assert ingester.jobs == 2
        for chunk, result in ingester.record_all(chunked(records, 2 * 50)):
            assert result.created + result.already_known == len(chunk)
            created += result.created
    assert created == Call.objects.count() == 600
    assert Call.objects.filter(effective__isnull=True).count() == 0
    effective = Call.objects.filter(effective=True).count()
    assert 0 < effective < 600

    frozen_clock.advance(dt.timedelta(minutes=1))
    mark = clock.now()
    judge_calls(list(Call.objects.values_list("pk", flat=True)))
    assert not Call.objects.filter(classified_at__gte=mark).exists()
    assert Call.objects.filter(effective=True).count() == effective
