"""How a tender ended: the lead manager records it once bids are closed (won by one of our
bidding clients, lost, cancelled), the owners are told, no bid goes out afterwards; anyone else
is refused and nothing changes; only the head of sales corrects a recorded result. The card and
the API show and take it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from otdel.audit.models import AuditEvent
from otdel.core.errors import Conflict, Forbidden, Invalid
from otdel.people.models import Notification
from otdel.sales import services, tender_selectors
from otdel.sales.models import Proposal, Tender, TenderParticipant
from otdel.sales.tenders import OutcomeIn
from tests.sales.conftest import open_deal
from tests.sales.test_tenders import bid, tender_in

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def tender(head, manager, other_manager, frozen_clock):
    """Clients of two owners bid; the head made the hunter (manager) the lead manager."""
    mine = open_deal(manager, title="Тендер: компрессоры")
    theirs = open_deal(other_manager, title="Тендер: второй клиент")
    t = services.create_tender(tender_in(participants=[mine.client_id]), actor=manager)
    services.add_participant(t.pk, theirs.client_id, actor=other_manager)
    services.assign_lead_manager(t.pk, manager.pk, actor=head)
    return t


def _ours(t: Tender, owner) -> TenderParticipant:
    return TenderParticipant.objects.get(tender=t, owner=owner)


def _after_deadline(frozen_clock) -> None:
    frozen_clock.advance(dt.timedelta(days=11))


def test_the_lead_manager_records_a_win_after_the_deadline_and_the_owners_are_told(
    tender, manager, other_manager, frozen_clock, django_capture_on_commit_callbacks
):
    ours = _ours(tender, manager)
    won = OutcomeIn(outcome="won", winner_id=ours.pk, winning_price=D("4750000.00"))
    with pytest.raises(Conflict) as early:  # bids are still accepted
        services.record_tender_outcome(tender.pk, won, actor=manager)
    assert early.value.code == "tender_not_closed"
    assert Tender.objects.get(pk=tender.pk).outcome == "open"
    _after_deadline(frozen_clock)
    with django_capture_on_commit_callbacks(execute=True):
        done = services.record_tender_outcome(tender.pk, won, actor=manager)
    assert (done.outcome, done.winner_id, done.winning_price) == ("won", ours.pk, D("4750000.00"))
    assert done.outcome_by_id == manager.pk and done.outcome_at is not None
    assert AuditEvent.objects.filter(verb="tender.outcome").count() == 1
    told = Notification.objects.filter(kind="tender_outcome")
    assert {n.recipient_id for n in told} == {other_manager.pk}  # not the lead himself
    assert "выигран" in told.get().text


def test_nobody_but_the_lead_or_the_head_records_it_and_a_refusal_changes_nothing(
    tender, other_manager, frozen_clock
):
    _after_deadline(frozen_clock)
    with pytest.raises(Forbidden):
        services.record_tender_outcome(tender.pk, OutcomeIn(outcome="lost"), actor=other_manager)
    t = Tender.objects.get(pk=tender.pk)
    assert t.outcome == "open" and t.outcome_at is None
    assert not AuditEvent.objects.filter(verb="tender.outcome").exists()


def test_a_winner_is_one_of_this_tenders_bidding_clients_and_only_for_a_win(
    tender, head, manager, frozen_clock
):
    _after_deadline(frozen_clock)
    other = services.create_tender(
        tender_in(registry_number="0373100056026000999", participants=[]), actor=head
    )
    stranger = open_deal(manager, title="Чужой тендер")
    services.add_participant(other.pk, stranger.client_id, actor=manager)
    foreign = TenderParticipant.objects.get(tender=other)
    for wrong in (
        OutcomeIn(outcome="won"),
        OutcomeIn(outcome="won", winner_id=foreign.pk),
        OutcomeIn(outcome="lost", winner_id=_ours(tender, manager).pk),
    ):
        with pytest.raises(Invalid) as err:
            services.record_tender_outcome(tender.pk, wrong, actor=manager)
        assert err.value.code == "invalid_winner"
    assert Tender.objects.get(pk=tender.pk).outcome == "open"


def test_only_the_head_corrects_a_recorded_result(tender, head, manager, frozen_clock):
    _after_deadline(frozen_clock)
    services.record_tender_outcome(
        tender.pk, OutcomeIn(outcome="lost", winning_price=D("3900000")), actor=manager
    )
    with pytest.raises(Forbidden):
        services.record_tender_outcome(tender.pk, OutcomeIn(outcome="cancelled"), actor=manager)
    assert Tender.objects.get(pk=tender.pk).outcome == "lost"
    reopened = services.record_tender_outcome(tender.pk, OutcomeIn(outcome="open"), actor=head)
    assert (reopened.outcome, reopened.winning_price, reopened.outcome_at) == ("open", None, None)


def test_a_cancelled_tender_takes_no_more_bids(tender, head, manager):
    from tests.sales.money_helpers import product

    kmp = product(head, cost="600")
    deal = open_deal(manager, client=_ours(tender, manager).client)
    draft = bid(deal.pk, manager, tender, "900", pid=kmp.pk)
    services.record_tender_outcome(
        tender.pk, OutcomeIn(outcome="cancelled", note="заказчик отменил"), actor=manager
    )
    with pytest.raises(Conflict) as err:
        services.send_proposal(draft.pk, actor=manager)
    assert err.value.code == "tender_decided"
    assert Proposal.objects.get(pk=draft.pk).status == "draft"


def test_undecided_tenders_stay_on_the_list_after_the_deadline(tender, head, manager, frozen_clock):
    _after_deadline(frozen_clock)
    assert [t.pk for t in tender_selectors.tender_list(head)] == [tender.pk]
    services.record_tender_outcome(tender.pk, OutcomeIn(outcome="lost"), actor=manager)
    assert list(tender_selectors.tender_list(head)) == []
    assert [t.pk for t in tender_selectors.tender_list(head, include_closed=True)] == [tender.pk]


def test_the_card_and_the_api_record_and_show_the_result(
    tender, manager, other_manager, frozen_clock
):
    _after_deadline(frozen_clock)
    ours = _ours(tender, manager)
    http = HttpClient()
    http.force_login(other_manager)
    card = http.get(reverse("sales:tender_detail", args=[tender.pk])).content.decode()
    assert 'data-testid="tender-outcome"' in card and "итог не внесён" in card
    assert 'data-testid="outcome-form"' not in card
    http.force_login(manager)
    card = http.get(reverse("sales:tender_detail", args=[tender.pk])).content.decode()
    assert 'data-testid="outcome-form"' in card and "Внести итог" in card
    bad = http.post(
        reverse("sales:tender_outcome", args=[tender.pk]), {"outcome": "won", "winner": ""}
    )
    assert bad.status_code == 302 and Tender.objects.get(pk=tender.pk).outcome == "open"
    http.post(
        reverse("sales:tender_outcome", args=[tender.pk]),
        {"outcome": "won", "winner": str(ours.pk), "winning_price": "4 750 000,00"},
    )
    card = http.get(reverse("sales:tender_detail", args=[tender.pk])).content.decode()
    assert "выигран" in card and ours.client.name in card
    data = http.get(f"/api/tenders/{tender.pk}").json()
    assert data["outcome"] == "won" and data["winner_client_id"] == ours.client_id
    assert D(data["winning_price"]) == D("4750000.00")
    http.force_login(other_manager)
    refused = http.post(
        f"/api/tenders/{tender.pk}/outcome", {"outcome": "lost"}, content_type="application/json"
    )
    assert refused.status_code == 403 and Tender.objects.get(pk=tender.pk).outcome == "won"
