"""The conveyor in a real browser, in Russian (the default language): a hunter moves a deal to
"intent to order" and hands it over with the brief, the order manager accepts it, issues an
invoice, records the payment and the shipment and completes the deal, and the client's account
manager gets the deal back with the summary."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from otdel.core import clock
from otdel.people.models import Role
from otdel.sales import services
from otdel.sales.models import (
    Deal,
    Handoff,
    HandoffStatus,
    Invoice,
    Payment,
    ProductCategory,
    Shipment,
)
from otdel.sales.schemas import DealIn
from tests.factories import make_client, make_head, make_team, make_user
from tests.sales.conftest import FULL_BRIEF
from tests.sales.money_helpers import product

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-Word-123"


def sign_in(page, username: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/(my-base|head)/"))


def test_hunter_hands_over_order_manager_invoices_ships_and_account_manager_gets_it_back(
    transactional_db, new_page
):
    team = make_team("Отдел продаж")
    head = make_head(team, username="head", last_name="Сидоров", first_name="Пётр")
    hunter = make_user(
        Role.HUNTER, team=team, username="ivanov", last_name="Иванов", first_name="Иван"
    )
    keeper = make_user(
        Role.ACCOUNT_MANAGER, team=team, username="petrova", last_name="Петрова", first_name="Анна"
    )
    orders = make_user(
        Role.ORDER_MANAGER, team=team, username="tarasov", last_name="Тарасов", first_name="Игорь"
    )
    services.ensure_default_pipeline(team.pk)
    # The seeded categories are gone if another transactional test flushed the database.
    ProductCategory.objects.get_or_create(
        code="equipment",
        defaults={"name": "Оборудование", "created_at": clock.now(), "updated_at": clock.now()},
    )
    compressor = product(head, sku="VK-15", name="Компрессор ВК-15", cost="600")
    # The account manager owns the client; the head opened the deal for the hunter.
    client = make_client(head, owner=keeper, name="ООО Ромашка")
    deal = services.create_deal(
        DealIn(
            client_id=client.pk,
            title="Поставка компрессоров",
            amount_estimate=Decimal("2440"),
            responsible_id=hunter.pk,
        ),
        actor=head,
    )
    card = f"/deals/{deal.pk}/"

    # The hunter moves the deal to "intent to order", then hands it to the order manager.
    ivanov = new_page()
    sign_in(ivanov, "ivanov")
    ivanov.goto(card)
    ivanov.get_by_test_id("move-intent").click()
    ivanov.get_by_text("Сделка перенесена на этап «Намерение заказать».").wait_for()
    ivanov.get_by_test_id("move-specification").click()
    ivanov.get_by_test_id("move-form").wait_for()
    # Without the brief the handoff is refused and nothing moves.
    ivanov.get_by_test_id("submit-move").click()
    ivanov.get_by_test_id("move-form").wait_for()
    assert Deal.objects.get().stage.code == "intent"
    assert not Handoff.objects.exists()
    for name in ("needs", "decision_maker", "budget", "deadlines", "promises", "next_step"):
        ivanov.fill(f"#id_brief_{name}", FULL_BRIEF[name])
    ivanov.select_option("#id_receiver", str(orders.pk))
    ivanov.get_by_test_id("submit-move").click()
    ivanov.get_by_text("пока её не примут, она остаётся за вами").wait_for()
    assert "Иванов" in ivanov.get_by_test_id("responsible").inner_text()

    # The order manager finds the offer in his inbox; until he accepts, the hunter holds it.
    tarasov = new_page()
    sign_in(tarasov, "tarasov")
    tarasov.goto("/handoffs/")
    offer = tarasov.locator("section[data-testid^='handoff-']")
    assert "Поставка компрессоров" in offer.inner_text()
    assert FULL_BRIEF["needs"] in offer.inner_text()
    deal.refresh_from_db()
    assert deal.responsible == hunter
    tarasov.get_by_role("link", name="Поставка компрессоров").click()
    tarasov.get_by_test_id("pending-handoff").wait_for()
    assert "Иванов" in tarasov.get_by_test_id("responsible").inner_text()
    tarasov.get_by_test_id("accept").click()
    tarasov.get_by_text("Теперь сделка ваша.").wait_for()
    assert "Тарасов" in tarasov.get_by_test_id("responsible").inner_text()
    assert Handoff.objects.get().status == HandoffStatus.ACCEPTED

    # He issues an invoice: 2 × 1 000 ₽ with 22 % VAT.
    tarasov.get_by_test_id("invoice-open").click()
    tarasov.get_by_test_id("invoice-product").select_option(str(compressor.pk))
    tarasov.get_by_test_id("invoice-quantity").fill("2")
    tarasov.get_by_test_id("invoice-price").fill("1 000,00")
    tarasov.get_by_test_id("invoice-submit").click()
    tarasov.get_by_text(re.compile(r"Счёт № \S+ на 2 440,00 ₽ выставлен")).wait_for()
    invoice = Invoice.objects.get()
    row = tarasov.get_by_test_id(f"invoice-{invoice.pk}")
    assert "2 440,00 ₽" in row.inner_text() and "440,00 ₽" in row.inner_text()
    assert row.get_by_test_id("invoice-status").inner_text() == "не оплачен"

    # A payment bigger than what is left on the invoice is refused next to the form.
    tarasov.get_by_test_id("payment-open").click()
    tarasov.get_by_test_id("payment-amount").fill("3000")
    tarasov.get_by_test_id(f"alloc-{invoice.pk}").fill("3000")
    tarasov.get_by_test_id("payment-submit").click()
    error = tarasov.get_by_test_id("payment-error")
    error.wait_for()
    assert "больше остатка к оплате по счёту" in error.inner_text()
    assert not Payment.objects.exists()

    # The whole amount is paid: the invoice is paid.
    tarasov.get_by_test_id("payment-amount").fill("2 440")
    tarasov.get_by_test_id(f"alloc-{invoice.pk}").fill("")
    tarasov.get_by_test_id("payment-submit").click()
    tarasov.get_by_text("Оплата 2 440,00 ₽ записана.").wait_for()
    row = tarasov.get_by_test_id(f"invoice-{invoice.pk}")
    assert row.get_by_test_id("invoice-status").inner_text() == "оплачен"

    # And shipped: revenue without VAT; the cost is kept but not shown to him.
    tarasov.get_by_test_id("shipment-open").click()
    tarasov.get_by_test_id("shipment-product").select_option(str(compressor.pk))
    tarasov.get_by_test_id("shipment-quantity").fill("2")
    tarasov.get_by_test_id("shipment-revenue").fill("2000")
    tarasov.get_by_test_id("shipment-submit").click()
    tarasov.get_by_text("Отгрузка на 2 000,00 ₽ без НДС записана.").wait_for()
    shipment = Shipment.objects.get()
    assert shipment.cost == Decimal("1200.00") and shipment.margin == Decimal("800.00")
    shipments = tarasov.get_by_test_id("shipments").inner_text()
    assert "2 000,00 ₽" in shipments
    assert "Маржа" not in shipments and "1 200,00 ₽" not in shipments

    # The hunter, who no longer holds the deal and does not own the client, sees no money.
    ivanov.goto(card)
    assert "Тарасов" in ivanov.get_by_test_id("responsible").inner_text()
    assert "Счетов пока нет" in ivanov.get_by_test_id("invoices").inner_text()
    assert ivanov.get_by_test_id("invoice-open").count() == 0

    # He completes the order: estimate → contract → act → completed.
    for code in ("estimate", "contract", "act", "completed"):
        tarasov.get_by_test_id(f"move-{code}").click()
        tarasov.get_by_test_id("stage-path").locator("li.current").wait_for()
    tarasov.get_by_text("Сделка завершена").wait_for()

    # The account manager has the deal back, with the summary of who did what.
    petrova = new_page()
    sign_in(petrova, "petrova")
    petrova.goto(card)
    assert "Петрова" in petrova.get_by_test_id("responsible").inner_text()
    summary = petrova.get_by_test_id("deal-summary").inner_text()
    assert FULL_BRIEF["next_step"] in summary and FULL_BRIEF["promises"] in summary
    assert "Иванов" in summary and "Тарасов" in summary
    # As the client's owner she sees its invoice, paid, and the shipment.
    assert "оплачен" in petrova.get_by_test_id("invoices").inner_text()
    assert "2 000,00 ₽" in petrova.get_by_test_id("shipments").inner_text()
    deal.refresh_from_db()
    assert deal.responsible == keeper and deal.stage.code == "completed"
