"""Proposal and tender pages, in Russian: the deal card's proposals block, the proposal form and
page with its actions, the head's approvals page with a held proposal, the tender list and card
with the conflict banner, the lead manager and the floors; who is refused, and that a refusal or
bad input writes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import translation

from otdel.core import clock
from otdel.people.models import User
from otdel.sales import floors, services
from otdel.sales.models import (
    FloorApproval,
    Invoice,
    Proposal,
    Tender,
    TenderConflict,
    TenderFloor,
    TenderParticipant,
)
from otdel.sales.proposals import ProposalIn
from otdel.sales.schemas import InvoiceLineIn
from otdel.sales.tenders import LotIn, TenderIn
from tests.sales.conftest import open_deal
from tests.sales.money_helpers import product

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _default_language_after():
    """A request in English leaves English active in this thread: later tests expect the
    default (Russian)."""
    yield
    translation.deactivate()


D = Decimal


def browser(user: User, lang: str = "ru") -> HttpClient:
    http = HttpClient()
    http.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    http.force_login(user)
    return http


@pytest.fixture
def goods(head, frozen_clock):
    return product(head, sku="VK-15", name="Компрессор ВК-15", cost="600")


@pytest.fixture
def deal(manager, pipeline):
    return open_deal(manager, title="Поставка ВК-15")


def _draft(deal, actor, goods, price: str = "1000", discount: str = "0") -> Proposal:
    return services.create_proposal(
        deal.pk,
        ProposalIn(
            lines=[
                InvoiceLineIn(
                    product_id=goods.pk,
                    quantity=D(2),
                    unit_price=D(price),
                    discount_percent=D(discount),
                )
            ]
        ),
        actor=actor,
    )


# --- the deal card and the form -----------------------------------------------------------------


def test_the_deal_card_loads_its_proposals_block_in_russian(manager, deal, goods):
    p = _draft(deal, manager, goods)
    card = browser(manager).get(reverse("sales:deal_detail", args=[deal.pk])).content.decode()
    assert reverse("sales:deal_proposals", args=[deal.pk]) in card
    block = browser(manager).get(
        reverse("sales:deal_proposals", args=[deal.pk]), headers={"HX-Request": "true"}
    )
    html = block.content.decode()
    assert block.status_code == 200
    assert "Коммерческие предложения" in html and "Новое КП" in html
    assert p.number in html and "черновик" in html
    # Without JavaScript the block is a page of its own.
    page = browser(manager).get(reverse("sales:deal_proposals", args=[deal.pk])).content.decode()
    assert "<html" in page and p.number in page


def test_a_proposal_is_written_through_the_form_and_shown(manager, deal, goods):
    http = browser(manager)
    form = http.get(reverse("sales:proposal_create", args=[deal.pk]))
    assert form.status_code == 200
    assert "Новое КП" in form.content.decode() and "технико-коммерческое" in form.content.decode()
    response = http.post(
        reverse("sales:proposal_create", args=[deal.pk]),
        {
            "kind": "tkp",
            "product": [str(goods.pk)],
            "quantity": ["3"],
            "unit_price": ["333,33"],
            "discount": ["7,5"],
            "vat": ["22"],
            "valid_until": f"{clock.today() + dt.timedelta(days=20):%Y-%m-%d}",
            "terms": "Отсрочка 30 дней",
            "technical_part": "Производительность 15 м³/мин",
        },
    )
    p = Proposal.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "sales:proposal_detail", args=[p.pk]
    )
    assert (p.kind, p.net_total, p.vat_total, p.total) == (
        "tkp",
        D("924.99"),
        D("203.50"),
        D("1128.49"),
    )
    page = http.get(response["Location"]).content.decode()
    assert "ТКП № " in page and "редакция 1" in page and "Техническая часть" in page
    assert "Отметить как отправленное клиенту" in page and "Изменить черновик" in page


def test_bad_input_is_shown_next_to_the_form_and_nothing_is_written(manager, deal, goods):
    http = browser(manager)
    response = http.post(reverse("sales:proposal_create", args=[deal.pk]), {"product": [""]})
    assert response.status_code == 422
    assert "Добавьте хотя бы одну строку" in response.content.decode()
    response = http.post(
        reverse("sales:proposal_create", args=[deal.pk]),
        {
            "product": [str(goods.pk)],
            "quantity": ["1"],
            "unit_price": ["10"],
            "valid_until": f"{clock.today() - dt.timedelta(days=1):%Y-%m-%d}",
        },
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Срок действия КП не может закончиться в прошлом" in html
    assert 'value="10"' in html  # what was typed comes back
    assert not Proposal.objects.exists()


def test_a_colleague_is_refused_the_form_and_the_page(manager, other_manager, deal, goods):
    p = _draft(deal, manager, goods)
    http = browser(other_manager)
    assert http.get(reverse("sales:proposal_create", args=[deal.pk])).status_code == 403
    response = http.post(
        reverse("sales:proposal_create", args=[deal.pk]),
        {"product": [str(goods.pk)], "quantity": ["1"], "unit_price": ["1"]},
    )
    assert response.status_code == 403
    assert http.get(reverse("sales:proposal_detail", args=[p.pk])).status_code == 404
    assert http.post(reverse("sales:proposal_action", args=[p.pk, "send"])).status_code == 404
    assert Proposal.objects.get().status == "draft" and Proposal.objects.count() == 1


def test_send_accept_and_invoice_from_the_page(manager, deal, goods):
    p = _draft(deal, manager, goods)
    http = browser(manager)
    http.post(reverse("sales:proposal_action", args=[p.pk, "send"]))
    assert Proposal.objects.get(pk=p.pk).status == "sent"
    page = http.get(reverse("sales:proposal_detail", args=[p.pk])).content.decode()
    assert "отправлено" in page and "Клиент принял" in page and "Новая редакция" in page
    http.post(reverse("sales:proposal_action", args=[p.pk, "accept"]), {"note": "Подписали"})
    response = http.post(reverse("sales:proposal_invoice", args=[p.pk]), {"number": ""})
    invoice = Invoice.objects.get()
    assert response["Location"].endswith("#invoices")
    assert (invoice.total, invoice.deal_id) == (p.total, deal.pk)
    page = http.get(reverse("sales:proposal_detail", args=[p.pk])).content.decode()
    assert "принято" in page and invoice.number in page


def test_an_illegal_move_from_the_page_is_a_message_and_changes_nothing(manager, deal, goods):
    p = _draft(deal, manager, goods)
    http = browser(manager)
    response = http.post(reverse("sales:proposal_action", args=[p.pk, "accept"]), follow=True)
    assert "КП в статусе «черновик» нельзя принять" in response.content.decode()
    assert Proposal.objects.get(pk=p.pk).status == "draft"
    assert http.post(reverse("sales:proposal_action", args=[p.pk, "explode"])).status_code == 404


def test_a_sent_proposal_is_revised_not_edited_from_the_pages(manager, deal, goods):
    p = _draft(deal, manager, goods)
    services.send_proposal(p.pk, actor=manager)
    http = browser(manager)
    response = http.get(reverse("sales:proposal_edit", args=[p.pk]), follow=True)
    assert "Отправленное КП не меняется" in response.content.decode()
    response = http.post(reverse("sales:proposal_revise", args=[p.pk]))
    new = Proposal.objects.get(previous=p)
    assert response["Location"] == reverse("sales:proposal_edit", args=[new.pk])
    form = http.get(response["Location"]).content.decode()
    assert "редакция 2" in form and 'value="1000.00"' in form
    http.post(
        response["Location"],
        {"product": [str(goods.pk)], "quantity": ["2"], "unit_price": ["950"], "vat": ["22"]},
    )
    new.refresh_from_db()
    assert new.net_total == D("1900.00") and Proposal.objects.get(pk=p.pk).net_total == D("2000.00")


def test_a_held_proposal_shows_its_badge_and_the_head_approves_it_on_his_page(
    head, manager, deal, goods
):
    floors.set_floor(head.team_id, actor=head, max_discount_percent=D("10"))
    p = _draft(deal, manager, goods, discount="25")
    http = browser(manager)
    block = http.get(
        reverse("sales:deal_proposals", args=[deal.pk]), headers={"HX-Request": "true"}
    ).content.decode()
    assert "ждёт согласования цены" in block
    page = http.get(reverse("sales:proposal_detail", args=[p.pk])).content.decode()
    assert "Ниже минимальной цены: ждёт решения РОПа" in page and "скидка 25" in page
    response = http.post(reverse("sales:proposal_action", args=[p.pk, "send"]), follow=True)
    assert "ему можно отправить" in response.content.decode() or "РОП согласует" in (
        response.content.decode()
    )
    assert Proposal.objects.get(pk=p.pk).status == "draft"

    head_page = browser(head).get("/head/price-approvals/").content.decode()
    assert "КП ниже минимальной цены" in head_page and f"КП {p.number}, редакция 1" in head_page
    assert "Счета ниже минимальной цены" in head_page  # the invoices' section is still there
    approval = FloorApproval.objects.get(proposal=p)
    # A manager cannot decide.
    assert browser(manager).get("/head/price-approvals/").status_code == 404
    http.post(f"/head/price-approvals/{approval.pk}/", {"decision": "approve"})
    assert FloorApproval.objects.get(pk=approval.pk).status == "pending"
    browser(head).post(f"/head/price-approvals/{approval.pk}/", {"decision": "approve"})
    assert FloorApproval.objects.get(pk=approval.pk).status == "approved"
    http.post(reverse("sales:proposal_action", args=[p.pk, "send"]))
    assert Proposal.objects.get(pk=p.pk).status == "sent"


def test_the_english_page_is_in_english(manager, deal, goods):
    p = _draft(deal, manager, goods)
    page = browser(manager, "en").get(reverse("sales:proposal_detail", args=[p.pk])).content
    assert b"Mark as sent to the client" in page and b"CP" in page


# --- tenders ------------------------------------------------------------------------------------


@pytest.fixture
def tender(manager, deal, frozen_clock) -> Tender:
    return services.create_tender(
        TenderIn(
            registry_number="32615000123",
            platform="Сбербанк-АСТ",
            customer_name="АО «Водоканал»",
            submission_deadline=clock.now() + dt.timedelta(days=7),
            lots=[LotIn(name="Компрессоры", max_price=D("3000000"))],
            participants=[deal.client_id],
        ),
        actor=manager,
    )


def test_a_tender_is_registered_from_the_form_with_its_lots_and_client(manager, deal, frozen_clock):
    http = browser(manager)
    assert "Завести тендер" in http.get(reverse("sales:tender_create")).content.decode()
    response = http.post(
        reverse("sales:tender_create"),
        {
            "registry_number": "0373100056026000999",
            "platform": "РТС-тендер",
            "customer_name": "ГБУ «Жилищник»",
            "submission_deadline": f"{clock.local_now() + dt.timedelta(days=5):%Y-%m-%dT%H:%M}",
            "currency": "RUB",
            "lot_name": ["Компрессоры", "", "ЗИП"],
            "lot_max_price": ["1 500 000", "", ""],
            "client": str(deal.client_id),
        },
    )
    tender = Tender.objects.get()
    assert response["Location"] == reverse("sales:tender_detail", args=[tender.pk])
    assert [(lot.number, lot.name, lot.max_price) for lot in tender.lots.order_by("number")] == [
        (1, "Компрессоры", D("1500000.00")),
        (2, "ЗИП", None),
    ]
    assert TenderParticipant.objects.get(tender=tender).owner == manager
    listing = http.get(reverse("sales:tender_list")).content.decode()
    assert "Тендеры" in listing and "0373100056026000999" in listing
    # The same number again leads to the tender already there; nothing new is written.
    again = http.post(
        reverse("sales:tender_create"),
        {
            "registry_number": "0373100056026000999",
            "platform": "РТС-тендер",
            "customer_name": "ГБУ «Жилищник»",
            "submission_deadline": f"{clock.local_now() + dt.timedelta(days=5):%Y-%m-%dT%H:%M}",
        },
    )
    assert again["Location"] == reverse("sales:tender_detail", args=[tender.pk])
    assert Tender.objects.count() == 1


def test_the_tender_card_shows_the_conflict_and_only_the_head_assigns_the_lead(
    head, manager, other_manager, tender, pipeline
):
    theirs = open_deal(other_manager, title="Тот же тендер")
    http = browser(other_manager)
    http.post(
        reverse("sales:tender_participant_add", args=[tender.pk]), {"client": theirs.client_id}
    )
    card = http.get(reverse("sales:tender_detail", args=[tender.pk])).content.decode()
    assert "Конфликт: в тендере участвуют клиенты разных менеджеров" in card
    assert manager.display_name in card and other_manager.display_name in card
    assert "Назначить ведущего менеджера" not in card  # not the head's page

    refused = http.post(
        reverse("sales:tender_lead", args=[tender.pk]), {"user": other_manager.pk}, follow=True
    )
    assert "Ведущего менеджера тендера назначает только РОП" in refused.content.decode()
    assert Tender.objects.get().lead_manager is None
    assert TenderConflict.objects.get().is_open

    head_http = browser(head)
    assert (
        "Назначить ведущего менеджера"
        in head_http.get(reverse("sales:tender_detail", args=[tender.pk])).content.decode()
    )
    head_http.post(reverse("sales:tender_lead", args=[tender.pk]), {"user": manager.pk})
    card = head_http.get(reverse("sales:tender_detail", args=[tender.pk])).content.decode()
    assert "Конфликт:" not in card and "ведущий" in card
    assert Tender.objects.get().lead_manager == manager


def test_the_lead_manager_sets_a_floor_from_the_card_and_the_other_owner_is_held_to_it(
    head, manager, other_manager, tender, goods, pipeline
):
    theirs = open_deal(other_manager, title="Тот же тендер")
    services.add_participant(tender.pk, theirs.client_id, actor=other_manager)
    services.assign_lead_manager(tender.pk, manager.pk, actor=head)
    participant = TenderParticipant.objects.get(client_id=theirs.client_id)
    # The other owner may not set floors.
    browser(other_manager).post(
        reverse("sales:tender_floor_set", args=[tender.pk]),
        {"participant": participant.pk, "min_price": "5000"},
    )
    assert not TenderFloor.objects.exists()
    lead = browser(manager)
    lead.post(
        reverse("sales:tender_floor_set", args=[tender.pk]),
        {"participant": participant.pk, "min_price": "2 440"},
    )
    floor = TenderFloor.objects.get()
    assert floor.min_price == D("2440.00")
    card = lead.get(reverse("sales:tender_detail", args=[tender.pk])).content.decode()
    assert "цена от 2440.00" in card

    lot = tender.lots.get()
    http = browser(other_manager)
    form = http.get(reverse("sales:proposal_create", args=[theirs.pk])).content.decode()
    assert "Для тендера" in form and f"{tender.pk}:{lot.pk}" in form
    below = http.post(
        reverse("sales:proposal_create", args=[theirs.pk]),
        {
            "product": [str(goods.pk)],
            "quantity": ["2"],
            "unit_price": ["999"],
            "vat": ["22"],
            "tender_lot": f"{tender.pk}:{lot.pk}",
        },
    )
    assert below.status_code == 422
    assert "ниже порога 2440.00" in below.content.decode()
    assert not Proposal.objects.exists()
    at_floor = http.post(
        reverse("sales:proposal_create", args=[theirs.pk]),
        {
            "product": [str(goods.pk)],
            "quantity": ["2"],
            "unit_price": ["1000"],
            "vat": ["22"],
            "tender_lot": f"{tender.pk}:{lot.pk}",
        },
    )
    assert at_floor.status_code == 302
    p = Proposal.objects.get()
    assert (p.total, p.tender_id, p.lot_id) == (D("2440.00"), tender.pk, lot.pk)
    card = lead.get(reverse("sales:tender_detail", args=[tender.pk])).content.decode()
    assert p.number in card  # the lead manager sees the bids of his tender


def test_a_stranger_does_not_see_the_tender(tender, db):
    from tests.factories import make_team, make_user

    stranger = make_user(team=make_team())
    assert (
        browser(stranger).get(reverse("sales:tender_detail", args=[tender.pk])).status_code == 404
    )
    assert "32615000123" not in browser(stranger).get(reverse("sales:tender_list")).content.decode()
