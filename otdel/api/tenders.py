"""Tenders over HTTP: registering a tender and its lots, linking our clients, the lead manager
(the head of sales only), the per-participant floors (the lead manager), and the card with the
open conflict and the proposals. Reads go through otdel.sales.tender_selectors, writes through
otdel.sales.tenders; a refusal is the service's DomainError as JSON and changes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from otdel.api.auth import viewer
from otdel.api.errors import READ_ERRORS, WRITE_ERRORS
from otdel.api.paging import PageParams, page_of
from otdel.api.proposals import ProposalOut, proposal_out
from otdel.api.schemas import PageMeta, UserRef, person, user_ref
from otdel.people.models import User
from otdel.sales import services, tenders
from otdel.sales import tender_selectors as reads
from otdel.sales.models import Tender, TenderFloor, TenderLot
from otdel.sales.tenders import LotIn, OutcomeIn, TenderFloorIn, TenderIn, TenderPatch

router = Router(tags=["tenders"])


class LotOut(Schema):
    id: int
    number: int
    name: str
    max_price: Decimal | None


class FloorOut(Schema):
    """The least a participant may offer: for one lot (`lot_id`) or every lot (null)."""

    id: int
    participant_id: int
    lot_id: int | None
    min_price: Decimal | None = Field(description="The proposal's total with VAT")
    min_margin_percent: Decimal | None
    text: str
    set_by: UserRef
    set_at: dt.datetime


class ParticipantOut(Schema):
    """One of our clients bidding; `owner` is its owner when it was linked."""

    id: int
    client_id: int
    client_name: str
    owner: UserRef
    added_at: dt.datetime
    floors: list[FloorOut]


class ConflictOut(Schema):
    """Clients of several owners bid and nobody leads (open until the head assigns one)."""

    id: int
    owners: list[UserRef]
    raised_at: dt.datetime


class TenderOut(Schema):
    id: int
    registry_number: str
    title: str
    platform: str
    customer_name: str
    customer_inn: str
    submission_deadline: dt.datetime
    currency: str
    url: str
    lead_manager: UserRef | None
    lead_assigned_at: dt.datetime | None
    participant_count: int
    has_conflict: bool
    outcome: str = Field(description="open / won / lost / cancelled")
    winner_client_id: int | None = Field(description="Our client that won (outcome won)")
    winning_price: Decimal | None
    outcome_note: str
    outcome_at: dt.datetime | None


class TenderDetailOut(TenderOut):
    lots: list[LotOut]
    participants: list[ParticipantOut]
    conflict: ConflictOut | None
    proposals: list[ProposalOut] = Field(description="Those the caller may see")


class TenderPage(Schema):
    items: list[TenderOut]
    meta: PageMeta


class TenderFilters(Schema):
    q: str = Field("", max_length=100, description="In the number, customer, ИНН or subject")
    mine: bool = Field(False, description="Tenders I lead, registered, or my clients bid in")
    include_closed: bool = False


class ParticipantIn(Schema):
    client_id: int


class LeadIn(Schema):
    user_id: int


def _lot(lot: TenderLot) -> LotOut:
    return LotOut(id=lot.pk, number=lot.number, name=lot.name, max_price=lot.max_price)


def _floor(f: TenderFloor) -> FloorOut:
    return FloorOut(
        id=f.pk,
        participant_id=f.participant_id,
        lot_id=f.lot_id,
        min_price=f.min_price,
        min_margin_percent=f.min_margin_percent,
        text=tenders.describe_floor(f),
        set_by=person(f.set_by),
        set_at=f.set_at,
    )


def _tender(t: Tender) -> TenderOut:
    return TenderOut(
        id=t.pk,
        registry_number=t.registry_number,
        title=t.title,
        platform=t.platform,
        customer_name=t.customer_name,
        customer_inn=t.customer_inn,
        submission_deadline=t.submission_deadline,
        currency=t.currency,
        url=t.url,
        lead_manager=user_ref(t.lead_manager),
        lead_assigned_at=t.lead_assigned_at,
        participant_count=int(getattr(t, "participant_count", 0) or 0),
        has_conflict=bool(getattr(t, "has_conflict", False)),
        outcome=t.outcome,
        winner_client_id=t.winner.client_id if t.winner_id and t.winner else None,
        winning_price=t.winning_price,
        outcome_note=t.outcome_note,
        outcome_at=t.outcome_at,
    )


def _detail(me: User, tender_id: int) -> TenderDetailOut:
    tender = reads.tender_for(me, tender_id)
    card = reads.tender_card(me, tender)
    owners = (
        {u.pk: u for u in User.objects.filter(pk__in=card.conflict.owners)} if card.conflict else {}
    )
    return TenderDetailOut(
        **_tender(tender).model_dump(),
        lots=[_lot(lot) for lot in card.lots],
        participants=[
            ParticipantOut(
                id=row.participant.pk,
                client_id=row.participant.client_id,
                client_name=row.participant.client.name,
                owner=person(row.participant.owner),
                added_at=row.participant.added_at,
                floors=[_floor(f) for f in row.floors],
            )
            for row in card.participants
        ],
        conflict=ConflictOut(
            id=card.conflict.pk,
            owners=[person(owners[i]) for i in card.conflict.owners if i in owners],
            raised_at=card.conflict.raised_at,
        )
        if card.conflict
        else None,
        proposals=[proposal_out(me, p) for p in card.proposals],
    )


@router.get("/tenders", response={200: TenderPage, **READ_ERRORS})
def list_tenders(
    request: HttpRequest, filters: Query[TenderFilters], paging: Query[PageParams]
) -> TenderPage:
    """The team's tenders by deadline (open ones unless `include_closed`)."""
    qs = reads.tender_list(
        viewer(request),
        query=filters.q.strip(),
        mine=filters.mine,
        include_closed=filters.include_closed,
    )
    items, meta = page_of(qs, paging)
    return TenderPage(items=[_tender(t) for t in items], meta=PageMeta(**meta))


@router.post("/tenders", response={201: TenderDetailOut, **WRITE_ERRORS})
def create_tender(request: HttpRequest, payload: TenderIn) -> Status[TenderDetailOut]:
    """Register a tender (409 `tender_exists` with `tender_id` when its number is known)."""
    me = viewer(request)
    tender = services.create_tender(payload, actor=me)
    return Status(201, _detail(me, tender.pk))


@router.get("/tenders/{int:tender_id}", response={200: TenderDetailOut, **READ_ERRORS})
def get_tender(request: HttpRequest, tender_id: int) -> TenderDetailOut:
    """The tender card: lots, participants with owners and floors, the lead manager, the open
    conflict and the proposals the caller may see."""
    return _detail(viewer(request), tender_id)


@router.patch("/tenders/{int:tender_id}", response={200: TenderDetailOut, **WRITE_ERRORS})
def update_tender(request: HttpRequest, tender_id: int, payload: TenderPatch) -> TenderDetailOut:
    """Correct the details (the head of sales, the lead manager or the author)."""
    me = viewer(request)
    services.update_tender(tender_id, payload, actor=me)
    return _detail(me, tender_id)


@router.post("/tenders/{int:tender_id}/lots", response={201: LotOut, **WRITE_ERRORS})
def add_lot(request: HttpRequest, tender_id: int, payload: LotIn) -> Status[LotOut]:
    """A lot more."""
    return Status(201, _lot(services.add_lot(tender_id, payload, actor=viewer(request))))


@router.post(
    "/tenders/{int:tender_id}/participants", response={201: TenderDetailOut, **WRITE_ERRORS}
)
def add_participant(
    request: HttpRequest, tender_id: int, payload: ParticipantIn
) -> Status[TenderDetailOut]:
    """Link one of our clients (its owner, the lead manager or the head of sales); clients of
    two or more owners with nobody leading raise a conflict."""
    me = viewer(request)
    services.add_participant(tender_id, payload.client_id, actor=me)
    return Status(201, _detail(me, tender_id))


@router.delete(
    "/tenders/{int:tender_id}/participants/{int:participant_id}",
    response={204: None, **WRITE_ERRORS},
)
def remove_participant(request: HttpRequest, tender_id: int, participant_id: int) -> Status[None]:
    """Take a client out of the tender (its floors go with it)."""
    services.remove_participant(tender_id, participant_id, actor=viewer(request))
    return Status(204, None)


@router.post(
    "/tenders/{int:tender_id}/lead-manager", response={200: TenderDetailOut, **WRITE_ERRORS}
)
def assign_lead_manager(request: HttpRequest, tender_id: int, payload: LeadIn) -> TenderDetailOut:
    """The head of sales names the lead manager (403 `not_head_of_sales` for anyone else)."""
    me = viewer(request)
    services.assign_lead_manager(tender_id, payload.user_id, actor=me)
    return _detail(me, tender_id)


@router.post("/tenders/{int:tender_id}/floors", response={201: FloorOut, **WRITE_ERRORS})
def set_tender_floor(
    request: HttpRequest, tender_id: int, payload: TenderFloorIn
) -> Status[FloorOut]:
    """The lead manager (or the head of sales) sets a participant's floor (403
    `not_lead_manager` for anyone else)."""
    floor = services.set_tender_floor(tender_id, payload, actor=viewer(request))
    return Status(201, _floor(TenderFloor.objects.select_related("set_by").get(pk=floor.pk)))


@router.delete(
    "/tenders/{int:tender_id}/floors/{int:floor_id}", response={204: None, **WRITE_ERRORS}
)
def remove_tender_floor(request: HttpRequest, tender_id: int, floor_id: int) -> Status[None]:
    """Lift a floor."""
    services.remove_tender_floor(tender_id, floor_id, actor=viewer(request))
    return Status(204, None)


@router.post("/tenders/{int:tender_id}/outcome", response={200: TenderDetailOut, **WRITE_ERRORS})
def record_tender_outcome(
    request: HttpRequest, tender_id: int, payload: OutcomeIn
) -> TenderDetailOut:
    """How the tender ended: won (`winner_id`: our participant), lost, cancelled; the lead
    manager records it after the deadline (409 `tender_not_closed` before), the head of sales
    corrects it (`open` takes it back). 403 `not_lead_manager` for anyone else."""
    me = viewer(request)
    services.record_tender_outcome(tender_id, payload, actor=me)
    return _detail(me, tender_id)
