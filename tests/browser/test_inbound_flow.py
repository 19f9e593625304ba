"""An inbound request in a real browser, in Russian (the default language): a visitor fills the
web form embedded in another site's page; the client's owner is away, so the request goes to
the least loaded available specialist, whose "my requests" page, already open, shows it
without a reload (htmx polling); he opens it, sees why it came to him, converts it to a deal,
and the deal's page opens."""

from __future__ import annotations

import re

import pytest

from otdel.inbound import services
from otdel.inbound.models import InboundRequest, Status
from otdel.inbound.schemas import RequestIn
from otdel.people.models import Availability, Role
from otdel.sales.models import Deal, DealSource
from tests.factories import make_client, make_head, make_team, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-Word-123"


def sign_in(page, username: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/(my-base|head)/"))


def test_a_visitors_request_reaches_the_least_loaded_specialist_live_and_becomes_a_deal(
    transactional_db, new_page, frozen_clock, live_server
):
    team = make_team("Отдел продаж")
    head = make_head(team, username="head", last_name="Сидоров", first_name="Пётр")
    # Smirnov joins first, so a tie goes to him: he already holds one request.
    smirnov = make_user(
        Role.HUNTER, team=team, username="smirnov", last_name="Смирнов", first_name="Олег"
    )
    ivanov = make_user(
        Role.HUNTER, team=team, username="ivanov", last_name="Иванов", first_name="Иван"
    )
    petrova = make_user(
        Role.ACCOUNT_MANAGER, team=team, username="petrova", last_name="Петрова", first_name="Анна"
    )
    client = make_client(head, owner=petrova, name="ООО Завод", email="zakupki@zavod.ru")
    earlier = services.receive(
        RequestIn(name="Ранний", email="early@example.org"), team_id=team.pk, channel="manual"
    ).request
    assert earlier.assignee_id == smirnov.pk
    form = services.create_web_form(team.pk, name="Сайт завода", actor=head)

    # Ivanov has his requests open; nothing is there yet.
    desk = new_page()
    sign_in(desk, "ivanov")
    desk.goto("/requests/")
    desk.get_by_test_id("no-requests").wait_for()
    desk.evaluate("window.notReloaded = true")

    # The owner goes away (the switch in her header).
    owner = new_page()
    sign_in(owner, "petrova")
    owner.goto("/requests/")
    owner.get_by_test_id("availability").locator("summary").click()
    owner.get_by_test_id("availability-away").click()
    owner.locator("#availability.avail-away").wait_for()
    petrova.refresh_from_db()
    assert petrova.availability == Availability.AWAY

    # A visitor fills the form embedded in the client's own site.
    visitor = new_page()
    visitor.set_content(
        f'<h1>ООО Завод</h1><iframe src="{live_server.url}/f/{form.key}/" width="600" '
        'height="700"></iframe>'
    )
    frame = visitor.frame_locator("iframe")
    frame.locator("#id_name").fill("Олег Закупщик")
    frame.locator("#id_company").fill("ООО Завод")
    frame.locator("#id_email").fill("zakupki@zavod.ru")
    frame.locator("#id_message").fill("Нужны два компрессора <до пятницы>")
    frame.get_by_test_id("send").click()
    number = frame.get_by_test_id("number").inner_text()
    request = InboundRequest.objects.get(channel="web")
    assert number == f"№{request.number}"
    assert request.client_id == client.pk
    assert request.assignee_id == ivanov.pk  # Petrova away, Smirnov holds one: Ivanov

    # It appears on Ivanov's open page by itself (polling), without a reload.
    row = desk.get_by_test_id(f"request-{request.pk}")
    row.wait_for(timeout=30_000)
    assert desk.evaluate("window.notReloaded") is True
    assert "ООО Завод" in row.inner_text()

    # He opens it and sees why it came to him.
    desk.get_by_test_id(f"open-{request.pk}").click()
    desk.wait_for_url(f"**/requests/{request.pk}/")
    why = desk.get_by_test_id("why").inner_text()
    assert "Петрова" in why and "Иванов" in why
    assert "Нужны два компрессора <до пятницы>" in desk.get_by_test_id("field-message").inner_text()

    # He converts it to a deal; the deal's page opens.
    desk.fill("#convert-title", "Два компрессора для ООО Завод")
    desk.fill("#convert-amount", "240 000")
    desk.get_by_test_id("convert").click()
    desk.wait_for_url(re.compile(r"/deals/\d+/$"))
    desk.get_by_text("Два компрессора для ООО Завод").first.wait_for()
    desk.get_by_text(f"Заявка №{request.number} стала этой сделкой").wait_for()

    deal = Deal.objects.get()
    assert desk.url.endswith(f"/deals/{deal.pk}/")
    assert deal.source == DealSource.INBOUND and deal.client_id == client.pk
    request.refresh_from_db()
    assert request.status == Status.CONVERTED and request.deal_id == deal.pk
