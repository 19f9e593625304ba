"""Money pages, in Russian: the deal card's invoices, payments and shipments with their forms,
credit notes and returns, the lists with filters, the 1С import wizard and the unresolved rows;
who is refused, and that a refusal or bad input writes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.urls import reverse

from otdel.people.models import Role, User
from otdel.sales.models import (
    FactKind,
    ImportMapping,
    Invoice,
    MoneyImport,
    Payment,
    PaymentAllocation,
    Shipment,
    UnresolvedRow,
)
from tests.factories import make_client, make_user, valid_inn
from tests.sales.conftest import open_deal
from tests.sales.money_helpers import invoice, product, shipment

pytestmark = pytest.mark.django_db


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


@pytest.fixture
def clerk(team) -> User:
    return make_user(Role.DOC_CLERK, team=team, username="clerk", last_name="Орлова")


@pytest.fixture
def operator(team) -> User:
    return make_user(Role.DB_OPERATOR, team=team, username="operator", last_name="Белова")


def _count() -> tuple[int, int, int, int]:
    return (
        Invoice.objects.count(),
        Payment.objects.count(),
        Shipment.objects.count(),
        PaymentAllocation.objects.count(),
    )


# --- the deal card ------------------------------------------------------------------------------


def test_the_deal_card_shows_its_money_in_russian_and_costs_to_the_head_only(
    head, manager, order_manager, deal, goods, frozen_clock
):
    inv = invoice(deal.pk, manager, (goods.pk, 2, "1000"))
    shipment(deal.pk, manager, (goods.pk, "2", "2000"))
    page = browser(manager).get(reverse("sales:deal_detail", args=[deal.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Счета" in html and "Оплаты" in html and "Отгрузки" in html
    assert inv.number in html and "2 440,00 ₽" in html and "440,00 ₽" in html
    assert "не оплачен" in html and "Выставить счёт" in html
    assert "Выручка без НДС" in html and "2 000,00 ₽" in html
    assert "Маржа" not in html and "1 200,00 ₽" not in html  # costs are the head's
    # The responsible hunter enters facts but writes no credit notes or returns.
    assert reverse("sales:credit_note", args=[inv.pk]) not in html
    head_html = browser(head).get(reverse("sales:deal_detail", args=[deal.pk])).content.decode()
    assert "Маржа" in head_html and "1 200,00 ₽" in head_html and "800,00 ₽" in head_html
    assert reverse("sales:credit_note", args=[inv.pk]) in head_html


def test_a_colleague_sees_the_deal_but_not_its_money_and_cannot_post(
    manager, other_manager, deal, goods, frozen_clock
):
    invoice(deal.pk, manager, (goods.pk, 1, "1000"))
    http = browser(other_manager)
    html = http.get(reverse("sales:deal_detail", args=[deal.pk])).content.decode()
    assert "Счетов пока нет" in html and "Выставить счёт" not in html
    before = _count()
    refused = http.post(
        reverse("sales:invoice_issue", args=[deal.pk]),
        {"product": goods.pk, "quantity": "1", "unit_price": "10"},
    )
    assert refused.status_code == 403
    refused = http.post(reverse("sales:payment_record", args=[deal.pk]), {"amount": "10"})
    assert refused.status_code == 403
    assert http.get(reverse("sales:invoice_line", args=[deal.pk])).status_code == 403
    assert _count() == before


def test_someone_of_another_team_gets_404_and_nothing_is_written(deal, goods, frozen_clock):
    stranger = make_user(Role.ORDER_MANAGER, team=make_user(Role.HUNTER).team)
    http = browser(stranger)
    assert http.get(reverse("sales:deal_detail", args=[deal.pk])).status_code == 404
    refused = http.post(
        reverse("sales:shipment_record", args=[deal.pk]),
        {"ship_product": goods.pk, "ship_quantity": "1", "ship_revenue": "1"},
    )
    assert refused.status_code == 404
    assert _count() == (0, 0, 0, 0)


def test_issuing_an_invoice_with_lines_from_the_form(head, manager, deal, goods, frozen_clock):
    other = product(head, sku="ZIP-1", name="Фильтр ЗИП")
    response = browser(manager).post(
        reverse("sales:invoice_issue", args=[deal.pk]),
        {
            "product": [goods.pk, other.pk, ""],
            "quantity": ["2", "1,5", ""],
            "unit_price": ["1 000,00", "", ""],
            "discount": ["10", "", ""],
            "vat": ["", "none", ""],
        },
        follow=True,
    )
    assert response.status_code == 200
    inv = Invoice.objects.get()
    lines = list(inv.lines.order_by("position"))
    assert len(lines) == 2
    assert lines[0].net_amount == Decimal("1800.00") and lines[0].vat_amount == Decimal("396.00")
    assert lines[1].unit_price == goods.list_price and lines[1].vat_rate is None
    assert inv.total == Decimal("2196.00") + Decimal("1500.00")
    html = response.content.decode()
    assert f"Счёт № {inv.number} на 3 696,00 ₽ выставлен." in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"product": "", "quantity": "2", "unit_price": "10"}, "Строка 1: выберите товар."),
        ({"product": "GOODS", "quantity": "два", "unit_price": "10"}, "не число"),
        ({"product": "GOODS", "quantity": "-1", "unit_price": "10"}, "Проверьте значения"),
        ({"product": "GOODS", "quantity": "1", "unit_price": "10", "discount": "150"}, "Проверьте"),
        ({"product": "", "quantity": "", "unit_price": ""}, "Добавьте хотя бы одну строку."),
        (
            {"product": "GOODS", "quantity": "1", "unit_price": "1", "issued_on": "2030-01-01"},
            "Документ не может быть датирован будущим",
        ),
    ],
)
def test_a_bad_invoice_shows_the_error_next_to_the_form_and_writes_nothing(
    manager, deal, goods, frozen_clock, data, message
):
    data = {k: (str(goods.pk) if v == "GOODS" else v) for k, v in data.items()}
    response = browser(manager).post(reverse("sales:invoice_issue", args=[deal.pk]), data)
    assert response.status_code == 200
    html = response.content.decode()
    error = html.split('data-testid="invoice-error">')[1].split("</p>")[0]
    assert message in error
    assert 'id="invoice-form" open' in html
    assert _count() == (0, 0, 0, 0)


def test_a_payment_is_allocated_as_typed_or_oldest_first(
    manager, order_manager, deal, goods, frozen_clock
):
    first = invoice(deal.pk, manager, (goods.pk, 1, "1000", 0, None))
    second = invoice(deal.pk, manager, (goods.pk, 1, "500", 0, None))
    http = browser(order_manager)
    url = reverse("sales:payment_record", args=[deal.pk])
    page = http.get(reverse("sales:deal_detail", args=[deal.pk])).content.decode()
    assert f'name="alloc_{first.pk}"' in page and f'name="alloc_{second.pk}"' in page
    # Over what is left on the invoice: refused next to the form, nothing written.
    response = http.post(url, {"amount": "2000", f"alloc_{second.pk}": "600"})
    html = response.content.decode()
    assert "больше остатка к оплате по счёту" in html.split('data-testid="payment-error">')[1]
    assert _count()[1:] == (0, 0, 0)
    # As typed.
    http.post(url, {"amount": "300", f"alloc_{second.pk}": "300"})
    assert PaymentAllocation.objects.get().invoice == second
    # Nothing typed: the oldest first; the rest is an advance.
    response = http.post(url, {"amount": "1 500,00", "number": "п/п 17"}, follow=True)
    assert "Оплата 1 500,00 ₽ записана." in response.content.decode()
    paid = {
        a.invoice_id: a.amount for a in PaymentAllocation.objects.filter(payment__number="п/п 17")
    }
    assert paid == {first.pk: Decimal("1000.00"), second.pk: Decimal("200.00")}
    html = response.content.decode()
    assert "Аванс" in html and "300,00 ₽" in html and "оплачен" in html
    # A bad amount.
    response = http.post(url, {"amount": "много"})
    assert "не число" in response.content.decode()
    assert Payment.objects.count() == 2


def test_a_shipment_freezes_the_cost_and_bad_lines_write_nothing(
    manager, deal, goods, frozen_clock
):
    http = browser(manager)
    url = reverse("sales:shipment_record", args=[deal.pk])
    response = http.post(url, {"ship_product": goods.pk, "ship_quantity": "2", "ship_revenue": ""})
    assert "Заполните" in response.content.decode().split('data-testid="shipment-error">')[1]
    response = http.post(
        url,
        {
            "ship_product": goods.pk,
            "ship_quantity": "2",
            "ship_revenue": "2000",
            "shipped_on": "2030-01-01",
        },
    )
    assert "будущим" in response.content.decode()
    assert Shipment.objects.count() == 0
    response = http.post(
        url,
        {
            "ship_product": [goods.pk, ""],
            "ship_quantity": ["2", ""],
            "ship_revenue": ["2 000", ""],
            "number": "ТН-5",
        },
        follow=True,
    )
    assert "Отгрузка на 2 000,00 ₽ без НДС записана." in response.content.decode()
    s = Shipment.objects.get()
    assert s.cost == Decimal("1200.00") and s.number == "ТН-5"


def test_credit_note_and_return_by_the_order_manager_not_by_the_hunter(
    manager, order_manager, deal, goods, frozen_clock
):
    inv = invoice(deal.pk, manager, (goods.pk, 1, "1000", 0, None))
    sent = shipment(deal.pk, manager, (goods.pk, "4", "4000"))
    line = sent.lines.get()
    hunter = browser(manager)
    assert (
        hunter.post(reverse("sales:credit_note", args=[inv.pk]), {"reason": "x"}).status_code == 403
    )
    assert (
        hunter.post(
            reverse("sales:goods_return", args=[sent.pk]), {f"ret_{line.pk}": "1", "reason": "x"}
        ).status_code
        == 403
    )
    assert _count() == (1, 0, 1, 0)
    om = browser(order_manager)
    # Too much: the error sits next to that invoice's form.
    response = om.post(
        reverse("sales:credit_note", args=[inv.pk]), {"amount": "5000", "reason": "скидка"}
    )
    assert (
        "не может превышать остаток"
        in response.content.decode().split('data-testid="credit-error">')[1]
    )
    assert Invoice.objects.count() == 1
    response = om.post(
        reverse("sales:credit_note", args=[inv.pk]),
        {"amount": "400", "reason": "скидка за задержку"},
        follow=True,
    )
    assert "Корректировка на 400,00 ₽ к счёту" in response.content.decode()
    assert Invoice.objects.filter(kind=FactKind.REVERSAL).get().total == Decimal("-400.00")
    response = om.post(
        reverse("sales:goods_return", args=[sent.pk]), {f"ret_{line.pk}": "5", "reason": "брак"}
    )
    error = response.content.decode().split('data-testid="return-error">')[1]
    assert "можно вернуть не больше 4" in error
    assert Shipment.objects.count() == 1
    response = om.post(
        reverse("sales:goods_return", args=[sent.pk]),
        {f"ret_{line.pk}": "1", "reason": "брак"},
        follow=True,
    )
    assert "Возврат на 1 000,00 ₽ без НДС записан." in response.content.decode()
    assert Shipment.objects.get(kind=FactKind.REVERSAL).revenue == Decimal("-1000.00")


def test_the_htmx_line_adds_one_more_row(manager, deal, goods):
    response = browser(manager).get(
        reverse("sales:invoice_line", args=[deal.pk]), headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 200 and html.strip().startswith("<tr")
    assert "Компрессор ВК-15" in html and "как в каталоге" in html


# --- lists --------------------------------------------------------------------------------------


def test_lists_show_what_each_viewer_may_see_with_filters(
    head, manager, other_manager, order_manager, goods, pipeline, frozen_clock
):
    mine = open_deal(manager, title="Моя сделка")
    theirs = open_deal(other_manager, title="Чужая сделка")
    a = invoice(mine.pk, manager, (goods.pk, 1, "1000", 0, None))
    b = invoice(theirs.pk, other_manager, (goods.pk, 3, "1000", 0, None))
    shipment(mine.pk, manager, (goods.pk, "1", "1000"))
    url = reverse("sales:money_list", args=["invoices"])
    html = browser(manager).get(url).content.decode()
    assert "Счета, оплаты, отгрузки" in html and a.number in html and b.number not in html
    html = browser(order_manager).get(url).content.decode()
    assert a.number in html and b.number in html
    html = browser(order_manager).get(url, {"person": other_manager.pk}).content.decode()
    assert a.number not in html and b.number in html
    html = browser(order_manager).get(url, {"q": mine.client.name}).content.decode()
    assert a.number in html and b.number not in html
    html = browser(head).get(url, {"status": "paid"}).content.decode()
    assert "Ничего не найдено." in html
    html = browser(head).get(url, {"since": "2030-01-01"}).content.decode()
    assert "Ничего не найдено." in html
    html = browser(head).get(url, {"since": "вчера"}).content.decode()
    assert "не дата" in html
    ships = reverse("sales:money_list", args=["shipments"])
    html = browser(head).get(ships).content.decode()
    # Whom the shipment is credited to: the client's owner when it was shipped.
    assert "Засчитано" in html and f'data-testid="credited-to">{manager.display_name}<' in html
    assert "Маржа" in html
    assert "Маржа" not in browser(order_manager).get(ships).content.decode()
    assert browser(manager).get(reverse("sales:money_list", args=["payments"])).status_code == 200
    assert browser(manager).get("/money/nonsense/").status_code == 404


# --- the 1С import wizard -----------------------------------------------------------------------


def _csv(inn: str, other_inn: str) -> SimpleUploadedFile:
    text = (
        "Номер;Дата;ИНН;Контрагент;Сумма\n"
        f"СЧ-1;01.11.2026;{inn};ООО Ромашка;1 220,00\n"
        f"СЧ-2;02.11.2026;{other_inn};ООО Неизвестная;500,00\n"
    )
    return SimpleUploadedFile("invoices.csv", text.encode("cp1251"), content_type="text/csv")


def test_the_import_wizard_from_upload_to_result(
    head, manager, operator, frozen_clock, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    # The commit is the background worker's task: here it runs as soon as it is queued.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    inn = valid_inn(901)
    client = make_client(manager, owner=manager, inn=inn, name="ООО Ромашка")
    http = browser(head)
    page = http.get(reverse("sales:import_1c"))
    assert page.status_code == 200 and "Импорт из 1С" in page.content.decode()
    response = http.post(
        reverse("sales:import_1c"),
        {"file": _csv(inn, valid_inn(902)), "kind": "invoices", "source": "1c:main"},
    )
    job = MoneyImport.objects.get()
    assert response.url == reverse("sales:import_1c_mapping", args=[job.pk])
    page = http.get(response.url).content.decode()
    assert "Что в каком столбце" in page and 'value="ИНН" selected' in page  # guessed
    fields = {f"field_{k}": v for k, v in job.columns.items()}
    response = http.post(reverse("sales:import_1c_mapping", args=[job.pk]), fields)
    assert response.url == reverse("sales:import_1c_preview", args=[job.pk])
    assert ImportMapping.objects.get(source="1c:main").columns == job.columns
    page = http.get(response.url).content.decode()
    assert "Проверка перед импортом" in page and "ООО Неизвестная" in page
    assert Invoice.objects.count() == 0  # the preview writes nothing
    response = http.post(reverse("sales:import_1c_preview", args=[job.pk]), follow=True)
    html = response.content.decode()
    assert "Импортировано" in html and "Выгрузка импортирована." in html
    assert Invoice.objects.get().client == client
    unresolved = UnresolvedRow.objects.get()
    # The database operator picks the client for the unmatched row.
    other = make_client(manager, owner=manager, name="ООО Неизвестная")
    op = browser(operator)
    page = op.get(reverse("sales:unresolved"), {"q": "Неизвестная"}).content.decode()
    assert "СЧ-2" in page and "ООО Неизвестная" in page
    response = op.post(
        reverse("sales:unresolved_resolve", args=[unresolved.pk]), {"client": other.pk}, follow=True
    )
    assert "Документ СЧ-2 импортирован" in response.content.decode()
    assert Invoice.objects.filter(client=other).count() == 1
    assert "Все строки разобраны." in op.get(reverse("sales:unresolved")).content.decode()


def test_the_check_runs_in_the_worker_while_the_page_shows_checking(
    head, manager, frozen_clock, settings, tmp_path
):
    from django_tasks_db.models import DBTaskResult

    from otdel.sales.tasks import run_money_preview_task

    settings.MEDIA_ROOT = str(tmp_path)
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    make_client(manager, owner=manager, inn=valid_inn(911), name="ООО Ромашка")
    http = browser(head)
    http.post(
        reverse("sales:import_1c"),
        {"file": _csv(valid_inn(911), valid_inn(912)), "kind": "invoices", "source": "1c:main"},
    )
    job = MoneyImport.objects.get()
    fields = {f"field_{k}": v for k, v in job.columns.items()}
    preview = reverse("sales:import_1c_preview", args=[job.pk])
    # A double click on "Check the file" queues one check; both land on the checking page.
    for _ in range(2):
        response = http.post(reverse("sales:import_1c_mapping", args=[job.pk]), fields)
        assert response.status_code == 302 and response.url == preview
    assert DBTaskResult.objects.filter(task_path__endswith="run_money_preview_task").count() == 1
    page = http.get(preview).content.decode()
    assert "Проверка файла…" in page and "проверяется…" in page
    assert "Проверка перед импортом" not in page and Invoice.objects.count() == 0
    recent = http.get(reverse("sales:import_1c")).content.decode()
    assert "проверяется…" in recent
    # The worker runs the task; the polling fragment asks for a reload, then the preview shows.
    assert run_money_preview_task.call(job.pk) == {"rows": 2, "errors": 0}
    assert http.get(preview, HTTP_HX_REQUEST="true")["HX-Refresh"] == "true"
    page = http.get(preview).content.decode()
    assert "Проверка перед импортом" in page and "ООО Неизвестная" in page
    assert Invoice.objects.count() == 0 and UnresolvedRow.objects.count() == 0


def test_a_second_upload_from_the_same_source_is_mapped_already(
    head, frozen_clock, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    ImportMapping.objects.create(
        source="1c:shop",
        kind="invoices",
        columns={"external_id": "Номер", "date": "Дата", "inn": "ИНН", "amount": "Сумма"},
        updated_at=frozen_clock.now(),
    )
    http = browser(head)
    http.post(
        reverse("sales:import_1c"),
        {"file": _csv(valid_inn(903), valid_inn(904)), "kind": "invoices", "source": "1c:shop"},
    )
    job = MoneyImport.objects.get()
    assert job.columns["amount"] == "Сумма"


def test_the_wizard_refuses_a_bad_mapping_and_a_bad_source(head, frozen_clock, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    http = browser(head)
    response = http.post(
        reverse("sales:import_1c"),
        {"file": _csv(valid_inn(905), valid_inn(906)), "kind": "invoices", "source": "бухгалтерия"},
    )
    assert response.status_code == 400 and "1c:main" in response.content.decode()
    assert not MoneyImport.objects.exists()
    http.post(
        reverse("sales:import_1c"),
        {"file": _csv(valid_inn(905), valid_inn(906)), "kind": "invoices", "source": "1c:main"},
    )
    job = MoneyImport.objects.get()
    response = http.post(reverse("sales:import_1c_mapping", args=[job.pk]), {"field_inn": "ИНН"})
    assert response.status_code == 400
    assert 'data-testid="import-error"' in response.content.decode()
    job.refresh_from_db()
    assert job.status == "uploaded" and Invoice.objects.count() == 0


def test_only_the_head_and_clerks_import_and_operators_resolve(
    manager, order_manager, clerk, operator, frozen_clock
):
    for user in (manager, order_manager, operator):
        assert browser(user).get(reverse("sales:import_1c")).status_code == 403
    assert browser(clerk).get(reverse("sales:import_1c")).status_code == 200
    for user in (manager, order_manager):
        assert browser(user).get(reverse("sales:unresolved")).status_code == 403
    assert browser(operator).get(reverse("sales:unresolved")).status_code == 200
    nav = browser(clerk).get(reverse("sales:import_1c")).content.decode()
    assert "Импорт из 1С" in nav and "Неразобранные строки" in nav
    nav = browser(manager).get(reverse("sales:board")).content.decode()
    assert "Счета и отгрузки" in nav and "Импорт из 1С" not in nav
