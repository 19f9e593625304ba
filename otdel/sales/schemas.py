"""Validated input for the catalogue and deals, shared by the web forms and the API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from otdel.sales.models.catalogue import DEFAULT_VAT_RATE, VAT_RATES

# An amount of money: never a float in storage, two places (kopecks), not negative.
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Currency = Literal["RUB", "USD", "EUR", "CNY"]


def _vat(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if value not in VAT_RATES:
        allowed = ", ".join(f"{r:g}" for r in VAT_RATES)
        raise ValueError(f"VAT rate must be one of {allowed} (or empty: without VAT)")
    return value


class CategoryIn(BaseModel):
    """A new product category; the code is made from the name when not given."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    code: str = Field("", max_length=40, pattern=r"^[a-z0-9_-]*$")
    position: int = Field(100, ge=0, le=32000)


class CategoryPatch(BaseModel):
    """Only the fields sent change; the code never does."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, min_length=1, max_length=200)
    position: int | None = Field(None, ge=0, le=32000)
    active: bool | None = None


class ProductIn(BaseModel):
    """A product as typed; the first cost price may come with it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=300)
    sku: str = Field(min_length=1, max_length=64)
    unit: str = Field("шт", min_length=1, max_length=16)
    category_id: int
    list_price: Amount
    currency: Currency = "RUB"
    vat_rate: Decimal | None = Field(DEFAULT_VAT_RATE, description="Percent; empty: without VAT")
    active: bool = True
    cost: Amount | None = Field(None, description="The cost price from now on (optional)")

    _check_vat = field_validator("vat_rate")(_vat)


class ProductPatch(BaseModel):
    """Only the fields sent change (the cost changes through its own history, not here)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, min_length=1, max_length=300)
    sku: str | None = Field(None, min_length=1, max_length=64)
    unit: str | None = Field(None, min_length=1, max_length=16)
    category_id: int | None = None
    list_price: Amount | None = None
    currency: Currency | None = None
    vat_rate: Decimal | None = None
    active: bool | None = None

    _check_vat = field_validator("vat_rate")(_vat)


class DealIn(BaseModel):
    """A new deal on a client; the source is set by the rules unless it is an inbound request."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    client_id: int
    title: str = Field(min_length=1, max_length=300)
    amount_estimate: Amount = Decimal("0")
    currency: Currency = "RUB"
    pipeline_id: int | None = Field(None, description="Empty: the team's default pipeline")
    responsible_id: int | None = Field(
        None, description="Empty: me (the head of sales: the client's owner)"
    )
    inbound: bool = Field(False, description="The deal comes from an inbound request")


# --- money facts ----------------------------------------------------------------------------

Quantity = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=3)]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]
ExternalId = Annotated[str, Field(min_length=1, max_length=120)]


class InvoiceLineIn(BaseModel):
    """One invoice line: the unit price is without VAT; the VAT rate is the product's unless
    given (`without_vat` for a seller without VAT)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    product_id: int | None = None
    description: str = Field("", max_length=300)
    quantity: Quantity
    unit_price: Amount
    discount_percent: Percent = Decimal(0)
    vat_rate: Decimal | None = None
    without_vat: bool = False

    _check_vat = field_validator("vat_rate")(_vat)


class InvoiceIn(BaseModel):
    """An invoice issued from a deal; an `external_id` makes a re-sent request harmless."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lines: list[InvoiceLineIn] = Field(min_length=1, max_length=500)
    number: str = Field("", max_length=60)
    issued_on: dt.date | None = None
    external_id: str = Field("", max_length=120)
    comment: str = Field("", max_length=500)


class AllocationIn(BaseModel):
    """Part of a payment applied to one invoice."""

    model_config = ConfigDict(extra="forbid")

    invoice_id: int
    amount: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]


class PaymentIn(BaseModel):
    """A payment from a client; with no allocations it is applied to the deal's (or the
    client's) unpaid invoices, oldest first, and what is left stays unallocated."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    amount: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
    paid_on: dt.date | None = None
    allocations: list[AllocationIn] | None = None
    number: str = Field("", max_length=60)
    external_id: str = Field("", max_length=120)
    comment: str = Field("", max_length=500)


class ShipmentLineIn(BaseModel):
    """A product shipped: its revenue without VAT, or the unit price without VAT to compute it."""

    model_config = ConfigDict(extra="forbid")

    product_id: int
    quantity: Quantity
    revenue: Amount | None = None
    unit_price: Amount | None = None


class ShipmentIn(BaseModel):
    """A shipment on a deal; cost comes from the catalogue at `shipped_at`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lines: list[ShipmentLineIn] = Field(min_length=1, max_length=500)
    shipped_at: dt.datetime | None = None
    number: str = Field("", max_length=60)
    external_id: str = Field("", max_length=120)
    comment: str = Field("", max_length=500)


class CreditNoteIn(BaseModel):
    """A credit note reducing an invoice by a VAT-inclusive amount (all that is left by default)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    amount: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)] | None = None
    reason: str = Field(min_length=1, max_length=500)


class ReturnLineIn(BaseModel):
    """How much of one shipped line comes back."""

    model_config = ConfigDict(extra="forbid")

    line_id: int
    quantity: Quantity


class ReturnIn(BaseModel):
    """A return of shipped goods: reverses revenue, cost and margin of the lines returned."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lines: list[ReturnLineIn] = Field(min_length=1, max_length=500)
    returned_at: dt.datetime | None = None
    reason: str = Field(min_length=1, max_length=500)
