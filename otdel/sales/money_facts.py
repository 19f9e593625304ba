"""Writing money facts: invoices, payments, shipments and their reversals.

Every fact is append-only and unique by (source, external_id): a re-sent fact changes nothing;
credit notes, returns and corrections are new facts linked to the original. Amounts are
computed by otdel.sales.money (rounded once per line). Limits that depend on other facts (what
is left to pay, what is left to return) are checked under a row lock on the original
(`SELECT … FOR UPDATE` on PostgreSQL; the IMMEDIATE transaction on SQLite), never read first
and written later without it. The `store_*` functions below are the only code that inserts
these rows; the UI, the API and the 1С import all go through them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from otdel.audit.services import record
from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
from otdel.ownership.ledger import owners_then
from otdel.ownership.services import note_shipments
from otdel.people.models import User
from otdel.sales import floors, money, policies
from otdel.sales.events import write_event
from otdel.sales.models import (
    MANUAL,
    Deal,
    DealEventKind,
    FactKind,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
    Product,
    ProductCost,
    Shipment,
    ShipmentLine,
)
from otdel.sales.models.catalogue import DEFAULT_VAT_RATE
from otdel.sales.schemas import (
    AllocationIn,
    CreditNoteIn,
    InvoiceIn,
    PaymentIn,
    ReturnIn,
    ShipmentIn,
)

ZERO = money.ZERO
# A fact may be dated a little ahead of the server clock (clock skew), never more.
SKEW = dt.timedelta(minutes=5)


# --- the rows every writer produces -------------------------------------------------------------


@dataclass
class InvoiceLineRow:
    """An invoice line with its amounts already rounded."""

    quantity: Decimal
    unit_price: Decimal
    amounts: money.LineAmounts
    product_id: int | None = None
    description: str = ""
    discount_percent: Decimal = Decimal(0)
    vat_rate: Decimal | None = None


@dataclass
class InvoiceDoc:
    """An invoice (or a correction / credit note of one) ready to be stored."""

    external_id: str
    number: str
    issued_on: dt.date
    team_id: int
    client_id: int
    currency: str
    lines: list[InvoiceLineRow]
    deal_id: int | None = None
    kind: str = FactKind.ORIGINAL
    original_id: int | None = None
    comment: str = ""


@dataclass
class ShipmentLineRow:
    """A shipped (or returned: negative) line with its cost frozen."""

    product_id: int
    quantity: Decimal
    unit_cost: Decimal
    revenue: Decimal
    cost: Decimal
    original_line_id: int | None = None


@dataclass
class ShipmentDoc:
    """A shipment (or a return / correction of one) ready to be stored."""

    external_id: str
    number: str
    shipped_at: dt.datetime
    team_id: int
    client_id: int
    currency: str
    lines: list[ShipmentLineRow]
    deal_id: int | None = None
    kind: str = FactKind.ORIGINAL
    original_id: int | None = None
    comment: str = ""


@dataclass
class PaymentDoc:
    """A payment (or a correction of one) ready to be stored, with where it should go."""

    external_id: str
    number: str
    paid_on: dt.date
    team_id: int
    client_id: int
    currency: str
    amount: Decimal
    deal_id: int | None = None
    kind: str = FactKind.ORIGINAL
    original_id: int | None = None
    comment: str = ""
    # Explicit allocations must fit; `auto_invoices` get what is left, in order, as far as it goes.
    allocations: list[tuple[int, Decimal]] = field(default_factory=list)
    auto_invoices: list[int] = field(default_factory=list)


def manual_id() -> str:
    """The external id of a fact typed in by a person (source "manual")."""
    return uuid.uuid4().hex


# --- storing, set-based -------------------------------------------------------------------------


def store_invoices(docs: list[InvoiceDoc], *, source: str, actor: User | None) -> list[Invoice]:
    """Insert invoices and their lines in two statements; totals are the sums of the lines."""
    now = clock.now()
    invoices = [
        Invoice(
            source=source,
            external_id=d.external_id,
            kind=d.kind,
            original_id=d.original_id,
            team_id=d.team_id,
            client_id=d.client_id,
            deal_id=d.deal_id,
            currency=d.currency,
            number=d.number,
            issued_on=d.issued_on,
            net_total=sum((ln.amounts.net for ln in d.lines), ZERO),
            vat_total=sum((ln.amounts.vat for ln in d.lines), ZERO),
            total=sum((ln.amounts.total for ln in d.lines), ZERO),
            comment=d.comment,
            recorded_by=actor if actor is not None and actor.pk else None,
            recorded_at=now,
        )
        for d in docs
    ]
    Invoice.objects.bulk_create(invoices)
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=inv,
            position=i,
            product_id=ln.product_id,
            description=ln.description,
            quantity=ln.quantity,
            unit_price=ln.unit_price,
            discount_percent=ln.discount_percent,
            vat_rate=ln.vat_rate,
            net_amount=ln.amounts.net,
            vat_amount=ln.amounts.vat,
            total_amount=ln.amounts.total,
        )
        for inv, d in zip(invoices, docs, strict=True)
        for i, ln in enumerate(d.lines, start=1)
    )
    return invoices


def store_shipments(docs: list[ShipmentDoc], *, source: str, actor: User | None) -> list[Shipment]:
    """Insert shipments and their lines in two statements, then restart the shipping clients'
    shipment clocks in one UPDATE (only an original shipment restarts it: a return or a
    correction is not a new delivery). This is the one place shipments are written."""
    now = clock.now()
    owners = _credited_owners(docs)
    categories = _line_categories(docs)
    shipments = []
    for i, d in enumerate(docs):
        revenue = sum((ln.revenue for ln in d.lines), ZERO)
        cost = sum((ln.cost for ln in d.lines), ZERO)
        shipments.append(
            Shipment(
                source=source,
                external_id=d.external_id,
                kind=d.kind,
                original_id=d.original_id,
                team_id=d.team_id,
                client_id=d.client_id,
                deal_id=d.deal_id,
                currency=d.currency,
                number=d.number,
                shipped_at=d.shipped_at,
                revenue=revenue,
                cost=cost,
                margin=revenue - cost,
                owner_id=owners[i],
                comment=d.comment,
                recorded_by=actor if actor is not None and actor.pk else None,
                recorded_at=now,
            )
        )
    Shipment.objects.bulk_create(shipments)
    ShipmentLine.objects.bulk_create(
        ShipmentLine(
            shipment=s,
            position=i,
            product_id=ln.product_id,
            original_line_id=ln.original_line_id,
            quantity=ln.quantity,
            unit_cost=ln.unit_cost,
            revenue=ln.revenue,
            cost=ln.cost,
            margin=ln.revenue - ln.cost,
            team_id=s.team_id,
            shipped_at=s.shipped_at,
            currency=s.currency,
            owner_id=s.owner_id,
            category_id=categories[(ln.product_id, ln.original_line_id)],
        )
        for s, d in zip(shipments, docs, strict=True)
        for i, ln in enumerate(d.lines, start=1)
    )
    note_shipments([(d.client_id, d.shipped_at) for d in docs if d.kind == FactKind.ORIGINAL])
    return shipments


def _credited_owners(docs: list[ShipmentDoc]) -> list[int | None]:
    """Who each shipment is credited to: for an original, the client's owner when it was
    shipped (an import of last month's shipments credits last month's owner); for a return or
    a correction, whoever its original was credited to."""
    owner_at = owners_then(d.client_id for d in docs if d.kind == FactKind.ORIGINAL)
    originals = dict(
        Shipment.objects.filter(
            pk__in={d.original_id for d in docs if d.original_id is not None}
        ).values_list("pk", "owner_id")
    )
    return [
        owner_at(d.client_id, d.shipped_at)
        if d.kind == FactKind.ORIGINAL
        else originals.get(d.original_id or 0)
        for d in docs
    ]


def _line_categories(docs: list[ShipmentDoc]) -> dict[tuple[int, int | None], int]:
    """The category each line counts in: its product's now, or for a returned or corrected line
    the one its original line counted in (so a return nets out in the same cell)."""
    lines = [ln for d in docs for ln in d.lines]
    of_product = dict(
        Product.objects.filter(pk__in={ln.product_id for ln in lines}).values_list(
            "pk", "category_id"
        )
    )
    of_line = dict(
        ShipmentLine.objects.filter(
            pk__in={ln.original_line_id for ln in lines if ln.original_line_id}
        ).values_list("pk", "category_id")
    )
    return {
        (ln.product_id, ln.original_line_id): of_line[ln.original_line_id]
        if ln.original_line_id
        else of_product[ln.product_id]
        for ln in lines
    }


def store_payments(docs: list[PaymentDoc], *, source: str, actor: User | None) -> list[Payment]:
    """Insert payments in one statement and allocate them (see `_allocate`)."""
    now = clock.now()
    payments = [
        Payment(
            source=source,
            external_id=d.external_id,
            kind=d.kind,
            original_id=d.original_id,
            team_id=d.team_id,
            client_id=d.client_id,
            deal_id=d.deal_id,
            currency=d.currency,
            number=d.number,
            paid_on=d.paid_on,
            amount=d.amount,
            comment=d.comment,
            recorded_by=actor if actor is not None and actor.pk else None,
            recorded_at=now,
        )
        for d in docs
    ]
    Payment.objects.bulk_create(payments)
    _allocate(list(zip(payments, docs, strict=True)), actor=actor)
    return payments


# --- what is left: due, paid, unallocated -------------------------------------------------------


def _lock(model: type[Any], ids: Iterable[int]) -> None:
    """Row locks on the originals a limit is computed from, in id order (no deadlocks)."""
    wanted = sorted(set(ids))
    if wanted:
        list(model.objects.select_for_update().filter(pk__in=wanted).order_by("pk").values("pk"))


def invoice_balances(invoice_ids: Iterable[int]) -> dict[int, tuple[Decimal, Decimal, bool]]:
    """(due, paid, credited?) of original invoices: due = the invoice with its corrections and
    credit notes, paid = what payments allocated to it."""
    ids = list(set(invoice_ids))
    due: dict[int, Decimal] = defaultdict(lambda: ZERO)
    credited: set[int] = set()
    for row in (
        Invoice.objects.filter(Q(pk__in=ids) | Q(original_id__in=ids))
        .annotate(root=Coalesce("original_id", "id"))
        .values("root", "kind")
        .annotate(s=Sum("total"))
    ):
        due[row["root"]] += row["s"]
        if row["kind"] == FactKind.REVERSAL:
            credited.add(row["root"])
    paid = dict(
        PaymentAllocation.objects.filter(invoice_id__in=ids)
        .values("invoice_id")
        .annotate(s=Sum("amount"))
        .values_list("invoice_id", "s")
    )
    return {i: (due[i], paid.get(i, ZERO), i in credited) for i in ids}


def payment_balances(payment_ids: Iterable[int]) -> dict[int, tuple[Decimal, Decimal]]:
    """(amount with corrections, allocated) of original payments."""
    ids = list(set(payment_ids))
    amount: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for row in (
        Payment.objects.filter(Q(pk__in=ids) | Q(original_id__in=ids))
        .annotate(root=Coalesce("original_id", "id"))
        .values("root")
        .annotate(s=Sum("amount"))
    ):
        amount[row["root"]] += row["s"]
    allocated = dict(
        PaymentAllocation.objects.filter(payment_id__in=ids)
        .values("payment_id")
        .annotate(s=Sum("amount"))
        .values_list("payment_id", "s")
    )
    return {i: (amount[i], allocated.get(i, ZERO)) for i in ids}


def _allocate(pairs: list[tuple[Payment, PaymentDoc]], *, actor: User | None) -> None:
    """Apply payments to invoices under a lock on the invoices: an explicit allocation over what
    is left to pay (or over what the payment has) is refused; automatic targets get what is
    left in order; the rest stays on the payment, unallocated (an advance). A payment
    corrected below what it already gave releases the latest allocations (negative rows)."""
    targets = {i for _, d in pairs for i, _ in d.allocations} | {
        i for _, d in pairs for i in d.auto_invoices
    }
    roots = {p.original_id or p.pk for p, _ in pairs}
    _lock(Invoice, targets)
    _lock(Payment, roots)
    left = {i: due - paid for i, (due, paid, _) in invoice_balances(targets).items()}
    payment_left = {i: amount - given for i, (amount, given) in payment_balances(roots).items()}
    now = clock.now()
    rows: list[PaymentAllocation] = []
    for payment, doc in pairs:
        root = payment.original_id or payment.pk
        for invoice_id, amount in doc.allocations:
            if amount > left.get(invoice_id, ZERO):
                raise Invalid(
                    _("%(amount)s is more than is left to pay on the invoice (%(left)s).")
                    % {"amount": amount, "left": left.get(invoice_id, ZERO)},
                    code="allocation_exceeds_due",
                    invoice_id=invoice_id,
                    left=str(left.get(invoice_id, ZERO)),
                )
            if amount > payment_left[root]:
                raise Invalid(
                    _("The allocations add up to more than the payment (%(amount)s).")
                    % {"amount": payment_left[root] + amount},
                    code="allocation_exceeds_payment",
                )
            rows.append(_allocation(root, invoice_id, amount, now, actor))
            left[invoice_id] -= amount
            payment_left[root] -= amount
        for invoice_id in doc.auto_invoices:
            amount = min(left.get(invoice_id, ZERO), payment_left[root])
            if amount > 0:
                rows.append(_allocation(root, invoice_id, amount, now, actor))
                left[invoice_id] -= amount
                payment_left[root] -= amount
        if payment_left[root] < 0:
            rows.extend(_release(root, -payment_left[root], now, actor))
            payment_left[root] = ZERO
    PaymentAllocation.objects.bulk_create(rows)


def _allocation(
    payment_id: int, invoice_id: int, amount: Decimal, now: dt.datetime, actor: User | None
) -> PaymentAllocation:
    return PaymentAllocation(
        payment_id=payment_id,
        invoice_id=invoice_id,
        amount=amount,
        at=now,
        recorded_by=actor if actor is not None and actor.pk else None,
    )


def _release(
    payment_id: int, excess: Decimal, now: dt.datetime, actor: User | None
) -> list[PaymentAllocation]:
    """Negative allocations giving back `excess` from the invoices paid last."""
    net: dict[int, Decimal] = dict(
        PaymentAllocation.objects.filter(payment_id=payment_id)
        .values("invoice_id")
        .annotate(s=Sum("amount"))
        .values_list("invoice_id", "s")
    )
    rows = []
    for invoice_id in sorted(net, reverse=True):
        if excess <= 0:
            break
        take = min(net[invoice_id], excess)
        if take > 0:
            rows.append(_allocation(payment_id, invoice_id, -take, now, actor))
            excess -= take
    return rows


# --- costs at the moment of shipment ------------------------------------------------------------


def costs_at(pairs: Iterable[tuple[int, dt.datetime]]) -> dict[tuple[int, dt.datetime], Any]:
    """The cost price in force for each (product, moment), read in one query: the latest cost
    row effective by that moment (as `selectors.cost_at`), or None when there was none."""
    pairs = list(set(pairs))
    if not pairs:
        return {}
    latest = max(m for _, m in pairs)
    history: dict[int, list[tuple[dt.datetime, int, Decimal, str]]] = defaultdict(list)
    for pid, at, pk, amount, cur in (
        ProductCost.objects.filter(
            product_id__in={p for p, _m in pairs}, effective_from__lte=latest
        )
        .order_by("product_id", "effective_from", "id")
        .values_list("product_id", "effective_from", "id", "amount", "currency")
    ):
        history[pid].append((at, pk, amount, cur))
    result: dict[tuple[int, dt.datetime], Any] = {}
    for pid, moment in pairs:
        rows = history.get(pid, [])
        i = bisect.bisect_right([r[0] for r in rows], moment)
        result[(pid, moment)] = (rows[i - 1][2], rows[i - 1][3]) if i else None
    return result


def priced_lines(
    lines: list[tuple[int, Decimal, Decimal]], *, at: dt.datetime, currency: str
) -> list[ShipmentLineRow]:
    """(product, quantity, revenue) → lines with the unit cost in force at `at`; cost =
    unit cost × quantity rounded half-up. A product without a cost then, or with a cost in
    another currency, is refused: a margin must never be made up."""
    costs = costs_at((pid, at) for pid, _, _ in lines)
    rows = []
    for pid, quantity, revenue in lines:
        found = costs.get((pid, at))
        if found is None:
            raise Invalid(
                _("The product has no cost price on %(date)s: record one in the catalogue.")
                % {"date": f"{at.astimezone(clock.MOSCOW):%d.%m.%Y}"},
                code="no_cost_price",
                product_id=pid,
            )
        unit_cost, cost_currency = found
        if cost_currency != currency:
            raise Invalid(
                _("The product's cost is in %(cost)s, the shipment in %(shipment)s.")
                % {"cost": cost_currency, "shipment": currency},
                code="currency_mismatch",
                product_id=pid,
            )
        rows.append(
            ShipmentLineRow(
                product_id=pid,
                quantity=quantity,
                unit_cost=unit_cost,
                revenue=revenue,
                cost=money.kopecks(unit_cost * quantity),
            )
        )
    return rows


# --- the services -------------------------------------------------------------------------------


def _deal(deal_id: int, actor: User) -> Deal:
    deal = Deal.objects.select_related("client", "team").filter(pk=deal_id).first()
    if deal is None or not policies.can_view_deal(actor, deal):
        raise NotFound(_("Deal not found."), code="deal_not_found")
    if not policies.can_record_money(actor, deal):
        raise Forbidden(
            _(
                "Invoices, payments and shipments of a deal are entered by its responsible "
                "person, order managers, document clerks and the head of sales."
            ),
            code="cannot_record_money",
        )
    return deal


def _not_future(moment: dt.datetime) -> None:
    if moment > clock.now() + SKEW:
        raise Invalid(_("A fact cannot be dated in the future."), code="dated_in_future")


def _existing(model: type[Any], source: str, external_id: str) -> Any:
    return model.objects.filter(source=source, external_id=external_id).first()


def _insert_once(model: type[Any], source: str, external_id: str, write: Any) -> tuple[Any, bool]:
    """Write a fact unless (source, external_id) is known: the unique constraint decides, so two
    identical requests at once store one fact and the second gets the first's row."""
    try:
        with transaction.atomic():
            return write(), True
    except IntegrityError:
        found = _existing(model, source, external_id)
        if found is None:
            raise
        return found, False


def _same_or_conflict(found: Any, amount: Decimal, field_name: str) -> None:
    if getattr(found, field_name) != amount:
        raise Conflict(
            _(
                "This external id was already used for a different amount; enter a credit "
                "note or a return instead of sending it again."
            ),
            code="external_id_reused",
            existing_id=found.pk,
        )


def invoice_lines(lines: Iterable[Any]) -> list[InvoiceLineRow]:
    """Validated line input → rounded lines (the product's VAT rate unless one is given)."""
    lines = list(lines)
    product_ids = {ln.product_id for ln in lines if ln.product_id}
    products = {p.pk: p for p in Product.objects.filter(pk__in=product_ids)}
    rows = []
    for ln in lines:
        product = products.get(ln.product_id) if ln.product_id else None
        if ln.product_id and product is None:
            raise Invalid(_("Unknown product."), code="invalid_product", product_id=ln.product_id)
        if ln.without_vat:
            rate = None
        elif ln.vat_rate is not None:
            rate = ln.vat_rate
        else:
            rate = product.vat_rate if product else DEFAULT_VAT_RATE
        rows.append(
            InvoiceLineRow(
                product_id=product.pk if product else None,
                description=ln.description or (product.name if product else ""),
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                discount_percent=ln.discount_percent,
                vat_rate=rate,
                amounts=money.line(ln.quantity, ln.unit_price, ln.discount_percent, rate),
            )
        )
    return rows


def issue_invoice(deal_id: int, data: InvoiceIn, *, actor: User) -> Invoice:
    """The deal's responsible person (an order manager, a clerk, the head) issues an invoice
    with lines; totals are sums of lines rounded half-up per line. Sent again with the same
    external id it changes nothing."""
    deal = _deal(deal_id, actor)
    lines = invoice_lines(data.lines)
    issued_on = data.issued_on or clock.today()
    _not_future(clock.start_of_day(issued_on))
    external_id = data.external_id or manual_id()
    doc = InvoiceDoc(
        external_id=external_id,
        number=data.number,
        issued_on=issued_on,
        team_id=deal.team_id,
        client_id=deal.client_id,
        deal_id=deal.pk,
        currency=deal.currency,
        lines=lines,
        comment=data.comment,
    )
    with transaction.atomic():

        def write() -> Invoice:
            (invoice,) = store_invoices([doc], source=MANUAL, actor=actor)
            if not invoice.number:
                # Our own numbering: the year and the row id, unique without a counter to race on.
                invoice.number = f"{issued_on:%Y}-{invoice.pk:06d}"
                Invoice.objects.filter(pk=invoice.pk).update(number=invoice.number)
            return invoice

        invoice, created = _insert_once(Invoice, MANUAL, external_id, write)
        if not created:
            _same_or_conflict(invoice, sum((ln.amounts.total for ln in lines), ZERO), "total")
            return invoice
        # Lines below their price floor hold the invoice for the head of sales.
        floors.hold_if_below_floor(invoice, lines, actor=actor)
        write_event(
            deal,
            DealEventKind.INVOICE_ISSUED,
            actor=actor,
            at=clock.now(),
            data={
                "invoice": invoice.pk,
                "number": invoice.number,
                "total": str(invoice.total),
                "currency": invoice.currency,
            },
        )
    return invoice


def _invoice_for_update(invoice_id: int, actor: User) -> Invoice:
    invoice = Invoice.objects.select_related("deal", "client").filter(pk=invoice_id).first()
    if invoice is None or not policies.can_view_money_fact(
        actor, invoice.team_id, deal=invoice.deal, client=invoice.client
    ):
        raise NotFound(_("Invoice not found."), code="invoice_not_found")
    if invoice.kind != FactKind.ORIGINAL:
        raise Conflict(
            _("Credit notes are written against the original invoice."), code="not_original"
        )
    return invoice


def issue_credit_note(invoice_id: int, data: CreditNoteIn, *, actor: User) -> Invoice:
    """A credit note reduces an invoice by a VAT-inclusive amount (all that is left to pay by
    default), split into net and VAT in the invoice's proportion so that crediting the whole
    invoice gives back exactly its net and VAT. It cannot take back money already paid: refund
    first. Written by order managers, document clerks and the head of sales only."""
    invoice = _invoice_for_update(invoice_id, actor)
    if not policies.can_reverse_money(actor, invoice.team_id):
        raise Forbidden(
            _("Only order managers, document clerks and the head of sales write credit notes."),
            code="cannot_reverse",
        )
    with transaction.atomic():
        _lock(Invoice, [invoice.pk])
        due, paid, _credited = invoice_balances([invoice.pk])[invoice.pk]
        left = due - paid
        amount = data.amount if data.amount is not None else left
        if amount <= 0 or amount > left:
            raise Invalid(
                _("A credit note can take back at most what is left to pay (%(left)s).")
                % {"left": left},
                code="credit_exceeds_due",
                left=str(left),
            )
        credited_before = invoice.total - due
        vat = money.share(invoice.vat_total, invoice.total, credited_before, amount)
        doc = InvoiceDoc(
            external_id=f"{invoice.external_id}#cn{_count_adjustments(invoice) + 1}",
            number=invoice.number,
            issued_on=clock.today(),
            team_id=invoice.team_id,
            client_id=invoice.client_id,
            deal_id=invoice.deal_id,
            currency=invoice.currency,
            kind=FactKind.REVERSAL,
            original_id=invoice.pk,
            comment=data.reason,
            lines=[
                InvoiceLineRow(
                    quantity=Decimal(1),
                    unit_price=ZERO,
                    description=data.reason[:300],
                    amounts=money.LineAmounts(net=-(amount - vat), vat=-vat, total=-amount),
                )
            ],
        )
        (note,) = store_invoices([doc], source=invoice.source, actor=actor)
        _fact_event(
            invoice.deal,
            DealEventKind.CREDIT_NOTE,
            actor,
            {"invoice": invoice.pk, "credit_note": note.pk, "amount": str(amount)},
            obj=note,
        )
    return note


def _count_adjustments(fact: Any) -> int:
    return int(type(fact).objects.filter(original_id=fact.pk).count())


def _fact_event(
    deal: Deal | None, kind: str, actor: User, data: dict[str, Any], *, obj: models.Model
) -> None:
    """A fact on a deal goes to the deal's timeline (which audits it); one without a deal is
    audited alone."""
    if deal is not None:
        write_event(deal, kind, actor=actor, at=clock.now(), data=data)
    else:
        record(actor=actor, verb=f"money.{kind}", obj=obj, data=data)


def record_payment(
    data: PaymentIn, *, actor: User, deal_id: int | None = None, client_id: int | None = None
) -> Payment:
    """A payment from the client of a deal (or from a client directly): allocated as told, or
    to the unpaid invoices oldest first; an allocation over what is left to pay is refused,
    and what exceeds all the invoices stays on the payment, unallocated (an advance)."""
    deal: Deal | None = None
    if deal_id is not None:
        deal = _deal(deal_id, actor)
        client = deal.client
    else:
        found = Client.objects.filter(pk=client_id, merged_into__isnull=True).first()
        if found is None:
            raise NotFound(_("Client not found."), code="client_not_found")
        client = found
        if not policies.can_record_money_for_team(actor, client.team_id):
            raise Forbidden(
                _("Payments are entered by order managers, document clerks and the head."),
                code="cannot_record_money",
            )
    currency = deal.currency if deal else "RUB"
    explicit = [(a.invoice_id, a.amount) for a in data.allocations or []]
    if explicit:
        currency = _check_targets(client, [i for i, _ in explicit])
    auto: list[int] = []
    if data.allocations is None:
        qs = Invoice.objects.filter(client=client, kind=FactKind.ORIGINAL, currency=currency)
        if deal is not None:
            qs = qs.filter(deal=deal)
        auto = list(qs.order_by("issued_on", "id").values_list("pk", flat=True))
        # An invoice held below its price floor takes no money until the head approves it.
        held = set(floors.unapproved(auto))
        auto = [pk for pk in auto if pk not in held]
    external_id = data.external_id or manual_id()
    doc = PaymentDoc(
        external_id=external_id,
        number=data.number,
        paid_on=data.paid_on or clock.today(),
        team_id=client.team_id,
        client_id=client.pk,
        deal_id=deal.pk if deal else None,
        currency=currency,
        amount=data.amount,
        comment=data.comment,
        allocations=explicit,
        auto_invoices=auto,
    )
    _not_future(clock.start_of_day(doc.paid_on))
    with transaction.atomic():
        payment, created = _insert_once(
            Payment,
            MANUAL,
            external_id,
            lambda: store_payments([doc], source=MANUAL, actor=actor)[0],
        )
        if not created:
            _same_or_conflict(payment, data.amount, "amount")
            return payment
        _fact_event(
            deal,
            DealEventKind.PAYMENT_RECORDED,
            actor,
            {"payment": payment.pk, "amount": str(payment.amount), "currency": currency},
            obj=payment,
        )
    return payment


def _check_targets(client: Client, invoice_ids: list[int]) -> str:
    rows = list(
        Invoice.objects.filter(pk__in=invoice_ids, kind=FactKind.ORIGINAL).values(
            "pk", "client_id", "currency"
        )
    )
    if len(rows) != len(set(invoice_ids)) or any(r["client_id"] != client.pk for r in rows):
        raise Invalid(
            _("A payment is allocated to invoices of its own client only."),
            code="invalid_allocation",
        )
    currencies = {r["currency"] for r in rows}
    if len(currencies) != 1:
        raise Invalid(_("The invoices are in different currencies."), code="currency_mismatch")
    held = floors.unapproved(invoice_ids)
    if held:
        raise Invalid(
            _("The invoice is below the price floor and the head of sales has not approved it."),
            code="awaiting_floor_approval",
            invoices=held,
        )
    return currencies.pop()


def allocate_payment(payment_id: int, allocations: list[AllocationIn], *, actor: User) -> Payment:
    """Apply what is left of a payment (an advance) to invoices of its client, within what the
    payment and each invoice have left."""
    payment = Payment.objects.select_related("client").filter(pk=payment_id).first()
    if payment is None or not policies.can_record_money_for_team(actor, payment.team_id):
        raise NotFound(_("Payment not found."), code="payment_not_found")
    if payment.kind != FactKind.ORIGINAL:
        raise Conflict(_("Allocate the original payment."), code="not_original")
    explicit = [(a.invoice_id, a.amount) for a in allocations]
    currency = _check_targets(payment.client, [i for i, _ in explicit])
    if currency != payment.currency:
        raise Invalid(_("The invoices are in another currency."), code="currency_mismatch")
    doc = PaymentDoc(
        external_id=payment.external_id,
        number=payment.number,
        paid_on=payment.paid_on,
        team_id=payment.team_id,
        client_id=payment.client_id,
        currency=payment.currency,
        amount=ZERO,
        allocations=explicit,
    )
    with transaction.atomic():
        _allocate([(payment, doc)], actor=actor)
        record(
            actor=actor,
            verb="money.payment_allocated",
            obj=payment,
            data={"allocations": [[i, str(a)] for i, a in explicit]},
        )
    return payment


def record_shipment(deal_id: int, data: ShipmentIn, *, actor: User) -> Shipment:
    """Goods delivered on a deal: revenue without VAT per line, the cost in force at the moment
    of shipment frozen on the line, margin = revenue − cost; the client's shipment clock
    restarts (store_shipments). Sent again with the same external id it changes nothing."""
    deal = _deal(deal_id, actor)
    shipped_at = data.shipped_at or clock.now()
    _not_future(shipped_at)
    lines = []
    for ln in data.lines:
        if ln.revenue is not None:
            revenue = ln.revenue
        elif ln.unit_price is not None:
            revenue = money.kopecks(ln.quantity * ln.unit_price)
        else:
            raise Invalid(
                _("Give the line's revenue or its unit price."), code="invalid_line", field="lines"
            )
        lines.append((ln.product_id, ln.quantity, revenue))
    rows = priced_lines(lines, at=shipped_at, currency=deal.currency)
    external_id = data.external_id or manual_id()
    doc = ShipmentDoc(
        external_id=external_id,
        number=data.number,
        shipped_at=shipped_at,
        team_id=deal.team_id,
        client_id=deal.client_id,
        deal_id=deal.pk,
        currency=deal.currency,
        lines=rows,
        comment=data.comment,
    )
    with transaction.atomic():
        shipment, created = _insert_once(
            Shipment,
            MANUAL,
            external_id,
            lambda: store_shipments([doc], source=MANUAL, actor=actor)[0],
        )
        if not created:
            _same_or_conflict(shipment, sum((r.revenue for r in rows), ZERO), "revenue")
            return shipment
        write_event(
            deal,
            DealEventKind.SHIPMENT_RECORDED,
            actor=actor,
            at=clock.now(),
            data={
                "shipment": shipment.pk,
                "revenue": str(shipment.revenue),
                "currency": shipment.currency,
            },
        )
    return shipment


def return_goods(shipment_id: int, data: ReturnIn, *, actor: User) -> Shipment:
    """A return of shipped lines: a reversal shipment with negative quantity, revenue, cost and
    margin, each line linked to the shipped line and cut from it cumulatively (returning all
    of a line gives back exactly its revenue and cost), never more than was shipped."""
    shipment = Shipment.objects.select_related("deal", "client").filter(pk=shipment_id).first()
    if shipment is None or not policies.can_view_money_fact(
        actor, shipment.team_id, deal=shipment.deal, client=shipment.client
    ):
        raise NotFound(_("Shipment not found."), code="shipment_not_found")
    if not policies.can_reverse_money(actor, shipment.team_id):
        raise Forbidden(
            _("Only order managers, document clerks and the head of sales record returns."),
            code="cannot_reverse",
        )
    if shipment.kind != FactKind.ORIGINAL:
        raise Conflict(_("Returns are written against the original shipment."), code="not_original")
    returned_at = data.returned_at or clock.now()
    _not_future(returned_at)
    with transaction.atomic():
        _lock(Shipment, [shipment.pk])
        originals = {ln.pk: ln for ln in ShipmentLine.objects.filter(shipment=shipment)}
        done = _returned_so_far(list(originals))
        rows = []
        for wanted in data.lines:
            line = originals.get(wanted.line_id)
            if line is None:
                raise Invalid(
                    _("The line is not on this shipment."), code="invalid_line", line=wanted.line_id
                )
            already = done.get(line.pk, ZERO)
            if already + wanted.quantity > line.quantity:
                raise Invalid(
                    _("Only %(left)s of this line is left to return.")
                    % {"left": line.quantity - already},
                    code="return_exceeds_shipped",
                    line=line.pk,
                )
            revenue = money.share(line.revenue, line.quantity, already, wanted.quantity)
            cost = money.share(line.cost, line.quantity, already, wanted.quantity)
            rows.append(
                ShipmentLineRow(
                    product_id=line.product_id,
                    quantity=-wanted.quantity,
                    unit_cost=line.unit_cost,
                    revenue=-revenue,
                    cost=-cost,
                    original_line_id=line.pk,
                )
            )
            done[line.pk] = already + wanted.quantity
        doc = ShipmentDoc(
            external_id=f"{shipment.external_id}#ret{_count_adjustments(shipment) + 1}",
            number=shipment.number,
            shipped_at=returned_at,
            team_id=shipment.team_id,
            client_id=shipment.client_id,
            deal_id=shipment.deal_id,
            currency=shipment.currency,
            kind=FactKind.REVERSAL,
            original_id=shipment.pk,
            lines=rows,
            comment=data.reason,
        )
        (ret,) = store_shipments([doc], source=shipment.source, actor=actor)
        _fact_event(
            shipment.deal,
            DealEventKind.GOODS_RETURNED,
            actor,
            {"shipment": shipment.pk, "return": ret.pk, "revenue": str(ret.revenue)},
            obj=ret,
        )
    return ret


def _returned_so_far(line_ids: list[int]) -> dict[int, Decimal]:
    """Quantities already returned per shipped line (positive)."""
    return {
        pk: -q
        for pk, q in ShipmentLine.objects.filter(original_line_id__in=line_ids)
        .values("original_line_id")
        .annotate(q=Sum("quantity"))
        .values_list("original_line_id", "q")
    }
