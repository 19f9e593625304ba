"""The catalogue: seeded categories, products edited by the head of sales only, and cost prices
kept as history so the cost at a past moment never changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from otdel.audit.models import AuditEvent
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid
from otdel.core.money import Money
from otdel.sales import selectors, services
from otdel.sales.models import Product, ProductCategory, ProductCost
from otdel.sales.schemas import CategoryIn, CategoryPatch, ProductIn, ProductPatch

pytestmark = pytest.mark.django_db


def _product(head, **kw) -> Product:
    data = {
        "name": "Компрессор ВК-15",
        "sku": "VK-15",
        "category_id": ProductCategory.objects.get(code="equipment").pk,
        "list_price": Decimal("845000.00"),
        **kw,
    }
    return services.create_product(ProductIn(**data), actor=head)


def test_the_four_categories_are_there_from_the_start(db):
    codes = list(ProductCategory.objects.values_list("code", flat=True))
    assert codes == ["equipment", "spare_parts", "services", "consumables"]
    assert ProductCategory.objects.get(code="spare_parts").name.startswith("ЗИП")


def test_the_cost_at_a_past_moment_stays_after_a_change(head, frozen_clock):
    product = _product(head, cost=Decimal("590000.00"))
    bought = clock.now() + dt.timedelta(days=3)
    before_any = clock.now() - dt.timedelta(minutes=1)
    frozen_clock.advance(dt.timedelta(days=10))
    services.change_cost(product.pk, amount=Decimal("612000.50"), actor=head, comment="прайс")
    assert selectors.cost_at(product.pk, bought) == Money(Decimal("590000.00"))
    assert selectors.cost_at(product.pk) == Money(Decimal("612000.50"))
    assert selectors.cost_at(product.pk, before_any) is None
    # A cost planned for later does not apply before its moment.
    later = clock.now() + dt.timedelta(days=5)
    services.change_cost(product.pk, amount=Decimal("640000"), actor=head, effective_from=later)
    assert selectors.cost_at(product.pk) == Money(Decimal("612000.50"))
    assert selectors.cost_at(product.pk, later) == Money(Decimal("640000"))
    # The old rows were never touched: three rows, the first one as it was.
    rows = list(ProductCost.objects.filter(product=product).order_by("effective_from"))
    assert [r.amount for r in rows] == [
        Decimal("590000.00"),
        Decimal("612000.50"),
        Decimal("640000"),
    ]
    audit = AuditEvent.objects.filter(verb="product.cost_changed").order_by("id")
    assert [a.data["to"] for a in audit] == ["590000.00", "612000.50", "640000"]
    assert audit[1].data["from"] == "590000.00"


def test_a_cost_cannot_be_backdated(head, frozen_clock):
    product = _product(head)
    with pytest.raises(Invalid) as refused:
        services.change_cost(
            product.pk,
            amount=Decimal("1"),
            actor=head,
            effective_from=clock.now() - dt.timedelta(days=1),
        )
    assert refused.value.code == "backdated"
    assert not ProductCost.objects.exists()


def test_only_the_head_edits_the_catalogue_and_a_refusal_writes_nothing(
    head, manager, other_manager, frozen_clock
):
    equipment = ProductCategory.objects.get(code="equipment")
    data = ProductIn(name="x", sku="X-1", category_id=equipment.pk, list_price=Decimal(10))
    audit_before = AuditEvent.objects.count()
    for person in (manager, other_manager):
        with pytest.raises(Forbidden):
            services.create_product(data, actor=person)
        with pytest.raises(Forbidden):
            services.create_category(CategoryIn(name="Лизинг"), actor=person)
        with pytest.raises(Forbidden):
            services.update_category(equipment.pk, CategoryPatch(name="Станки"), actor=person)
    product = _product(head)
    for person in (manager, other_manager):
        with pytest.raises(Forbidden):
            services.change_cost(product.pk, amount=Decimal(1), actor=person)
        with pytest.raises(Forbidden):
            services.update_product(product.pk, ProductPatch(list_price=Decimal(1)), actor=person)
    assert Product.objects.count() == 1
    assert not ProductCost.objects.exists()
    assert ProductCategory.objects.count() == 4
    assert ProductCategory.objects.get(pk=equipment.pk).name == equipment.name
    assert Product.objects.get().list_price == Decimal("845000.00")
    assert AuditEvent.objects.count() == audit_before + 1  # only the head's product


def test_a_product_edit_is_audited_field_by_field_and_skus_stay_unique(head, frozen_clock):
    product = _product(head)
    other = _product(head, name="Осушитель", sku="OV-2")
    with pytest.raises(Conflict) as taken:
        services.update_product(other.pk, ProductPatch(sku="VK-15"), actor=head)
    assert taken.value.code == "sku_taken"
    with pytest.raises(Conflict):
        _product(head, name="Дубль")
    services.update_product(
        product.pk, ProductPatch(list_price=Decimal("799000"), vat_rate=None), actor=head
    )
    product.refresh_from_db()
    assert product.list_price == Decimal("799000") and product.vat_rate is None
    change = AuditEvent.objects.get(verb="product.updated")
    assert change.data == {
        "list_price": {"from": "845000.00", "to": "799000"},
        "vat_rate": {"from": "22.00", "to": None},
    }
    assert Product.objects.get(pk=other.pk).sku == "OV-2"


def test_vat_rates_and_money_are_validated_before_anything_is_written(head):
    equipment = ProductCategory.objects.get(code="equipment")
    for bad in (
        {"vat_rate": Decimal("18")},
        {"list_price": Decimal("-1")},
        {"list_price": Decimal("1.005")},
    ):
        with pytest.raises(ValidationError):
            ProductIn(name="x", sku="x", category_id=equipment.pk, **{"list_price": 1, **bad})
    assert (
        ProductIn(name="x", sku="x", category_id=equipment.pk, list_price=1, vat_rate=None).vat_rate
        is None
    )
    assert not Product.objects.exists()


def test_the_head_adds_and_renames_categories_codes_stay(head):
    created = services.create_category(CategoryIn(name="Лизинг", code="leasing"), actor=head)
    services.update_category(created.pk, CategoryPatch(name="Лизинг и аренда"), actor=head)
    created.refresh_from_db()
    assert (created.code, created.name) == ("leasing", "Лизинг и аренда")
    with pytest.raises(Conflict):
        services.create_category(CategoryIn(name="Ещё", code="leasing"), actor=head)


def test_managers_do_not_see_costs(head, manager, frozen_clock):
    product = _product(head, cost=Decimal("100"))
    assert selectors.cost_history(manager, product.pk) == []
    assert not hasattr(selectors.products(manager).get(), "current_cost")
    assert selectors.products(head).get().current_cost == Decimal("100")
