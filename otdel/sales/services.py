"""Every write of the sales app, in one place to import from: the catalogue, pipelines, deals,
moves and handoffs. Each service checks who may act (a refusal writes nothing), runs in one
transaction and leaves its audit (and, for deals, timeline) events."""

from otdel.sales.catalogue import (
    change_cost,
    create_category,
    create_product,
    update_category,
    update_product,
)
from otdel.sales.deals import change_source, create_deal
from otdel.sales.moves import (
    accept_handoff,
    escalate_overdue_handoffs,
    move_deal,
    redirect_handoff,
    return_handoff,
)
from otdel.sales.pipelines import create_pipeline, ensure_default_pipeline

__all__ = [
    "accept_handoff",
    "change_cost",
    "change_source",
    "create_category",
    "create_deal",
    "create_pipeline",
    "create_product",
    "ensure_default_pipeline",
    "escalate_overdue_handoffs",
    "move_deal",
    "redirect_handoff",
    "return_handoff",
    "update_category",
    "update_product",
]
