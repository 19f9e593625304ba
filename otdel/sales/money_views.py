"""Money pages: the entry forms of a deal card (invoice with lines, payment allocated to
invoices, shipment with lines, credit note, return) and the lists of invoices, payments and
shipments with filters.

Thin: a form is read into the service's input schema and handed to otdel.sales.money_facts;
what the service refuses (a DomainError) is shown next to the form, in the user's language, and
nothing is written (each service is one transaction).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from pydantic import ValidationError

from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.errors import DomainError
from otdel.core.money import Money
from otdel.core.paging import page_without_count, query_without
from otdel.people.models import User
from otdel.sales import money_card, money_facts, money_selectors, policies
from otdel.sales.models import Deal, FactKind, Invoice, ProductCategory, ShipmentLine
from otdel.sales.money import InvoiceStatus
from otdel.sales.schemas import (
    AllocationIn,
    CreditNoteIn,
    InvoiceIn,
    InvoiceLineIn,
    PaymentIn,
    ReturnIn,
    ReturnLineIn,
    ShipmentIn,
    ShipmentLineIn,
)
from otdel.sales.views import deal_card, deal_or_404


class FormProblem(Exception):
    """A value the person typed that cannot be read; shown next to the form."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _decimal(text: str | None, label: str, *, required: bool = True) -> Decimal | None:
    """«1 234,56» or «1234.56» → Decimal; an empty value is None when not required."""
    raw = (text or "").strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    if not raw:
        if required:
            raise FormProblem(_("Fill in: %(field)s.") % {"field": label})
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise FormProblem(
            _("«%(value)s» is not a number (%(field)s).") % {"value": text, "field": label}
        ) from None
    if not value.is_finite():
        raise FormProblem(
            _("«%(value)s» is not a number (%(field)s).") % {"value": text, "field": label}
        )
    return value


def _date(text: str | None, label: str) -> dt.date | None:
    raw = (text or "").strip()
    if not raw:
        return None
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise FormProblem(_("«%(value)s» is not a date (%(field)s).") % {"value": raw, "field": label})


def _moment(day: dt.date | None) -> dt.datetime | None:
    """A date typed for a shipment or a return: today means now, an earlier day its noon."""
    if day is None or day == clock.today():
        return None
    return clock.start_of_day(day) + dt.timedelta(hours=12)


def _int(text: str | None) -> int | None:
    raw = (text or "").strip()
    return int(raw) if raw.isdigit() else None


def _invalid_input(err: ValidationError) -> str:
    """Pydantic's refusals name the field; the words are ours (and translated)."""
    names = {
        "lines": _("lines"),
        "quantity": _("quantity"),
        "unit_price": _("price"),
        "discount_percent": _("discount"),
        "vat_rate": _("VAT rate"),
        "amount": _("amount"),
        "revenue": _("revenue"),
        "reason": _("reason"),
        "number": _("number"),
        "comment": _("comment"),
    }
    fields = []
    for e in err.errors():
        loc = [str(p) for p in e.get("loc", ()) if not str(p).isdigit()]
        label = str(names.get(loc[-1], loc[-1])) if loc else ""
        if label and label not in fields:
            fields.append(label)
    return _("Check the values: %(fields)s.") % {"fields": ", ".join(fields) or "—"}


def _refused(
    request: HttpRequest, deal: Deal, form: str, message: str, target_id: int | None = None
) -> HttpResponse:
    """The deal card again, the form open with what was typed and the reason next to it."""
    return deal_card(
        request,
        _user(request),
        deal,
        money={"open_form": form, "error": message, "posted": request.POST, "target_id": target_id},
    )


def _done(request: HttpRequest, deal_id: int, text: str, anchor: str) -> HttpResponse:
    messages.success(request, text)
    return redirect(reverse("sales:deal_detail", args=[deal_id]) + f"#{anchor}")


def _recording_deal(request: HttpRequest, deal_id: int) -> Deal:
    """The deal the viewer enters facts on: missing if he may not see it, 403 if he may see it
    but not enter money on it."""
    user = _user(request)
    deal = deal_or_404(user, deal_id)
    if not policies.can_record_money(user, deal):
        raise PermissionDenied(
            _(
                "Invoices, payments and shipments of a deal are entered by its responsible person, order managers, document clerks and the head of sales."
            )
        )
    return deal


def _call(
    request: HttpRequest, deal: Deal, form: str, action: Any, target_id: int | None = None
) -> Any:
    """Run a form's reading and its service; a refusal comes back as the re-rendered card."""
    try:
        return action()
    except FormProblem as err:
        return _refused(request, deal, form, err.message, target_id)
    except ValidationError as err:
        return _refused(request, deal, form, _invalid_input(err), target_id)
    except DomainError as err:
        if err.status == 404:
            raise Http404 from err
        if err.status == 403:
            raise PermissionDenied(err.message) from err
        return _refused(request, deal, form, err.message, target_id)


# --- the deal card's forms ----------------------------------------------------------------------


def _invoice_lines(post: Any) -> list[InvoiceLineIn]:
    from otdel.sales.models import Product

    products = post.getlist("product")
    quantities = post.getlist("quantity")
    prices = post.getlist("unit_price")
    discounts = post.getlist("discount")
    vats = post.getlist("vat")
    lines = []
    for i, pid_text in enumerate(products):
        qty_text = quantities[i] if i < len(quantities) else ""
        price_text = prices[i] if i < len(prices) else ""
        if not pid_text and not qty_text.strip() and not price_text.strip():
            continue  # an empty line left in the form
        n = i + 1
        pid = _int(pid_text)
        if pid is None:
            raise FormProblem(_("Line %(n)s: choose a product.") % {"n": n})
        quantity = _decimal(qty_text, _("line %(n)s, quantity") % {"n": n})
        price = _decimal(price_text, _("line %(n)s, price") % {"n": n}, required=False)
        if price is None:
            product = Product.objects.filter(pk=pid).first()
            if product is None:
                raise FormProblem(_("Line %(n)s: choose a product.") % {"n": n})
            price = product.list_price
        discount = _decimal(
            discounts[i] if i < len(discounts) else "",
            _("line %(n)s, discount") % {"n": n},
            required=False,
        )
        vat = vats[i] if i < len(vats) else ""
        extra: dict[str, Any] = {}
        if vat == "none":
            extra["without_vat"] = True
        elif vat:
            extra["vat_rate"] = _decimal(vat, _("line %(n)s, VAT rate") % {"n": n})
        lines.append(
            InvoiceLineIn(
                product_id=pid,
                quantity=quantity,
                unit_price=price,
                discount_percent=discount or Decimal(0),
                **extra,
            )
        )
    if not lines:
        raise FormProblem(_("Add at least one line."))
    return lines


@login_required
@require_POST
def invoice_issue(request: HttpRequest, deal_id: int) -> HttpResponse:
    """Issue an invoice on the deal: lines of the catalogue's products."""
    deal = _recording_deal(request, deal_id)
    post = request.POST

    def act() -> HttpResponse:
        data = InvoiceIn(
            lines=_invoice_lines(post),
            number=post.get("number", "").strip(),
            issued_on=_date(post.get("issued_on"), _("date")),
            comment=post.get("comment", "").strip(),
        )
        invoice = money_facts.issue_invoice(deal.pk, data, actor=_user(request))
        return _done(
            request,
            deal.pk,
            _("Invoice № %(number)s for %(total)s is issued.")
            % {"number": invoice.number, "total": Money(invoice.total, invoice.currency)},
            "invoices",
        )

    return _call(request, deal, "invoice", act)


@login_required
@require_GET
def invoice_line(request: HttpRequest, deal_id: int) -> HttpResponse:
    """One more empty line of the invoice form (htmx)."""
    deal = _recording_deal(request, deal_id)
    return render(
        request,
        "sales/_invoice_line.html",
        {
            "deal": deal,
            "row": {},
            "products": money_card.products(),
            "vat_choices": money_card.vat_choices(),
        },
    )


@login_required
@require_GET
def shipment_line(request: HttpRequest, deal_id: int) -> HttpResponse:
    """One more empty line of the shipment form (htmx)."""
    deal = _recording_deal(request, deal_id)
    return render(
        request,
        "sales/_shipment_line.html",
        {"deal": deal, "row": {}, "products": money_card.products()},
    )


@login_required
@require_POST
def payment_record(request: HttpRequest, deal_id: int) -> HttpResponse:
    """A payment from the deal's client: split over the invoices as typed, or (nothing typed)
    to the unpaid invoices oldest first; the rest stays on the payment as an advance."""
    deal = _recording_deal(request, deal_id)
    post = request.POST

    def act() -> HttpResponse:
        amount = _decimal(post.get("amount"), _("amount"))
        allocations = []
        for key in post:
            if key.startswith("alloc_") and key[6:].isdigit():
                value = _decimal(post.get(key), _("allocation"), required=False)
                if value:
                    allocations.append(AllocationIn(invoice_id=int(key[6:]), amount=value))
        data = PaymentIn(
            amount=amount,
            paid_on=_date(post.get("paid_on"), _("date")),
            allocations=allocations or None,
            number=post.get("number", "").strip(),
            comment=post.get("comment", "").strip(),
        )
        payment = money_facts.record_payment(data, actor=_user(request), deal_id=deal.pk)
        return _done(
            request,
            deal.pk,
            _("The payment of %(amount)s is recorded.")
            % {"amount": Money(payment.amount, payment.currency)},
            "payments",
        )

    return _call(request, deal, "payment", act)


@login_required
@require_POST
def shipment_record(request: HttpRequest, deal_id: int) -> HttpResponse:
    """Goods delivered on the deal: lines with revenue without VAT; the cost in force then is
    frozen on each line."""
    deal = _recording_deal(request, deal_id)
    post = request.POST

    def act() -> HttpResponse:
        products = post.getlist("ship_product")
        quantities = post.getlist("ship_quantity")
        revenues = post.getlist("ship_revenue")
        lines = []
        for i, pid_text in enumerate(products):
            qty_text = quantities[i] if i < len(quantities) else ""
            rev_text = revenues[i] if i < len(revenues) else ""
            if not pid_text and not qty_text.strip() and not rev_text.strip():
                continue
            n = i + 1
            pid = _int(pid_text)
            if pid is None:
                raise FormProblem(_("Line %(n)s: choose a product.") % {"n": n})
            lines.append(
                ShipmentLineIn(
                    product_id=pid,
                    quantity=_decimal(qty_text, _("line %(n)s, quantity") % {"n": n}),
                    revenue=_decimal(rev_text, _("line %(n)s, revenue without VAT") % {"n": n}),
                )
            )
        if not lines:
            raise FormProblem(_("Add at least one line."))
        data = ShipmentIn(
            lines=lines,
            shipped_at=_moment(_date(post.get("shipped_on"), _("date"))),
            number=post.get("number", "").strip(),
            comment=post.get("comment", "").strip(),
        )
        shipment = money_facts.record_shipment(deal.pk, data, actor=_user(request))
        return _done(
            request,
            deal.pk,
            _("The shipment for %(revenue)s without VAT is recorded.")
            % {"revenue": Money(shipment.revenue, shipment.currency)},
            "shipments",
        )

    return _call(request, deal, "shipment", act)


def _reversal_deal(request: HttpRequest, fact: Any) -> Deal:
    user = _user(request)
    if fact.deal_id is None:
        raise Http404
    deal = deal_or_404(user, fact.deal_id)
    if not policies.can_reverse_money(user, fact.team_id):
        raise PermissionDenied(
            _(
                "Only order managers, document clerks and the head of sales write credit notes and returns."
            )
        )
    return deal


@login_required
@require_POST
def credit_note(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """A credit note against an invoice: all that is left to pay, or the amount typed."""
    user = _user(request)
    try:
        invoice = money_selectors.invoice_for(user, invoice_id)
    except DomainError as err:
        raise Http404 from err
    deal = _reversal_deal(request, invoice)
    post = request.POST

    def act() -> HttpResponse:
        data = CreditNoteIn(
            amount=_decimal(post.get("amount"), _("amount"), required=False),
            reason=post.get("reason", "").strip(),
        )
        if not data.reason:
            raise FormProblem(_("Say why the invoice is credited."))
        note = money_facts.issue_credit_note(invoice.pk, data, actor=user)
        return _done(
            request,
            deal.pk,
            _("Credit note for %(amount)s against invoice № %(number)s is written.")
            % {"amount": Money(-note.total, note.currency), "number": invoice.number},
            "invoices",
        )

    return _call(request, deal, "credit", act, invoice.pk)


@login_required
@require_POST
def goods_return(request: HttpRequest, shipment_id: int) -> HttpResponse:
    """A return of some units of a shipment's lines."""
    user = _user(request)
    try:
        shipment = money_selectors.shipment_for(user, shipment_id)
    except DomainError as err:
        raise Http404 from err
    deal = _reversal_deal(request, shipment)
    post = request.POST

    def act() -> HttpResponse:
        lines = []
        for key in post:
            if key.startswith("ret_") and key[4:].isdigit():
                qty = _decimal(post.get(key), _("quantity"), required=False)
                if qty:
                    lines.append(ReturnLineIn(line_id=int(key[4:]), quantity=qty))
        if not lines:
            raise FormProblem(_("Type how many units come back."))
        reason = post.get("reason", "").strip()
        if not reason:
            raise FormProblem(_("Say why the goods come back."))
        data = ReturnIn(
            lines=lines,
            returned_at=_moment(_date(post.get("returned_on"), _("date"))),
            reason=reason,
        )
        ret = money_facts.return_goods(shipment.pk, data, actor=user)
        return _done(
            request,
            deal.pk,
            _("The return for %(revenue)s without VAT is recorded.")
            % {"revenue": Money(-ret.revenue, ret.currency)},
            "shipments",
        )

    return _call(request, deal, "return", act, shipment.pk)


# --- the lists ----------------------------------------------------------------------------------

LISTS = ("invoices", "payments", "shipments")


def _filters(request: HttpRequest) -> dict[str, Any]:
    get = request.GET
    problems = []
    since = until = None
    try:
        since = _date(get.get("since"), _("date from"))
    except FormProblem as err:
        problems.append(err.message)
    try:
        until = _date(get.get("until"), _("date to"))
    except FormProblem as err:
        problems.append(err.message)
    kind = get.get("kind", "")
    return {
        "since": since,
        "until": until,
        "client_id": _int(get.get("client")),
        "kind": kind if kind in FactKind.values else None,
        "problems": problems,
    }


def _people(user: User) -> list[User]:
    if user.team_id is None or not policies.sees_all_money(user, user.team_id):
        return []
    return list(
        User.objects.filter(team_id=user.team_id, is_active=True).order_by(
            "last_name", "first_name"
        )
    )


@login_required
@require_GET
def money_list(request: HttpRequest, what: str) -> HttpResponse:
    """Invoices, payments or shipments the viewer may see, newest first, paged without a count:
    by period, client (a name or ИНН fragment), the deal's responsible person, kind (original,
    correction, reversal), an invoice's status, a shipment's product category."""
    if what not in LISTS:
        raise Http404
    user = _user(request)
    f = _filters(request)
    selector = {
        "invoices": money_selectors.invoices,
        "payments": money_selectors.payments,
        "shipments": money_selectors.shipments,
    }[what]
    qs = selector(
        user, client_id=f["client_id"], kind=f["kind"], since=f["since"], until=f["until"]
    )
    q = request.GET.get("q", "").strip()
    if q:
        # A subquery, not a join: a join on legal entities would multiply the summed columns.
        qs = qs.filter(
            client_id__in=Client.objects.filter(
                Q(name__icontains=q) | Q(legal_entities__inn=q)
            ).values("pk")
        )
    person = _int(request.GET.get("person"))
    if person:
        qs = qs.filter(deal__responsible_id=person)
    status = request.GET.get("status", "")
    category = _int(request.GET.get("category"))
    if what == "invoices":
        if status:
            qs = qs.filter(kind=FactKind.ORIGINAL)
        qs = qs.order_by("-issued_on", "-id")
    elif what == "payments":
        qs = qs.order_by("-paid_on", "-id")
    else:
        if category:
            qs = qs.filter(
                pk__in=ShipmentLine.objects.filter(product__category_id=category).values(
                    "shipment_id"
                )
            )
        qs = qs.order_by("-shipped_at", "-id")
    rows: list[Any]
    if what == "invoices" and status:
        rows, page, has_next = _invoices_by_status(request, qs, status)
    else:
        rows, page, has_next = page_without_count(request, qs)
        if what == "invoices":
            money_card.annotate_invoices(rows)
    if what == "payments":
        for p in rows:
            p.advance = p.amount - p.allocated if p.kind == FactKind.ORIGINAL else None  # type: ignore[union-attr]
    return render(
        request,
        "sales/money_list.html",
        {
            "what": what,
            "rows": rows,
            "page": page,
            "has_next": has_next,
            "query": query_without(request, "page"),
            "f": f,
            "q": q,
            "person": person,
            "people": _people(user),
            "status": status,
            "statuses": InvoiceStatus.choices,
            "kinds": FactKind.choices,
            "category": category,
            "categories": list(ProductCategory.objects.order_by("position", "name"))
            if what == "shipments"
            else [],
            "sees_costs": policies.can_see_costs(user),
            "tabs": [
                ("invoices", _("Invoices")),
                ("payments", _("Payments")),
                ("shipments", _("Shipments")),
            ],
        },
    )


def _invoices_by_status(
    request: HttpRequest, qs: Any, status: str, size: int = 50
) -> tuple[list[Invoice], int, bool]:
    """A status is derived (never stored), so it is filtered after the balances are read: scan
    the newest invoices in chunks until the page is full (bounded, no count)."""
    try:
        number = max(int(request.GET.get("page", "1")), 1)
    except ValueError:
        number = 1
    skip = (number - 1) * size
    found: list[Invoice] = []
    offset = 0
    chunk = 500
    scanned = 0
    while len(found) < skip + size + 1 and scanned < 20_000:
        batch = list(qs[offset : offset + chunk])
        if not batch:
            break
        money_card.annotate_invoices(batch)
        found.extend(i for i in batch if i.status == status)
        offset += chunk
        scanned += len(batch)
    rows = found[skip : skip + size + 1]
    return rows[:size], number, len(rows) > size
