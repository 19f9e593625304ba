"""Revenue and margin by person × category: the sums to the kopeck against facts written by the
real services (shipments, a cost change after shipping, returns, a credit note, a 1С
re-import's correction), the month a return counts in, and who sees which rows."""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.urls import reverse

from otdel.analytics import sales
from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.errors import Invalid
from otdel.ownership import services as ownership
from otdel.people.models import Role
from otdel.sales import import_1c, money_facts, services
from otdel.sales.models import ProductCategory, Shipment, ShipmentLine
from otdel.sales.schemas import CreditNoteIn, ReturnIn, ReturnLineIn
from tests.factories import make_client, make_user, valid_inn
from tests.sales.conftest import open_deal
from tests.sales.money_helpers import invoice, product, shipment

pytestmark = pytest.mark.django_db
D = Decimal
INN = valid_inn(4242)


@pytest.fixture(autouse=True)
def worker_runs_at_once(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _import(text: str, head) -> None:
    upload = SimpleUploadedFile("shipments.csv", text.encode("cp1251"), content_type="text/csv")
    job = import_1c.start_import(upload, kind="shipments", source="1c:main", actor=head)
    job = import_1c.set_columns(job, job.columns, actor=head)
    job = import_1c.preview(job, actor=head)
    import_1c.commit(job.pk, actor=head)


@pytest.fixture
def facts(head, manager, other_manager, team):
    """October and November 2026 of two managers, written through the services."""
    clock.freeze(dt.datetime(2026, 10, 1, 10, 0, tzinfo=clock.MOSCOW))
    try:
        kmp = product(head, sku="KMP-1", cost="333.33")
        zip_ = product(
            head,
            sku="ZIP-1",
            cost="12.50",
            category_id=ProductCategory.objects.get(code="spare_parts").pk,
        )
        mine = make_client(head, owner=manager, inn=INN, name="ООО Моя")
        deal = open_deal(manager, client=mine)
        theirs = open_deal(other_manager, owner=other_manager)
        clock.advance(dt.timedelta(days=19))  # 20 October
        october = shipment(deal.pk, manager, (kmp.pk, "2", "2000.00"))
        clock.advance(dt.timedelta(days=21))  # 10 November: a 1С export, then a changed one
        text = "Номер;Дата;ИНН;Артикул;Количество;Сумма без НДС\n{};10.11.2026;{};KMP-1;{};{}\n"
        _import(text.format("РН-1", INN, "1", "450,00"), head)
        _import(text.format("РН-1", INN, "2", "900,00"), head)  # → a correction of +1
        clock.advance(dt.timedelta(days=8))  # 18 November
        november = shipment(deal.pk, manager, (kmp.pk, "3", "1000.00"), (zip_.pk, "4", "80.00"))
        clock.advance(dt.timedelta(hours=1))
        services.change_cost(kmp.pk, amount=D("400.00"), actor=head)  # after the shipment
        clock.advance(dt.timedelta(hours=1))
        shipment(deal.pk, manager, (kmp.pk, "1", "500.00"))
        for shipped in (october, november):  # one compressor of each comes back in November
            line = shipped.lines.get(product=kmp)
            money_facts.return_goods(
                shipped.pk,
                ReturnIn(lines=[ReturnLineIn(line_id=line.pk, quantity=D(1))], reason="брак"),
                actor=head,
            )
        shipment(theirs.pk, other_manager, (zip_.pk, "2", "40.00"))
        # A credit note lowers an invoice, not a shipment: the figures do not move.
        inv = invoice(deal.pk, manager, (kmp.pk, 1, "1000.00"))
        money_facts.issue_credit_note(inv.pk, CreditNoteIn(reason="скидка"), actor=head)
        yield {"equipment": kmp.category_id, "spare_parts": zip_.category_id}
    finally:
        clock.unfreeze()


def _cells(tables, person_id):
    (table,) = tables
    line = next(p for p in table.people if p.person_id == person_id)
    return {
        c.code: (f.revenue, f.cost, f.margin)
        for c, f in zip(table.categories, line.cells, strict=True)
        if f.revenue or f.cost
    }, (line.total.revenue, line.total.cost, line.total.margin)


def test_the_head_sees_the_team_net_of_returns_and_corrections_to_the_kopeck(
    head, manager, other_manager, facts
):
    november = sales.period_of("2026-11", "2026-11")
    tables = sales.sales_report(head, november)
    cells, total = _cells(tables, manager.pk)
    # equipment: 1000 + 500 − 1000 (the October return) − 333.33 + 450 + 450 (the correction);
    # cost: 999.99 (333.33 × 3) + 400 (the new cost) − 333.33 − 333.33 + 333.33 + 333.33
    assert cells == {
        "equipment": (D("1066.67"), D("1399.99"), D("-333.32")),
        "spare_parts": (D("80.00"), D("50.00"), D("30.00")),
    }
    assert total == (D("1146.67"), D("1449.99"), D("-303.32"))
    assert _cells(tables, other_manager.pk) == (
        {"spare_parts": (D("40.00"), D("25.00"), D("15.00"))},
        (D("40.00"), D("25.00"), D("15.00")),
    )
    (table,) = tables
    assert (table.total.revenue, table.total.cost, table.total.margin) == (
        D("1186.67"),
        D("1474.99"),
        D("-288.32"),
    )
    assert [p.person_id for p in table.people] == [manager.pk, other_manager.pk]


def test_october_keeps_its_shipment_and_the_return_counts_in_november(head, manager, facts):
    both = sales.period_of("2026-10", "2026-11")
    (table,) = sales.sales_report(head, both)
    months = {m: (f.revenue, f.cost, f.margin) for m, f in table.months}
    assert months == {
        dt.date(2026, 10, 1): (D("2000.00"), D("666.66"), D("1333.34")),
        dt.date(2026, 11, 1): (D("1186.67"), D("1474.99"), D("-288.32")),
    }
    (october,) = sales.sales_report(head, sales.period_of("2026-10", "2026-10"))
    assert [(p.person_id, p.total.revenue) for p in october.people] == [(manager.pk, D("2000.00"))]


def test_a_manager_sees_only_his_own_clients_and_no_costs(manager, other_manager, facts):
    (table,) = sales.sales_report(manager, sales.period_of("2026-11", "2026-11"))
    assert [p.person_id for p in table.people] == [manager.pk]
    assert (table.total.revenue, table.total.cost, table.total.margin) == (
        D("1146.67"),
        None,
        None,
    )
    rows = sales.revenue_and_margin(other_manager, sales.period_of("2026-11", "2026-11"))
    assert {r.person_id for r in rows} == {other_manager.pk}
    # A director's team filter does not widen what a manager sees.
    rows = sales.revenue_and_margin(
        manager, sales.period_of("2026-11", "2026-11"), team_id=manager.team_id
    )
    assert {r.person_id for r in rows} == {manager.pk}


def test_a_head_of_another_team_sees_nothing_of_this_one(facts):
    from tests.factories import make_head, make_team

    stranger = make_head(make_team("Другой отдел"), username="other_head")
    assert sales.sales_report(stranger, sales.period_of("2026-11", "2026-11")) == []


def test_the_page_shows_the_table_to_the_head_and_only_his_row_to_a_manager(
    head, manager, other_manager, facts
):
    http = HttpClient()
    http.force_login(head)
    url = reverse("analytics:sales")
    page = http.get(url, {"since": "2026-10", "until": "2026-11"})
    html = page.content.decode()
    assert page.status_code == 200 and "Выручка и маржа" in html
    assert "Иванов" in html and "Петрова" in html and "По месяцам" in html
    assert 'href="/analytics/sales/"' in html  # the head's menu
    http.force_login(manager)
    page = http.get(url, {"since": "2026-11", "until": "2026-11"})
    html = page.content.decode()
    assert page.status_code == 200 and "Иванов" in html and "Петрова" not in html
    assert "Маржа" not in html  # no costs for a manager
    bad = http.get(url, {"since": "2026-12", "until": "2026-11"})
    assert bad.status_code == 400 and "раньше первого" in bad.content.decode()


def test_the_api_gives_the_same_rows_and_refuses_a_bad_period(head, manager, facts):
    http = HttpClient()
    http.force_login(head)
    data = http.get("/api/analytics/sales", {"since": "2026-11", "until": "2026-11"}).json()
    assert data["totals"] == [
        {"currency": "RUB", "revenue": "1186.67", "cost": "1474.99", "margin": "-288.32"}
    ]
    mine = [r for r in data["rows"] if r["person_id"] == manager.pk]
    assert {(r["category_id"], r["revenue"], r["margin"]) for r in mine} == {
        (facts["equipment"], "1066.67", "-333.32"),
        (facts["spare_parts"], "80.00", "30.00"),
    }
    http.force_login(manager)
    data = http.get("/api/analytics/sales", {"since": "2026-11"}).json()
    assert {r["person_id"] for r in data["rows"]} == {manager.pk}
    assert data["totals"][0]["cost"] is None
    response = http.get("/api/analytics/sales", {"since": "2026-13"})
    assert response.status_code == 422 and response.json()["code"] == "invalid_month"


def test_a_period_is_whole_months_in_moscow_time(frozen_clock):
    assert sales.period_of() == sales.Period(dt.date(2026, 11, 1), dt.date(2026, 11, 1))
    p = sales.period_of("2026-01", "2026-03")
    assert p.start == dt.datetime(2026, 1, 1, tzinfo=clock.MOSCOW)
    assert p.end == dt.datetime(2026, 4, 1, tzinfo=clock.MOSCOW)
    assert sales.period_of(until="2026-02").first == dt.date(2026, 2, 1)
    with pytest.raises(Invalid):
        sales.period_of("2020-01", "2026-01")  # over 36 months


def test_a_clerk_who_owns_no_clients_sees_an_empty_report(team, facts):
    clerk = make_user(Role.DOC_CLERK, team=team, username="clerk")
    assert sales.sales_report(clerk, sales.period_of("2026-11", "2026-11")) == []


def test_a_shipment_stays_credited_to_whoever_owned_the_client_when_it_was_shipped(
    head, manager, other_manager, facts
):
    november = sales.period_of("2026-11", "2026-11")
    before, before_total = _cells(sales.sales_report(head, november), manager.pk)
    mine = Client.objects.get(name="ООО Моя")
    shipped_18th = Shipment.objects.get(  # the one with the spare parts
        client=mine, kind="original", lines__category_id=facts["spare_parts"]
    )
    clock.advance(dt.timedelta(days=7))  # 25 November: the head gives the client to a colleague
    ownership.assign(mine.pk, to_user=other_manager, actor=head, reason="перераспределение")
    # The transfer rewrites nothing already shipped.
    assert _cells(sales.sales_report(head, november), manager.pk) == (before, before_total)

    clock.advance(dt.timedelta(days=2))  # 27 November: a 1С export with one row either side
    text = (
        "Номер;Дата;ИНН;Артикул;Количество;Сумма без НДС\n"
        f"РН-2;20.11.2026;{INN};KMP-1;1;450,00\n"  # shipped while the manager owned it
        f"РН-3;26.11.2026;{INN};KMP-1;1;300,00\n"  # shipped after the transfer
    )
    _import(text, head)
    # A return after the transfer of goods shipped before it debits whoever it was credited to.
    zip_line = shipped_18th.lines.get(category_id=facts["spare_parts"])
    money_facts.return_goods(
        shipped_18th.pk,
        ReturnIn(lines=[ReturnLineIn(line_id=zip_line.pk, quantity=D(1))], reason="брак"),
        actor=head,
    )

    tables = sales.sales_report(head, november)
    cells, total = _cells(tables, manager.pk)
    assert cells["equipment"][0] == before["equipment"][0] + D("450.00")
    # one of four spare parts (80.00 revenue, 12.50 each) came back: −20.00, cost −12.50
    assert cells["spare_parts"] == (D("60.00"), D("37.50"), D("22.50"))
    theirs, _ = _cells(tables, other_manager.pk)
    assert theirs["equipment"][0] == D("300.00")  # only what was shipped after the transfer
    assert theirs["spare_parts"] == (D("40.00"), D("25.00"), D("15.00"))  # his own client's
    # A manager's own report follows the credit, not today's owner of the client.
    own = sales.revenue_and_margin(manager, november)
    assert sum(r.figures.revenue for r in own) == total[0]
    assert {r.person_id for r in own} == {manager.pk}


def test_the_migration_fills_existing_rows_as_the_services_write_them(
    head, manager, other_manager, facts
):
    from django.db import connection

    from tests.factories import make_team

    migration = importlib.import_module("otdel.sales.migrations.0007_lines_carry_what_reports_read")
    mine = Client.objects.get(name="ООО Моя")
    clock.advance(dt.timedelta(days=7))
    ownership.assign(mine.pk, to_user=other_manager, actor=head, reason="перераспределение")
    clock.advance(dt.timedelta(days=2))
    _import(
        "Номер;Дата;ИНН;Артикул;Количество;Сумма без НДС\n"
        f"РН-2;20.11.2026;{INN};KMP-1;1;450,00\nРН-3;26.11.2026;{INN};KMP-1;1;300,00\n",
        head,
    )
    lines = ShipmentLine.objects.order_by("pk")
    fields = ("team_id", "shipped_at", "currency", "owner_id", "category_id")
    written = list(lines.values_list("pk", *fields))
    credited = list(Shipment.objects.order_by("pk").values_list("pk", "owner_id"))
    assert {c[1] for c in credited} == {manager.pk, other_manager.pk}
    # Rows as they were before the migration: nothing to read the credit from.
    elsewhere = make_team("Чужой")
    Shipment.objects.update(owner=None)
    lines.update(
        team=elsewhere,
        owner=None,
        currency="XXX",
        category=ProductCategory.objects.exclude(pk=facts["equipment"]).first(),
        shipped_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
    )
    with connection.cursor() as cursor:  # the migration's own statements, as it runs them
        migration.fill(None, SimpleNamespace(execute=cursor.execute))
    assert list(lines.values_list("pk", *fields)) == written
    assert list(Shipment.objects.order_by("pk").values_list("pk", "owner_id")) == credited
