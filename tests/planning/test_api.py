"""The planning API: my day, tasks, the daily review, campaigns, scripts and cadence rules, with
who may do what; a refusal or bad input answers with a code and writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.core import clock
from otdel.people.services import issue_api_token
from otdel.planning import services
from otdel.planning.models import CadencePolicy, CallScript, Campaign, DayPlan, Task, TaskStatus
from tests.activities.calls import make_call
from tests.api.conftest import Api
from tests.factories import make_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_as():
    """api_as(user) → the API with his fresh personal token; api_as(None) → anonymous."""

    def make(user):
        return Api(issue_api_token(user, name="tests")[1] if user else None)

    return make


def _task(head, manager, client, **kw):
    return services.create_manual_task(
        actor=head,
        assignee=manager,
        client=client,
        kind="call",
        due_date=kw.pop("due", clock.today()),
        title=kw.pop("title", "Позвонить"),
        **kw,
    )


def test_anonymous_gets_401_everywhere(api_as, team, frozen_clock):
    anon = api_as(None)
    for path in (
        "/api/my-day",
        "/api/tasks",
        "/api/tasks/1",
        "/api/daily-review",
        "/api/campaigns",
        "/api/campaigns/1",
        "/api/scripts",
        f"/api/teams/{team.pk}/cadence-policy",
    ):
        assert anon.get(path).status_code == 401, path
    for path in (
        "/api/my-day/commit",
        "/api/tasks",
        "/api/tasks/1/done",
        "/api/tasks/1/cancel",
        "/api/campaigns",
        "/api/scripts",
        f"/api/teams/{team.pk}/cadence-policy",
    ):
        response = anon.post(path, {})
        assert response.status_code == 401, path
        assert response.data["code"] == "unauthorized"
    assert anon.patch("/api/scripts/1", {"title": "x"}).status_code == 401
    assert not Task.objects.exists() and not DayPlan.objects.exists()


def test_a_manager_adds_a_task_on_his_client_and_a_weekend_moves_to_monday(
    api_as, head, manager, frozen_clock
):
    client = make_client(head, owner=manager)
    response = api_as(manager).post(
        "/api/tasks",
        {"client_id": client.pk, "due_date": "2026-11-21", "kind": "meeting", "title": "Встреча"},
    )
    assert response.status_code == 201, response.data
    assert response.data["due_date"] == "2026-11-23"
    assert response.data["rule"] == "manual"
    assert response.data["assignee"]["id"] == manager.pk
    task = Task.objects.get()
    assert (task.kind, task.due_date) == ("meeting", dt.date(2026, 11, 23))


def test_bad_task_input_is_422_and_writes_nothing(api_as, head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    api = api_as(manager)
    past = api.post(
        "/api/tasks", {"client_id": client.pk, "due_date": "2026-11-17", "title": "Поздно"}
    )
    assert past.status_code == 422
    assert past.data["code"] == "due_in_past"
    missing = api.post(
        "/api/tasks", {"client_id": 999_999, "due_date": "2026-11-19", "title": "Никому"}
    )
    assert missing.status_code == 422
    assert missing.data["code"] == "invalid_client"
    kind = api.post(
        "/api/tasks",
        {"client_id": client.pk, "due_date": "2026-11-19", "title": "x", "kind": "dance"},
    )
    assert kind.status_code == 422
    assert kind.data["code"] == "validation_error"
    script = api.post(
        "/api/tasks",
        {"client_id": client.pk, "due_date": "2026-11-19", "title": "x", "script_id": 424242},
    )
    assert script.status_code == 422
    assert script.data["code"] == "invalid_script"
    assert not Task.objects.exists()


def test_a_manager_cannot_add_a_task_on_someone_elses_client(
    api_as, head, manager, other_manager, frozen_clock
):
    theirs = make_client(head, owner=other_manager)
    response = api_as(manager).post(
        "/api/tasks", {"client_id": theirs.pk, "due_date": "2026-11-19", "title": "Чужой"}
    )
    assert response.status_code == 403
    assert not Task.objects.exists()


def test_the_head_adds_a_task_for_a_manager(api_as, head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    response = api_as(head).post(
        "/api/tasks",
        {
            "client_id": client.pk,
            "due_date": "2026-11-19",
            "title": "Перезвонить",
            "assignee_id": manager.pk,
        },
    )
    assert response.status_code == 201
    assert Task.objects.get().assignee == manager


def test_tasks_are_mine_and_the_head_sees_the_teams_with_filters(
    api_as, head, manager, other_manager, frozen_clock
):
    mine = _task(head, manager, make_client(head, owner=manager))
    theirs = _task(head, other_manager, make_client(head, owner=other_manager), title="Другой")
    as_manager = api_as(manager)
    listed = as_manager.get("/api/tasks")
    assert [t["id"] for t in listed.data["items"]] == [mine.pk]
    assert listed.data["items"][0]["why"]
    assert as_manager.get("/api/tasks?scope=team").status_code == 403
    assert as_manager.get(f"/api/tasks/{theirs.pk}").status_code == 404
    as_head = api_as(head)
    team = as_head.get("/api/tasks?scope=team").data
    assert {t["id"] for t in team["items"]} == {mine.pk, theirs.pk}
    assert team["meta"]["count"] == 2
    one = as_head.get(f"/api/tasks?scope=team&person_id={other_manager.pk}").data["items"]
    assert [t["id"] for t in one] == [theirs.pk]
    assert as_head.get("/api/tasks?scope=team&status=done").data["items"] == []
    assert len(as_head.get("/api/tasks?scope=team&rule=manual").data["items"]) == 2
    assert as_head.get("/api/tasks?scope=team&rule=campaign").data["items"] == []
    assert as_head.get("/api/tasks?scope=team&due_from=2026-11-19").data["items"] == []


def test_the_assignee_marks_done_but_only_the_head_cancels(api_as, head, manager, frozen_clock):
    first = _task(head, manager, make_client(head, owner=manager))
    second = _task(head, manager, make_client(head, owner=manager))
    as_manager = api_as(manager)
    refused = as_manager.post(f"/api/tasks/{second.pk}/cancel", {"reason": "надоело"})
    assert refused.status_code == 403
    assert refused.data["code"] == "not_head_of_sales"
    second.refresh_from_db()
    assert second.status == TaskStatus.OPEN
    done = as_manager.post(f"/api/tasks/{first.pk}/done")
    assert done.status_code == 200
    assert done.data["status"] == "done"
    again = as_manager.post(f"/api/tasks/{first.pk}/done")
    assert again.status_code == 409
    cancelled = api_as(head).post(f"/api/tasks/{second.pk}/cancel", {"reason": "клиент закрылся"})
    assert cancelled.status_code == 200
    assert cancelled.data["status"] == "cancelled"


def test_my_day_commits_a_plan_once_and_shows_the_fact(api_as, head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    task = _task(head, manager, client)
    api = api_as(manager)
    morning = api.get("/api/my-day").data
    assert morning["plan"] is None
    assert [t["id"] for t in morning["tasks"]] == [task.pk]
    committed = api.post("/api/my-day/commit", {"task_ids": [task.pk], "calls_target": 5})
    assert committed.status_code == 201
    assert committed.data["plan"]["calls_target"] == 5
    assert committed.data["plan"]["items"][0]["done"] is False
    assert api.post("/api/my-day/commit", {"calls_target": 3}).status_code == 409
    assert DayPlan.objects.get().calls_target == 5
    make_call(user=manager, client=client, at=clock.now() + dt.timedelta(minutes=5))
    clock.advance(dt.timedelta(hours=1))
    evening = api.get("/api/my-day").data
    assert evening["fact"]["calls"] == 1
    assert evening["fact"]["items_done"] == 1
    assert evening["plan"]["items"][0]["done"] is True


def test_a_plan_with_someone_elses_task_is_422_and_writes_nothing(
    api_as, head, manager, other_manager, frozen_clock
):
    theirs = _task(head, other_manager, make_client(head, owner=other_manager))
    response = api_as(manager).post("/api/my-day/commit", {"task_ids": [theirs.pk]})
    assert response.status_code == 422
    assert response.data["code"] == "invalid_tasks"
    assert not DayPlan.objects.exists()


def test_the_daily_review_is_the_heads(api_as, head, manager, other_manager, frozen_clock):
    assert api_as(manager).get("/api/daily-review").status_code == 403
    review = api_as(head).get("/api/daily-review?date=2026-11-18")
    assert review.status_code == 200
    people = {p["person"]["id"]: p for p in review.data["people"]}
    assert set(people) == {manager.pk, other_manager.pk}
    assert people[manager.pk]["behind"] is True
    assert review.data["behind"] == 2


def test_a_manager_cannot_create_a_campaign(api_as, head, manager, frozen_clock):
    client = make_client(head)
    response = api_as(manager).post(
        "/api/campaigns",
        {"assignee_id": manager.pk, "client_ids": [client.pk], "deadline": "2026-12-01"},
    )
    assert response.status_code == 403
    assert not Campaign.objects.exists() and not Task.objects.exists()


def test_the_head_runs_a_campaign_and_both_see_its_progress(
    api_as, head, manager, other_manager, frozen_clock
):
    clients = [make_client(head), make_client(head)]
    created = api_as(head).post(
        "/api/campaigns",
        {
            "title": "Растормошить",
            "assignee_id": manager.pk,
            "client_ids": [c.pk for c in clients],
            "deadline": "2026-11-21",
        },
    )
    assert created.status_code == 201, created.data
    assert created.data["deadline"] == "2026-11-23"
    assert (created.data["total"], created.data["done"]) == (2, 0)
    campaign_id = created.data["id"]
    services.mark_task_done(Task.objects.filter(campaign_id=campaign_id)[0].pk, actor=manager)
    clock.advance(dt.timedelta(days=1))
    detail = api_as(manager).get(f"/api/campaigns/{campaign_id}").data
    assert detail["done"] == 1
    assert [(d["day"], d["done"]) for d in detail["by_day"]] == [
        ("2026-11-18", 1),
        ("2026-11-19", 0),
    ]
    assert [c["id"] for c in api_as(head).get("/api/campaigns").data] == [campaign_id]
    assert api_as(other_manager).get(f"/api/campaigns/{campaign_id}").status_code == 404
    assert api_as(other_manager).get("/api/campaigns").data == []


def test_a_campaign_in_the_past_is_422_and_writes_nothing(api_as, head, manager, frozen_clock):
    response = api_as(head).post(
        "/api/campaigns",
        {"assignee_id": manager.pk, "client_ids": [make_client(head).pk], "deadline": "2026-11-01"},
    )
    assert response.status_code == 422
    assert response.data["code"] == "deadline_in_past"
    assert not Campaign.objects.exists() and not Task.objects.exists()


def test_scripts_are_written_by_the_head_and_read_by_everyone(api_as, head, manager, frozen_clock):
    body = {
        "title": "Реактивация",
        "steps": ["Представиться", "Спросить про закупки"],
        "questions": ["Кто решает?"],
        "objections": [{"objection": "Дорого", "answer": "Сравним"}],
    }
    assert api_as(manager).post("/api/scripts", body).status_code == 403
    assert not CallScript.objects.exists()
    created = api_as(head).post("/api/scripts", body)
    assert created.status_code == 201
    assert created.data["steps"][1] == {"step": 2, "text": "Спросить про закупки"}
    script_id = created.data["id"]
    listed = api_as(manager).get("/api/scripts").data
    assert [(s["id"], s["can_edit"]) for s in listed] == [(script_id, False)]
    refused = api_as(manager).patch(f"/api/scripts/{script_id}", {"title": "Моё"})
    assert refused.status_code == 403
    assert CallScript.objects.get().title == "Реактивация"
    patched = api_as(head).patch(f"/api/scripts/{script_id}", {"active": False})
    assert patched.status_code == 200
    assert (patched.data["title"], patched.data["active"]) == ("Реактивация", False)
    assert len(patched.data["steps"]) == 2
    assert api_as(head).patch("/api/scripts/999999", {"title": "x"}).status_code == 404


def test_the_head_publishes_cadence_rules_a_manager_cannot(api_as, head, manager, team):
    clock.freeze(dt.datetime(2026, 11, 18, 10, 0, tzinfo=clock.MOSCOW))
    try:
        path = f"/api/teams/{team.pk}/cadence-policy"
        before = api_as(manager).get(path).data
        assert (before["version_in_force"], before["can_edit"]) == (0, False)
        assert before["document"]["reactivation_after_days"] == 90
        document = {**before["document"], "reactivation_after_days": 60}
        refused = api_as(manager).post(path, {"document": document})
        assert refused.status_code == 403
        bad = api_as(head).post(path, {"document": {**document, "follow_up_days": [0]}})
        assert bad.status_code == 422
        unknown = api_as(head).post(path, {"document": {**document, "scripts": {"x": 99}}})
        assert unknown.status_code == 422
        assert unknown.data["code"] == "invalid_script"
        backdated = api_as(head).post(
            path, {"document": document, "effective_from": "2026-11-01T00:00:00+03:00"}
        )
        assert backdated.status_code == 422
        assert not CadencePolicy.objects.exists()
        published = api_as(head).post(path, {"document": document, "comment": "чаще"})
        assert published.status_code == 201
        assert published.data["version_in_force"] == 1
        assert published.data["document"]["reactivation_after_days"] == 60
        assert published.data["versions"][0]["comment"] == "чаще"
        assert api_as(head).get("/api/teams/999999/cadence-policy").status_code == 404
    finally:
        clock.unfreeze()
