"""Who may do what with deals: open, see, move, accept, change the source. Every refusal leaves
the deal, its handoffs, its timeline and the audit trail exactly as they were."""

from __future__ import annotations

import pytest

from otdel.audit.models import AuditEvent
from otdel.core.errors import Conflict, Forbidden, NotFound
from otdel.people.models import Role
from otdel.sales import policies, selectors, services
from otdel.sales.models import Deal, DealEvent, Handoff
from otdel.sales.schemas import DealIn
from tests.factories import make_client, make_head, make_team, make_user
from tests.sales.conftest import FULL_BRIEF, hand_to_order_manager, open_deal

pytestmark = pytest.mark.django_db


def _snapshot() -> tuple:
    return (
        list(Deal.objects.order_by("pk").values_list("stage_id", "responsible_id", "source")),
        list(Handoff.objects.order_by("pk").values_list("status", "offered_to_id")),
        DealEvent.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def outsider(db):
    """A hunter of another team."""
    return make_user(Role.HUNTER, team=make_team("Другой отдел"))


def test_the_move_matrix(
    head, manager, other_manager, order_manager, outsider, pipeline, frozen_clock
):
    deal = open_deal(manager)
    before = _snapshot()
    with pytest.raises(Forbidden) as colleague:
        services.move_deal(deal.pk, to_stage="intent", actor=other_manager)
    assert colleague.value.code == "not_responsible"
    with pytest.raises(Forbidden):
        services.move_deal(deal.pk, to_stage="intent", actor=order_manager)
    with pytest.raises(NotFound):  # another team's deal does not exist for him
        services.move_deal(deal.pk, to_stage="intent", actor=outsider)
    assert _snapshot() == before
    # The responsible person and the head of sales move it.
    services.move_deal(deal.pk, to_stage="intent", actor=manager)
    services.move_deal(deal.pk, to_stage="prospect", actor=head)
    assert Deal.objects.get().stage.code == "prospect"
    # A director of the whole department may too; another team's head may not.
    director = make_user(Role.DIRECTOR)
    services.move_deal(deal.pk, to_stage="intent", actor=director)
    other_head = make_head(make_team("Отдел Б"))
    with pytest.raises(NotFound):
        services.move_deal(deal.pk, to_stage="prospect", actor=other_head)


def test_the_handoff_matrix(
    head, manager, order_manager, second_order_manager, outsider, pipeline, frozen_clock
):
    hand_to_order_manager(open_deal(manager), manager, order_manager)
    handoff = Handoff.objects.get()
    before = _snapshot()
    for person in (manager, head, second_order_manager):
        assert not policies.can_accept_handoff(person, handoff)
        with pytest.raises(Forbidden):
            services.accept_handoff(handoff.pk, actor=person)
    with pytest.raises(NotFound):
        services.accept_handoff(handoff.pk, actor=outsider)
    with pytest.raises(Forbidden):
        services.redirect_handoff(handoff.pk, actor=order_manager, offer_role="order_manager")
    assert _snapshot() == before
    assert policies.can_accept_handoff(order_manager, handoff)
    assert policies.can_redirect_handoff(manager, handoff) and policies.can_redirect_handoff(
        head, handoff
    )


def test_a_queue_offer_is_for_the_role_in_the_deal_s_team_only(
    manager, order_manager, pipeline, frozen_clock
):
    stranger_om = make_user(Role.ORDER_MANAGER, team=make_team("Отдел В"))
    deal = open_deal(manager)
    services.move_deal(deal.pk, to_stage="intent", actor=manager)
    services.move_deal(deal.pk, to_stage="specification", actor=manager, brief=FULL_BRIEF)
    handoff = Handoff.objects.get()
    assert policies.can_accept_handoff(order_manager, handoff)
    assert not policies.can_accept_handoff(stranger_om, handoff)
    with pytest.raises(NotFound):
        services.accept_handoff(handoff.pk, actor=stranger_om)
    assert Handoff.objects.get().status == "pending"


def test_opening_deals(head, manager, other_manager, outsider, pipeline, frozen_clock):
    mine = make_client(head, owner=manager)
    pool = make_client(head)
    with pytest.raises(Forbidden) as not_owner:
        services.create_deal(DealIn(client_id=mine.pk, title="x"), actor=other_manager)
    assert not_owner.value.code == "not_owner"
    with pytest.raises(Conflict) as in_pool:
        services.create_deal(DealIn(client_id=pool.pk, title="x"), actor=manager)
    assert in_pool.value.code == "client_in_pool"
    with pytest.raises(Forbidden) as for_someone:
        services.create_deal(
            DealIn(client_id=mine.pk, title="x", responsible_id=other_manager.pk), actor=manager
        )
    assert for_someone.value.code == "not_head_of_sales"
    assert not Deal.objects.exists() and not DealEvent.objects.exists()
    # The head opens a deal on an owned client: for its owner by default.
    deal = services.create_deal(DealIn(client_id=mine.pk, title="Поставка"), actor=head)
    assert deal.responsible == manager and deal.created_by == head


def test_everyone_in_the_team_sees_deals_and_nobody_else(
    head, manager, other_manager, order_manager, outsider, pipeline, frozen_clock
):
    deal = open_deal(manager)
    for person in (manager, other_manager, order_manager, head):
        assert selectors.deal_for(person, deal.pk) == deal
        assert list(selectors.deal_list(person)) == [deal]
    with pytest.raises(NotFound):
        selectors.deal_for(outsider, deal.pk)
    assert not selectors.deal_list(outsider).exists()
    assert not selectors.pipelines_for(outsider, deal.team_id).exists()


def test_only_the_head_changes_the_source(head, manager, other_manager, pipeline, frozen_clock):
    deal = open_deal(manager)
    before = _snapshot()
    for person in (manager, other_manager):
        assert not policies.can_change_source(person, deal)
        with pytest.raises(Forbidden):
            services.change_source(deal.pk, source="pool", actor=person, reason="x")
    assert _snapshot() == before
    assert policies.can_change_source(head, deal)
