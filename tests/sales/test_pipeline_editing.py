"""The head of sales edits his team's pipelines: renames and reorders stages without moving a
deal, changes the allowed moves move_deal checks, adds and removes stages (never one with deals
in it), makes a pipeline the default or archives it. Anyone else is refused (service, page,
API) and nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.urls import reverse

from otdel.audit.models import AuditEvent
from otdel.core.errors import Conflict, Forbidden
from otdel.people.services import issue_api_token
from otdel.sales import selectors, services
from otdel.sales.models import Deal, Pipeline, Stage, StageTransition
from otdel.sales.pipeline_document import PipelineDocument
from tests.api.conftest import Api
from tests.sales.conftest import open_deal, stage

pytestmark = pytest.mark.django_db


def browser(user: Any) -> HttpClient:
    http = HttpClient()
    http.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    http.force_login(user)
    return http


def _doc(pipeline: Pipeline) -> dict[str, Any]:
    return selectors.pipeline_document_of(pipeline).model_dump(mode="json")


def _snapshot(pipeline: Pipeline) -> tuple[Any, ...]:
    """Everything an edit could change: the document, the rows' ids and every deal's stage."""
    return (
        _doc(pipeline),
        sorted(Stage.objects.filter(pipeline=pipeline).values_list("pk", "code", "position")),
        StageTransition.objects.filter(pipeline=pipeline).count(),
        sorted(Deal.objects.values_list("pk", "stage_id")),
        Pipeline.objects.get(pk=pipeline.pk).name,
    )


def _edited(pipeline: Pipeline, change: Any) -> PipelineDocument:
    data = _doc(pipeline)
    change(data)
    return PipelineDocument.model_validate(data)


def test_renaming_and_reordering_keeps_deals_in_their_stage(head, manager, pipeline, frozen_clock):
    deal = open_deal(manager)
    services.move_deal(deal.pk, to_stage="intent", actor=manager)
    intent = stage(pipeline, "intent")

    def change(data: dict[str, Any]) -> None:
        data["name"] = "Поставки оборудования"
        data["handoff_hours"] = 8
        by_code = {s["code"]: s for s in data["stages"]}
        by_code["intent"]["name"] = "Готов заказать"
        by_code["specification"]["brief_required"] = ["needs", "budget"]
        # The estimate now comes before the specification.
        order = ["prospect", "intent", "estimate", "specification", "contract", "act"]
        data["stages"] = [by_code[c] for c in order] + [by_code["completed"], by_code["lost"]]

    services.update_pipeline(pipeline.pk, _edited(pipeline, change), actor=head)

    deal.refresh_from_db()
    assert deal.stage_id == intent.pk  # the same stage row, renamed
    assert deal.stage.name == "Готов заказать"
    pipeline.refresh_from_db()
    assert (pipeline.name, pipeline.handoff_hours) == ("Поставки оборудования", 8)
    codes = list(
        Stage.objects.filter(pipeline=pipeline).order_by("position").values_list("code", flat=True)
    )
    assert codes[:4] == ["prospect", "intent", "estimate", "specification"]
    assert stage(pipeline, "specification").brief_required == ["needs", "budget"]
    event = AuditEvent.objects.get(verb="pipeline.updated")
    assert event.actor_id == head.pk
    assert event.data["before"]["name"] == "Продажи"
    assert event.data["after"]["name"] == "Поставки оборудования"


def test_a_new_allowed_move_works_and_a_removed_one_is_refused(
    head, manager, pipeline, frozen_clock
):
    first = open_deal(manager)
    second = open_deal(manager, title="Вторая сделка")

    def change(data: dict[str, Any]) -> None:
        # A qualification stage between the prospect and the intent, worked by hunters.
        data["stages"].insert(
            1, {"code": "qualification", "name": "Квалификация", "roles": ["hunter"]}
        )
        data["transitions"] = [t for t in data["transitions"] if t != ["prospect", "intent"]] + [
            ["prospect", "qualification"],
            ["qualification", "intent"],
        ]

    services.update_pipeline(pipeline.pk, _edited(pipeline, change), actor=head)

    services.move_deal(first.pk, to_stage="qualification", actor=manager)
    services.move_deal(first.pk, to_stage="intent", actor=manager)
    first.refresh_from_db()
    assert first.stage.code == "intent"
    with pytest.raises(Conflict) as refused:
        services.move_deal(second.pk, to_stage="intent", actor=manager)
    assert refused.value.code == "move_not_allowed"
    assert refused.value.details["allowed"] == ["qualification", "lost"]
    second.refresh_from_db()
    assert second.stage.code == "prospect"


def test_removing_a_stage_with_deals_is_refused_and_nothing_changes(
    head, manager, pipeline, frozen_clock
):
    deal = open_deal(manager)
    services.move_deal(deal.pk, to_stage="intent", actor=manager)
    before = _snapshot(pipeline)

    def change(data: dict[str, Any]) -> None:
        data["name"] = "Другое имя"
        data["stages"] = [s for s in data["stages"] if s["code"] != "intent"]
        data["transitions"] = [t for t in data["transitions"] if "intent" not in t] + [
            ["prospect", "specification"]
        ]

    with pytest.raises(Conflict) as refused:
        services.update_pipeline(pipeline.pk, _edited(pipeline, change), actor=head)

    assert refused.value.code == "stage_has_deals"
    assert refused.value.details == {"stage": "intent", "count": 1}
    assert "Намерение заказать" in refused.value.message
    assert _snapshot(pipeline) == before
    assert not AuditEvent.objects.filter(verb="pipeline.updated").exists()


def test_a_stage_without_deals_is_removed_and_a_kind_change_under_deals_is_refused(
    head, manager, pipeline, frozen_clock
):
    deal = open_deal(manager)

    def drop_estimate(data: dict[str, Any]) -> None:
        data["stages"] = [s for s in data["stages"] if s["code"] != "estimate"]
        data["transitions"] = [t for t in data["transitions"] if "estimate" not in t] + [
            ["specification", "contract"]
        ]

    services.update_pipeline(pipeline.pk, _edited(pipeline, drop_estimate), actor=head)
    assert not Stage.objects.filter(pipeline=pipeline, code="estimate").exists()
    deal.refresh_from_db()
    assert deal.stage.code == "prospect"

    before = _snapshot(pipeline)

    def close_prospects(data: dict[str, Any]) -> None:
        data["stages"][0]["kind"] = "lost"
        data["stages"].insert(0, {"code": "lead", "name": "Лид"})

    with pytest.raises(Conflict) as refused:
        services.update_pipeline(pipeline.pk, _edited(pipeline, close_prospects), actor=head)
    assert refused.value.code == "stage_kind_has_deals"
    assert _snapshot(pipeline) == before


def test_a_non_head_is_refused_by_the_service_the_page_and_the_api(
    head, manager, pipeline, frozen_clock
):
    open_deal(manager)
    before = _snapshot(pipeline)
    document = _edited(pipeline, lambda data: data.update(name="Чужая правка"))

    with pytest.raises(Forbidden):
        services.update_pipeline(pipeline.pk, document, actor=manager)
    with pytest.raises(Forbidden):
        services.set_default_pipeline(pipeline.pk, actor=manager)

    http = browser(manager)
    assert http.get(reverse("sales:pipeline_list")).status_code == 404
    assert http.get(reverse("sales:pipeline_edit", args=[pipeline.pk])).status_code == 404
    posted = http.post(
        reverse("sales:pipeline_edit", args=[pipeline.pk]), _form(pipeline, name="Чужая правка")
    )
    assert posted.status_code == 404

    api = Api(issue_api_token(manager, name="tests")[1], language="en")
    answer = api.call(
        "put", f"/api/pipelines/{pipeline.pk}", {"document": document.model_dump(mode="json")}
    )
    assert answer.status_code == 403 and answer.data["code"] == "not_head_of_sales"

    assert _snapshot(pipeline) == before
    assert not AuditEvent.objects.filter(verb__startswith="pipeline.updated").exists()


def test_the_head_edits_a_pipeline_through_the_api(head, manager, pipeline, frozen_clock):
    deal = open_deal(manager)
    api = Api(issue_api_token(head, name="tests")[1], language="en")
    document = _edited(pipeline, lambda data: data["stages"][0].update(name="Лид"))

    answer = api.call(
        "put", f"/api/pipelines/{pipeline.pk}", {"document": document.model_dump(mode="json")}
    )

    assert answer.status_code == 200, answer.data
    assert answer.data["stages"][0]["name"] == "Лид"
    assert answer.data["stages"][0]["id"] == deal.stage_id
    bad = document.model_dump(mode="json")
    bad["transitions"].append(["prospect", "nowhere"])
    refused = api.call("put", f"/api/pipelines/{pipeline.pk}", {"document": bad})
    assert refused.status_code == 422
    assert stage(pipeline, "prospect").name == "Лид"


def test_the_default_moves_to_another_pipeline_and_only_a_spare_one_is_archived(
    head, manager, pipeline, frozen_clock
):
    copy = services.create_pipeline(
        pipeline.team_id,
        _edited(pipeline, lambda data: data.update(name="Тендеры")),
        actor=head,
    )
    with pytest.raises(Conflict) as refused:
        services.archive_pipeline(pipeline.pk, actor=head)
    assert refused.value.code == "pipeline_is_default"

    services.set_default_pipeline(copy.pk, actor=head)
    pipeline.refresh_from_db()
    copy.refresh_from_db()
    assert copy.is_default and not pipeline.is_default

    open_deal(manager, pipeline_id=pipeline.pk)
    with pytest.raises(Conflict) as busy:
        services.archive_pipeline(pipeline.pk, actor=head)
    assert busy.value.code == "pipeline_has_open_deals"
    services.set_default_pipeline(pipeline.pk, actor=head)
    services.archive_pipeline(copy.pk, actor=head)
    assert [p.pk for p in selectors.pipelines_for(head)] == [pipeline.pk]


# --- the pages ----------------------------------------------------------------------------------


def _form(pipeline: Pipeline, **head_fields: Any) -> dict[str, Any]:
    """The editor's form as the page sends it for the pipeline as it stands (plus a blank row)."""
    doc = selectors.pipeline_document_of(pipeline)
    data: dict[str, Any] = {
        "name": doc.name,
        "handoff_hours": str(doc.handoff_hours),
        "stage_count": str(len(doc.stages) + 1),
        "moves": [f"{a}>{b}" for a, b in doc.transitions],
    }
    for i, s in enumerate(doc.stages):
        data[f"s{i}-code"] = s.code
        data[f"s{i}-name"] = s.name
        data[f"s{i}-kind"] = s.kind
        data[f"s{i}-position"] = str((i + 1) * 10)
        data[f"s{i}-roles"] = list(s.roles)
        data[f"s{i}-brief"] = list(s.brief_required)
    n = len(doc.stages)
    data.update({f"s{n}-new": "1", f"s{n}-code": "", f"s{n}-name": "", f"s{n}-kind": "open"})
    data.update(head_fields)
    return data


def test_the_editor_renders_in_russian_and_saves_a_new_stage_and_move(
    head, manager, pipeline, frozen_clock
):
    deal = open_deal(manager)
    http = browser(head)
    listing = http.get(reverse("sales:pipeline_list")).content.decode()
    assert "Воронки" in listing and "Продажи" in listing and "по умолчанию" in listing
    page = http.get(reverse("sales:pipeline_edit", args=[pipeline.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Разрешённые переходы" in html and "Намерение заказать" in html
    assert 'value="prospect&gt;intent" checked' in html
    assert "Менеджер заказа" in html
    assert 'name="s2-roles" value="order_manager" checked' in html  # the specification
    assert 'name="s2-brief" value="budget" checked' in html
    assert 'name="s0-brief" value="budget" checked' not in html

    form = _form(pipeline, name="Продажи оборудования")
    n = int(form["stage_count"]) - 1
    form.update({f"s{n}-name": "Квалификация", f"s{n}-position": "15", f"s{n}-roles": ["hunter"]})
    form["s0-name"] = "Лид"
    saved = http.post(reverse("sales:pipeline_edit", args=[pipeline.pk]), form)

    assert saved.status_code == 302
    pipeline.refresh_from_db()
    assert pipeline.name == "Продажи оборудования"
    codes = list(
        Stage.objects.filter(pipeline=pipeline).order_by("position").values_list("code", flat=True)
    )
    assert codes[:3] == ["prospect", "stage-1", "intent"]
    assert stage(pipeline, "stage-1").roles == ["hunter"]
    deal.refresh_from_db()
    assert deal.stage.name == "Лид"

    # Now allow the move into the new stage from the page's matrix.
    form = _form(pipeline)
    form["moves"] = [*form["moves"], "prospect>stage-1"]
    http.post(reverse("sales:pipeline_edit", args=[pipeline.pk]), form)
    services.move_deal(deal.pk, to_stage="stage-1", actor=manager)
    deal.refresh_from_db()
    assert deal.stage.code == "stage-1"


def test_the_editor_shows_a_mistake_in_place_keeps_the_typing_and_changes_nothing(
    head, manager, pipeline, frozen_clock
):
    deal = open_deal(manager)
    before = _snapshot(pipeline)
    http = browser(head)
    url = reverse("sales:pipeline_edit", args=[pipeline.pk])

    # No completed stage left.
    form = _form(pipeline, name="Новое имя воронки")
    won = next(k for k, v in form.items() if k.endswith("-kind") and v == "won")
    form[won] = "open"
    answer = http.post(url, form)
    html = answer.content.decode()
    assert answer.status_code == 422
    assert "Воронке нужен завершающий этап" in html
    assert 'value="Новое имя воронки"' in html

    # Removing the stage the deal is in: the service's refusal, in Russian.
    form = _form(pipeline, name="Новое имя воронки")
    form["s0-remove"] = "on"
    answer = http.post(url, form)
    html = answer.content.decode()
    assert answer.status_code == 409
    assert "На этапе «Потенциальная сделка» ещё есть сделки (1)" in html

    assert _snapshot(pipeline) == before
    deal.refresh_from_db()
    assert deal.stage.code == "prospect"


def test_the_head_adds_a_pipeline_from_the_standard_conveyor_or_as_a_copy(
    head, manager, pipeline, frozen_clock
):
    http = browser(head)
    url = reverse("sales:pipeline_list")
    created = http.post(url, {"name": "Тендеры", "source": "standard"})
    tenders = Pipeline.objects.get(name="Тендеры")
    assert created.status_code == 302
    assert created["Location"] == reverse("sales:pipeline_edit", args=[tenders.pk])
    assert not tenders.is_default
    assert _doc(tenders)["stages"] == _doc(pipeline)["stages"]

    taken = http.post(url, {"name": "Тендеры", "source": str(pipeline.pk)})
    assert "У отдела уже есть воронка с таким названием" in taken.content.decode()
    assert Pipeline.objects.count() == 2

    assert browser(manager).post(url, {"name": "Моя", "source": "standard"}).status_code == 404
    assert Pipeline.objects.count() == 2


def test_a_stage_in_a_deal_s_history_is_kept_and_nothing_changes(
    head, manager, pipeline, frozen_clock
):
    deal = open_deal(manager)
    services.move_deal(deal.pk, to_stage="intent", actor=manager)
    services.move_deal(deal.pk, to_stage="prospect", actor=manager)
    before = _snapshot(pipeline)

    def drop_intent(data: dict[str, Any]) -> None:
        data["stages"] = [s for s in data["stages"] if s["code"] != "intent"]
        data["transitions"] = [t for t in data["transitions"] if "intent" not in t] + [
            ["prospect", "specification"]
        ]

    with pytest.raises(Conflict) as refused:
        services.update_pipeline(pipeline.pk, _edited(pipeline, drop_intent), actor=head)
    assert refused.value.code == "stage_has_history"
    assert _snapshot(pipeline) == before
