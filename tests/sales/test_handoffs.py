"""Handoffs between roles: the brief, the receiver, acceptance or return, the deadline that
escalates to the head of sales, and the completed deal going back to its account manager."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.audit.models import AuditEvent
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid
from otdel.people.models import Notification
from otdel.sales import selectors, services
from otdel.sales.models import Deal, DealEvent, DealEventKind, Handoff, HandoffStatus
from tests.factories import make_client
from tests.sales.conftest import FULL_BRIEF, hand_to_order_manager, open_deal, stage

pytestmark = pytest.mark.django_db


def _kinds(deal: Deal) -> list[str]:
    return list(
        DealEvent.objects.filter(deal=deal).order_by("at", "id").values_list("kind", flat=True)
    )


def test_deal_cannot_enter_order_manager_stage_without_the_brief(
    manager, order_manager, pipeline, frozen_clock
):
    deal = open_deal(manager)
    services.move_deal(deal.pk, to_stage="intent", actor=manager)
    audit_before = AuditEvent.objects.count()
    brief = {k: v for k, v in FULL_BRIEF.items() if k not in ("budget", "next_step")}
    with pytest.raises(Invalid) as refused:
        services.move_deal(
            deal.pk, to_stage="specification", actor=manager, brief=brief, offer_to=order_manager.pk
        )
    assert refused.value.code == "brief_required"
    assert refused.value.details["missing"] == ["budget", "next_step"]
    # Nothing moved, nothing was offered, nothing was written.
    deal.refresh_from_db()
    assert deal.stage == stage(pipeline, "intent")
    assert deal.responsible == manager
    assert not Handoff.objects.exists()
    assert _kinds(deal) == ["created", "moved"]
    assert AuditEvent.objects.count() == audit_before


def test_a_handoff_leaves_the_sender_responsible_until_the_receiver_accepts(
    manager, order_manager, pipeline, frozen_clock, django_capture_on_commit_callbacks
):
    deal = open_deal(manager)
    with django_capture_on_commit_callbacks(execute=True):
        hand_to_order_manager(deal, manager, order_manager)
    deal.refresh_from_db()
    handoff = Handoff.objects.get()
    assert deal.stage == stage(pipeline, "specification")
    assert deal.responsible == manager  # the sender keeps it until acceptance
    assert handoff.status == HandoffStatus.PENDING
    assert handoff.brief == FULL_BRIEF
    # Wednesday 10:00 + 4 working hours.
    assert handoff.deadline == dt.datetime(2026, 11, 18, 14, 0, tzinfo=clock.MOSCOW)
    offered = Notification.objects.get(kind="handoff_offered")
    assert offered.recipient == order_manager
    assert "18.11.2026 14:00" in offered.text

    with django_capture_on_commit_callbacks(execute=True):
        services.accept_handoff(handoff.pk, actor=order_manager)
    deal.refresh_from_db()
    handoff.refresh_from_db()
    assert deal.responsible == order_manager
    assert deal.stage == stage(pipeline, "specification")
    assert handoff.status == HandoffStatus.ACCEPTED and handoff.answered_by == order_manager
    assert Notification.objects.filter(kind="handoff_accepted", recipient=manager).exists()
    assert _kinds(deal) == ["created", "moved", "handoff_offered", "handoff_accepted"]
    # Who held the specification stage: the hunter until acceptance, then the order manager.
    tenures = selectors.stage_tenures(selectors.timeline(deal))
    assert [(t.stage_code, t.holder_id, t.role) for t in tenures] == [
        ("prospect", manager.pk, "hunter"),
        ("intent", manager.pk, "hunter"),
        ("specification", manager.pk, "hunter"),
        ("specification", order_manager.pk, "order_manager"),
    ]
    assert tenures[-1].ended_at is None


def test_only_the_person_offered_accepts_or_returns_and_a_refusal_changes_nothing(
    manager, order_manager, second_order_manager, other_manager, head, pipeline, frozen_clock
):
    deal = hand_to_order_manager(open_deal(manager), manager, order_manager)
    handoff = Handoff.objects.get()
    for intruder in (second_order_manager, manager, other_manager, head):
        with pytest.raises(Forbidden) as refused:
            services.accept_handoff(handoff.pk, actor=intruder)
        assert refused.value.code == "not_receiver"
        with pytest.raises(Forbidden):
            services.return_handoff(handoff.pk, actor=intruder, reason="не моё")
    handoff.refresh_from_db()
    deal.refresh_from_db()
    assert handoff.status == HandoffStatus.PENDING and handoff.answered_by is None
    assert deal.responsible == manager
    assert deal.stage == stage(pipeline, "specification")


def test_anyone_of_the_role_takes_a_queue_offer_and_only_once(
    manager,
    order_manager,
    second_order_manager,
    pipeline,
    frozen_clock,
    django_capture_on_commit_callbacks,
):
    deal = open_deal(manager)
    with django_capture_on_commit_callbacks(execute=True):
        hand_to_order_manager(deal, manager)  # no person: the order managers' queue
    handoff = Handoff.objects.get()
    assert handoff.offered_to is None and handoff.offered_role == "order_manager"
    told = set(
        Notification.objects.filter(kind="handoff_offered").values_list("recipient", flat=True)
    )
    assert told == {order_manager.pk, second_order_manager.pk}
    assert list(selectors.handoff_inbox(second_order_manager)) == [handoff]
    assert not selectors.handoff_inbox(manager).exists()

    services.accept_handoff(handoff.pk, actor=second_order_manager)
    with pytest.raises(Conflict) as late:
        services.accept_handoff(handoff.pk, actor=order_manager)
    assert late.value.code == "handoff_answered"
    deal.refresh_from_db()
    assert deal.responsible == second_order_manager
    assert not selectors.handoff_inbox(order_manager).exists()


def test_the_receiver_returns_the_deal_with_a_reason_and_it_goes_back(
    manager, order_manager, pipeline, frozen_clock, django_capture_on_commit_callbacks
):
    deal = hand_to_order_manager(open_deal(manager), manager, order_manager)
    handoff = Handoff.objects.get()
    with pytest.raises(Invalid) as no_reason:
        services.return_handoff(handoff.pk, actor=order_manager, reason="  ")
    assert no_reason.value.code == "reason_required"
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.PENDING

    with django_capture_on_commit_callbacks(execute=True):
        services.return_handoff(handoff.pk, actor=order_manager, reason="Нет контакта ЛПР")
    deal.refresh_from_db()
    handoff.refresh_from_db()
    assert deal.stage == stage(pipeline, "intent")
    assert deal.responsible == manager
    assert handoff.status == HandoffStatus.RETURNED
    assert handoff.return_reason == "Нет контакта ЛПР"
    returned = DealEvent.objects.get(kind=DealEventKind.HANDOFF_RETURNED)
    assert returned.data["reason"] == "Нет контакта ЛПР"
    assert returned.to_stage == stage(pipeline, "intent")
    note = Notification.objects.get(kind="handoff_returned")
    assert note.recipient == manager and "Нет контакта ЛПР" in note.text
    # The order manager never held the deal.
    holders = {t.holder_id for t in selectors.stage_tenures(selectors.timeline(deal))}
    assert holders == {manager.pk}
    # The hunter may hand it over again.
    services.move_deal(
        deal.pk,
        to_stage="specification",
        actor=manager,
        brief=FULL_BRIEF,
        offer_to=order_manager.pk,
    )
    assert Handoff.objects.filter(status=HandoffStatus.PENDING).count() == 1


def test_a_deal_awaiting_acceptance_moves_nowhere(
    manager, order_manager, head, pipeline, frozen_clock
):
    deal = hand_to_order_manager(open_deal(manager), manager, order_manager)
    for actor in (manager, head):
        with pytest.raises(Conflict) as refused:
            services.move_deal(deal.pk, to_stage="lost", actor=actor, comment="передумали")
        assert refused.value.code == "handoff_pending"
    deal.refresh_from_db()
    assert deal.stage == stage(pipeline, "specification") and deal.closed_at is None


def test_an_unanswered_handoff_escalates_to_the_head_once_after_a_weekend(
    manager, order_manager, head, pipeline, frozen_clock
):
    # Friday 20 November 2026, 16:30: 4 working hours run out on Monday at 11:30.
    frozen_clock.freeze(dt.datetime(2026, 11, 20, 16, 30, tzinfo=clock.MOSCOW))
    deal = hand_to_order_manager(open_deal(manager), manager, order_manager)
    handoff = Handoff.objects.get()
    assert handoff.deadline == dt.datetime(2026, 11, 23, 11, 30, tzinfo=clock.MOSCOW)

    frozen_clock.freeze(dt.datetime(2026, 11, 23, 11, 29, tzinfo=clock.MOSCOW))
    assert services.escalate_overdue_handoffs() == {"escalated": 0}
    assert not Notification.objects.filter(kind="handoff_overdue").exists()

    frozen_clock.freeze(dt.datetime(2026, 11, 23, 11, 30, tzinfo=clock.MOSCOW))
    assert services.escalate_overdue_handoffs() == {"escalated": 1}
    assert services.escalate_overdue_handoffs() == {"escalated": 0}  # idempotent
    overdue = Notification.objects.get(kind="handoff_overdue")
    assert overdue.recipient == head
    assert deal.title in overdue.text
    assert DealEvent.objects.filter(kind=DealEventKind.HANDOFF_ESCALATED).count() == 1
    # Escalation decides nothing by itself: the deal still waits, the sender still holds it.
    deal.refresh_from_db()
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.PENDING and handoff.escalated_at is not None
    assert deal.responsible == manager
    assert list(selectors.handoffs_overdue(head)) == [handoff]
    assert not selectors.handoffs_overdue(manager).exists()


def test_the_deadline_skips_a_russian_holiday(manager, order_manager, pipeline, frozen_clock):
    # Tuesday 3 November 2026, 17:00; the 4th is a public holiday: due Thursday at 12:00.
    frozen_clock.freeze(dt.datetime(2026, 11, 3, 17, 0, tzinfo=clock.MOSCOW))
    hand_to_order_manager(open_deal(manager), manager, order_manager)
    handoff = Handoff.objects.get()
    assert handoff.deadline == dt.datetime(2026, 11, 5, 12, 0, tzinfo=clock.MOSCOW)
    frozen_clock.freeze(dt.datetime(2026, 11, 4, 18, 0, tzinfo=clock.MOSCOW))
    assert services.escalate_overdue_handoffs() == {"escalated": 0}


def test_the_head_offers_an_overdue_handoff_to_someone_else_with_a_new_deadline(
    manager, order_manager, second_order_manager, head, pipeline, frozen_clock
):
    hand_to_order_manager(open_deal(manager), manager, order_manager)
    handoff = Handoff.objects.get()
    frozen_clock.advance(dt.timedelta(hours=5))
    services.escalate_overdue_handoffs()
    with pytest.raises(Forbidden):
        services.redirect_handoff(handoff.pk, actor=order_manager, offer_to=second_order_manager.pk)
    services.redirect_handoff(handoff.pk, actor=head, offer_to=second_order_manager.pk)
    handoff.refresh_from_db()
    assert handoff.offered_to == second_order_manager
    assert handoff.escalated_at is None
    assert handoff.deadline == dt.datetime(2026, 11, 19, 10, 0, tzinfo=clock.MOSCOW)
    with pytest.raises(Forbidden):
        services.accept_handoff(handoff.pk, actor=order_manager)
    services.accept_handoff(handoff.pk, actor=second_order_manager)


def test_completion_returns_the_deal_to_the_account_manager_with_a_summary(
    head,
    manager,
    other_manager,
    order_manager,
    pipeline,
    frozen_clock,
    django_capture_on_commit_callbacks,
):
    # The account manager owns the client; the hunter opened the deal for it with the head.
    client = make_client(head, owner=other_manager)
    deal = open_deal(head, client=client, responsible_id=manager.pk, amount_estimate=1_500_000)
    hand_to_order_manager(deal, manager, order_manager)
    services.accept_handoff(Handoff.objects.get().pk, actor=order_manager)
    for code in ("estimate", "contract", "act"):
        services.move_deal(deal.pk, to_stage=code, actor=order_manager)
    with django_capture_on_commit_callbacks(execute=True):
        services.move_deal(deal.pk, to_stage="completed", actor=order_manager)
    deal.refresh_from_db()
    assert deal.stage == stage(pipeline, "completed")
    assert deal.closed_at == clock.now()
    assert deal.responsible == other_manager  # the client's account manager follows up
    back = DealEvent.objects.get(kind=DealEventKind.RETURNED_TO_OWNER)
    assert back.from_user == order_manager and back.to_user == other_manager
    assert back.data["summary"]["promises"] == FULL_BRIEF["promises"]
    note = Notification.objects.get(kind="deal_completed")
    assert note.recipient == other_manager
    assert FULL_BRIEF["next_step"] in note.text and "1 500 000,00 ₽" in note.text
    # Nobody else was told, and the completed deal moves no further.
    assert (
        not Notification.objects.filter(kind="deal_completed")
        .exclude(recipient=other_manager)
        .exists()
    )
    with pytest.raises(Conflict) as final:
        services.move_deal(deal.pk, to_stage="lost", actor=head, comment="ошибка")
    assert final.value.code == "move_not_allowed"
    # The credit facts: who created the client, who held which stage.
    facts = selectors.credit_facts(head, deal.pk)
    assert facts.client_created_by_id == head.pk
    held = [(t.stage_code, t.role) for t in facts.tenures]
    assert ("specification", "order_manager") in held and ("intent", "hunter") in held
    assert held[-1] == ("completed", "account_manager")


def test_a_lost_deal_needs_a_reason_and_tells_the_owner(
    head, manager, other_manager, pipeline, frozen_clock, django_capture_on_commit_callbacks
):
    client = make_client(head, owner=other_manager)
    deal = open_deal(head, client=client, responsible_id=manager.pk)
    with pytest.raises(Invalid) as no_reason:
        services.move_deal(deal.pk, to_stage="lost", actor=manager)
    assert no_reason.value.code == "reason_required"
    deal.refresh_from_db()
    assert deal.closed_at is None
    with django_capture_on_commit_callbacks(execute=True):
        services.move_deal(deal.pk, to_stage="lost", actor=manager, comment="Ушли к конкуренту")
    deal.refresh_from_db()
    assert deal.stage.kind == "lost" and deal.closed_at is not None
    assert deal.responsible == manager  # a lost deal is not handed to anybody
    assert Notification.objects.get(kind="deal_lost").recipient == other_manager
