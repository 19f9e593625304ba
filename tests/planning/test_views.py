"""Planning pages: who may open what, what a refusal leaves behind, what the pages show."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.urls import reverse

from otdel.core import clock
from otdel.people.models import User
from otdel.planning import services
from otdel.planning.models import CallScript, Campaign, DayPlan, Task, TaskStatus
from tests.activities.calls import make_call
from tests.factories import make_client

pytestmark = pytest.mark.django_db


def browser(user: User, lang: str = "en") -> HttpClient:
    http = HttpClient()
    http.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    http.force_login(user)
    return http


def test_a_manager_cannot_create_a_campaign_through_the_page(head, manager, frozen_clock):
    client = make_client(head)
    http = browser(manager)
    assert http.get(reverse("planning:campaign_create")).status_code == 404
    response = http.post(
        reverse("planning:campaign_create"),
        {"assignee": manager.pk, "client": [client.pk], "deadline": "2026-12-01", "title": "x"},
    )
    assert response.status_code == 404
    assert not Campaign.objects.exists()
    assert not Task.objects.exists()
    assert http.get(reverse("planning:daily_review")).status_code == 404
    assert http.get(reverse("planning:scripts")).status_code == 404


def test_the_head_starts_a_campaign_on_dormant_clients(head, manager, frozen_clock):
    dormant = make_client(head)
    called = make_client(head)
    make_call(user=manager, client=called, at=clock.now() - dt.timedelta(days=3))
    http = browser(head)
    page = http.get(reverse("planning:campaign_create"), {"assignee": manager.pk, "days": 30})
    assert dormant.name in page.content.decode()
    assert called.name not in page.content.decode()
    response = http.post(
        reverse("planning:campaign_create"),
        {
            "assignee": manager.pk,
            "days": 30,
            "client": [dormant.pk],
            "deadline": "2026-12-04",
            "title": "Растормошить",
        },
    )
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert Task.objects.get().rule == f"campaign:{campaign.pk}"
    progress = http.get(reverse("planning:campaign_detail", args=[campaign.pk]))
    assert "0 / 1" in progress.content.decode()
    # The person working it sees it; another manager does not.
    assert (
        browser(manager).get(reverse("planning:campaign_detail", args=[campaign.pk])).status_code
        == 200
    )


def test_my_day_commits_the_plan_and_shows_the_fact(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    task = services.create_manual_task(
        actor=head, assignee=manager, client=client, kind="call", due_date=clock.today(), title="T"
    )
    http = browser(manager)
    morning = http.get(reverse("planning:my_day"))
    assert "Commit the plan" in morning.content.decode()
    http.post(reverse("planning:commit_plan"), {"task": [task.pk], "calls_target": "5"})
    assert DayPlan.objects.get(person=manager).items.count() == 1
    frozen_clock.advance(dt.timedelta(hours=2))
    call = make_call(user=manager, client=client)
    services.complete_tasks_for_calls([call.pk])
    evening = http.get(reverse("planning:my_day")).content.decode()
    assert "Plan against fact" in evening
    assert "1 / 1" in evening
    assert "1 / 5" in evening


def test_a_task_shows_its_script_to_the_assignee_only(head, manager, other_manager, frozen_clock):
    script = services.save_script(
        actor=head,
        team_id=head.team_id,
        title="Реактивация",
        steps=["Представиться", "Спросить про закупки"],
        questions=["Кто принимает решение?"],
        objections=[{"objection": "Дорого", "answer": "Сравним по сроку службы"}],
    )
    client = make_client(head, owner=manager)
    task = services.create_manual_task(
        actor=head,
        assignee=manager,
        client=client,
        kind="call",
        due_date=clock.today(),
        title="T",
        script_id=script.pk,
    )
    page = browser(manager).get(reverse("planning:task_detail", args=[task.pk])).content.decode()
    assert "Спросить про закупки" in page and "Сравним по сроку службы" in page
    assert (
        browser(other_manager).get(reverse("planning:task_detail", args=[task.pk])).status_code
        == 404
    )
    response = browser(other_manager).post(reverse("planning:task_done", args=[task.pk]))
    assert response.status_code == 404
    assert Task.objects.get().status == TaskStatus.OPEN


def test_the_head_edits_a_script(head, frozen_clock):
    http = browser(head)
    http.post(
        reverse("planning:script_create"),
        {
            "title": "Первый звонок",
            "steps": "Привет\nВопрос",
            "questions": "Объём?",
            "objections": "Нет времени | Перезвоню в удобное время",
            "active": "on",
        },
    )
    script = CallScript.objects.get()
    assert script.steps == [{"step": 1, "text": "Привет"}, {"step": 2, "text": "Вопрос"}]
    assert script.objections == [
        {"objection": "Нет времени", "answer": "Перезвоню в удобное время"}
    ]


def test_the_daily_review_shows_who_is_behind(head, manager, other_manager, frozen_clock):
    services.commit_day_plan(actor=manager, calls_target=1)
    make_call(user=manager, client=make_client(head, owner=manager))
    frozen_clock.advance(dt.timedelta(hours=4))
    page = browser(head).get(reverse("planning:daily_review")).content.decode()
    assert 'class="is-behind" data-person="petrova"' in page
    assert 'class="" data-person="ivanov"' in page


def test_the_head_pages_open(head, manager, frozen_clock):
    services.save_script(
        actor=head, team_id=head.team_id, title="S", steps=["a"], questions=[], objections=[]
    )
    http = browser(head)
    for name in ("planning:campaigns", "planning:scripts", "planning:script_create"):
        assert http.get(reverse(name)).status_code == 200
    script = CallScript.objects.get()
    assert http.get(reverse("planning:script_edit", args=[script.pk])).status_code == 200


def test_the_sweep_command_is_idempotent(head, manager, frozen_clock):
    from io import StringIO

    from django.core.management import call_command

    make_client(head, owner=manager)
    frozen_clock.advance(dt.timedelta(days=120))
    out = StringIO()
    call_command("planning_sweep", stdout=out)
    call_command("planning_sweep", stdout=out)
    assert out.getvalue().splitlines()[0].startswith("created=1")
    assert out.getvalue().splitlines()[1].startswith("created=0")
