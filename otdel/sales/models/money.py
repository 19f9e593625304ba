"""The money facts the pay plans read: invoices, payments and their allocation, shipments with
their cost and margin, and the 1С imports that bring them. Every fact is append-only and unique
by (source, external_id); a change is a new fact linked to the original, never an edit."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from otdel.sales.models.catalogue import amount_field, currency_field

MANUAL = "manual"
QUANTITY_DIGITS = 14


def quantity_field(verbose_name: Any) -> models.DecimalField:
    """A quantity with three decimal places (kilograms, metres); negative on a return."""
    return models.DecimalField(verbose_name, max_digits=QUANTITY_DIGITS, decimal_places=3)


class FactKind(models.TextChoices):
    """What a money row is: the original fact, the difference a re-sent amount made (correction)
    or a reversal (credit note, refund, return) of an earlier fact."""

    ORIGINAL = "original", _("original")
    CORRECTION = "correction", _("correction")
    REVERSAL = "reversal", _("reversal")


class _Fact(models.Model):
    """Fields every money fact shares: where it came from, its team and client, who wrote it."""

    source = models.CharField(_("source"), max_length=40)
    external_id = models.CharField(_("external id"), max_length=120)
    kind = models.CharField(
        _("kind"), max_length=12, choices=FactKind.choices, default=FactKind.ORIGINAL
    )
    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="+")
    deal = models.ForeignKey(
        "sales.Deal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    currency = currency_field()
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    recorded_at = models.DateTimeField()

    class Meta:
        abstract = True


class Invoice(_Fact):
    """An invoice (счёт) with lines, or a correction or credit note of one (negative amounts,
    linked to the original). Totals are sums of lines rounded one by one; its status is derived
    from payments and credit notes, never stored."""

    number = models.CharField(_("number"), max_length=60)
    issued_on = models.DateField(_("date"))
    original = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="adjustments"
    )
    net_total = amount_field(_("amount without VAT"))
    vat_total = amount_field(_("VAT"))
    total = amount_field(_("total"))

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-issued_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="invoice_source_ext"),
            models.CheckConstraint(
                condition=models.Q(kind="original", total__gte=0, original__isnull=True)
                | (~models.Q(kind="original") & models.Q(original__isnull=False)),
                name="invoice_kind_shape",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "issued_on"], name="invoice_team_date"),
            models.Index(fields=["client", "issued_on"], name="invoice_client_date"),
            models.Index(fields=["deal"], name="invoice_deal"),
        ]

    def __str__(self) -> str:
        return f"№ {self.number} от {self.issued_on:%d.%m.%Y}"


class InvoiceLine(models.Model):
    """One line of an invoice: quantity × unit price (without VAT) less the discount, VAT on
    top; the three amounts are rounded half-up to the kopeck here, once (sales.money.line)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveSmallIntegerField(default=1)
    product = models.ForeignKey(
        "sales.Product", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    description = models.CharField(_("description"), max_length=300, blank=True)
    quantity = quantity_field(_("quantity"))
    unit_price = amount_field(_("unit price without VAT"))
    discount_percent = models.DecimalField(
        _("discount, %"), max_digits=5, decimal_places=2, default=0
    )
    vat_rate = models.DecimalField(
        _("VAT rate, %"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    net_amount = amount_field(_("amount without VAT"))
    vat_amount = amount_field(_("VAT"))
    total_amount = amount_field(_("total"))

    class Meta:
        ordering = ["invoice", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(discount_percent__gte=0, discount_percent__lte=100),
                name="invoiceline_discount_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.unit_price} = {self.total_amount}"


class Payment(_Fact):
    """Money received from a client (or a correction / refund of it), allocated to invoices in
    PaymentAllocation rows; what is not allocated stays on the payment as an advance."""

    number = models.CharField(_("number"), max_length=60, blank=True)
    paid_on = models.DateField(_("date"))
    amount = amount_field(_("amount"))
    original = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="adjustments"
    )

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-paid_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="payment_source_ext"),
            models.CheckConstraint(
                condition=models.Q(kind="original", amount__gt=0, original__isnull=True)
                | (~models.Q(kind="original") & models.Q(original__isnull=False)),
                name="payment_kind_shape",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "paid_on"], name="payment_team_date"),
            models.Index(fields=["client", "paid_on"], name="payment_client_date"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} {self.paid_on:%d.%m.%Y}"


class PaymentAllocation(models.Model):
    """Part of a payment applied to an invoice; never more than the invoice has left to pay nor
    than the payment has left to give (checked under a row lock on both). A negative amount
    releases money (a refund or a payment corrected down), linked to what it reverses."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    amount = amount_field(_("amount"))
    at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["invoice"], name="allocation_invoice")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="allocation_not_zero")
        ]

    def __str__(self) -> str:
        return f"payment#{self.payment_id} → invoice#{self.invoice_id}: {self.amount}"


class Shipment(_Fact):
    """Goods delivered (отгрузка), a return of some of them (negative lines linked to the
    shipped lines) or a correction; revenue is without VAT, cost is frozen at shipment."""

    number = models.CharField(_("number"), max_length=60, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"))
    original = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="adjustments"
    )
    revenue = amount_field(_("revenue without VAT"))
    cost = amount_field(_("cost"))
    margin = amount_field(_("gross margin"))
    # Who the shipment is credited to: the client's owner when it was shipped (the ownership
    # ledger says who that was); a return or correction keeps its original's. None: the pool.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("credited to"),
    )

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["-shipped_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="shipment_source_ext"),
            models.CheckConstraint(
                condition=models.Q(kind="original", original__isnull=True)
                | (~models.Q(kind="original") & models.Q(original__isnull=False)),
                name="shipment_kind_shape",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "shipped_at"], name="shipment_team_at"),
            models.Index(fields=["client", "shipped_at"], name="shipment_client_at"),
            models.Index(fields=["deal"], name="shipment_deal"),
        ]

    def __str__(self) -> str:
        return f"{self.number or self.external_id} {self.shipped_at:%d.%m.%Y}"


class ShipmentLine(models.Model):
    """One product shipped (or returned: negative, linked to the shipped line): revenue without
    VAT, the unit cost in force at the original shipment, cost and margin stored so a later
    catalogue change never changes a past margin."""

    # Indexed by shipmentline_shipment_cover below, not by Django's plain FK index.
    shipment = models.ForeignKey(
        Shipment, on_delete=models.PROTECT, related_name="lines", db_index=False
    )
    position = models.PositiveSmallIntegerField(default=1)
    product = models.ForeignKey("sales.Product", on_delete=models.PROTECT, related_name="+")
    original_line = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals"
    )
    quantity = quantity_field(_("quantity"))
    unit_cost = amount_field(_("unit cost"))
    revenue = amount_field(_("revenue without VAT"))
    cost = amount_field(_("cost"))
    margin = amount_field(_("gross margin"))
    # Copied from the shipment and the product when the line is written, never changed after:
    # a report of past months reads the lines alone (no join to shipments, clients, products),
    # and neither a later transfer of the client nor a product moved to another category
    # rewrites a month already paid. A return's line keeps its original line's category.
    team = models.ForeignKey(
        "people.Team", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    shipped_at = models.DateTimeField(_("shipped at"))
    currency = currency_field()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("credited to"),
    )
    category = models.ForeignKey(
        "sales.ProductCategory", on_delete=models.PROTECT, related_name="+", db_index=False
    )

    class Meta:
        ordering = ["shipment", "position", "id"]
        indexes = [
            models.Index(fields=["product"], name="shipmentline_product"),
            models.Index(fields=["shipment"], name="shipmentline_shipment"),
            # The revenue-and-margin report reads a period's lines of a team from this index
            # alone on PostgreSQL (INCLUDE), without touching the table.
            models.Index(
                fields=["team", "shipped_at"],
                include=["owner", "category", "currency", "revenue", "cost", "margin"],
                name="shipmentline_report",
            ),
            # A manager's own report: the lines credited to him.
            models.Index(fields=["owner", "shipped_at"], name="shipmentline_owner_at"),
        ]
        constraints = []

    def __str__(self) -> str:
        return f"{self.product_id} × {self.quantity}: {self.revenue} − {self.cost}"


class ImportKind(models.TextChoices):
    """What a 1С export holds."""

    INVOICES = "invoices", _("invoices")
    PAYMENTS = "payments", _("payments")
    SHIPMENTS = "shipments", _("shipments")


class ImportMapping(models.Model):
    """The column mapping of one 1С export, saved per source ("1c:<name>") so the next file from
    the same place needs no mapping; the source is also the facts' `source`."""

    source = models.CharField(_("source"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=ImportKind.choices)
    columns = models.JSONField(default=dict)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.source


class MoneyImportStatus(models.TextChoices):
    """uploaded → mapped → previewed → done (or failed: nothing written)."""

    UPLOADED = "uploaded", _("uploaded")
    MAPPED = "mapped", _("mapped")
    PREVIEWED = "previewed", _("checked")
    DONE = "done", _("imported")
    FAILED = "failed", _("failed")


class MoneyImport(models.Model):
    """One uploaded 1С export going through the wizard: the file, its mapping, the preview's
    report and, once committed, what it wrote (all of it or nothing)."""

    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=ImportKind.choices)
    source = models.CharField(_("source"), max_length=40)
    file = models.FileField(upload_to="money-imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    file_kind = models.CharField(max_length=8)
    encoding = models.CharField(max_length=16, blank=True)
    delimiter = models.CharField(max_length=2, blank=True)
    headers = models.JSONField(default=list)
    columns = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=MoneyImportStatus.choices, default=MoneyImportStatus.UPLOADED
    )
    report = models.JSONField(default=dict, blank=True)
    failure = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.source} {self.original_name}"


class UnresolvedRow(models.Model):
    """A row of a 1С export whose client could not be matched by ИНН/КПП; a database operator
    picks the client and the row is imported then. One row per (source, kind, external id)."""

    job = models.ForeignKey(MoneyImport, on_delete=models.PROTECT, related_name="unresolved")
    source = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=ImportKind.choices)
    external_id = models.CharField(max_length=120)
    row_number = models.PositiveIntegerField()
    inn = models.CharField(_("ИНН"), max_length=12, blank=True)
    kpp = models.CharField(_("КПП"), max_length=9, blank=True)
    name = models.CharField(_("name in the file"), max_length=300, blank=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    resolved_client = models.ForeignKey(
        "clients.Client", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["resolved_at", "-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "kind", "external_id"], name="unresolved_source_kind_ext"
            )
        ]
        indexes = [models.Index(fields=["resolved_at"], name="unresolved_open")]

    def __str__(self) -> str:
        return f"{self.source} {self.kind} {self.external_id}"
