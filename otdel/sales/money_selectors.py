"""Every read of money facts, for a viewer: the head of sales, order managers and document
clerks see the team's facts; everyone else those of deals he is responsible for and of
clients he owns (sales.policies.sees_all_money). Margins and costs: sales.policies.can_see_costs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, TypeVar

from django.db.models import DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from otdel.core.errors import NotFound
from otdel.ownership.policies import manages_team
from otdel.people.models import Role, User
from otdel.sales import money, money_facts, policies
from otdel.sales.models import (
    FactKind,
    Invoice,
    MoneyImport,
    Payment,
    Shipment,
    UnresolvedRow,
)

F = TypeVar("F", Invoice, Payment, Shipment)
_ZERO = Value(Decimal("0"), output_field=DecimalField(max_digits=14, decimal_places=2))


def _visible(viewer: User, qs: QuerySet[F]) -> QuerySet[F]:
    if not viewer.is_authenticated or not viewer.is_active:
        return qs.none()
    if manages_team(viewer, None):
        return qs
    if viewer.role in (Role.ORDER_MANAGER, Role.DOC_CLERK) or viewer.is_head_of_sales:
        return qs.filter(team_id=viewer.team_id)
    return qs.filter(Q(deal__responsible=viewer) | Q(client__owner=viewer))


def _filtered(
    qs: QuerySet[F],
    date_field: str,
    *,
    client_id: int | None,
    deal_id: int | None,
    kind: str | None,
    since: dt.date | None,
    until: dt.date | None,
    source: str | None,
) -> QuerySet[F]:
    if client_id:
        qs = qs.filter(client_id=client_id)
    if deal_id:
        qs = qs.filter(deal_id=deal_id)
    if kind:
        qs = qs.filter(kind=kind)
    if source:
        qs = qs.filter(source=source)
    if since:
        qs = qs.filter(**{f"{date_field}__gte": since})
    if until:
        qs = qs.filter(**{f"{date_field}__lte": until})
    return qs


def invoices(viewer: User, **filters: Any) -> QuerySet[Invoice]:
    """Invoices (and their corrections and credit notes) the viewer may see, newest first,
    with `paid` (allocated payments) annotated."""
    qs = _visible(viewer, Invoice.objects.select_related("client", "deal"))
    qs = _filtered(qs, "issued_on", **_defaults(filters))
    return qs.annotate(paid=Coalesce(Sum("allocations__amount"), _ZERO))


def payments(viewer: User, **filters: Any) -> QuerySet[Payment]:
    """Payments the viewer may see, with `allocated` annotated."""
    qs = _visible(viewer, Payment.objects.select_related("client", "deal"))
    qs = _filtered(qs, "paid_on", **_defaults(filters))
    return qs.annotate(allocated=Coalesce(Sum("allocations__amount"), _ZERO))


def shipments(viewer: User, **filters: Any) -> QuerySet[Shipment]:
    """Shipments and returns the viewer may see."""
    qs = _visible(viewer, Shipment.objects.select_related("client", "deal", "owner"))
    return _filtered(qs, "shipped_at__date", **_defaults(filters))


def _defaults(filters: dict[str, Any]) -> dict[str, Any]:
    keys = ("client_id", "deal_id", "kind", "since", "until", "source")
    return {k: filters.get(k) for k in keys}


def invoice_for(viewer: User, invoice_id: int) -> Invoice:
    """One invoice the viewer may see (anything else looks missing)."""
    found = invoices(viewer).filter(pk=invoice_id).first()
    if found is None:
        raise NotFound(_("Invoice not found."), code="invoice_not_found")
    return found


def payment_for(viewer: User, payment_id: int) -> Payment:
    """One payment the viewer may see."""
    found = payments(viewer).filter(pk=payment_id).first()
    if found is None:
        raise NotFound(_("Payment not found."), code="payment_not_found")
    return found


def shipment_for(viewer: User, shipment_id: int) -> Shipment:
    """One shipment the viewer may see."""
    found = shipments(viewer).filter(pk=shipment_id).first()
    if found is None:
        raise NotFound(_("Shipment not found."), code="shipment_not_found")
    return found


def status_of(invoice: Invoice) -> str:
    """An original invoice's status from its balances (a correction or credit note has none)."""
    if invoice.kind != FactKind.ORIGINAL:
        return ""
    due, paid, credited = money_facts.invoice_balances([invoice.pk])[invoice.pk]
    return str(money.invoice_status(due=due, paid=paid, credited=credited))


def statuses(invoice_ids: list[int]) -> dict[int, str]:
    """Statuses of many original invoices, in two queries."""
    return {
        pk: str(money.invoice_status(due=due, paid=paid, credited=credited))
        for pk, (due, paid, credited) in money_facts.invoice_balances(invoice_ids).items()
    }


def deal_money(viewer: User, deal_id: int) -> dict[str, Any]:
    """A deal card's money block: its invoices, payments and shipments."""
    return {
        "invoices": list(invoices(viewer, deal_id=deal_id)[:50]),
        "payments": list(payments(viewer, deal_id=deal_id)[:50]),
        "shipments": list(shipments(viewer, deal_id=deal_id)[:50]),
    }


def unresolved_rows(viewer: User, *, open_only: bool = True) -> QuerySet[UnresolvedRow]:
    """Unmatched rows of 1С imports, for those who resolve them."""
    if not policies.can_resolve_import_rows(viewer):
        return UnresolvedRow.objects.none()
    qs = UnresolvedRow.objects.select_related("job", "resolved_client")
    if not manages_team(viewer, None):
        qs = qs.filter(job__team_id=viewer.team_id)
    return qs.filter(resolved_at__isnull=True) if open_only else qs


def money_imports(viewer: User) -> QuerySet[MoneyImport]:
    """The 1С imports of the viewer's team."""
    if not policies.can_import_money(viewer):
        return MoneyImport.objects.none()
    qs = MoneyImport.objects.select_related("created_by")
    return qs if manages_team(viewer, None) else qs.filter(team_id=viewer.team_id)
