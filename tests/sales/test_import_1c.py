"""1С imports: a cp1251 CSV of invoices, payments allocated by invoice number, shipments with
the cost at the time of shipment, duplicate rows, a re-import (nothing changes), a changed
amount (a correction fact), unknown ИНН (the unresolved list) and a bad row (nothing written)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from otdel.audit.models import AuditEvent
from otdel.clients.models import Client
from otdel.core.errors import Conflict, Forbidden, Invalid
from otdel.people.models import Role
from otdel.sales import import_1c, money_facts
from otdel.sales.models import (
    FactKind,
    ImportMapping,
    Invoice,
    Payment,
    PaymentAllocation,
    Shipment,
    UnresolvedRow,
)
from tests.factories import make_client, make_user, valid_inn
from tests.sales.money_helpers import product

pytestmark = pytest.mark.django_db
D = Decimal
INN_A = valid_inn(101)
INN_B = valid_inn(202)
INN_UNKNOWN = valid_inn(303)

INVOICES = f"""Номер;Дата;ИНН;КПП;Контрагент;Сумма;НДС
СЧ-1;01.11.2026;{INN_A};;ООО «Альфа»;12 200,00;2 200,00
СЧ-2;02.11.2026;{INN_B};;ООО «Бета»;1 000,50;
СЧ-2;02.11.2026;{INN_B};;ООО «Бета»;1 000,50;
СЧ-3;03.11.2026;{INN_UNKNOWN};;ООО «Неизвестная»;500,00;
"""


def _file(text: str, name: str = "export.csv", encoding: str = "cp1251") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def _run(text: str, kind: str, actor, *, source: str = "1c:main", encoding: str = "cp1251"):
    job = import_1c.start_import(
        _file(text, encoding=encoding), kind=kind, source=source, actor=actor
    )
    job = import_1c.set_columns(job, job.columns, actor=actor)
    job = import_1c.preview(job, actor=actor)
    return import_1c.commit(job.pk, actor=actor)


@pytest.fixture
def clients(head, manager):
    a = make_client(head, owner=manager, inn=INN_A, name="ООО Альфа")
    b = make_client(head, owner=manager, inn=INN_B, name="ООО Бета")
    return a, b


def test_a_cp1251_invoice_export_is_previewed_then_imported(head, clients, frozen_clock):
    a, _b = clients
    job = import_1c.start_import(_file(INVOICES), kind="invoices", source="1c:main", actor=head)
    assert job.encoding == "cp1251" and job.delimiter == ";"
    assert job.columns["inn"] == "ИНН" and job.columns["amount"] == "Сумма"
    job = import_1c.set_columns(job, job.columns, actor=head)
    job = import_1c.preview(job, actor=head)
    report = job.report
    assert (report["new"], report["duplicates"], report["unmatched_count"]) == (2, 1, 1)
    assert report["error_count"] == 0
    assert report["unmatched"][0]["inn"] == INN_UNKNOWN
    assert not Invoice.objects.exists()  # the preview writes no fact
    import_1c.commit(job.pk, actor=head)
    first = Invoice.objects.get(external_id="СЧ-1")
    assert (first.client_id, first.total, first.vat_total, first.net_total) == (
        a.pk,
        D("12200.00"),
        D("2200.00"),
        D("10000.00"),
    )
    assert first.source == "1c:main" and first.issued_on == dt.date(2026, 11, 1)
    assert Invoice.objects.filter(external_id="СЧ-2").count() == 1  # the duplicate row once
    assert UnresolvedRow.objects.get().external_id == "СЧ-3"
    assert ImportMapping.objects.get(source="1c:main").columns == job.columns
    with pytest.raises(Conflict):
        import_1c.commit(job.pk, actor=head)  # a second click writes nothing


def test_a_reimport_changes_nothing_and_a_changed_amount_is_a_correction(
    head, clients, frozen_clock
):
    _run(INVOICES, "invoices", head)
    again = _run(INVOICES, "invoices", head)
    assert again.report["written"] == {
        "created": 0,
        "corrections": 0,
        "unchanged": 2,
        "unresolved": 1,
    }
    assert Invoice.objects.count() == 2 and UnresolvedRow.objects.count() == 1
    changed = INVOICES.replace("12 200,00;2 200,00", "12 810,00;2 310,00")
    _run(changed, "invoices", head)
    original = Invoice.objects.get(external_id="СЧ-1")
    assert original.total == D("12200.00")  # never overwritten
    correction = Invoice.objects.get(original=original)
    assert correction.kind == FactKind.CORRECTION and correction.external_id == "СЧ-1#c1"
    assert (correction.total, correction.vat_total) == (D("610.00"), D("110.00"))
    # the same changed file again: no second correction
    _run(changed, "invoices", head)
    assert Invoice.objects.filter(original=original).count() == 1
    # and back to the first amount: a correction the other way
    _run(INVOICES, "invoices", head)
    assert [i.total for i in Invoice.objects.filter(original=original).order_by("id")] == [
        D("610.00"),
        D("-610.00"),
    ]


def test_a_bad_row_stops_the_whole_file(head, clients, frozen_clock):
    bad = INVOICES + f"СЧ-9;32.13.2026;{INN_A};;ООО «Альфа»;1,00;\n"
    job = import_1c.start_import(_file(bad), kind="invoices", source="1c:main", actor=head)
    job = import_1c.set_columns(job, job.columns, actor=head)
    job = import_1c.preview(job, actor=head)
    assert job.report["error_count"] == 1 and job.report["errors"][0]["row"] == 6
    audits = AuditEvent.objects.count()
    with pytest.raises(Invalid) as err:
        import_1c.commit(job.pk, actor=head)
    assert err.value.code == "import_has_errors"
    assert not Invoice.objects.exists() and not UnresolvedRow.objects.exists()
    assert AuditEvent.objects.count() == audits
    job.refresh_from_db()
    assert job.status == "previewed"  # rolled back with the rest


def test_payments_are_allocated_by_invoice_number_and_corrections_release_money(
    head, clients, frozen_clock
):
    _run(INVOICES, "invoices", head)
    payments = f"""Номер,Дата,ИНН,Сумма,Счет
ПП-1,05.11.2026,{INN_A},"5000,00",СЧ-1
ПП-2,05.11.2026,{INN_B},"2000,00",СЧ-2
"""
    _run(payments, "payments", head, source="1c:bank", encoding="utf-8")
    inv1 = Invoice.objects.get(external_id="СЧ-1")
    inv2 = Invoice.objects.get(external_id="СЧ-2")
    balances = money_facts.invoice_balances([inv1.pk, inv2.pk])
    assert balances[inv1.pk][1] == D("5000.00")
    assert balances[inv2.pk][1] == D("1000.50")  # never more than was left to pay
    p2 = Payment.objects.get(external_id="ПП-2")
    assert money_facts.payment_balances([p2.pk])[p2.pk] == (D("2000.00"), D("1000.50"))
    # the bank says ПП-1 was 3000: a correction of −2000 and 2000 given back by the invoice
    _run(
        payments.replace('"5000,00"', '"3000,00"'),
        "payments",
        head,
        source="1c:bank",
        encoding="utf-8",
    )
    p1 = Payment.objects.get(external_id="ПП-1")
    assert Payment.objects.get(original=p1).amount == D("-2000.00")
    assert money_facts.invoice_balances([inv1.pk])[inv1.pk][1] == D("3000.00")
    assert PaymentAllocation.objects.filter(payment=p1, amount__lt=0).count() == 1


def test_shipments_take_the_cost_at_their_date_and_restart_the_clock(
    frozen_clock, head, manager, clients
):
    a, _b = clients
    kmp = product(head, sku="KMP-1", cost="600.00")
    frozen_clock.advance(dt.timedelta(days=10))
    from otdel.sales import services

    services.change_cost(kmp.pk, amount=D("650.00"), actor=head)
    frozen_clock.advance(dt.timedelta(days=1))
    day = (frozen_clock.now() - dt.timedelta(days=5)).astimezone(frozen_clock.MOSCOW)
    text = f"""Номер;Дата;ИНН;Артикул;Количество;Сумма без НДС
РН-1;{day:%d.%m.%Y %H:%M:%S};{INN_A};KMP-1;2;2 000,00
РН-2;{frozen_clock.now().astimezone(frozen_clock.MOSCOW):%d.%m.%Y %H:%M:%S};{INN_A};KMP-1;1;1 000,00
"""
    _run(text, "shipments", head)
    old, new = Shipment.objects.get(external_id="РН-1"), Shipment.objects.get(external_id="РН-2")
    assert (old.cost, old.margin) == (D("1200.00"), D("800.00"))  # the cost of its date
    assert (new.cost, new.margin) == (D("650.00"), D("350.00"))
    a.refresh_from_db()
    assert a.last_shipment_at == new.shipped_at and a.shipment_clock_at == new.shipped_at
    # the quantity of РН-1 corrected to 3: a correction line at the original's unit cost
    _run(text.replace(";2;2 000,00", ";3;3 000,00"), "shipments", head)
    correction = Shipment.objects.get(original=old)
    assert (correction.revenue, correction.cost, correction.margin) == (
        D("1000.00"),
        D("600.00"),
        D("400.00"),
    )
    assert Client.objects.get(pk=a.pk).shipment_clock_at == new.shipped_at  # not moved back


def test_an_unknown_sku_is_a_row_error_and_nothing_is_written(head, clients, frozen_clock):
    text = f"Номер;Дата;ИНН;Артикул;Количество;Сумма без НДС\nРН-1;01.11.2026;{INN_A};NOPE;1;10\n"
    with pytest.raises(Invalid):
        _run(text, "shipments", head)
    assert not Shipment.objects.exists()
    assert Client.objects.get(pk=clients[0].pk).last_shipment_at is None


def test_an_unresolved_row_is_imported_once_its_client_is_picked(
    head, manager, team, clients, frozen_clock
):
    _run(INVOICES, "invoices", head)
    row = UnresolvedRow.objects.get()
    target = make_client(head, owner=manager, name="ООО Неизвестная")
    operator = make_user(Role.DB_OPERATOR, team=team, username="operator")
    with pytest.raises(Forbidden):
        import_1c.resolve_row(row.pk, target.pk, actor=manager)
    assert not Invoice.objects.filter(external_id="СЧ-3").exists()
    import_1c.resolve_row(row.pk, target.pk, actor=operator)
    invoice = Invoice.objects.get(external_id="СЧ-3")
    assert (invoice.client_id, invoice.total) == (target.pk, D("500.00"))
    with pytest.raises(Conflict):
        import_1c.resolve_row(row.pk, target.pk, actor=operator)
    assert Invoice.objects.filter(external_id="СЧ-3").count() == 1
    # the next import of the same file knows the document now
    again = _run(INVOICES, "invoices", head)
    assert again.report["written"]["created"] == 0
    assert Invoice.objects.count() == 3


def test_only_the_head_and_document_clerks_import(head, manager, team, frozen_clock):
    with pytest.raises(Forbidden):
        import_1c.start_import(_file(INVOICES), kind="invoices", source="1c:main", actor=manager)
    clerk = make_user(Role.DOC_CLERK, team=team, username="clerk")
    job = import_1c.start_import(_file(INVOICES), kind="invoices", source="1c:main", actor=clerk)
    assert job.pk
    assert not ImportMapping.objects.exists()


def test_an_xlsx_export_reads_the_same(head, clients, frozen_clock):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Номер", "Дата", "ИНН", "Сумма"])
    ws.append(["СЧ-7", dt.datetime(2026, 11, 2), int(INN_A), 1220.5])
    buf = io.BytesIO()
    wb.save(buf)
    upload = SimpleUploadedFile("export.xlsx", buf.getvalue())
    job = import_1c.start_import(upload, kind="invoices", source="1c:xl", actor=head)
    job = import_1c.set_columns(job, job.columns, actor=head)
    job = import_1c.preview(job, actor=head)
    import_1c.commit(job.pk, actor=head)
    inv = Invoice.objects.get(external_id="СЧ-7")
    assert inv.total == D("1220.50") and inv.vat_total == D(0)
