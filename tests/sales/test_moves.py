"""Stage moves: the pipeline's allowed moves are checked in one place, a refusal says where the
deal may go and changes nothing; same-role moves are not handoffs; races end in a conflict."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from otdel.audit.models import AuditEvent
from otdel.core.errors import Conflict, Invalid
from otdel.people.models import Role
from otdel.sales import selectors, services
from otdel.sales.models import Deal, DealEvent, DealEventKind, Handoff, Pipeline, Stage
from otdel.sales.pipeline_document import DEFAULT_PIPELINE, PipelineDocument
from tests.factories import make_client, make_team, make_user
from tests.sales.conftest import FULL_BRIEF, open_deal, stage

pytestmark = pytest.mark.django_db


def test_a_disallowed_move_is_refused_with_the_allowed_ones_and_changes_nothing(
    manager, pipeline, frozen_clock
):
    deal = open_deal(manager)
    audit_before = AuditEvent.objects.count()
    with pytest.raises(Conflict) as refused:
        services.move_deal(deal.pk, to_stage="contract", actor=manager)
    assert refused.value.code == "move_not_allowed"
    assert refused.value.details["allowed"] == ["intent", "lost"]
    assert "«Намерение заказать»" in refused.value.message
    deal.refresh_from_db()
    assert deal.stage == stage(pipeline, "prospect")
    assert list(DealEvent.objects.filter(deal=deal).values_list("kind", flat=True)) == ["created"]
    assert AuditEvent.objects.count() == audit_before
    assert not Handoff.objects.exists()


def test_a_move_within_the_role_is_not_a_handoff(manager, pipeline, frozen_clock):
    deal = open_deal(manager)
    moved = services.move_deal(deal.pk, to_stage="intent", actor=manager, comment="Есть интерес")
    assert moved.stage.code == "intent"
    assert not Handoff.objects.exists()
    event = DealEvent.objects.get(kind=DealEventKind.MOVED)
    assert (event.from_stage.code, event.to_stage.code) == ("prospect", "intent")
    assert event.actor == manager and event.data["comment"] == "Есть интерес"
    assert selectors.move_kind(manager, stage(pipeline, "specification")) == "handoff"
    assert selectors.move_kind(manager, stage(pipeline, "intent")) == "move"


def test_a_person_of_the_stage_role_moves_in_without_a_handoff(head, team, pipeline, frozen_clock):
    # An order manager who owns the client works the order stages himself.
    om = make_user(Role.ORDER_MANAGER, team=team)
    deal = open_deal(om)
    deal.stage = stage(pipeline, "intent")
    Deal.objects.filter(pk=deal.pk).update(stage=deal.stage)
    services.move_deal(deal.pk, to_stage="specification", actor=om)
    assert not Handoff.objects.exists()
    deal.refresh_from_db()
    assert deal.stage.code == "specification" and deal.responsible == om


def test_a_stale_screen_gets_a_conflict_not_a_second_move(manager, pipeline, frozen_clock):
    deal = open_deal(manager)
    seen = deal.stage_id
    services.move_deal(deal.pk, to_stage="intent", actor=manager, expected_stage=seen)
    with pytest.raises(Conflict) as stale:
        services.move_deal(
            deal.pk, to_stage="lost", actor=manager, comment="x", expected_stage=seen
        )
    assert stale.value.code == "stage_changed"
    deal.refresh_from_db()
    assert deal.stage.code == "intent" and deal.closed_at is None


def test_moves_are_checked_within_the_deal_s_own_pipeline(manager, team, pipeline, frozen_clock):
    other_team_pipeline = services.ensure_default_pipeline(make_team().pk)
    deal = open_deal(manager)
    foreign = stage(other_team_pipeline, "intent")
    with pytest.raises(Invalid) as refused:
        services.move_deal(deal.pk, to_stage=foreign.pk, actor=manager)
    assert refused.value.code == "invalid_stage"
    with pytest.raises(Invalid):
        services.move_deal(deal.pk, to_stage="prospect", actor=manager)  # the same stage
    deal.refresh_from_db()
    assert deal.stage.code == "prospect"


def test_a_handoff_needs_a_receiver_who_works_the_stage(
    manager, other_manager, order_manager, pipeline, frozen_clock
):
    deal = open_deal(manager)
    services.move_deal(deal.pk, to_stage="intent", actor=manager)
    with pytest.raises(Invalid) as wrong:
        services.move_deal(
            deal.pk,
            to_stage="specification",
            actor=manager,
            brief=FULL_BRIEF,
            offer_to=other_manager.pk,
        )
    assert wrong.value.code == "invalid_receiver"
    with pytest.raises(Invalid) as role:
        services.move_deal(
            deal.pk, to_stage="specification", actor=manager, brief=FULL_BRIEF, offer_role="hunter"
        )
    assert role.value.code == "invalid_role"
    deal.refresh_from_db()
    assert deal.stage.code == "intent" and not Handoff.objects.exists()


def test_nobody_in_the_queue_is_refused(manager, pipeline, frozen_clock):
    deal = open_deal(manager)
    services.move_deal(deal.pk, to_stage="intent", actor=manager)
    with pytest.raises(Invalid) as empty:
        services.move_deal(deal.pk, to_stage="specification", actor=manager, brief=FULL_BRIEF)
    assert empty.value.code == "empty_queue"
    assert not Handoff.objects.exists()


def test_the_default_pipeline_is_created_once_per_team(team, frozen_clock):
    first = services.ensure_default_pipeline(team.pk)
    again = services.ensure_default_pipeline(team.pk)
    assert first == again
    assert Pipeline.objects.filter(team=team).count() == 1
    codes = list(Stage.objects.filter(pipeline=first).values_list("code", flat=True))
    assert codes == [s.code for s in DEFAULT_PIPELINE.stages]
    assert stage(first, "specification").roles == ["order_manager"]
    assert "budget" in stage(first, "specification").brief_required


def test_a_pipeline_document_is_validated_and_only_the_head_creates_one(
    head, manager, team, frozen_clock
):
    with pytest.raises(ValidationError):
        PipelineDocument(
            name="x",
            stages=[{"code": "a", "name": "A"}, {"code": "b", "name": "B", "kind": "won"}],
            transitions=[("a", "zzz")],
        )
    with pytest.raises(ValidationError):
        PipelineDocument(
            name="x",
            stages=[{"code": "a", "name": "A", "roles": ["pilot"]}, {"code": "b", "name": "B"}],
            transitions=[("a", "b")],
        )
    doc = PipelineDocument(
        name="Сервис",
        stages=[
            {"code": "request", "name": "Заявка", "roles": ["account_manager"]},
            {"code": "done", "name": "Выполнено", "kind": "won", "roles": ["account_manager"]},
        ],
        transitions=[("request", "done")],
    )
    from otdel.core.errors import Forbidden

    with pytest.raises(Forbidden):
        services.create_pipeline(team.pk, doc, actor=manager)
    assert not Pipeline.objects.exists()
    created = services.create_pipeline(team.pk, doc, actor=head)
    assert created.is_default  # the team's first
    second = services.create_pipeline(
        team.pk, doc.model_copy(update={"name": "Тендеры"}), actor=head, make_default=True
    )
    created.refresh_from_db()
    assert second.is_default and not created.is_default
    with pytest.raises(Conflict):
        services.create_pipeline(team.pk, doc, actor=head)  # the same name again


def test_opening_a_deal_on_a_client_of_another_pipeline_team_is_refused(
    manager, head, pipeline, frozen_clock
):
    other = services.ensure_default_pipeline(make_team().pk)
    client = make_client(manager, owner=manager)
    from otdel.sales.schemas import DealIn

    with pytest.raises(Invalid) as refused:
        services.create_deal(
            DealIn(client_id=client.pk, title="x", pipeline_id=other.pk), actor=manager
        )
    assert refused.value.code == "invalid_pipeline"
    assert not Deal.objects.exists()
