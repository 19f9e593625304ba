"""Builders for the money tests: products with a cost, invoices, shipments through services."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from otdel.people.models import User
from otdel.sales import money_facts, services
from otdel.sales.models import Product, ProductCategory
from otdel.sales.schemas import InvoiceIn, InvoiceLineIn, ProductIn, ShipmentIn, ShipmentLineIn


def product(head: User, *, sku: str = "KMP-1", cost: str = "600", **kw: Any) -> Product:
    """A product created by the head with its first cost price."""
    data: dict[str, Any] = {
        "name": kw.pop("name", f"Компрессор {sku}"),
        "sku": sku,
        "category_id": ProductCategory.objects.get(code="equipment").pk,
        "list_price": Decimal("1000"),
        "cost": Decimal(cost),
        **kw,
    }
    return services.create_product(ProductIn(**data), actor=head)


def invoice(deal_id: int, actor: User, *lines: tuple[Any, ...], **kw: Any):
    """(product_id, quantity, unit price[, discount[, vat]]) lines."""
    rows = []
    for ln in lines:
        pid, qty, price, *rest = ln
        extra: dict[str, Any] = {}
        if rest:
            extra["discount_percent"] = Decimal(str(rest[0]))
        if len(rest) > 1 and rest[1] is None:
            extra["without_vat"] = True
        elif len(rest) > 1:
            extra["vat_rate"] = Decimal(str(rest[1]))
        rows.append(
            InvoiceLineIn(
                product_id=pid, quantity=Decimal(str(qty)), unit_price=Decimal(str(price)), **extra
            )
        )
    return money_facts.issue_invoice(deal_id, InvoiceIn(lines=rows, **kw), actor=actor)


def shipment(deal_id: int, actor: User, *lines: tuple[int, str, str], **kw: Any):
    """(product_id, quantity, revenue) lines."""
    rows = [
        ShipmentLineIn(product_id=pid, quantity=Decimal(q), revenue=Decimal(r))
        for pid, q, r in lines
    ]
    return money_facts.record_shipment(deal_id, ShipmentIn(lines=rows, **kw), actor=actor)
