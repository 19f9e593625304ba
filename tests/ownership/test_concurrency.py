"""Claims and sweeps racing each other on the real database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection
from django.db.models import Count

from otdel.clients.models import Client
from otdel.core.errors import Conflict
from otdel.ownership import services
from otdel.ownership.models import EventKind, OwnershipEvent
from otdel.ownership.sweep import return_due_clients
from otdel.people.models import Role
from tests.factories import make_client, make_head, make_team, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def _run_in_threads(jobs: list[Callable[[], None]]) -> list[BaseException]:
    """Start all jobs at once (a barrier), each on its own database connection."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def wrap(job: Callable[[], None]) -> None:
        try:
            barrier.wait()
            job()
        except BaseException as exc:  # collected and re-raised by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_twenty_people_racing_for_fifty_clients_never_break_a_rule():
    team = make_team("Гонка")
    head = make_head(team)
    services.publish_policy(
        team.pk,
        document={"daily_claim_limit": 6, "default_cap": 200},
        effective_from=services.clock.now(),
        actor=head,
    )
    people = [make_user(Role.HUNTER, team=team, cap=4 if i % 2 else None) for i in range(20)]
    clients = [make_client(head, team=team) for _ in range(50)]
    ids = [c.pk for c in clients]
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def claimer(person):
        def job() -> None:
            rnd = random.Random(person.pk)
            for client_id in rnd.sample(ids, 10):
                try:
                    services.claim(client_id, actor=person)
                    result = "ok"
                except Conflict as err:
                    result = err.code
                with lock:
                    outcomes[result] += 1

        return job

    errors = _run_in_threads([claimer(p) for p in people])
    assert errors == []
    assert sum(outcomes.values()) == 200
    claims = OwnershipEvent.objects.filter(kind=EventKind.CLAIM)
    # Every successful claim wrote exactly one ledger event, and nothing else did.
    assert claims.count() == outcomes["ok"]
    # No client was claimed twice (nobody released in between), each has its claimer as owner.
    per_client = claims.values("client_id").annotate(n=Count("id"))
    assert all(row["n"] == 1 for row in per_client)
    for event in claims:
        assert Client.objects.get(pk=event.client_id).owner_id == event.to_user_id
    for person in people:
        owned = Client.objects.filter(owner=person).count()
        assert owned <= (4 if person.client_cap else 200)
        assert claims.filter(to_user=person).count() <= 6
    assert set(outcomes) <= {"ok", "already_owned", "over_cap", "daily_limit"}


def test_two_sweeps_at_once_return_each_client_once(frozen_clock):
    team = make_team("Сбор")
    head = make_head(team)
    owners = [make_user(Role.ACCOUNT_MANAGER, team=team) for _ in range(3)]
    clients = [make_client(head, team=team, owner=owners[i % 3]) for i in range(30)]
    frozen_clock.advance(dt.timedelta(days=31))
    results = []

    def sweeper() -> None:
        results.append(return_due_clients(team).returned)

    errors = _run_in_threads([sweeper, sweeper])
    assert errors == []
    assert sum(results) == 30
    assert Client.objects.filter(pk__in=[c.pk for c in clients], owner__isnull=False).count() == 0
    per_client = (
        OwnershipEvent.objects.filter(kind=EventKind.AUTO_RETURN)
        .values("client_id")
        .annotate(n=Count("id"))
    )
    assert len(per_client) == 30 and all(r["n"] == 1 for r in per_client)
