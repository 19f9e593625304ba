"""Sales: the product catalogue with cost history, pipelines whose stages name a role, deals,
handoffs between roles and the deal's append-only timeline."""

from otdel.sales.models.catalogue import (
    CURRENCIES,
    VAT_RATES,
    Product,
    ProductCategory,
    ProductCost,
)
from otdel.sales.models.deals import (
    Deal,
    DealEvent,
    DealEventKind,
    DealSource,
    Handoff,
    HandoffStatus,
)
from otdel.sales.models.floors import FloorApproval, FloorApprovalStatus, PriceFloor
from otdel.sales.models.money import (
    MANUAL,
    FactKind,
    ImportKind,
    ImportMapping,
    Invoice,
    InvoiceLine,
    MoneyImport,
    MoneyImportStatus,
    Payment,
    PaymentAllocation,
    Shipment,
    ShipmentLine,
    UnresolvedRow,
)
from otdel.sales.models.pipelines import Pipeline, Stage, StageKind, StageTransition

__all__ = [
    "CURRENCIES",
    "MANUAL",
    "VAT_RATES",
    "Deal",
    "DealEvent",
    "DealEventKind",
    "DealSource",
    "FactKind",
    "FloorApproval",
    "FloorApprovalStatus",
    "Handoff",
    "HandoffStatus",
    "ImportKind",
    "ImportMapping",
    "Invoice",
    "InvoiceLine",
    "MoneyImport",
    "MoneyImportStatus",
    "Payment",
    "PaymentAllocation",
    "Pipeline",
    "PriceFloor",
    "Product",
    "ProductCategory",
    "ProductCost",
    "Shipment",
    "ShipmentLine",
    "Stage",
    "StageKind",
    "StageTransition",
    "UnresolvedRow",
]
