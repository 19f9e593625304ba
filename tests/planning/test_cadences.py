"""Cadence rules: tasks on the Russian working calendar, each created once."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.clients.models import Client
from otdel.core import clock
from otdel.ownership import services as ownership
from otdel.planning import cadences
from otdel.planning.models import Task, TaskStatus
from tests.activities.calls import make_call
from tests.factories import make_client

pytestmark = pytest.mark.django_db


def at(y: int, m: int, d: int, h: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, h, 0, tzinfo=clock.MOSCOW)


@pytest.fixture(autouse=True)
def _unfreeze():
    yield
    clock.unfreeze()


def _set_shipment(client: Client, moment: dt.datetime | None) -> None:
    # Shipments do not exist yet; the sales capability will write this field.
    Client.objects.filter(pk=client.pk).update(last_shipment_at=moment)


def test_claim_before_a_holiday_makes_the_first_call_due_after_it(head, manager):
    clock.freeze(at(2026, 11, 2))
    client = make_client(head)  # in the pool
    clock.freeze(at(2026, 11, 3, 11))
    ownership.claim(client.pk, actor=manager)

    cadences.run_cadences()

    task = Task.objects.get(client=client, rule=cadences.FIRST_CALL)
    # 3 November counts as the first working day; 4 November is a holiday.
    assert task.due_date == dt.date(2026, 11, 5)
    assert task.assignee == manager
    assert task.status == TaskStatus.OPEN
    assert "03.11.2026" in task.why


def test_claim_on_an_ordinary_tuesday_is_due_the_next_day(head, manager):
    clock.freeze(at(2026, 11, 10, 11))
    client = make_client(head)
    ownership.claim(client.pk, actor=manager)
    cadences.run_cadences()
    assert Task.objects.get(client=client).due_date == dt.date(2026, 11, 11)


def test_no_first_call_task_when_the_owner_already_called(head, manager):
    clock.freeze(at(2026, 11, 10, 11))
    client = make_client(head)
    ownership.claim(client.pk, actor=manager)
    make_call(user=manager, client=client, at=at(2026, 11, 10, 12))
    clock.freeze(at(2026, 11, 10, 13))
    cadences.run_cadences()
    assert not Task.objects.filter(client=client).exists()


def test_running_the_rules_twice_creates_nothing_twice(head, manager):
    clock.freeze(at(2026, 6, 1))
    sleeping = make_client(head, owner=manager)
    claimed = make_client(head)
    clock.freeze(at(2026, 9, 1))
    ownership.claim(claimed.pk, actor=manager)
    shipped = make_client(head, owner=manager)
    _set_shipment(shipped, at(2026, 8, 29))

    first = cadences.run_cadences()
    before = list(Task.objects.order_by("pk").values_list("pk", "client_id", "rule", "due_date"))
    clock.advance(dt.timedelta(hours=1))
    second = cadences.run_cadences()

    assert first["created"] == 3
    assert second["created"] == 0
    assert (
        list(Task.objects.order_by("pk").values_list("pk", "client_id", "rule", "due_date"))
        == before
    )
    assert {t[1]: t[2] for t in before} == {
        sleeping.pk: cadences.REACTIVATION,
        claimed.pk: cadences.FIRST_CALL,
        shipped.pk: "follow_up_after_shipment:3",
    }


def test_a_done_reactivation_is_not_recreated_the_next_day(head, manager):
    clock.freeze(at(2026, 3, 2))
    client = make_client(head, owner=manager)
    clock.freeze(at(2026, 6, 10))
    cadences.run_cadences()
    Task.objects.filter(client=client).update(status=TaskStatus.DONE)
    clock.freeze(at(2026, 6, 11))
    assert cadences.run_cadences()["created"] == 0


def test_reactivation_counts_from_the_last_shipment_and_lands_on_a_working_day(head, manager):
    clock.freeze(at(2026, 1, 12))
    client = make_client(head, owner=manager)
    _set_shipment(client, at(2026, 2, 1))
    # 90 days after 1 February is 2 May: in the May holidays; runs on 2 May (a Saturday).
    clock.freeze(at(2026, 5, 1, 9))
    cadences.run_cadences()
    assert not Task.objects.filter(client=client, rule=cadences.REACTIVATION).exists()
    clock.freeze(at(2026, 5, 2, 9))
    cadences.run_cadences()
    task = Task.objects.get(client=client, rule=cadences.REACTIVATION)
    assert task.due_date == cadences.working_on_or_after(dt.date(2026, 5, 2))
    assert task.due_date.isoformat() > "2026-05-02"
    assert "01.02.2026" in task.why


def test_follow_ups_on_day_3_30_and_90_after_a_shipment(head, manager):
    clock.freeze(at(2026, 10, 1))
    client = make_client(head, owner=manager)
    _set_shipment(client, at(2026, 10, 30, 15))
    # Day 3 is 2 November (Monday).
    clock.freeze(at(2026, 11, 1, 8))
    cadences.run_cadences()
    assert not Task.objects.filter(client=client).exists()
    clock.freeze(at(2026, 11, 2, 8))
    cadences.run_cadences()
    day3 = Task.objects.get(client=client, rule="follow_up_after_shipment:3")
    assert day3.due_date == dt.date(2026, 11, 2)
    # Day 30 is 29 November, a Sunday: due on Monday 30 November.
    clock.freeze(at(2026, 11, 29, 8))
    cadences.run_cadences()
    day30 = Task.objects.get(client=client, rule="follow_up_after_shipment:30")
    assert day30.due_date == dt.date(2026, 11, 30)
    assert cadences.run_cadences()["created"] == 0


def test_a_late_run_does_not_pile_up_old_follow_up_stages(head, manager):
    clock.freeze(at(2026, 9, 1))
    client = make_client(head, owner=manager)
    _set_shipment(client, at(2026, 10, 1))
    clock.freeze(at(2026, 11, 5))  # day 35: stage 30 is the one due
    cadences.run_cadences()
    assert list(Task.objects.filter(client=client).values_list("rule", flat=True)) == [
        "follow_up_after_shipment:30"
    ]


def test_tasks_of_a_client_released_to_the_pool_are_cancelled(head, manager):
    clock.freeze(at(2026, 11, 10, 11))
    client = make_client(head)
    ownership.claim(client.pk, actor=manager)
    cadences.run_cadences()
    ownership.release_to_pool(client.pk, actor=manager, reason="не наш профиль")
    clock.advance(dt.timedelta(hours=1))
    result = cadences.run_cadences()
    assert result["cancelled"] == 1
    assert Task.objects.get(client=client).status == TaskStatus.CANCELLED
