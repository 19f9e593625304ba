"""Ingest N CDR-like rows through record_calls on SQLite (the default database); print JSON.

Run by bench.py in a child process against a fresh SQLite file in the bench var dir: a team of
500 managers, 50,000 clients with one phone each (half owned), then the rows in batches of
5,000 — the CDR importer's batch — in time order, as a day's files arrive.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    rows = int(sys.argv[1])
    var = Path(os.environ.get("OTDEL_VAR_DIR", ROOT / "var" / "bench"))
    var.mkdir(parents=True, exist_ok=True)
    name = "calls-bench.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        (var / (name + suffix)).unlink(missing_ok=True)
    os.environ.pop("DATABASE_URL", None)
    os.environ["OTDEL_SQLITE_NAME"] = name
    os.environ["OTDEL_VAR_DIR"] = str(var)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from otdel.activities.calls import record_calls
    from otdel.clients.models import Client, Contact, ContactPhone
    from otdel.core import clock
    from otdel.people.models import Role, Team, User
    from otdel.telephony.models import PhoneAccount
    from otdel.telephony.records import CallRecord

    now = clock.now()
    team = Team.objects.create(name="Bench", created_at=now)
    users = User.objects.bulk_create(
        [
            User(username=f"m{i}", role=Role.ACCOUNT_MANAGER, team=team, password="!")
            for i in range(500)
        ]
    )
    PhoneAccount.objects.bulk_create(
        [
            PhoneAccount(source="bench-pbx", account=str(1000 + i), user=u)
            for i, u in enumerate(users)
        ]
    )
    rnd = random.Random(5)
    clients = Client.objects.bulk_create(
        [
            Client(
                name=f"Клиент {i}",
                normalized_name=f"клиент {i}",
                team=team,
                owner=users[i % 500] if i % 2 else None,
                created_at=now,
                updated_at=now,
            )
            for i in range(50_000)
        ],
        batch_size=2000,
    )
    contacts = Contact.objects.bulk_create(
        [Contact(client=c, full_name="Иван Петров") for c in clients], batch_size=2000
    )
    ContactPhone.objects.bulk_create(
        [
            ContactPhone(client_id=c.client_id, contact=c, e164=f"+7495{1000000 + n:07d}")
            for n, c in enumerate(contacts)
        ],
        batch_size=2000,
    )
    numbers = [(f"+7495{1000000 + n:07d}", clients[n].owner_id) for n in range(50_000)]
    extension = {u.pk: str(1000 + i) for i, u in enumerate(users)}
    records = []
    for i in range(rows):
        e164, owner_id = numbers[rnd.randrange(len(numbers))]
        who = owner_id if owner_id and rnd.random() < 0.7 else users[rnd.randrange(500)].pk
        talk = rnd.choice([0, 0, rnd.randint(5, 60), rnd.randint(60, 900)])
        records.append(
            CallRecord(
                source="bench-pbx",
                external_id=f"s{i}",
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
    for start in range(0, rows, 5000):
        created += record_calls(records[start : start + 5000]).created
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": rows,
                "created": created,
                "ingest_s": round(elapsed, 1),
                "ingest_rows_per_s": round(rows / elapsed),
            }
        )
    )


if __name__ == "__main__":
    main()
