"""The product catalogue: categories, products and their cost price over time."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from otdel.core.money import Money

# Money is stored as Decimal with two places (kopecks) next to its currency code.
AMOUNT_DIGITS = 14
CURRENCIES = ("RUB", "USD", "EUR", "CNY")
# VAT rates a product may carry, in percent; no rate at all (NULL) means "without VAT"
# (a seller on the simplified tax system). 20 % stays for goods priced before 2026.
VAT_RATES = (Decimal("22"), Decimal("20"), Decimal("10"), Decimal("7"), Decimal("5"), Decimal("0"))
DEFAULT_VAT_RATE = Decimal("22")


def amount_field(verbose_name: Any, **kwargs: Any) -> models.DecimalField:
    """A money amount in kopecks' precision (never a float)."""
    return models.DecimalField(verbose_name, max_digits=AMOUNT_DIGITS, decimal_places=2, **kwargs)


def currency_field() -> models.CharField:
    return models.CharField(_("currency"), max_length=3, default=settings.OTDEL_DEFAULT_CURRENCY)


class ProductCategory(models.Model):
    """A group of products (equipment, spare parts, services, consumables); commission and price
    floors will be set per category. The head of sales edits the list; `code` never changes."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = _("product category")
        verbose_name_plural = _("product categories")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """Something we sell, with its list price and VAT rate; its cost lives in ProductCost rows,
    so the margin of a past sale can use the cost in force at that moment."""

    name = models.CharField(_("name"), max_length=300)
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    unit = models.CharField(_("unit"), max_length=16, default="шт")
    category = models.ForeignKey(
        ProductCategory,
        verbose_name=_("category"),
        on_delete=models.PROTECT,
        related_name="products",
    )
    list_price = amount_field(_("list price"))
    currency = currency_field()
    vat_rate = models.DecimalField(
        _("VAT rate, %"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name"]
        indexes = [models.Index(fields=["category", "name"], name="product_category_name")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(list_price__gte=0), name="product_list_price_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"

    @property
    def price(self) -> Money:
        return Money(self.list_price, self.currency)


class ProductCost(models.Model):
    """One cost price of a product from a moment on: append-only, never backdated, so the cost
    at any past moment is the latest row effective by then."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="costs")
    amount = amount_field(_("cost price"))
    currency = currency_field()
    effective_from = models.DateTimeField(_("effective from"))
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name = _("cost price")
        verbose_name_plural = _("cost prices")
        ordering = ["product", "-effective_from", "-id"]
        indexes = [
            models.Index(fields=["product", "effective_from"], name="productcost_product_from")
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="productcost_amount_not_negative"
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.product_id}: {self.amount} {self.currency} from {self.effective_from:%Y-%m-%d}"
        )

    @property
    def cost(self) -> Money:
        return Money(self.amount, self.currency)
