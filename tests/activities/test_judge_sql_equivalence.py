"""The judge in SQL (PostgreSQL) gives every call the same verdict, measure and reasons as the
Python judge, whatever the history and the policies: random call histories, ownership changes,
outcomes and policy versions, judged both ways."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otdel.activities import verdicts
from otdel.activities.call_policy import OUTCOMES, EffectiveCallPolicyDocument
from otdel.activities.models import Call, CallOutcome, EffectiveCallPolicy
from otdel.core import clock
from otdel.ownership.models import EventKind, OwnershipEvent
from tests.activities.calls import make_call
from tests.factories import make_client

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the judge in SQL is PostgreSQL's"
    ),
]

# Calls on a 30-minute grid over 8 days around Moscow midnights (ties and day edges happen).
START = dt.datetime(2026, 11, 10, 0, 0, tzinfo=clock.MOSCOW)
GRID = 8 * 48


def at(slot: int) -> dt.datetime:
    return START + dt.timedelta(minutes=30 * slot)


def document(rnd: random.Random) -> EffectiveCallPolicyDocument:
    max_age = rnd.choice([0, 1, 3, 6])
    return EffectiveCallPolicyDocument(
        min_talk_seconds=rnd.choice([150, 150, 0, 120, 400]),
        counted_directions=rnd.choice([["out"], ["out"], ["out"], ["out", "in"], ["in"]]),
        phone_system_only=rnd.random() < 0.7,
        client_scope=rnd.choice(["own_base", "own_base_or_pool"]),
        required_outcomes=rnd.choice([[], [], [], [], ["decision_maker_reached"], OUTCOMES[:2]]),
        once_per_client_days=rnd.choice([1, 1, 2, 3, 7, 0]),
        inbound_callback_max_age_days=max_age,
        inbound_callback_horizon_days=rnd.choice([max_age + 1, 10, 30]),
        stale_callbacks=rnd.choice(["exclude", "separate"]),
    )


def make_history(rnd: random.Random) -> dict[str, Any]:
    """A random history, weighted so that most calls are by the first client's owner and
    would count: the rules that need several effective calls (once per N days, callbacks)
    then decide something in every example."""

    def pick(weighted: list[tuple[Any, int]]) -> Any:
        return rnd.choices([v for v, _ in weighted], [w for _, w in weighted])[0]

    calls = []
    for _ in range(rnd.randint(10, 70)):
        calls.append(
            {
                "slot": rnd.randint(0, GRID),
                "client": pick([(0, 70), (1, 15), (2, 10), (None, 5)]),
                "user": pick([(0, 75), (1, 20), (None, 5)]),
                "direction": pick([("out", 65), ("in", 30), ("internal", 5)]),
                "disposition": pick([("answered", 85), ("busy", 10), ("no_answer", 5)]),
                "talk": rnd.choice([400, 400, 400, 400, 150, 149, 120, 20]),
                "self_reported": rnd.random() < 0.05,
                "reported": pick(
                    [(None, 70), (["decision_maker_reached"], 20), ([], 5), ([1, "x"], 5)]
                ),
                "marked": [
                    (kind, rnd.choice([None, True, False]))
                    for kind in rnd.sample(OUTCOMES, rnd.choice([0, 0, 0, 0, 0, 1, 2]))
                ],
            }
        )
    return {
        "calls": calls,
        "versions": [(rnd.randint(0, GRID), document(rnd)) for _ in range(rnd.randint(0, 3))],
        # Owner changes in the ledger: (client, slot, from, to); None is the pool.
        "changes": [
            (
                rnd.randint(0, 2),
                rnd.randint(0, GRID),
                pick([(0, 2), (1, 1), (None, 1)]),
                pick([(0, 2), (1, 1), (None, 1)]),
            )
            for _ in range(rnd.choice([0, 0, 1, 2, 4]))
        ],
        "warning": rnd.random() < 0.3,
        # The first slot a new version re-judges from; which calls are judged again.
        "since": rnd.randint(0, GRID),
        "subset": rnd.randint(1, 5),
    }


def _verdicts() -> dict[int, tuple[object, ...]]:
    return {c.pk: (c.effective, c.verdict_reasons, c.measure) for c in Call.objects.order_by("pk")}


def _restore(saved: dict[int, tuple[object, ...]]) -> None:
    for pk, (effective, reasons, measure) in saved.items():
        Call.objects.filter(pk=pk).update(
            effective=effective, verdict_reasons=reasons, measure=measure
        )


def _ordered(ids: list[int]) -> list[int]:
    return list(
        Call.objects.filter(pk__in=ids).order_by("started_at", "id").values_list("id", flat=True)
    )


@pytest.fixture
def world(team, head, manager, other_manager, frozen_clock):
    clock.freeze(at(-48))  # the clients' owners are recorded a day before the first call
    people = [manager, other_manager]
    clients = [
        make_client(head, owner=manager),
        make_client(head, owner=other_manager),
        make_client(head, owner=None),
    ]
    return team, head, people, clients


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32))
def test_sql_judge_gives_the_python_judges_verdicts_reasons_and_measures(world, seed):
    team, head, people, clients = world
    # A plain Random from hypothesis' seed: its weights hold (hypothesis' own randoms favour
    # edge values, which made nearly every call fail a rule).
    history = make_history(random.Random(seed))
    with transaction.atomic():
        for n, (slot, doc) in enumerate(history["versions"]):
            EffectiveCallPolicy.objects.create(
                team=team,
                version=100 + n,
                effective_from=at(slot),
                document=doc.model_dump(mode="json"),
                created_at=at(slot),
            )
        for client, slot, loser, receiver in history["changes"]:
            OwnershipEvent.objects.create(
                client=clients[client],
                kind=EventKind.TRANSFER,
                at=at(slot),
                from_user=None if loser is None else people[loser],
                to_user=None if receiver is None else people[receiver],
            )
        if history["warning"]:  # warnings never change the owner
            OwnershipEvent.objects.create(
                client=clients[0], kind=EventKind.WARNING, at=at(GRID // 3), to_user=people[1]
            )
        ids = []
        for facts in history["calls"]:
            call = make_call(
                user=None if facts["user"] is None else people[facts["user"]],
                client=None if facts["client"] is None else clients[facts["client"]],
                at=at(facts["slot"]),
                direction=facts["direction"],
                disposition=facts["disposition"],
                talk=facts["talk"],
                self_reported=facts["self_reported"],
                outcomes=facts["reported"],
            )
            for kind, verified in facts["marked"]:
                CallOutcome.objects.create(
                    call=call,
                    kind=kind,
                    marked_by=head,
                    marked_at=call.started_at,
                    verified=verified,
                )
            ids.append(call.pk)

        # Everything judged by Python first: the stored verdicts earlier calls keep.
        verdicts._classify_ordered(_ordered(ids))
        stored = _verdicts()

        # A new version re-judges the calls from `since` on: in SQL, then in Python.
        since = at(history["since"])
        verdicts.reclassify(team.pk, since=since)
        in_sql = _verdicts()
        _restore(stored)
        verdicts._classify_ordered(
            list(
                Call.objects.filter(started_at__gte=since)
                .filter(Q(user__team_id=team.pk) | Q(user__isnull=True, client__team_id=team.pk))
                .order_by("started_at", "id")
                .values_list("id", flat=True)
            )
        )
        assert in_sql == _verdicts()

        # Calls judged again with their clients' later calls (a late call, new outcomes).
        _restore(stored)
        some = ids[:: history["subset"]]
        verdicts.judge_calls(some)
        in_sql = _verdicts()
        _restore(stored)
        verdicts._classify_ordered(verdicts._with_later_calls(some))
        assert in_sql == _verdicts()
        transaction.set_rollback(True)
