"""The set-based verdicts (PostgreSQL) give every call the same verdict and reasons as the
portable path that judges call by call."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection

from otdel.activities import verdicts
from otdel.activities.models import Call
from otdel.ownership import services as ownership
from tests.activities.calls import make_call
from tests.factories import make_client

pytestmark = pytest.mark.django_db


def _snapshot() -> dict[int, tuple[bool | None, list, str]]:
    return {c.pk: (c.effective, c.verdict_reasons, c.measure) for c in Call.objects.order_by("pk")}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the set-based path is PostgreSQL's")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_set_based_verdicts_equal_the_call_by_call_verdicts(
    seed, head, manager, other_manager, frozen_clock
):
    rnd = random.Random(seed)
    clients = [
        make_client(head, owner=rnd.choice([manager, other_manager, None])) for _ in range(6)
    ]
    start = frozen_clock.now()
    calls = []
    for n in range(120):
        at = start + dt.timedelta(hours=rnd.randint(0, 24 * 40))
        if n == 60:  # an owner change in the middle: the ledger decides who owned it then
            ownership.release_to_pool(clients[0].pk, actor=head, reason="test")
        disposition = rnd.choice(["answered", "answered", "busy", "no_answer"])
        calls.append(
            make_call(
                user=rnd.choice([manager, other_manager, None]),
                client=rnd.choice([*clients, None]),
                at=at,
                direction=rnd.choice(["out", "out", "in", "internal"]),
                disposition=disposition,
                talk=rnd.choice([0, 30, 149, 150, 400]),
                self_reported=rnd.random() < 0.1,
                outcomes=rnd.choice([None, [], ["decision_maker_reached"]]),
            )
        )
    ids = [c.pk for c in calls]

    verdicts.classify_calls(ids)  # the set-based path
    set_based = _snapshot()
    Call.objects.update(effective=None, verdict_reasons=[], measure="")
    ordered = list(
        Call.objects.filter(pk__in=ids).order_by("started_at", "id").values_list("id", flat=True)
    )
    verdicts._classify_ordered(ordered)  # the call-by-call path SQLite uses
    portable = _snapshot()

    assert set_based == portable
    assert any(v[0] for v in set_based.values())  # the data exercised effective calls too
