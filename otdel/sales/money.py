"""The arithmetic of money facts, in one place: how a line is rounded, how a part of a line is
cut so the parts add up to the whole, and what an invoice's status is.

The rounding rule: every amount is rounded half-up to the kopeck once, on the line; totals are
sums of rounded lines and are never rounded again, so a document always equals its lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from otdel.core.money import KOPECK

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


def kopecks(value: Decimal) -> Decimal:
    """Round half-up to the kopeck: the one rounding rule of every money fact."""
    return value.quantize(KOPECK, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LineAmounts:
    """A line's three rounded amounts; total = net + VAT exactly."""

    net: Decimal
    vat: Decimal
    total: Decimal


def line(
    quantity: Decimal, unit_price: Decimal, discount_percent: Decimal, vat_rate: Decimal | None
) -> LineAmounts:
    """An invoice line: net = quantity × price × (1 − discount), VAT = net × rate, each rounded
    half-up to the kopeck; no rate means "without VAT"."""
    net = kopecks(quantity * unit_price * (HUNDRED - discount_percent) / HUNDRED)
    vat = kopecks(net * vat_rate / HUNDRED) if vat_rate else ZERO
    return LineAmounts(net=net, vat=vat, total=net + vat)


def split_gross(gross: Decimal, vat_rate: Decimal | None) -> LineAmounts:
    """A VAT-inclusive amount (what a 1С export states) split into net and VAT; the gross stays
    exactly as given and VAT is the rounded part of it."""
    vat = kopecks(gross * vat_rate / (HUNDRED + vat_rate)) if vat_rate else ZERO
    return LineAmounts(net=gross - vat, vat=vat, total=gross)


def share(whole: Decimal, of_quantity: Decimal, done: Decimal, part: Decimal) -> Decimal:
    """The amount of `part` units of a line worth `whole` for `of_quantity` units, when `done`
    units were already taken: cut cumulatively, so all the parts add up to `whole` exactly."""
    if of_quantity == 0:
        return ZERO
    before = kopecks(whole * done / of_quantity)
    after = kopecks(whole * (done + part) / of_quantity)
    return after - before


class InvoiceStatus(TextChoices):
    """Derived from the invoice's due amount and what was paid, never stored."""

    UNPAID = "unpaid", _("unpaid")
    PARTLY_PAID = "partly_paid", _("partly paid")
    PAID = "paid", _("paid")
    CANCELLED = "cancelled", _("cancelled by a credit note")


def invoice_status(*, due: Decimal, paid: Decimal, credited: bool) -> str:
    """Cancelled when credit notes bring the due amount to zero, paid when payments cover it,
    partly paid when some money came, otherwise unpaid."""
    if due <= 0 and credited and paid <= 0:
        return InvoiceStatus.CANCELLED
    if paid >= due:
        return InvoiceStatus.PAID
    if paid > 0:
        return InvoiceStatus.PARTLY_PAID
    return InvoiceStatus.UNPAID
