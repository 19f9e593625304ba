"""Tasks completed by call facts, the day plan's fact, and campaign progress."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid
from otdel.planning import selectors, services
from otdel.planning.models import Campaign, DayPlan, Task, TaskStatus
from tests.activities.calls import make_call
from tests.factories import make_client

pytestmark = pytest.mark.django_db


def test_an_answered_call_by_the_assignee_completes_his_task(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    task = services.create_manual_task(
        actor=manager,
        assignee=manager,
        client=client,
        kind="call",
        due_date=clock.today(),
        title="Позвонить",
    )
    frozen_clock.advance(dt.timedelta(minutes=30))
    missed = make_call(user=manager, client=client, disposition="no_answer")
    assert services.complete_tasks_for_calls([missed.pk]) == 0
    call = make_call(user=manager, client=client, talk=40)

    assert services.complete_tasks_for_calls([missed.pk, call.pk]) == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert task.done_by_call_id == call.pk
    assert task.done_at == call.started_at
    # Repeating the hook changes nothing.
    assert services.complete_tasks_for_calls([call.pk]) == 0


def test_a_call_by_someone_else_does_not_complete_the_task(
    head, manager, other_manager, frozen_clock
):
    client = make_client(head, owner=manager)
    services.create_manual_task(
        actor=head, assignee=manager, client=client, kind="call", due_date=clock.today(), title="x"
    )
    call = make_call(user=other_manager, client=client)
    assert services.complete_tasks_for_calls([call.pk]) == 0
    assert Task.objects.get(client=client).status == TaskStatus.OPEN


def test_the_day_fact_matches_the_call_facts(head, manager, frozen_clock):
    planned = make_client(head, owner=manager)
    other = make_client(head, owner=manager)
    task_client = make_client(head, owner=manager)
    task = services.create_manual_task(
        actor=manager,
        assignee=manager,
        client=task_client,
        kind="call",
        due_date=clock.today(),
        title="Позвонить",
    )
    plan = services.commit_day_plan(
        actor=manager, task_ids=[task.pk], client_ids=[planned.pk], calls_target=10
    )
    assert plan.calls_target == 10
    frozen_clock.advance(dt.timedelta(hours=1))
    c1 = make_call(user=manager, client=planned, talk=200)
    c1.effective = True
    c1.save(update_fields=["effective"])
    make_call(user=manager, client=other, talk=30)
    make_call(user=manager, client=other, disposition="busy")
    make_call(user=manager, client=other, direction="in", talk=300)  # inbound: not "made"
    make_call(user=manager, client=planned, at=clock.now() - dt.timedelta(days=1))  # yesterday
    done_call = make_call(user=manager, client=task_client, talk=60)
    services.complete_tasks_for_calls([done_call.pk])

    fact = selectors.day_fact(manager, clock.today())
    assert fact.committed
    assert fact.planned_items == 2
    assert fact.items_done == 2
    assert fact.calls == 4  # outbound, answered or not
    assert fact.answered == 3
    assert fact.effective == 1
    assert fact.tasks_done == 1
    assert fact.talk_seconds == 200 + 30 + 60


def test_the_plan_is_committed_once(head, manager, frozen_clock):
    services.commit_day_plan(actor=manager, calls_target=5)
    with pytest.raises(Conflict):
        services.commit_day_plan(actor=manager, calls_target=50)
    assert DayPlan.objects.get(person=manager).calls_target == 5


def test_a_plan_cannot_include_someone_elses_client(head, manager, other_manager, frozen_clock):
    theirs = make_client(head, owner=other_manager)
    with pytest.raises(Invalid):
        services.commit_day_plan(actor=manager, client_ids=[theirs.pk])
    assert not DayPlan.objects.exists()


def test_the_review_marks_a_person_without_a_plan_as_behind(
    head, manager, other_manager, frozen_clock
):
    services.commit_day_plan(actor=manager, calls_target=1)
    make_call(user=manager, client=make_client(head, owner=manager))
    frozen_clock.advance(dt.timedelta(hours=3))
    rows = {f.person.pk: f for f in selectors.daily_review(head, clock.today())}
    assert not rows[manager.pk].behind
    assert rows[other_manager.pk].behind


def test_campaign_progress_counts_done_tasks_and_effective_calls(head, manager, frozen_clock):
    clients = [make_client(head) for _ in range(4)]
    early = make_call(user=manager, client=clients[0])  # before the campaign: not counted
    early.effective = True
    early.save(update_fields=["effective"])
    frozen_clock.advance(dt.timedelta(minutes=5))
    campaign = services.create_campaign(
        actor=head,
        team_id=head.team_id,
        title="Растормошить базу",
        assignee_id=manager.pk,
        client_ids=[c.pk for c in clients],
        deadline=dt.date(2026, 11, 28),  # a Saturday
    )
    assert campaign.deadline == dt.date(2026, 11, 30)
    frozen_clock.advance(dt.timedelta(hours=1))
    calls = [make_call(user=manager, client=c) for c in clients[:2]]
    calls[0].effective = True
    calls[0].save(update_fields=["effective"])
    services.complete_tasks_for_calls([c.pk for c in calls])

    progress = selectors.campaign_progress(campaign)
    assert (progress.total, progress.done, progress.open) == (4, 2, 2)
    assert progress.percent == 50
    assert progress.calls == 2
    assert progress.effective == 1
    assert progress.by_day[0]["done"] == 2


def test_a_manager_cannot_create_a_campaign(head, manager, frozen_clock):
    client = make_client(head)
    with pytest.raises(Forbidden):
        services.create_campaign(
            actor=manager,
            team_id=manager.team_id,
            title="x",
            assignee_id=manager.pk,
            client_ids=[client.pk],
            deadline=dt.date(2026, 12, 1),
        )
    assert not Campaign.objects.exists()
    assert not Task.objects.exists()


def test_a_campaign_refuses_clients_of_someone_elses_base(
    head, manager, other_manager, frozen_clock
):
    theirs = make_client(head, owner=other_manager)
    with pytest.raises(Conflict):
        services.create_campaign(
            actor=head,
            team_id=head.team_id,
            title="x",
            assignee_id=manager.pk,
            client_ids=[theirs.pk],
            deadline=dt.date(2026, 12, 1),
        )
    assert not Task.objects.exists()
