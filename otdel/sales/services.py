"""Every write of the sales app, in one place to import from: the catalogue, pipelines, deals,
moves and handoffs, proposals and tenders. Each service checks who may act (a refusal writes nothing), runs in one
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
from otdel.sales.proposals import (
    accept_proposal,
    cancel_proposal,
    create_proposal,
    decline_proposal,
    expire_overdue_proposals,
    invoice_from_proposal,
    revise_proposal,
    send_proposal,
    update_proposal,
)
from otdel.sales.tenders import (
    add_lot,
    add_participant,
    assign_lead_manager,
    create_tender,
    record_tender_outcome,
    remove_participant,
    remove_tender_floor,
    set_tender_floor,
    update_tender,
)

__all__ = [
    "accept_handoff",
    "accept_proposal",
    "add_lot",
    "add_participant",
    "assign_lead_manager",
    "cancel_proposal",
    "change_cost",
    "change_source",
    "create_category",
    "create_deal",
    "create_pipeline",
    "create_product",
    "create_proposal",
    "create_tender",
    "decline_proposal",
    "ensure_default_pipeline",
    "escalate_overdue_handoffs",
    "expire_overdue_proposals",
    "invoice_from_proposal",
    "move_deal",
    "record_tender_outcome",
    "redirect_handoff",
    "remove_participant",
    "remove_tender_floor",
    "return_handoff",
    "revise_proposal",
    "send_proposal",
    "set_tender_floor",
    "update_category",
    "update_product",
    "update_proposal",
    "update_tender",
]

# Pipeline editing by the head of sales (appended).
from otdel.sales.pipelines import (
    archive_pipeline,
    set_default_pipeline,
    update_pipeline,
)

__all__ += ["archive_pipeline", "set_default_pipeline", "update_pipeline"]
