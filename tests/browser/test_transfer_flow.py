"""The ownership story in a real browser, in Russian (the default language): claim, see the
countdown, request a transfer, approve it, lose the client."""

from __future__ import annotations

import re

import pytest

from otdel.clients.models import Client
from otdel.people.models import Role
from tests.factories import make_client, make_head, make_team, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-Word-123"


def sign_in(page, username: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/(my-base|head)/"))


def test_claim_request_transfer_approve_and_the_client_leaves_the_first_base(
    transactional_db, new_page
):
    team = make_team("Отдел продаж")
    head = make_head(team, username="head", last_name="Сидоров", first_name="Пётр")
    make_user(Role.HUNTER, team=team, username="ivanov", last_name="Иванов", first_name="Иван")
    make_user(
        Role.ACCOUNT_MANAGER, team=team, username="petrova", last_name="Петрова", first_name="Анна"
    )
    client = make_client(head, name="ООО Ромашка")

    # A manager claims the client from the pool; the row answers in place.
    ivanov = new_page()
    sign_in(ivanov, "ivanov")
    ivanov.goto("/pool/")
    row = ivanov.locator(f"tr[data-client='{client.pk}']")
    row.get_by_role("button", name="Взять").click()
    row.get_by_text("теперь ваш").wait_for()

    # He sees it in his base with its countdown.
    ivanov.goto("/my-base/?sort=returns")
    mine = ivanov.locator(f"tr[data-client='{client.pk}']")
    mine.wait_for()
    assert re.search(r"вернётся в пул через 30 дней", mine.inner_text())
    assert "1 из 200" in ivanov.get_by_test_id("cap-usage").inner_text()

    # Another manager opens the card: the history is there, no claim button; he asks for it.
    petrova = new_page()
    sign_in(petrova, "petrova")
    petrova.goto(f"/clients/{client.pk}/")
    petrova.get_by_text("взят из пула").first.wait_for()
    assert petrova.get_by_test_id("claim").count() == 0
    assert "Иванов" in petrova.get_by_test_id("owner").inner_text()
    petrova.get_by_test_id("request-transfer-open").click()
    petrova.fill("textarea[name=reason]", "Они прислали заявку на 300 единиц")
    petrova.get_by_test_id("request-transfer").click()
    petrova.get_by_text("Запрос отправлен").wait_for()

    # The head of sales finds the request and approves it.
    boss = new_page()
    sign_in(boss, "head")
    boss.goto("/transfers/?box=open")
    boss.get_by_role("link", name="ООО Ромашка").click()
    boss.get_by_text("Они прислали заявку на 300 единиц").wait_for()
    boss.fill("textarea[name=comment]", "Заказ подтверждён")
    boss.get_by_test_id("approve").click()
    boss.get_by_text("Одобрено: клиент передан.").wait_for()
    assert "одобрен" in boss.get_by_test_id("transfer-status").inner_text()

    # The first manager no longer has the client.
    ivanov.goto("/my-base/")
    ivanov.get_by_text("Ваша база пуста").wait_for()
    assert ivanov.locator(f"tr[data-client='{client.pk}']").count() == 0
    client.refresh_from_db()
    assert client.owner.username == "petrova"
    assert Client.objects.filter(owner__username="ivanov").count() == 0
