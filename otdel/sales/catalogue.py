"""Every write to the product catalogue: categories, products and cost prices.

Only the head of sales edits the catalogue; each write is atomic and audited with what changed.
A cost price is never overwritten: a change is a new ProductCost row, effective from now or a
later moment, so the cost at any past moment stays what it was.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from otdel.audit.services import record
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
from otdel.people.models import User
from otdel.sales import policies
from otdel.sales.models import Product, ProductCategory, ProductCost
from otdel.sales.schemas import CategoryIn, CategoryPatch, ProductIn, ProductPatch
from otdel.sales.selectors import cost_at

# A cost may take effect a few minutes "ago" (clock skew between machines), never earlier.
BACKDATE_TOLERANCE = dt.timedelta(minutes=5)


def _require_editor(actor: User) -> None:
    if not policies.can_edit_catalogue(actor):
        raise Forbidden(_("Only the head of sales edits the catalogue."), code="not_head_of_sales")


def _json(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


# --- categories ------------------------------------------------------------------------------


def create_category(data: CategoryIn, *, actor: User) -> ProductCategory:
    """The head of sales adds a product category (its code stays fixed for pay plans)."""
    _require_editor(actor)
    code = data.code or slugify(data.name) or f"category-{uuid.uuid4().hex[:8]}"
    now = clock.now()
    try:
        with transaction.atomic():
            category = ProductCategory.objects.create(
                code=code[:40],
                name=data.name,
                position=data.position,
                created_at=now,
                updated_at=now,
            )
            record(
                actor=actor,
                verb="product_category.created",
                obj=category,
                data={"code": category.code, "name": category.name},
            )
    except IntegrityError as err:
        raise Conflict(
            _("A category with this code already exists."), code="category_code_taken"
        ) from err
    return category


def update_category(category_id: int, changes: CategoryPatch, *, actor: User) -> ProductCategory:
    """The head of sales renames, reorders or retires a category; its code never changes."""
    _require_editor(actor)
    with transaction.atomic():
        category = ProductCategory.objects.select_for_update().filter(pk=category_id).first()
        if category is None:
            raise NotFound(_("Category not found."), code="category_not_found")
        diff = {}
        for name in changes.model_fields_set:
            value = getattr(changes, name)
            if value is None or value == getattr(category, name):
                continue
            diff[name] = {"from": getattr(category, name), "to": value}
            setattr(category, name, value)
        if diff:
            category.updated_at = clock.now()
            category.save()
            record(actor=actor, verb="product_category.updated", obj=category, data=diff)
    return category


# --- products --------------------------------------------------------------------------------


def _category(category_id: int) -> ProductCategory:
    category = ProductCategory.objects.filter(pk=category_id).first()
    if category is None:
        raise Invalid(_("There is no such category."), code="invalid_category", field="category_id")
    return category


def _sku_taken() -> Conflict:
    return Conflict(_("Another product has this SKU."), code="sku_taken", field="sku")


def create_product(data: ProductIn, *, actor: User) -> Product:
    """The head of sales adds a product with its list price and VAT rate, and optionally its
    first cost price (effective now)."""
    _require_editor(actor)
    category = _category(data.category_id)
    if Product.objects.filter(sku=data.sku).exists():
        raise _sku_taken()
    now = clock.now()
    try:
        with transaction.atomic():
            product = Product.objects.create(
                name=data.name,
                sku=data.sku,
                unit=data.unit,
                category=category,
                list_price=data.list_price,
                currency=data.currency,
                vat_rate=data.vat_rate,
                active=data.active,
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
            record(
                actor=actor,
                verb="product.created",
                obj=product,
                data={k: _json(v) for k, v in data.model_dump(exclude={"cost"}).items()},
            )
            if data.cost is not None:
                _append_cost(product, amount=data.cost, currency=data.currency, at=now, actor=actor)
    except IntegrityError as err:
        # Someone saved the same SKU between our check and our insert.
        raise _sku_taken() from err
    return product


def update_product(product_id: int, changes: ProductPatch, *, actor: User) -> Product:
    """The head of sales edits a product; the audit keeps every field's old and new value."""
    _require_editor(actor)
    try:
        with transaction.atomic():
            product = Product.objects.select_for_update().filter(pk=product_id).first()
            if product is None:
                raise NotFound(_("Product not found."), code="product_not_found")
            diff: dict[str, Any] = {}
            for name in sorted(changes.model_fields_set):
                value = getattr(changes, name)
                if name == "category_id":
                    if value is None:
                        continue
                    _category(value)
                elif value is None and name != "vat_rate":
                    continue
                if (
                    name == "sku"
                    and Product.objects.filter(sku=value).exclude(pk=product.pk).exists()
                ):
                    raise _sku_taken()
                if value == getattr(product, name):
                    continue
                diff[name] = {"from": _json(getattr(product, name)), "to": _json(value)}
                setattr(product, name, value)
            if diff:
                product.updated_at = clock.now()
                product.save()
                record(actor=actor, verb="product.updated", obj=product, data=diff)
    except IntegrityError as err:
        raise _sku_taken() from err
    return product


# --- cost prices -----------------------------------------------------------------------------


def _append_cost(
    product: Product,
    *,
    amount: Decimal,
    currency: str,
    at: dt.datetime,
    actor: User,
    comment: str = "",
) -> ProductCost:
    before = cost_at(product.pk, at)
    cost = ProductCost.objects.create(
        product=product,
        amount=amount,
        currency=currency,
        effective_from=at,
        comment=comment,
        recorded_by=actor,
        recorded_at=clock.now(),
    )
    record(
        actor=actor,
        verb="product.cost_changed",
        obj=product,
        data={
            "from": str(before.amount) if before else None,
            "to": str(amount),
            "currency": currency,
            "effective_from": at.isoformat(),
            "comment": comment,
        },
    )
    return cost


def change_cost(
    product_id: int,
    *,
    amount: Decimal,
    actor: User,
    effective_from: dt.datetime | None = None,
    currency: str | None = None,
    comment: str = "",
) -> ProductCost:
    """The head of sales records a new cost price from now or a later moment, never earlier:
    the margin of a sale already made must keep the cost it was made at."""
    _require_editor(actor)
    if amount < 0:
        raise Invalid(_("A cost cannot be negative."), code="negative_cost", field="amount")
    now = clock.now()
    moment = effective_from or now
    if moment < now - BACKDATE_TOLERANCE:
        raise Invalid(
            _("A cost price cannot take effect in the past."),
            code="backdated",
            field="effective_from",
        )
    with transaction.atomic():
        product = Product.objects.filter(pk=product_id).first()
        if product is None:
            raise NotFound(_("Product not found."), code="product_not_found")
        return _append_cost(
            product,
            amount=amount,
            currency=currency or product.currency,
            at=max(moment, now),
            actor=actor,
            comment=comment.strip()[:500],
        )
