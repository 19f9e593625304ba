"""Money facts over HTTP: invoices, payments, shipments, their reversals (credit notes,
returns), and the 1С import (upload → mapping → preview → commit, unresolved rows).

Reads go through otdel.sales.money_selectors, writes through otdel.sales.money_facts and
otdel.sales.import_1c; these endpoints only parse, call and render. Amounts are exact decimal
strings. Costs and margins are shown to those who may see costs (the head of sales).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, File, Form, Query, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status

from otdel.api.auth import viewer
from otdel.api.errors import READ_ERRORS, WRITE_ERRORS
from otdel.api.paging import PageParams, page_of
from otdel.api.schemas import PageMeta
from otdel.people.models import User
from otdel.sales import import_1c, money_facts, money_selectors, policies
from otdel.sales.models import Invoice, MoneyImport, Payment, Shipment, UnresolvedRow
from otdel.sales.money import kopecks
from otdel.sales.schemas import (
    AllocationIn,
    CreditNoteIn,
    InvoiceIn,
    PaymentIn,
    ReturnIn,
    ShipmentIn,
)

router = Router(tags=["money"])
Kind = Literal["original", "correction", "reversal"]


class MoneyFilters(Schema):
    client_id: int | None = None
    deal_id: int | None = None
    kind: Kind | None = None
    source: str | None = Field(None, max_length=40, description='"manual" or "1c:<name>"')
    since: dt.date | None = None
    until: dt.date | None = None


class InvoiceLineOut(Schema):
    product_id: int | None
    description: str
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal
    vat_rate: Decimal | None
    net_amount: Decimal
    vat_amount: Decimal
    total_amount: Decimal


class InvoiceOut(Schema):
    """An invoice, correction or credit note; `status` is derived (originals only)."""

    id: int
    source: str
    external_id: str
    kind: Kind
    original_id: int | None
    number: str
    issued_on: dt.date
    client_id: int
    deal_id: int | None
    currency: str
    net_total: Decimal
    vat_total: Decimal
    total: Decimal
    paid: Decimal
    status: str
    lines: list[InvoiceLineOut] = []


class InvoicePage(Schema):
    items: list[InvoiceOut]
    meta: PageMeta


def _invoice_out(inv: Invoice, status: str, *, lines: bool = False) -> InvoiceOut:
    return InvoiceOut(
        id=inv.pk,
        source=inv.source,
        external_id=inv.external_id,
        kind=inv.kind,  # type: ignore[arg-type]
        original_id=inv.original_id,
        number=inv.number,
        issued_on=inv.issued_on,
        client_id=inv.client_id,
        deal_id=inv.deal_id,
        currency=inv.currency,
        net_total=inv.net_total,
        vat_total=inv.vat_total,
        total=inv.total,
        paid=kopecks(getattr(inv, "paid", None) or Decimal(0)),
        status=status,
        lines=[InvoiceLineOut.model_validate(ln, from_attributes=True) for ln in inv.lines.all()]
        if lines
        else [],
    )


@router.get("/invoices", response={200: InvoicePage, **READ_ERRORS})
def list_invoices(
    request: HttpRequest, filters: Query[MoneyFilters], paging: Query[PageParams]
) -> InvoicePage:
    """Invoices the viewer may see (the team's for the head, order managers and clerks; his
    deals' and clients' for anyone else), newest first."""
    qs = money_selectors.invoices(viewer(request), **filters.model_dump())
    items, meta = page_of(qs, paging)
    statuses = money_selectors.statuses([i.pk for i in items if i.kind == "original"])
    return InvoicePage(
        items=[_invoice_out(i, statuses.get(i.pk, "")) for i in items], meta=PageMeta(**meta)
    )


@router.post("/deals/{int:deal_id}/invoices", response={201: InvoiceOut, **WRITE_ERRORS})
def issue_invoice(request: HttpRequest, deal_id: int, payload: InvoiceIn) -> Status[InvoiceOut]:
    """Issue an invoice from a deal; the same `external_id` sent again returns the same invoice."""
    me = viewer(request)
    inv = money_facts.issue_invoice(deal_id, payload, actor=me)
    return Status(201, _invoice_detail(me, inv.pk))


def _invoice_detail(me: User, invoice_id: int) -> InvoiceOut:
    inv = money_selectors.invoice_for(me, invoice_id)
    return _invoice_out(inv, money_selectors.status_of(inv), lines=True)


@router.get("/invoices/{int:invoice_id}", response={200: InvoiceOut, **READ_ERRORS})
def get_invoice(request: HttpRequest, invoice_id: int) -> InvoiceOut:
    """One invoice with its lines and status."""
    return _invoice_detail(viewer(request), invoice_id)


@router.post("/invoices/{int:invoice_id}/credit-notes", response={201: InvoiceOut, **WRITE_ERRORS})
def credit_invoice(
    request: HttpRequest, invoice_id: int, payload: CreditNoteIn
) -> Status[InvoiceOut]:
    """A credit note reducing the invoice (a reversal fact linked to it; the invoice is never
    edited). At most what is left to pay."""
    me = viewer(request)
    note = money_facts.issue_credit_note(invoice_id, payload, actor=me)
    return Status(201, _invoice_detail(me, note.pk))


class PaymentOut(Schema):
    id: int
    source: str
    external_id: str
    kind: Kind
    original_id: int | None
    number: str
    paid_on: dt.date
    client_id: int
    deal_id: int | None
    currency: str
    amount: Decimal
    allocated: Decimal


class PaymentPage(Schema):
    items: list[PaymentOut]
    meta: PageMeta


def _payment_out(p: Payment) -> PaymentOut:
    return PaymentOut(
        id=p.pk,
        source=p.source,
        external_id=p.external_id,
        kind=p.kind,  # type: ignore[arg-type]
        original_id=p.original_id,
        number=p.number,
        paid_on=p.paid_on,
        client_id=p.client_id,
        deal_id=p.deal_id,
        currency=p.currency,
        amount=p.amount,
        allocated=kopecks(getattr(p, "allocated", None) or Decimal(0)),
    )


@router.get("/payments", response={200: PaymentPage, **READ_ERRORS})
def list_payments(
    request: HttpRequest, filters: Query[MoneyFilters], paging: Query[PageParams]
) -> PaymentPage:
    """Payments the viewer may see, with what each has allocated."""
    qs = money_selectors.payments(viewer(request), **filters.model_dump())
    items, meta = page_of(qs, paging)
    return PaymentPage(items=[_payment_out(p) for p in items], meta=PageMeta(**meta))


@router.post("/deals/{int:deal_id}/payments", response={201: PaymentOut, **WRITE_ERRORS})
def record_deal_payment(
    request: HttpRequest, deal_id: int, payload: PaymentIn
) -> Status[PaymentOut]:
    """A payment on a deal: allocated as given, or to its unpaid invoices oldest first; what is
    more than the invoices stays unallocated. An allocation over what is left is refused."""
    me = viewer(request)
    p = money_facts.record_payment(payload, actor=me, deal_id=deal_id)
    return Status(201, _payment_out(money_selectors.payment_for(me, p.pk)))


@router.post("/clients/{int:client_id}/payments", response={201: PaymentOut, **WRITE_ERRORS})
def record_client_payment(
    request: HttpRequest, client_id: int, payload: PaymentIn
) -> Status[PaymentOut]:
    """A payment from a client without a deal (order managers, clerks, the head)."""
    me = viewer(request)
    p = money_facts.record_payment(payload, actor=me, client_id=client_id)
    return Status(201, _payment_out(money_selectors.payment_for(me, p.pk)))


@router.get("/payments/{int:payment_id}", response={200: PaymentOut, **READ_ERRORS})
def get_payment(request: HttpRequest, payment_id: int) -> PaymentOut:
    """One payment."""
    return _payment_out(money_selectors.payment_for(viewer(request), payment_id))


class AllocationsIn(Schema):
    allocations: list[AllocationIn] = Field(min_length=1)


@router.post("/payments/{int:payment_id}/allocations", response={200: PaymentOut, **WRITE_ERRORS})
def allocate_payment(request: HttpRequest, payment_id: int, payload: AllocationsIn) -> PaymentOut:
    """Apply what is left of a payment to invoices of its client."""
    me = viewer(request)
    money_facts.allocate_payment(payment_id, payload.allocations, actor=me)
    return _payment_out(money_selectors.payment_for(me, payment_id))


class ShipmentLineOut(Schema):
    id: int
    product_id: int
    original_line_id: int | None
    quantity: Decimal
    revenue: Decimal
    unit_cost: Decimal | None
    cost: Decimal | None
    margin: Decimal | None


class ShipmentOut(Schema):
    """A shipment, return or correction; cost and margin only for those who see costs."""

    id: int
    source: str
    external_id: str
    kind: Kind
    original_id: int | None
    number: str
    shipped_at: dt.datetime
    client_id: int
    deal_id: int | None
    currency: str
    revenue: Decimal
    cost: Decimal | None
    margin: Decimal | None
    lines: list[ShipmentLineOut] = []


class ShipmentPage(Schema):
    items: list[ShipmentOut]
    meta: PageMeta


def _shipment_out(me: User, s: Shipment, *, lines: bool = False) -> ShipmentOut:
    costs = policies.can_see_costs(me)
    return ShipmentOut(
        id=s.pk,
        source=s.source,
        external_id=s.external_id,
        kind=s.kind,  # type: ignore[arg-type]
        original_id=s.original_id,
        number=s.number,
        shipped_at=s.shipped_at,
        client_id=s.client_id,
        deal_id=s.deal_id,
        currency=s.currency,
        revenue=s.revenue,
        cost=s.cost if costs else None,
        margin=s.margin if costs else None,
        lines=[
            ShipmentLineOut(
                id=ln.pk,
                product_id=ln.product_id,
                original_line_id=ln.original_line_id,
                quantity=ln.quantity,
                revenue=ln.revenue,
                unit_cost=ln.unit_cost if costs else None,
                cost=ln.cost if costs else None,
                margin=ln.margin if costs else None,
            )
            for ln in s.lines.all()
        ]
        if lines
        else [],
    )


@router.get("/shipments", response={200: ShipmentPage, **READ_ERRORS})
def list_shipments(
    request: HttpRequest, filters: Query[MoneyFilters], paging: Query[PageParams]
) -> ShipmentPage:
    """Shipments and returns the viewer may see."""
    me = viewer(request)
    qs = money_selectors.shipments(me, **filters.model_dump())
    items, meta = page_of(qs, paging)
    return ShipmentPage(items=[_shipment_out(me, s) for s in items], meta=PageMeta(**meta))


@router.post("/deals/{int:deal_id}/shipments", response={201: ShipmentOut, **WRITE_ERRORS})
def record_shipment(request: HttpRequest, deal_id: int, payload: ShipmentIn) -> Status[ShipmentOut]:
    """Goods shipped on a deal: the cost in force at `shipped_at` is frozen on each line; the
    client's shipment clock restarts."""
    me = viewer(request)
    s = money_facts.record_shipment(deal_id, payload, actor=me)
    return Status(201, _shipment_out(me, money_selectors.shipment_for(me, s.pk), lines=True))


@router.get("/shipments/{int:shipment_id}", response={200: ShipmentOut, **READ_ERRORS})
def get_shipment(request: HttpRequest, shipment_id: int) -> ShipmentOut:
    """One shipment with its lines."""
    me = viewer(request)
    return _shipment_out(me, money_selectors.shipment_for(me, shipment_id), lines=True)


@router.post("/shipments/{int:shipment_id}/returns", response={201: ShipmentOut, **WRITE_ERRORS})
def return_goods(request: HttpRequest, shipment_id: int, payload: ReturnIn) -> Status[ShipmentOut]:
    """A return of shipped lines: a reversal with negative revenue, cost and margin."""
    me = viewer(request)
    r = money_facts.return_goods(shipment_id, payload, actor=me)
    return Status(201, _shipment_out(me, money_selectors.shipment_for(me, r.pk), lines=True))


# --- 1С imports --------------------------------------------------------------------------------


class MoneyImportOut(Schema):
    id: int
    kind: str
    source: str
    original_name: str
    status: str
    state: Literal["uploaded", "mapped", "checking", "previewed", "queued", "done", "failed"] = (
        Field(
            description="Where the background worker is: checking (the preview is queued or "
            "running) → previewed; queued (accepted for writing, not written yet) → done; or "
            "failed (see `failure`). Poll until it is previewed, done or failed."
        )
    )
    finished_at: dt.datetime | None = Field(
        description="When the worker finished writing (or failed); empty while it runs"
    )
    failure: str
    headers: list[str]
    columns: dict[str, str]
    report: dict[str, Any]


def _import_out(job: MoneyImport) -> MoneyImportOut:
    return MoneyImportOut(
        id=job.pk,
        kind=job.kind,
        source=job.source,
        original_name=job.original_name,
        status=job.status,
        state=import_1c.reported_state(job),  # type: ignore[arg-type]
        finished_at=job.finished_at,
        failure=job.failure,
        headers=job.headers,
        columns=job.columns,
        report=job.report,
    )


@router.post("/money-imports", response={201: MoneyImportOut, **WRITE_ERRORS})
def start_money_import(
    request: HttpRequest,
    file: File[UploadedFile],
    kind: Form[Literal["invoices", "payments", "shipments"]],
    source: Form[str],
) -> Status[MoneyImportOut]:
    """Upload a 1С export (CSV in UTF-8 or cp1251 with ; or , — or XLSX); the columns are
    mapped from the mapping saved for the source, or guessed."""
    job = import_1c.start_import(file, kind=kind, source=source, actor=viewer(request))
    return Status(201, _import_out(job))


class ColumnsIn(Schema):
    columns: dict[str, str] = Field(description="field → header of the file")


@router.put("/money-imports/{int:job_id}/columns", response={200: MoneyImportOut, **WRITE_ERRORS})
def map_money_import(request: HttpRequest, job_id: int, payload: ColumnsIn) -> MoneyImportOut:
    """Confirm the mapping (saved for the source)."""
    me = viewer(request)
    return _import_out(
        import_1c.set_columns(import_1c.job_for(job_id, me), payload.columns, actor=me)
    )


@router.post("/money-imports/{int:job_id}/preview", response={200: MoneyImportOut, **WRITE_ERRORS})
def preview_money_import(request: HttpRequest, job_id: int) -> MoneyImportOut:
    """Queue the check of every row for the background worker (state "checking"); nothing is
    written but the report. Poll GET /money-imports/{id} until the state is "previewed" (or
    "failed")."""
    me = viewer(request)
    return _import_out(import_1c.preview(import_1c.job_for(job_id, me), actor=me))


@router.post("/money-imports/{int:job_id}/commit", response={200: MoneyImportOut, **WRITE_ERRORS})
def commit_money_import(request: HttpRequest, job_id: int) -> MoneyImportOut:
    """Queue the write for the background worker (state "queued"): everything or nothing; a
    re-import of the same file changes nothing. Poll until the state is "done" or "failed"."""
    me = viewer(request)
    job = import_1c.job_for(job_id, me)
    return _import_out(import_1c.commit(job.pk, actor=me))


@router.get("/money-imports/{int:job_id}", response={200: MoneyImportOut, **READ_ERRORS})
def get_money_import(request: HttpRequest, job_id: int) -> MoneyImportOut:
    """One import and its report."""
    return _import_out(import_1c.job_for(job_id, viewer(request)))


class UnresolvedOut(Schema):
    id: int
    job_id: int
    source: str
    kind: str
    external_id: str
    row_number: int
    inn: str
    kpp: str
    name: str


def _unresolved_out(r: UnresolvedRow) -> UnresolvedOut:
    return UnresolvedOut.model_validate(r, from_attributes=True)


@router.get("/money-imports/unresolved", response={200: list[UnresolvedOut], **READ_ERRORS})
def list_unresolved(request: HttpRequest) -> list[UnresolvedOut]:
    """Rows of 1С imports whose client was not matched by ИНН/КПП (first 500)."""
    return [_unresolved_out(r) for r in money_selectors.unresolved_rows(viewer(request))[:500]]


class ResolveIn(Schema):
    client_id: int


@router.post(
    "/money-imports/unresolved/{int:row_id}/resolve",
    response={200: UnresolvedOut, **WRITE_ERRORS},
)
def resolve_unresolved(request: HttpRequest, row_id: int, payload: ResolveIn) -> UnresolvedOut:
    """Pick the client of an unmatched row: the row is imported for that client."""
    row = import_1c.resolve_row(row_id, payload.client_id, actor=viewer(request))
    return _unresolved_out(row)
