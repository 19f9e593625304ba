"""The cadence rules editor and the "new task" form: who may use them, what a bad value shows,
and that a refusal writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils.translation import gettext

from otdel.core import clock
from otdel.people.models import User
from otdel.planning import forms, services
from otdel.planning.cadences import REACTIVATION, cadence_in_force
from otdel.planning.document import CadenceDocument
from otdel.planning.models import CadencePolicy, Task
from tests.factories import make_client

pytestmark = pytest.mark.django_db


def browser(user: User, lang: str = "en") -> HttpClient:
    http = HttpClient()
    http.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    http.force_login(user)
    return http


def _cadence_post(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "reactivation_enabled": "on",
        "reactivation_after_days": 90,
        "first_call_enabled": "on",
        "first_call_within_working_days": 2,
        "follow_up_enabled": "on",
        "follow_up_days": "3, 30, 90",
        "missed_after_days": 10,
        "effective_from": "2026-11-18",
        "comment": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_every_cadence_field_is_labelled_by_its_description():
    descriptions = {f.description for f in CadenceDocument.model_fields.values()}
    assert descriptions == set(forms.DESCRIPTION_MSGIDS)


def test_the_head_publishes_a_cadence_version_from_the_editor(head, team, frozen_clock):
    script = services.save_script(
        actor=head, team_id=team.pk, title="Реактивация", steps=[], questions=[], objections=[]
    )
    http = browser(head)
    page = http.get(reverse("planning:cadences"))
    assert page.status_code == 200
    assert "Call a client of my base after N days without a shipment" in page.content.decode()
    response = http.post(
        reverse("planning:cadences"),
        _cadence_post(
            reactivation_after_days=60,
            follow_up_enabled=None,
            follow_up_days="30, 7",
            **{f"script_{REACTIVATION}": script.pk},
            comment="чаще",
        ),
    )
    assert response.status_code == 302
    version = CadencePolicy.objects.get()
    assert (version.version, version.comment, version.approved_by) == (1, "чаще", head)
    doc = cadence_in_force(team.pk).doc
    assert doc.reactivation_after_days == 60
    assert doc.follow_up_enabled is False
    assert doc.follow_up_days == [7, 30]
    assert doc.scripts == {REACTIVATION: script.pk}
    history = http.get(reverse("planning:cadences")).content.decode()
    assert "Version 1" in history and "чаще" in history


def test_a_later_effective_date_schedules_the_version(head, team, frozen_clock):
    browser(head).post(reverse("planning:cadences"), _cadence_post(effective_from="2026-12-01"))
    version = CadencePolicy.objects.get()
    assert version.effective_from == clock.start_of_day(dt.date(2026, 12, 1))
    assert cadence_in_force(team.pk).version == 0


def test_a_manager_does_not_see_the_cadence_editor(manager, frozen_clock):
    http = browser(manager)
    assert http.get(reverse("planning:cadences")).status_code == 404
    assert http.post(reverse("planning:cadences"), _cadence_post()).status_code == 404
    assert not CadencePolicy.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reactivation_after_days": 0}, "reactivation_after_days"),
        ({"first_call_within_working_days": 99}, "first_call_within_working_days"),
        ({"follow_up_days": "3, 0"}, "follow_up_days"),
        ({"follow_up_days": "3, tomorrow"}, "follow_up_days"),
        ({"missed_after_days": "many"}, "missed_after_days"),
        ({"effective_from": "2026-11-01"}, "effective_from"),
    ],
)
def test_a_bad_cadence_value_shows_its_error_and_publishes_nothing(
    head, frozen_clock, changes, field
):
    response = browser(head).post(reverse("planning:cadences"), _cadence_post(**changes))
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-testid="error-{field}"' in page
    assert not CadencePolicy.objects.exists()


def test_a_manager_adds_a_task_from_my_day(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    http = browser(manager)
    page = http.get(reverse("planning:my_day")).content.decode()
    assert 'data-testid="new-task"' in page
    assert client.name in page
    response = http.post(
        reverse("planning:task_create"),
        {
            "client": client.pk,
            "kind": "call",
            "title": "Уточнить заявку",
            "due_date": "2026-11-21",
            "next": reverse("planning:my_day"),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("planning:my_day")
    task = Task.objects.get()
    assert (task.assignee, task.client, task.rule) == (manager, client, "manual")
    assert task.due_date == dt.date(2026, 11, 23)  # Saturday → Monday


def test_a_past_due_date_shows_the_error_and_adds_nothing(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    response = browser(manager).post(
        reverse("planning:task_create"),
        {"client": client.pk, "kind": "call", "title": "Поздно", "due_date": "2026-11-17"},
    )
    assert response.status_code == 200
    assert gettext("A task cannot be due in the past.") in response.content.decode()
    assert not Task.objects.exists()


def test_a_manager_cannot_add_a_task_on_someone_elses_client(
    head, manager, other_manager, frozen_clock
):
    theirs = make_client(head, owner=other_manager)
    response = browser(manager).post(
        reverse("planning:task_create"),
        {
            "fixed_client": theirs.pk,
            "client": theirs.pk,
            "kind": "call",
            "title": "Чужой",
            "due_date": "2026-11-19",
        },
    )
    assert response.status_code == 200
    assert "You may add tasks only for your own clients." in response.content.decode()
    assert not Task.objects.exists()


def test_the_head_adds_a_task_from_the_client_card_for_its_owner(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    card = reverse("clients:detail", args=[client.pk])
    response = browser(head).post(
        reverse("planning:task_create"),
        {
            "fixed_client": client.pk,
            "client": client.pk,
            "kind": "meeting",
            "title": "Встреча",
            "due_date": "2026-11-19",
            "next": card,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == card
    task = Task.objects.get()
    assert (task.assignee, task.created_by, task.kind) == (manager, head, "meeting")


def test_the_new_task_partial_renders_on_a_client_card(head, manager, frozen_clock):
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    client = make_client(head, owner=manager)
    request = RequestFactory().get("/")
    request.user = manager
    html = render_to_string("planning/_new_task.html", {"client": client}, request=request)
    assert f'name="fixed_client" value="{client.pk}"' in html
    # Someone who is neither the owner nor a head sees no form.
    request.user = User.objects.create(username="outsider", role=manager.role)
    other = render_to_string("planning/_new_task.html", {"client": client}, request=request)
    assert other.strip() == ""
