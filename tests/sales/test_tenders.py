"""Tenders: clients of two owners in one tender raise a conflict and tell the head of sales; only
he assigns the lead manager (others are refused and nothing changes), which resolves the
conflict and tells the other owners; the lead manager's floor refuses a lower proposal by
another owner (nothing written) and lets one at the floor through."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from otdel.audit.models import AuditEvent
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
from otdel.people.models import Notification, Role
from otdel.sales import services
from otdel.sales.models import (
    Proposal,
    Tender,
    TenderConflict,
    TenderFloor,
    TenderParticipant,
)
from otdel.sales.proposals import ProposalIn
from otdel.sales.schemas import InvoiceLineIn
from otdel.sales.tenders import LotIn, TenderFloorIn, TenderIn, TenderPatch
from tests.factories import make_client, make_team, make_user, valid_inn
from tests.sales.conftest import open_deal
from tests.sales.money_helpers import product

pytestmark = pytest.mark.django_db

D = Decimal


def tender_in(**kw: Any) -> TenderIn:
    data: dict[str, Any] = {
        "registry_number": "0373100056026000123",
        "platform": "РТС-тендер",
        "customer_name": "ГБУ «Мосводоканал-сервис»",
        "customer_inn": valid_inn(77),
        "submission_deadline": clock.now() + dt.timedelta(days=10),
        "lots": [LotIn(name="Компрессоры", max_price=D("5000000")), LotIn(name="ЗИП")],
    }
    data.update(kw)
    return TenderIn(**data)


def bid(
    deal_id: int, actor: Any, tender: Tender, price: str, *, pid: int, lot: int = 1
) -> Proposal:
    """A proposal of one unit at `price` (VAT 22 %) for lot № `lot` of the tender."""
    return services.create_proposal(
        deal_id,
        ProposalIn(
            lines=[InvoiceLineIn(product_id=pid, quantity=D(1), unit_price=D(price))],
            tender_id=tender.pk,
            lot_id=tender.lots.get(number=lot).pk,
        ),
        actor=actor,
    )


@pytest.fixture
def setting(head, manager, other_manager, frozen_clock):
    """A tender two owners' clients bid in: the hunter's (registered it) and the account
    manager's; each has a deal on his client; a product with a cost of 600."""
    mine = open_deal(manager, title="Тендер: компрессоры")
    theirs = open_deal(other_manager, title="Тендер: компрессоры (наш второй клиент)")
    tender = services.create_tender(tender_in(participants=[mine.client_id]), actor=manager)
    return {
        "tender": tender,
        "mine": mine,
        "theirs": theirs,
        "kmp": product(head, cost="600"),
    }


def test_two_owners_clients_raise_a_conflict_and_the_head_is_told(
    setting, head, manager, other_manager, django_capture_on_commit_callbacks
):
    tender = setting["tender"]
    assert not TenderConflict.objects.exists()  # one owner: nothing to decide
    with django_capture_on_commit_callbacks(execute=True):
        services.add_participant(tender.pk, setting["theirs"].client_id, actor=other_manager)
    conflict = TenderConflict.objects.get(tender=tender)
    assert conflict.is_open and conflict.owners == sorted([manager.pk, other_manager.pk])
    told = Notification.objects.get(recipient=head, kind="tender_conflict")
    assert tender.registry_number in told.text and told.url == f"/tenders/{tender.pk}/"
    participant = TenderParticipant.objects.get(
        tender=tender, client_id=setting["theirs"].client_id
    )
    assert participant.owner == other_manager
    assert AuditEvent.objects.filter(verb="tender.conflict_raised", object_id=tender.pk).exists()


def test_one_owners_two_clients_raise_no_conflict(setting, manager):
    second = make_client(manager, owner=manager)
    services.add_participant(setting["tender"].pk, second.pk, actor=manager)
    assert not TenderConflict.objects.exists()


def test_only_the_head_assigns_the_lead_manager_and_others_change_nothing(
    setting, head, manager, other_manager, team, django_capture_on_commit_callbacks
):
    tender = setting["tender"]
    services.add_participant(tender.pk, setting["theirs"].client_id, actor=other_manager)
    audits = AuditEvent.objects.count()
    for someone in (
        manager,
        other_manager,
        make_user(Role.ORDER_MANAGER, team=team),
        make_user(Role.HEAD_OF_SALES, team=make_team()),  # another team's head
    ):
        with pytest.raises((Forbidden, NotFound)):
            services.assign_lead_manager(tender.pk, manager.pk, actor=someone)
    tender.refresh_from_db()
    assert tender.lead_manager is None
    assert TenderConflict.objects.get(tender=tender).is_open
    assert AuditEvent.objects.count() == audits

    with django_capture_on_commit_callbacks(execute=True):
        services.assign_lead_manager(tender.pk, manager.pk, actor=head)
    tender.refresh_from_db()
    assert (tender.lead_manager, tender.lead_assigned_by) == (manager, head)
    conflict = TenderConflict.objects.get(tender=tender)
    assert (conflict.is_open, conflict.resolution, conflict.resolved_by) == (
        False,
        "lead_assigned",
        head,
    )
    # The other owner learns who leads and whose floors he follows; the lead learns he leads.
    told = Notification.objects.get(recipient=other_manager, kind="tender_lead")
    assert manager.display_name in told.text
    assert Notification.objects.filter(recipient=manager, kind="tender_lead").exists()


def test_a_lead_manager_is_a_manager_of_the_team(setting, head, team):
    clerk = make_user(Role.DOC_CLERK, team=team)
    with pytest.raises(Invalid):
        services.assign_lead_manager(setting["tender"].pk, clerk.pk, actor=head)
    assert Tender.objects.get().lead_manager_id is None


def _led(setting: dict[str, Any], head: Any, manager: Any, other_manager: Any) -> Tender:
    tender = setting["tender"]
    services.add_participant(tender.pk, setting["theirs"].client_id, actor=other_manager)
    services.assign_lead_manager(tender.pk, manager.pk, actor=head)
    return tender


def test_another_owners_proposal_below_the_lead_managers_floor_is_refused_and_nothing_written(
    setting, head, manager, other_manager, django_capture_on_commit_callbacks
):
    tender = _led(setting, head, manager, other_manager)
    theirs = TenderParticipant.objects.get(tender=tender, client_id=setting["theirs"].client_id)
    with django_capture_on_commit_callbacks(execute=True):
        services.set_tender_floor(
            tender.pk,
            TenderFloorIn(participant_id=theirs.pk, min_price=D("1220.00")),
            actor=manager,
        )
    assert Notification.objects.filter(recipient=other_manager, kind="tender_floor").exists()
    kmp = setting["kmp"]
    proposals, audits = Proposal.objects.count(), AuditEvent.objects.count()
    with pytest.raises(Invalid) as err:
        bid(setting["theirs"].pk, other_manager, tender, "999.99", pid=kmp.pk)  # 1,219.99
    assert err.value.code == "below_tender_floor"
    assert "1220.00" in err.value.message and manager.display_name in err.value.message
    assert (Proposal.objects.count(), AuditEvent.objects.count()) == (proposals, audits)

    at_floor = bid(setting["theirs"].pk, other_manager, tender, "1000", pid=kmp.pk)
    assert at_floor.total == D("1220.00") and at_floor.tender_id == tender.pk
    services.send_proposal(at_floor.pk, actor=other_manager)
    assert Proposal.objects.get(pk=at_floor.pk).status == "sent"


def test_a_margin_floor_for_one_lot_wins_over_the_floor_for_every_lot(
    setting, head, manager, other_manager
):
    tender = _led(setting, head, manager, other_manager)
    theirs = TenderParticipant.objects.get(tender=tender, client_id=setting["theirs"].client_id)
    lot1 = tender.lots.get(number=1)
    services.set_tender_floor(
        tender.pk,
        TenderFloorIn(participant_id=theirs.pk, min_margin_percent=D("10")),
        actor=manager,
    )
    services.set_tender_floor(
        tender.pk,
        TenderFloorIn(participant_id=theirs.pk, lot_id=lot1.pk, min_margin_percent=D("40")),
        actor=manager,
    )
    kmp = setting["kmp"]  # cost 600: 1,000 is a 40 % margin, 990 is 39.39 %
    with pytest.raises(Invalid) as err:
        bid(setting["theirs"].pk, other_manager, tender, "990", pid=kmp.pk, lot=1)
    assert err.value.details["rule"] == "margin" and err.value.details["value"] == "39.39"
    bid(setting["theirs"].pk, other_manager, tender, "1000", pid=kmp.pk, lot=1)
    bid(setting["theirs"].pk, other_manager, tender, "700", pid=kmp.pk, lot=2)  # 14 % ≥ 10 %
    # Setting it again replaces it.
    services.set_tender_floor(
        tender.pk,
        TenderFloorIn(participant_id=theirs.pk, lot_id=lot1.pk, min_margin_percent=D("30")),
        actor=manager,
    )
    assert TenderFloor.objects.filter(participant=theirs).count() == 2


def test_the_floor_binds_the_other_owners_not_the_lead_manager_or_the_head(
    setting, head, manager, other_manager
):
    tender = _led(setting, head, manager, other_manager)
    for participant in TenderParticipant.objects.filter(tender=tender):
        services.set_tender_floor(
            tender.pk,
            TenderFloorIn(participant_id=participant.pk, min_price=D("5000")),
            actor=manager,
        )
    kmp = setting["kmp"]
    bid(setting["mine"].pk, manager, tender, "1000", pid=kmp.pk)  # the lead manager himself
    bid(setting["theirs"].pk, head, tender, "1000", pid=kmp.pk)  # the head of sales
    with pytest.raises(Invalid):
        bid(setting["theirs"].pk, other_manager, tender, "1000", pid=kmp.pk)


def test_only_the_lead_manager_or_the_head_sets_floors_and_a_refusal_changes_nothing(
    setting, head, manager, other_manager
):
    tender = _led(setting, head, manager, other_manager)
    theirs = TenderParticipant.objects.get(tender=tender, client_id=setting["theirs"].client_id)
    with pytest.raises(Forbidden) as err:
        services.set_tender_floor(
            tender.pk,
            TenderFloorIn(participant_id=theirs.pk, min_price=D("1")),
            actor=other_manager,
        )
    assert err.value.code == "not_lead_manager"
    assert not TenderFloor.objects.exists()
    services.set_tender_floor(
        tender.pk, TenderFloorIn(participant_id=theirs.pk, min_price=D("1")), actor=head
    )
    assert TenderFloor.objects.count() == 1


def test_a_raised_floor_stops_a_draft_from_being_sent(setting, head, manager, other_manager):
    tender = _led(setting, head, manager, other_manager)
    theirs = TenderParticipant.objects.get(tender=tender, client_id=setting["theirs"].client_id)
    draft = bid(setting["theirs"].pk, other_manager, tender, "1000", pid=setting["kmp"].pk)
    services.set_tender_floor(
        tender.pk, TenderFloorIn(participant_id=theirs.pk, min_price=D("2000")), actor=manager
    )
    with pytest.raises(Invalid) as err:
        services.send_proposal(draft.pk, actor=other_manager)
    assert err.value.code == "below_tender_floor"
    assert Proposal.objects.get(pk=draft.pk).status == "draft"


def test_no_bid_is_sent_while_the_conflict_waits_for_a_lead_manager(
    setting, head, manager, other_manager
):
    tender = setting["tender"]
    services.add_participant(tender.pk, setting["theirs"].client_id, actor=other_manager)
    draft = bid(setting["theirs"].pk, other_manager, tender, "1000", pid=setting["kmp"].pk)
    with pytest.raises(Conflict) as err:
        services.send_proposal(draft.pk, actor=other_manager)
    assert err.value.code == "tender_conflict_open"
    assert Proposal.objects.get(pk=draft.pk).status == "draft"
    services.assign_lead_manager(tender.pk, other_manager.pk, actor=head)
    services.send_proposal(draft.pk, actor=other_manager)


def test_bids_close_at_the_deadline(setting, manager):
    tender = setting["tender"]
    draft = bid(setting["mine"].pk, manager, tender, "1000", pid=setting["kmp"].pk)
    clock.advance(dt.timedelta(days=11))
    with pytest.raises(Conflict) as err:
        services.send_proposal(draft.pk, actor=manager)
    assert err.value.code == "tender_closed"


def test_a_proposal_for_a_tender_must_fit_it(setting, head, manager, other_manager):
    tender, kmp = setting["tender"], setting["kmp"]
    # The client does not take part yet.
    with pytest.raises(Invalid) as err:
        bid(setting["theirs"].pk, other_manager, tender, "1000", pid=kmp.pk)
    assert err.value.code == "client_not_in_tender"
    # Above the lot's maximum price.
    with pytest.raises(Invalid) as err:
        bid(setting["mine"].pk, manager, tender, "4200000", pid=kmp.pk)
    assert err.value.code == "above_max_price"
    # The tender has lots: one must be chosen.
    with pytest.raises(Invalid) as err:
        services.create_proposal(
            setting["mine"].pk,
            ProposalIn(
                lines=[InvoiceLineIn(product_id=kmp.pk, quantity=D(1), unit_price=D(1))],
                tender_id=tender.pk,
            ),
            actor=manager,
        )
    assert err.value.code == "lot_required"
    assert not Proposal.objects.exists()


def test_a_known_registry_number_points_to_the_tender_already_there(setting, other_manager):
    with pytest.raises(Conflict) as err:
        services.create_tender(tender_in(), actor=other_manager)
    assert err.value.code == "tender_exists"
    assert err.value.details["tender_id"] == setting["tender"].pk
    assert Tender.objects.count() == 1


def test_who_may_link_a_client(setting, head, manager, other_manager, team):
    tender = setting["tender"]
    # Someone else's client: only its owner, the lead manager or the head links it.
    with pytest.raises(Forbidden):
        services.add_participant(tender.pk, setting["theirs"].client_id, actor=manager)
    pool_client = make_client(head)  # no owner: in the pool
    with pytest.raises(Invalid) as err:
        services.add_participant(tender.pk, pool_client.pk, actor=head)
    assert err.value.code == "client_in_pool"
    with pytest.raises(Conflict):
        services.add_participant(tender.pk, setting["mine"].client_id, actor=manager)
    assert TenderParticipant.objects.filter(tender=tender).count() == 1
    stranger = make_user(Role.HUNTER, team=make_team())
    with pytest.raises(NotFound):
        services.add_participant(tender.pk, setting["mine"].client_id, actor=stranger)


def test_taking_a_client_out_resolves_the_conflict(setting, head, other_manager):
    tender = setting["tender"]
    joined = services.add_participant(tender.pk, setting["theirs"].client_id, actor=other_manager)
    services.remove_participant(tender.pk, joined.pk, actor=other_manager)
    conflict = TenderConflict.objects.get(tender=tender)
    assert (conflict.is_open, conflict.resolution) == (False, "one_owner")
    # Linked again: a new conflict is raised.
    services.add_participant(tender.pk, setting["theirs"].client_id, actor=other_manager)
    assert TenderConflict.objects.filter(tender=tender, resolved_at__isnull=True).count() == 1


def test_the_tender_is_changed_by_its_author_the_lead_or_the_head(
    setting, head, manager, other_manager
):
    tender = setting["tender"]
    with pytest.raises(Forbidden):
        services.update_tender(tender.pk, TenderPatch(platform="Сбербанк-АСТ"), actor=other_manager)
    with pytest.raises(Forbidden):
        services.add_lot(tender.pk, LotIn(name="Монтаж"), actor=other_manager)
    assert Tender.objects.get().platform == "РТС-тендер"
    services.update_tender(tender.pk, TenderPatch(platform="Сбербанк-АСТ"), actor=manager)
    lot = services.add_lot(tender.pk, LotIn(name="Монтаж", max_price=D("300000")), actor=head)
    assert (Tender.objects.get().platform, lot.number) == ("Сбербанк-АСТ", 3)
    with pytest.raises(Invalid):
        services.update_tender(tender.pk, TenderPatch(customer_inn="1234567890"), actor=manager)


def test_a_tender_with_a_past_deadline_or_a_wrong_inn_is_not_registered(manager, frozen_clock):
    with pytest.raises(Invalid):
        services.create_tender(
            tender_in(submission_deadline=clock.now() - dt.timedelta(hours=1)), actor=manager
        )
    with pytest.raises(Invalid):
        services.create_tender(tender_in(customer_inn="1234567890"), actor=manager)
    assert not Tender.objects.exists()
