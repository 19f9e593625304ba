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
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
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
from tests.factories import make_client, make_head, make_team, make_user, valid_inn
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


@pytest.fixture(autouse=True)
def worker_runs_at_once(settings):
    """The commit is the background worker's task; here it runs as soon as it is queued (the
    client-import tests do the same), with the progress in a local cache."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


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


def test_another_teams_operator_cannot_resolve_a_row_nor_pick_another_teams_client(
    head, manager, team, clients, frozen_clock
):
    _run(INVOICES, "invoices", head)
    row = UnresolvedRow.objects.get()
    elsewhere = make_team("Другой отдел")
    stranger = make_user(Role.DB_OPERATOR, team=elsewhere, username="stranger")
    foreign_client = make_client(make_head(elsewhere, username="head2"), team=elsewhere)
    operator = make_user(Role.DB_OPERATOR, team=team, username="operator")
    target = make_client(head, owner=manager, name="ООО Неизвестная")

    with pytest.raises(NotFound):
        import_1c.resolve_row(row.pk, target.pk, actor=stranger)
    with pytest.raises(Invalid):
        import_1c.resolve_row(row.pk, foreign_client.pk, actor=operator)
    row.refresh_from_db()
    assert row.resolved_at is None
    assert not Invoice.objects.filter(external_id="СЧ-3").exists()


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


# --- the commit in the background worker ---------------------------------------------------------


def _checked(text: str, kind: str, actor, *, source: str = "1c:main"):
    job = import_1c.start_import(_file(text), kind=kind, source=source, actor=actor)
    job = import_1c.set_columns(job, job.columns, actor=actor)
    return import_1c.preview(job, actor=actor)


def _shipments_text(day: str, docs: list[tuple[str, str, str, str]]) -> str:
    """(document, sku, quantity, revenue) rows of one client's shipments, in the given order."""
    rows = [f"{n};{day};{INN_A};{sku};{q};{rev}" for n, sku, q, rev in docs]
    return "Номер;Дата;ИНН;Артикул;Количество;Сумма без НДС\n" + "\n".join(rows) + "\n"


def test_the_commit_is_queued_for_the_worker_and_the_page_polls_until_it_is_written(
    head, clients, frozen_clock, settings
):
    from django.test import Client as HttpClient
    from django.urls import reverse

    job = _checked(INVOICES, "invoices", head)
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    job = import_1c.commit(job.pk, actor=head)
    # Queued: nothing is written yet and the import cannot be queued twice or re-mapped.
    assert import_1c.state_of(job) == "importing" and job.report["state"] == "queued"
    assert not Invoice.objects.exists()
    with pytest.raises(Conflict):
        import_1c.commit(job.pk, actor=head)
    with pytest.raises(Conflict):
        import_1c.set_columns(job, job.columns, actor=head)
    http = HttpClient()
    http.force_login(head)
    page = http.get(reverse("sales:import_1c_result", args=[job.pk])).content.decode()
    assert "Импорт…" in page and 'hx-trigger="every 1s"' in page
    fragment = http.get(reverse("sales:import_1c_result", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in fragment and "импортируется…" in fragment.content.decode()
    # What the worker runs:
    assert import_1c.run_commit(job.pk) == {
        "created": 2,
        "corrections": 0,
        "unchanged": 0,
        "unresolved": 1,
    }
    assert Invoice.objects.count() == 2 and UnresolvedRow.objects.count() == 1
    assert import_1c.run_commit(job.pk) == {"skipped": True}  # delivered twice: written once
    assert Invoice.objects.count() == 2
    fragment = http.get(reverse("sales:import_1c_result", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert fragment["HX-Refresh"] == "true"
    page = http.get(reverse("sales:import_1c_result", args=[job.pk])).content.decode()
    assert "Импортировано" in page and 'data-testid="import-written"' in page
    job.refresh_from_db()
    assert job.status == "done" and job.finished_at is not None and job.report["state"] == "done"
    assert AuditEvent.objects.filter(verb="money.imported").count() == 1


def test_a_failure_in_a_late_batch_leaves_nothing_written(head, clients, frozen_clock, monkeypatch):
    product(head, sku="KMP-1", cost="600.00")
    gone = product(head, sku="KMP-2", cost="100.00")
    monkeypatch.setattr(import_1c, "BATCH", 2)
    docs = [(f"РН-{i}", "KMP-1", "1", "1 000,00") for i in range(1, 6)]
    docs.append(("РН-6", "KMP-2", "1", "200,00"))
    frozen_clock.advance(dt.timedelta(hours=1))  # shipped after the products got their cost
    day = f"{frozen_clock.now().astimezone(frozen_clock.MOSCOW):%d.%m.%Y %H:%M:%S}"
    job = _checked(_shipments_text(day, docs), "shipments", head)
    assert job.report["new"] == 6 and job.report["error_count"] == 0
    # Between the check and the worker the catalogue changes: the last batch's SKU is gone.
    type(gone).objects.filter(pk=gone.pk).update(sku="KMP-2-OLD")
    audits = AuditEvent.objects.count()
    import_1c.commit(job.pk, actor=head)  # the worker runs it at once here, and it fails
    assert not Shipment.objects.exists()  # the first two batches were rolled back too
    assert Client.objects.get(pk=clients[0].pk).last_shipment_at is None
    assert AuditEvent.objects.count() == audits
    job.refresh_from_db()
    assert job.status == "failed" and import_1c.state_of(job) == "failed"
    assert "Ничего не импортировано" in job.failure
    assert job.report["errors"][0]["row"] == 7 and "KMP-2" in job.report["errors"][0]["message"]


def test_documents_whose_rows_are_apart_are_assembled_across_batches(
    head, clients, frozen_clock, monkeypatch
):
    product(head, sku="KMP-1", cost="600.00")
    product(head, sku="ZIP-1", cost="10.00")
    monkeypatch.setattr(import_1c, "BATCH", 1)
    frozen_clock.advance(dt.timedelta(hours=1))  # shipped after the products got their cost
    day = f"{frozen_clock.now().astimezone(frozen_clock.MOSCOW):%d.%m.%Y %H:%M:%S}"
    rows = [
        ("РН-1", "KMP-1", "1", "1 000,00"),
        ("РН-2", "KMP-1", "2", "2 000,00"),
        ("РН-1", "ZIP-1", "3", "45,00"),
        ("РН-2", "KMP-1", "2", "2 000,00"),  # a repeated row, once
        ("РН-3", "ZIP-1", "1", "15,00"),
        ("РН-2", "ZIP-1", "5", "75,00"),
    ]
    job = _checked(_shipments_text(day, rows), "shipments", head)
    assert (job.report["rows"], job.report["new"], job.report["duplicates"]) == (6, 3, 1)
    import_1c.commit(job.pk, actor=head)
    got = {
        s.external_id: (s.revenue, s.cost, s.lines.count())
        for s in Shipment.objects.prefetch_related("lines")
    }
    assert got == {
        "РН-1": (D("1045.00"), D("630.00"), 2),
        "РН-2": (D("2075.00"), D("1250.00"), 2),
        "РН-3": (D("15.00"), D("10.00"), 1),
    }


@pytest.mark.django_db(transaction=True)  # the worker closes connections between tasks
def test_the_real_worker_writes_a_queued_import(head, clients, frozen_clock, settings):
    from django.core.management import call_command

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    job = _checked(INVOICES, "invoices", head)
    assert import_1c.state_of(job) == "checking"
    call_command("db_worker", batch=True, no_startup_delay=True, interval=0.01, verbosity=0)
    job.refresh_from_db()
    assert job.status == "previewed" and job.report["new"] == 2
    import_1c.commit(job.pk, actor=head)
    assert not Invoice.objects.exists()
    call_command("db_worker", batch=True, no_startup_delay=True, interval=0.01, verbosity=0)
    job.refresh_from_db()
    assert import_1c.state_of(job) == "done" and job.report["written"]["created"] == 2
    assert Invoice.objects.count() == 2


# --- the check (preview) in the background worker ------------------------------------------------


def _queued_check(settings, text: str, actor, kind: str = "invoices"):
    """An upload mapped and its check queued, with a worker that has not run yet."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    job = import_1c.start_import(_file(text), kind=kind, source="1c:main", actor=actor)
    job = import_1c.set_columns(job, job.columns, actor=actor)
    return import_1c.preview(job, actor=actor)


def test_the_check_is_queued_for_the_worker_and_the_page_polls_until_the_preview(
    head, clients, frozen_clock, settings
):
    from django.test import Client as HttpClient
    from django.urls import reverse

    job = _queued_check(settings, INVOICES, head)
    assert import_1c.state_of(job) == "checking" and job.report == {
        "state": "checking",
        "checked_by": head.pk,
    }
    # A second click queues nothing, the columns stay as the worker reads them, and there is
    # nothing to import yet.
    with pytest.raises(Conflict) as err:
        import_1c.preview(job, actor=head)
    assert err.value.code == "import_checking"
    with pytest.raises(Conflict):
        import_1c.set_columns(job, job.columns, actor=head)
    with pytest.raises(Conflict):
        import_1c.commit(job.pk, actor=head)
    http = HttpClient()
    http.force_login(head)
    url = reverse("sales:import_1c_preview", args=[job.pk])
    page = http.get(url).content.decode()
    assert "Проверка файла…" in page and 'hx-trigger="every 1s"' in page
    # The mapping page sends a person back to the check in progress.
    assert http.get(reverse("sales:import_1c_mapping", args=[job.pk])).url == url
    fragment = http.get(url, HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in fragment and "проверяется…" in fragment.content.decode()
    # What the worker runs:
    assert import_1c.run_preview(job.pk) == {"rows": 4, "errors": 0}
    assert import_1c.run_preview(job.pk) == {"skipped": True}
    job.refresh_from_db()
    assert job.status == "previewed" and job.report["state"] == "previewed"
    assert (job.report["new"], job.report["duplicates"], job.report["unmatched_count"]) == (2, 1, 1)
    assert not Invoice.objects.exists() and not UnresolvedRow.objects.exists()
    assert http.get(url, HTTP_HX_REQUEST="true")["HX-Refresh"] == "true"
    page = http.get(url).content.decode()
    assert "Проверка перед импортом" in page and 'data-testid="commit"' in page


def test_a_check_delivered_twice_reads_the_file_once(
    head, clients, frozen_clock, settings, monkeypatch
):
    job = _queued_check(settings, INVOICES, head)
    real_scan = import_1c._scan
    scans: list[int] = []
    second: list[dict] = []

    def scan(job, progress=None):
        scans.append(job.pk)
        # The same task delivered again while the first delivery is still reading the file.
        second.append(import_1c.run_preview(job.pk))
        return real_scan(job, progress)

    monkeypatch.setattr(import_1c, "_scan", scan)
    assert import_1c.run_preview(job.pk) == {"rows": 4, "errors": 0}
    assert second == [{"skipped": True}] and scans == [job.pk]
    assert import_1c.run_preview(job.pk) == {"skipped": True}  # and once more, afterwards
    assert scans == [job.pk]
    job.refresh_from_db()
    assert job.status == "previewed" and job.report["new"] == 2


def test_a_failing_check_leaves_the_import_failed_with_the_reason_and_nothing_written(
    head, clients, frozen_clock, settings
):
    from django.core.files.storage import default_storage
    from django.test import Client as HttpClient
    from django.urls import reverse

    job = _queued_check(settings, INVOICES, head)
    # Between the upload and the worker the stored file is replaced by another export.
    with default_storage.open(job.file.name, "wb") as f:
        f.write("Другой;Заголовок\n1;2\n".encode("cp1251"))
    audits = AuditEvent.objects.count()
    assert import_1c.run_preview(job.pk) == {"failed": "Файл изменился после загрузки."}
    job.refresh_from_db()
    assert job.status == "failed" and import_1c.state_of(job) == "failed"
    assert job.failure == "Файл не проверен. Файл изменился после загрузки."
    assert job.finished_at is not None and job.report == {"state": "failed"}
    assert not Invoice.objects.exists() and not UnresolvedRow.objects.exists()
    assert AuditEvent.objects.count() == audits
    with pytest.raises(Conflict):
        import_1c.commit(job.pk, actor=head)
    # The person sees why and may map and check the file again.
    http = HttpClient()
    http.force_login(head)
    page = http.get(reverse("sales:import_1c_preview", args=[job.pk]), follow=True)
    html = page.content.decode()
    assert 'data-testid="import-failure"' in html and "Файл не проверен" in html
    job = import_1c.set_columns(job, job.columns, actor=head)
    assert job.status == "mapped" and job.failure == "" and job.report == {}


def test_an_unexpected_error_in_the_check_fails_the_import(
    head, clients, frozen_clock, settings, monkeypatch
):
    job = _queued_check(settings, INVOICES, head)

    def broken(*args, **kwargs):
        raise RuntimeError("disk")

    monkeypatch.setattr(import_1c, "_plan", broken)
    with pytest.raises(RuntimeError):
        import_1c.run_preview(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "непредвиденная ошибка" in job.failure
    assert import_1c.run_preview(job.pk) == {"skipped": True}


def test_the_api_shows_where_the_worker_is(head, clients, frozen_clock, settings):
    from otdel.people.services import issue_api_token
    from tests.api.conftest import Api

    api = Api(issue_api_token(head, name="tests")[1], language="en")
    job = _queued_check(settings, INVOICES, head)
    got = api.get(f"/api/money-imports/{job.pk}").data
    assert (got["status"], got["state"], got["finished_at"]) == ("mapped", "checking", None)
    r = api.post(f"/api/money-imports/{job.pk}/preview")
    assert r.status_code == 409 and r.data["code"] == "import_checking"
    import_1c.run_preview(job.pk)
    got = api.get(f"/api/money-imports/{job.pk}").data
    assert (got["status"], got["state"], got["report"]["new"]) == ("previewed", "previewed", 2)
    got = api.post(f"/api/money-imports/{job.pk}/commit").data
    # Accepted for writing but not written: the status says "done", the state does not.
    assert (got["status"], got["state"], got["finished_at"]) == ("done", "queued", None)
    assert not Invoice.objects.exists()
    import_1c.run_commit(job.pk)
    got = api.get(f"/api/money-imports/{job.pk}").data
    assert (got["status"], got["state"]) == ("done", "done") and got["finished_at"]
    assert Invoice.objects.count() == 2


# --- an import a dead worker left half-way -------------------------------------------------------


def _worker_died(settings) -> None:
    """The worker took the task and its process died: no task is left to run, and from now on
    a live worker runs whatever is queued at once."""
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.all().delete()
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def test_a_commit_a_dead_worker_left_is_queued_again_and_written_once(
    head, clients, frozen_clock, settings
):
    from otdel.sales import import_revival

    job = _checked(INVOICES, "invoices", head)
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    import_1c.commit(job.pk, actor=head)
    _worker_died(settings)
    # Too early to tell a slow worker from a dead one: nothing is touched.
    frozen_clock.advance(import_revival.STALLED_AFTER / 2)
    assert import_revival.revive_stalled_imports() == {"checks": 0, "commits": 0}
    assert not Invoice.objects.exists()
    frozen_clock.advance(import_revival.STALLED_AFTER)
    assert import_revival.revive_stalled_imports() == {"checks": 0, "commits": 1}
    job.refresh_from_db()
    assert import_1c.state_of(job) == "done" and job.report["written"]["created"] == 2
    assert Invoice.objects.count() == 2
    frozen_clock.advance(import_revival.STALLED_AFTER * 2)
    assert import_revival.revive_stalled_imports() == {"checks": 0, "commits": 0}
    assert Invoice.objects.count() == 2


def test_an_import_a_live_worker_reports_progress_on_is_left_alone(
    head, clients, frozen_clock, settings
):
    from django.core.cache import cache

    from otdel.core import clock
    from otdel.sales import import_revival

    job = _checked(INVOICES, "invoices", head)
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    import_1c.commit(job.pk, actor=head)
    frozen_clock.advance(import_revival.STALLED_AFTER * 3)  # a long file...
    beat = {"processed": 2, "total": 4, "at": clock.now().timestamp()}  # ...still being written
    cache.set(import_1c.progress_key(job.pk), beat)
    assert import_revival.revive_stalled_imports() == {"checks": 0, "commits": 0}
    job.refresh_from_db()
    assert import_1c.state_of(job) == "importing" and not Invoice.objects.exists()


def test_a_check_a_dead_worker_left_is_checked_again(head, clients, frozen_clock, settings):
    from otdel.sales import import_revival
    from otdel.sales.models import MoneyImport

    job = _queued_check(settings, INVOICES, head)
    # The worker claimed the check, then died.
    MoneyImport.objects.filter(pk=job.pk).update(report={**job.report, "started": True})
    _worker_died(settings)
    frozen_clock.advance(import_revival.STALLED_AFTER * 2)
    assert import_revival.revive_stalled_imports() == {"checks": 1, "commits": 0}
    job.refresh_from_db()
    assert job.status == "previewed" and job.report["new"] == 2
    assert not Invoice.objects.exists()  # a check writes nothing
