"""Proposals (КП / ТКП) over HTTP: written from a deal, changed while a draft, sent, answered,
revised, invoiced. Reads go through otdel.sales.tender_selectors, writes through
otdel.sales.proposals; a refusal is the service's DomainError as JSON and changes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from otdel.api.auth import viewer
from otdel.api.errors import READ_ERRORS, WRITE_ERRORS
from otdel.api.paging import PageParams, page_of
from otdel.api.schemas import PageMeta, UserRef, user_ref
from otdel.people.models import User
from otdel.sales import floors, services
from otdel.sales import tender_selectors as reads
from otdel.sales.models import Proposal
from otdel.sales.proposals import ProposalIn

router = Router(tags=["proposals"])

StatusName = Literal["draft", "sent", "accepted", "declined", "expired", "superseded", "cancelled"]


class ProposalLineOut(Schema):
    position: int
    product_id: int | None
    description: str
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal
    vat_rate: Decimal | None
    net_amount: Decimal
    vat_amount: Decimal
    total_amount: Decimal


class FloorHoldOut(Schema):
    """The proposal's request to the head of sales about prices below the floor."""

    approval_id: int
    status: str = Field(description="pending, approved, refused or withdrawn")
    breaches: list[str]
    note: str


class ProposalOut(Schema):
    """One revision of a proposal. `status` is stored; `shown_status` is what people see (a
    sent proposal past its date shows as expired). `actions`: what the caller may do now."""

    id: int
    number: str
    revision: int
    previous_id: int | None
    kind: Literal["kp", "tkp"]
    status: StatusName
    shown_status: StatusName
    deal_id: int
    client_id: int
    tender_id: int | None
    lot_id: int | None
    currency: str
    net_total: Decimal
    vat_total: Decimal
    total: Decimal
    valid_until: dt.date
    terms: str
    technical_part: str
    comment: str
    created_by: UserRef | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    answered_at: dt.datetime | None
    reason: str
    invoice_id: int | None
    floor_hold: FloorHoldOut | None
    actions: list[str]
    lines: list[ProposalLineOut] = []


class ProposalPage(Schema):
    items: list[ProposalOut]
    meta: PageMeta


class ProposalFilters(Schema):
    deal_id: int | None = None
    tender_id: int | None = None
    client_id: int | None = None
    status: StatusName | None = None


class AnswerIn(Schema):
    note: str = Field("", max_length=500)


class DeclineIn(Schema):
    reason: str = Field(min_length=1, max_length=500)


class CancelIn(Schema):
    reason: str = Field("", max_length=500)


class ReviseIn(Schema):
    """The next revision's content; empty: a copy of the proposal's."""

    content: ProposalIn | None = None


class InvoiceFromProposalIn(Schema):
    number: str = Field("", max_length=60, description="Empty: our numbering")
    issued_on: dt.date | None = None


class InvoicedOut(Schema):
    invoice_id: int
    invoice_number: str
    total: Decimal
    proposal: ProposalOut


def proposal_out(me: User, p: Proposal, *, lines: bool = False) -> ProposalOut:
    """A proposal as the caller sees it (with the actions he may take)."""
    if not hasattr(p, "shown_status"):
        reads.annotate(me, [p])
    approval = getattr(p, "floor_approval", None)
    hold = (
        FloorHoldOut(
            approval_id=approval.pk,
            status=approval.status,
            breaches=[floors.describe(b) for b in approval.breaches or []],
            note=approval.note,
        )
        if approval is not None
        else None
    )
    attrs: Any = p
    return ProposalOut(
        id=p.pk,
        number=p.number,
        revision=p.revision,
        previous_id=p.previous_id,
        kind=p.kind,  # type: ignore[arg-type]
        status=p.status,  # type: ignore[arg-type]
        shown_status=attrs.shown_status,
        deal_id=p.deal_id,
        client_id=p.client_id,
        tender_id=p.tender_id,
        lot_id=p.lot_id,
        currency=p.currency,
        net_total=p.net_total,
        vat_total=p.vat_total,
        total=p.total,
        valid_until=p.valid_until,
        terms=p.terms,
        technical_part=p.technical_part,
        comment=p.comment,
        created_by=user_ref(p.created_by),
        created_at=p.created_at,
        sent_at=p.sent_at,
        answered_at=p.answered_at,
        reason=p.reason,
        invoice_id=p.invoice_id,
        floor_hold=hold,
        actions=[*attrs.actions, *(["revise"] if attrs.may_revise else [])],
        lines=[
            ProposalLineOut.model_validate(ln, from_attributes=True)
            for ln in p.lines.order_by("position", "id")
        ]
        if lines
        else [],
    )


def _detail(me: User, proposal_id: int) -> ProposalOut:
    return proposal_out(me, reads.proposal_for(me, proposal_id), lines=True)


@router.get("/proposals", response={200: ProposalPage, **READ_ERRORS})
def list_proposals(
    request: HttpRequest, filters: Query[ProposalFilters], paging: Query[PageParams]
) -> ProposalPage:
    """Proposals the caller may see (the team's for the head, order managers and clerks; his
    deals', his clients' and his tenders' for anyone else), newest first."""
    me = viewer(request)
    qs = reads.proposal_list(me, **filters.model_dump())
    items, meta = page_of(qs, paging)
    return ProposalPage(items=[proposal_out(me, p) for p in items], meta=PageMeta(**meta))


@router.post("/deals/{int:deal_id}/proposals", response={201: ProposalOut, **WRITE_ERRORS})
def create_proposal(request: HttpRequest, deal_id: int, payload: ProposalIn) -> Status[ProposalOut]:
    """A draft proposal from the deal. Below the price floor it is held for the head of
    sales (`floor_hold`); for a tender, below the lead manager's floor it is refused."""
    me = viewer(request)
    p = services.create_proposal(deal_id, payload, actor=me)
    return Status(201, _detail(me, p.pk))


@router.get("/proposals/{int:proposal_id}", response={200: ProposalOut, **READ_ERRORS})
def get_proposal(request: HttpRequest, proposal_id: int) -> ProposalOut:
    """One proposal with its lines."""
    return _detail(viewer(request), proposal_id)


@router.put("/proposals/{int:proposal_id}", response={200: ProposalOut, **WRITE_ERRORS})
def update_proposal(request: HttpRequest, proposal_id: int, payload: ProposalIn) -> ProposalOut:
    """Replace a draft's content (409 `not_a_draft` once sent: make a revision)."""
    me = viewer(request)
    services.update_proposal(proposal_id, payload, actor=me)
    return _detail(me, proposal_id)


@router.post("/proposals/{int:proposal_id}/revisions", response={201: ProposalOut, **WRITE_ERRORS})
def revise_proposal(
    request: HttpRequest, proposal_id: int, payload: ReviseIn
) -> Status[ProposalOut]:
    """The next revision of a sent (declined, expired) proposal: a draft with the content
    given, or a copy. Sending it replaces the proposal."""
    me = viewer(request)
    new = services.revise_proposal(proposal_id, actor=me, data=payload.content)
    return Status(201, _detail(me, new.pk))


@router.post("/proposals/{int:proposal_id}/send", response={200: ProposalOut, **WRITE_ERRORS})
def send_proposal(request: HttpRequest, proposal_id: int) -> ProposalOut:
    """Mark a draft as sent to the client."""
    me = viewer(request)
    services.send_proposal(proposal_id, actor=me)
    return _detail(me, proposal_id)


@router.post("/proposals/{int:proposal_id}/accept", response={200: ProposalOut, **WRITE_ERRORS})
def accept_proposal(request: HttpRequest, proposal_id: int, payload: AnswerIn) -> ProposalOut:
    """The client accepted a sent proposal."""
    me = viewer(request)
    services.accept_proposal(proposal_id, actor=me, note=payload.note)
    return _detail(me, proposal_id)


@router.post("/proposals/{int:proposal_id}/decline", response={200: ProposalOut, **WRITE_ERRORS})
def decline_proposal(request: HttpRequest, proposal_id: int, payload: DeclineIn) -> ProposalOut:
    """The client declined a sent proposal, with the reason."""
    me = viewer(request)
    services.decline_proposal(proposal_id, actor=me, reason=payload.reason)
    return _detail(me, proposal_id)


@router.post("/proposals/{int:proposal_id}/cancel", response={200: ProposalOut, **WRITE_ERRORS})
def cancel_proposal(request: HttpRequest, proposal_id: int, payload: CancelIn) -> ProposalOut:
    """A draft that will not be sent."""
    me = viewer(request)
    services.cancel_proposal(proposal_id, actor=me, reason=payload.reason)
    return _detail(me, proposal_id)


@router.post("/proposals/{int:proposal_id}/invoice", response={201: InvoicedOut, **WRITE_ERRORS})
def invoice_from_proposal(
    request: HttpRequest, proposal_id: int, payload: InvoiceFromProposalIn
) -> Status[InvoicedOut]:
    """Issue the invoice from an accepted proposal (its lines and amounts; once)."""
    me = viewer(request)
    invoice = services.invoice_from_proposal(
        proposal_id, actor=me, number=payload.number, issued_on=payload.issued_on
    )
    return Status(
        201,
        InvoicedOut(
            invoice_id=invoice.pk,
            invoice_number=invoice.number,
            total=invoice.total,
            proposal=_detail(me, proposal_id),
        ),
    )
