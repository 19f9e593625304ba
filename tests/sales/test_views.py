"""Sales pages, in Russian: the board (moves by form and by htmx, the handoff brief form), the
deal card, the handoffs inbox, the catalogue of the head of sales; what a refusal leaves."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.urls import reverse

from otdel.people.models import User
from otdel.sales import services
from otdel.sales.models import Deal, DealEvent, Handoff, Product, ProductCategory, ProductCost
from tests.factories import make_client
from tests.sales.conftest import FULL_BRIEF, hand_to_order_manager, open_deal, stage

pytestmark = pytest.mark.django_db


def browser(user: User, lang: str = "ru") -> HttpClient:
    http = HttpClient()
    http.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    http.force_login(user)
    return http


def test_the_board_shows_the_stages_and_the_cards_in_russian(
    manager, order_manager, pipeline, frozen_clock
):
    waiting = hand_to_order_manager(
        open_deal(manager, title="Поставка ВК-15"), manager, order_manager
    )
    fresh = open_deal(manager, title="Масло на квартал")
    page = browser(manager).get(reverse("sales:board"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Сделки" in html and "Передачи сделок" in html  # the navigation
    assert "Потенциальная сделка" in html and "Спецификация" in html
    assert "Поставка ВК-15" in html and "Масло на квартал" in html
    assert "ждёт: Тарасов И." in html  # the pending handoff on the card
    assert f'data-testid="deal-{fresh.pk}"' in html
    # A card awaiting acceptance cannot be dragged or moved.
    card = html.split(f'data-testid="deal-{waiting.pk}"')[1].split("</article>")[0]
    assert "move-form" not in card
    assert 'draggable="true"' not in html.split(f'data-testid="deal-{waiting.pk}"')[0][-300:]


def test_a_move_from_the_board_by_htmx_re_renders_the_board(manager, pipeline, frozen_clock):
    deal = open_deal(manager)
    response = browser(manager).post(
        reverse("sales:deal_move", args=[deal.pk]),
        {
            "to_stage": stage(pipeline, "intent").pk,
            "expected_stage": deal.stage_id,
            "from": "board",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="board-wrap"' in html and "Сделка перенесена" in html
    assert Deal.objects.get().stage.code == "intent"


def test_dropping_a_card_on_another_role_s_column_asks_for_the_brief_first(
    manager, order_manager, pipeline, frozen_clock
):
    deal = open_deal(manager)
    services.move_deal(deal.pk, to_stage="intent", actor=manager)
    http = browser(manager)
    target = stage(pipeline, "specification")
    response = http.post(
        reverse("sales:deal_move", args=[deal.pk]),
        {"to_stage": target.pk, "expected_stage": stage(pipeline, "intent").pk, "from": "board"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    form_url = response["HX-Redirect"]
    assert not Handoff.objects.exists()  # nothing happens before the brief
    page = http.get(form_url).content.decode()
    assert "Передать сделку в «Спецификация»" in page
    assert "Бюджет" in page and "Тарасов Игорь" in page
    # Sent without the required fields: the form again, with the errors, nothing written.
    incomplete = http.post(
        reverse("sales:deal_move", args=[deal.pk]),
        {
            "to_stage": target.pk,
            "form": "1",
            "receiver": str(order_manager.pk),
            "brief_needs": "Компрессор",
        },
    )
    assert incomplete.status_code == 200
    assert "Обязательное поле" in incomplete.content.decode()
    assert not Handoff.objects.exists()
    assert Deal.objects.get().stage.code == "intent"
    done = http.post(
        reverse("sales:deal_move", args=[deal.pk]),
        {
            "to_stage": target.pk,
            "form": "1",
            "receiver": str(order_manager.pk),
            **{f"brief_{k}": v for k, v in FULL_BRIEF.items()},
        },
    )
    assert done.status_code == 302
    handoff = Handoff.objects.get()
    assert handoff.offered_to == order_manager and handoff.brief["budget"] == FULL_BRIEF["budget"]


def test_the_receiver_accepts_in_the_inbox_and_another_person_cannot(
    manager, order_manager, second_order_manager, pipeline, frozen_clock
):
    deal = hand_to_order_manager(open_deal(manager, title="Поставка ВК-15"), manager, order_manager)
    handoff = Handoff.objects.get()
    inbox = browser(order_manager).get(reverse("sales:handoffs")).content.decode()
    assert "Поставка ВК-15" in inbox and "Принять сделку" in inbox
    assert FULL_BRIEF["budget"] in inbox
    assert (
        "Поставка ВК-15"
        not in browser(second_order_manager).get(reverse("sales:handoffs")).content.decode()
    )
    refused = browser(second_order_manager).post(
        reverse("sales:handoff_accept", args=[handoff.pk]), follow=True
    )
    assert "предложена другому" in refused.content.decode()
    assert Handoff.objects.get().status == "pending"
    browser(order_manager).post(reverse("sales:handoff_accept", args=[handoff.pk]))
    deal.refresh_from_db()
    assert deal.responsible == order_manager


def test_the_receiver_returns_a_deal_from_the_inbox_with_a_reason(
    manager, order_manager, pipeline, frozen_clock
):
    hand_to_order_manager(open_deal(manager), manager, order_manager)
    handoff = Handoff.objects.get()
    http = browser(order_manager)
    http.post(reverse("sales:handoff_return", args=[handoff.pk]), {"reason": ""})
    assert Handoff.objects.get().status == "pending"
    http.post(reverse("sales:handoff_return", args=[handoff.pk]), {"reason": "Нет бюджета"})
    assert Handoff.objects.get().status == "returned"
    sent = browser(manager).get(reverse("sales:handoffs") + "?box=sent").content.decode()
    assert "Нет бюджета" in sent


def test_the_deal_card_shows_the_timeline_who_held_what_and_the_source(
    head, manager, order_manager, pipeline, frozen_clock
):
    client = make_client(head, owner=manager)
    deal = hand_to_order_manager(open_deal(manager, client=client), manager, order_manager)
    services.accept_handoff(Handoff.objects.get().pk, actor=order_manager)
    html = browser(manager).get(reverse("sales:deal_detail", args=[deal.pk])).content.decode()
    assert "Кто вёл сделку на этапах" in html
    assert "Передача принята" in html and "Передача предложена" in html
    assert "новая охота" not in html  # the head created the client: the owner's base
    assert "база владельца" in html
    assert "Сменить источник" not in html  # only the head changes it
    head_page = browser(head).get(reverse("sales:deal_detail", args=[deal.pk])).content.decode()
    assert "Сменить источник" in head_page
    browser(manager).post(
        reverse("sales:change_source", args=[deal.pk]), {"source": "pool", "reason": "x"}
    )
    assert Deal.objects.get().source == "own_base"
    browser(head).post(
        reverse("sales:change_source", args=[deal.pk]), {"source": "pool", "reason": "Из копилки"}
    )
    assert Deal.objects.get().source == "pool"


def test_a_lost_deal_asks_for_the_reason_on_its_form(manager, pipeline, frozen_clock):
    deal = open_deal(manager)
    http = browser(manager)
    lost = stage(pipeline, "lost")
    page = http.get(reverse("sales:deal_move", args=[deal.pk]) + f"?to_stage={lost.pk}")
    assert "Почему сделка проиграна?" in page.content.decode()
    http.post(reverse("sales:deal_move", args=[deal.pk]), {"to_stage": lost.pk, "form": "1"})
    assert Deal.objects.get().closed_at is None
    http.post(
        reverse("sales:deal_move", args=[deal.pk]),
        {"to_stage": lost.pk, "form": "1", "comment": "Дорого"},
    )
    assert Deal.objects.get().stage.code == "lost"


def test_opening_a_deal_from_the_client_card(manager, other_manager, pipeline, frozen_clock):
    client = make_client(manager, owner=manager)
    block = (
        browser(manager)
        .get(reverse("sales:client_deals", args=[client.pk]), headers={"HX-Request": "true"})
        .content.decode()
    )
    assert "Сделки" in block and f"?client={client.pk}" in block
    colleague = (
        browser(other_manager)
        .get(reverse("sales:client_deals", args=[client.pk]), headers={"HX-Request": "true"})
        .content.decode()
    )
    assert f"?client={client.pk}" not in colleague  # not his client: no button
    http = browser(manager)
    form = http.get(reverse("sales:deal_create") + f"?client={client.pk}")
    assert "Новая сделка" in form.content.decode()
    response = http.post(
        reverse("sales:deal_create") + f"?client={client.pk}",
        {
            "client": client.pk,
            "title": "Поставка",
            "amount_estimate": "1000",
            "pipeline": pipeline.pk,
            "fixed_client": client.pk,
        },
    )
    deal = Deal.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/deals/{deal.pk}/")
    assert deal.source == "new_hunt" and deal.amount_estimate == Decimal("1000")
    # A colleague's attempt on the same client is refused and writes nothing.
    other = browser(other_manager).post(
        reverse("sales:deal_create") + f"?client={client.pk}",
        {"client": client.pk, "title": "Моя", "amount_estimate": "1", "fixed_client": client.pk},
    )
    assert other.status_code == 200 and Deal.objects.count() == 1


def test_the_catalogue_is_the_head_s_page(head, manager, frozen_clock):
    assert browser(manager).get(reverse("sales:catalogue")).status_code == 404
    equipment = ProductCategory.objects.get(code="equipment")
    refused = browser(manager).post(
        reverse("sales:product_create"),
        {
            "name": "x",
            "sku": "x",
            "category": equipment.pk,
            "unit": "шт",
            "list_price": "1",
            "currency": "RUB",
            "vat_rate": "22",
        },
    )
    assert refused.status_code == 404 and not Product.objects.exists()
    http = browser(head)
    created = http.post(
        reverse("sales:product_create"),
        {
            "name": "Компрессор ВК-15",
            "sku": "VK-15",
            "category": equipment.pk,
            "unit": "шт",
            "list_price": "845000",
            "currency": "RUB",
            "vat_rate": "none",
            "active": "on",
            "cost": "590000",
        },
    )
    product = Product.objects.get()
    assert created.status_code == 302 and product.vat_rate is None
    http.post(reverse("sales:product_cost", args=[product.pk]), {"amount": "612000"})
    assert ProductCost.objects.count() == 2
    card = http.get(reverse("sales:product_edit", args=[product.pk])).content.decode()
    assert "Себестоимость" in card and "612 000,00 ₽" in card and "590 000,00 ₽" in card
    listing = http.get(reverse("sales:catalogue")).content.decode()
    assert "Компрессор ВК-15" in listing and "без НДС" in listing and "Каталог" in listing
    assert "Оборудование" in listing
    assert (
        browser(manager)
        .post(reverse("sales:product_cost", args=[product.pk]), {"amount": "1"})
        .status_code
        == 404
    )
    assert ProductCost.objects.count() == 2


def test_someone_else_s_team_deal_pages_do_not_exist(manager, pipeline, frozen_clock):
    from otdel.people.models import Role
    from tests.factories import make_team, make_user

    deal = open_deal(manager)
    outsider = browser(make_user(Role.HUNTER, team=make_team("Другие")))
    assert outsider.get(reverse("sales:deal_detail", args=[deal.pk])).status_code == 404
    assert (
        outsider.post(
            reverse("sales:deal_move", args=[deal.pk]), {"to_stage": deal.stage_id}
        ).status_code
        == 404
    )
    assert DealEvent.objects.count() == 1
