"""The money block of a deal card: the deal's invoices (with their derived status), payments
and shipments as the viewer may see them (money_selectors), and what the entry forms need.

Read-only: the forms post to otdel.sales.money_views, which call the money_facts services.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch

from otdel.people.models import User
from otdel.sales import money, money_facts, money_selectors, policies
from otdel.sales.models import Deal, FactKind, Product, ShipmentLine
from otdel.sales.models.catalogue import VAT_RATES

# How many facts of one kind a deal card lists (a deal has a handful; the lists page has all).
CARD_LIMIT = 100


def vat_choices() -> list[tuple[str, str]]:
    """The VAT choices of an invoice line: the product's own rate, a rate, or without VAT."""
    from django.utils.translation import gettext as _

    return [
        ("", _("as in the catalogue")),
        *[(str(r.normalize()), f"{r.normalize()} %") for r in VAT_RATES],
        ("none", _("without VAT")),
    ]


def annotate_invoices(invoices: list[Any]) -> None:
    """Attach status, due and what is left to pay to original invoices (two queries)."""
    originals = [i.pk for i in invoices if i.kind == FactKind.ORIGINAL]
    balances = money_facts.invoice_balances(originals) if originals else {}
    for inv in invoices:
        found = balances.get(inv.pk)
        if found is None:
            inv.status = ""
            inv.left = None
            continue
        due, paid, credited = found
        inv.status = str(money.invoice_status(due=due, paid=paid, credited=credited))
        inv.status_label = money.InvoiceStatus(inv.status).label
        inv.due = due
        inv.paid_total = paid
        inv.left = due - paid


def products() -> list[Product]:
    """The products offered in the forms: those on sale, by name."""
    return list(Product.objects.filter(active=True).order_by("name")[:1000])


def money_context(
    viewer: User,
    deal: Deal,
    *,
    open_form: str = "",
    error: str = "",
    posted: Any = None,
    target_id: int | None = None,
) -> dict[str, Any]:
    """What the deal card's money sections and forms show to this viewer."""
    invoices = list(
        money_selectors.invoices(viewer, deal_id=deal.pk).order_by("issued_on", "id")[:CARD_LIMIT]
    )
    annotate_invoices(invoices)
    payments = list(
        money_selectors.payments(viewer, deal_id=deal.pk).order_by("paid_on", "id")[:CARD_LIMIT]
    )
    for p in payments:
        p.advance = p.amount - p.allocated if p.kind == FactKind.ORIGINAL else None  # type: ignore[attr-defined]
    shipments = list(
        money_selectors.shipments(viewer, deal_id=deal.pk)
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=ShipmentLine.objects.select_related("product").order_by("position"),
            )
        )
        .order_by("shipped_at", "id")[:CARD_LIMIT]
    )
    may_record = policies.can_record_money(viewer, deal)
    may_reverse = policies.can_reverse_money(viewer, deal.team_id)
    posted = posted if posted is not None else {}
    return {
        "money_invoices": invoices,
        "money_payments": payments,
        "money_shipments": shipments,
        "open_invoices": [
            i
            for i in invoices
            if i.kind == FactKind.ORIGINAL and (getattr(i, "left", None) or 0) > 0
        ],
        "may_record_money": may_record,
        "may_reverse_money": may_reverse,
        "sees_costs": policies.can_see_costs(viewer),
        "products": products() if may_record else [],
        "vat_choices": vat_choices(),
        "money_form": open_form,
        "money_error": error,
        "money_target": target_id,
        "posted": posted,
        "invoice_rows": _rows(posted, ("product", "quantity", "unit_price", "discount", "vat")),
        "shipment_rows": _rows(posted, ("product", "quantity", "revenue"), prefix="ship_")
        if open_form == "shipment"
        else [{}],
    }


def _rows(posted: Any, names: tuple[str, ...], prefix: str = "") -> list[dict[str, str]]:
    """The lines typed into a form, to show them again after a refusal (one empty by default)."""
    if not hasattr(posted, "getlist"):
        return [{}]
    columns = {n: posted.getlist(prefix + n) for n in names}
    count = max((len(v) for v in columns.values()), default=0)
    rows = [
        {n: (columns[n][i] if i < len(columns[n]) else "") for n in names} for i in range(count)
    ]
    return rows or [{}]
