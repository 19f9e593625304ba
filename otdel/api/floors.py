"""Price floors over HTTP: the head of sales sets his team's floors and decides on invoices
below them. Writes go through otdel.sales.floors; a refusal changes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja.responses import Status

from otdel.api.auth import viewer
from otdel.api.errors import READ_ERRORS, WRITE_ERRORS
from otdel.core.errors import Forbidden
from otdel.sales import floors, policies
from otdel.sales.models import FloorApproval, FloorApprovalStatus, PriceFloor

router = Router(tags=["price floors"])


class FloorIn(Schema):
    category_id: int | None = Field(None, description="Empty: every category")
    role: str = Field("", description="Empty: the whole team (or a person)")
    person_id: int | None = None
    min_margin_percent: Decimal | None = Field(None, ge=-100, le=100)
    max_discount_percent: Decimal | None = Field(None, ge=0, le=100)


class FloorOut(Schema):
    id: int
    category_id: int | None
    role: str
    person_id: int | None
    min_margin_percent: Decimal | None
    max_discount_percent: Decimal | None
    created_at: dt.datetime


class BreachOut(Schema):
    position: int
    product: str
    rule: str = Field(description="margin, discount or no_cost")
    value: str | None = None
    limit: str
    text: str


class ApprovalOut(Schema):
    """A request about an invoice or (exactly one or the other) a proposal."""

    id: int
    invoice_id: int | None
    invoice_number: str | None
    proposal_id: int | None = None
    proposal_number: str | None = None
    status: str
    breaches: list[BreachOut]
    requested_by_id: int
    requested_at: dt.datetime
    decided_by_id: int | None
    decided_at: dt.datetime | None
    note: str


class DecisionIn(Schema):
    note: str = Field("", max_length=500)


def _floor_out(floor: PriceFloor) -> FloorOut:
    return FloorOut(
        id=floor.pk,
        category_id=floor.category_id,
        role=floor.role,
        person_id=floor.person_id,
        min_margin_percent=floor.min_margin_percent,
        max_discount_percent=floor.max_discount_percent,
        created_at=floor.created_at,
    )


def _approval_out(approval: FloorApproval) -> ApprovalOut:
    breaches: list[dict[str, Any]] = approval.breaches or []
    return ApprovalOut(
        id=approval.pk,
        invoice_id=approval.invoice_id,
        invoice_number=approval.invoice.number if approval.invoice is not None else None,
        proposal_id=approval.proposal_id,
        proposal_number=approval.proposal.number if approval.proposal is not None else None,
        status=approval.status,
        breaches=[BreachOut(**b, text=floors.describe(b)) for b in breaches],
        requested_by_id=approval.requested_by_id,
        requested_at=approval.requested_at,
        decided_by_id=approval.decided_by_id,
        decided_at=approval.decided_at,
        note=approval.note,
    )


def _head_team(request: HttpRequest) -> int:
    me = viewer(request)
    if me.team_id is None or not policies.can_manage_floors(me, me.team_id):
        raise Forbidden(_("Only the head of sales sees price floors."), code="not_head_of_sales")
    return me.team_id


@router.get("/price-floors", response={200: list[FloorOut], **READ_ERRORS})
def list_floors(request: HttpRequest) -> list[FloorOut]:
    """The team's price floors (head of sales)."""
    team_id = _head_team(request)
    return [_floor_out(f) for f in PriceFloor.objects.filter(team_id=team_id).order_by("pk")]


@router.post("/price-floors", response={201: FloorOut, **WRITE_ERRORS})
def set_floor(request: HttpRequest, payload: FloorIn) -> Status[FloorOut]:
    """Set a floor for a category (or all) and the team, a role or a person; it replaces the
    floor set before for the same category and people."""
    me = viewer(request)
    floor = floors.set_floor(me.team_id or 0, actor=me, **payload.model_dump())
    return Status(201, _floor_out(floor))


@router.delete("/price-floors/{floor_id}", response={204: None, **WRITE_ERRORS})
def remove_floor(request: HttpRequest, floor_id: int) -> Status[None]:
    """Remove a floor of the team."""
    floors.remove_floor(floor_id, actor=viewer(request))
    return Status(204, None)


@router.get("/price-approvals", response={200: list[ApprovalOut], **READ_ERRORS})
def list_approvals(request: HttpRequest, status: str = "pending") -> list[ApprovalOut]:
    """Invoices and proposals below their price floor (pending by default; status=all for
    every one)."""
    team_id = _head_team(request)
    qs = FloorApproval.objects.filter(team_id=team_id).select_related("invoice", "proposal")
    if status in FloorApprovalStatus.values:
        qs = qs.filter(status=status)
    return [_approval_out(a) for a in qs.order_by("-requested_at")[:200]]


@router.post("/price-approvals/{approval_id}/approve", response={200: ApprovalOut, **WRITE_ERRORS})
def approve(request: HttpRequest, approval_id: int, payload: DecisionIn) -> ApprovalOut:
    """The head of sales approves an invoice (or a proposal) below its floor."""
    approval = floors.approve_below_floor(approval_id, actor=viewer(request), note=payload.note)
    return _approval_out(approval)


@router.post("/price-approvals/{approval_id}/refuse", response={200: ApprovalOut, **WRITE_ERRORS})
def refuse(request: HttpRequest, approval_id: int, payload: DecisionIn) -> ApprovalOut:
    """The head of sales refuses an invoice (or a proposal) below its floor, saying why."""
    approval = floors.refuse_below_floor(approval_id, actor=viewer(request), note=payload.note)
    return _approval_out(approval)
