"""Sales over HTTP: the product catalogue and cost history, pipelines, deals with their
timeline, stage moves and handoffs.

Reads go through otdel.sales.selectors, every change through otdel.sales.services; these
endpoints only parse, call and render. A refusal is the service's DomainError as JSON.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from otdel.api.auth import viewer
from otdel.api.errors import READ_ERRORS, WRITE_ERRORS
from otdel.api.paging import PageParams, page_of
from otdel.api.schemas import PageMeta, UserRef, person, user_ref
from otdel.core import clock
from otdel.core.errors import Invalid, NotFound
from otdel.core.money import KOPECK
from otdel.people.models import User
from otdel.sales import policies, selectors, services
from otdel.sales.brief import Brief
from otdel.sales.models import (
    Deal,
    DealEvent,
    DealSource,
    Handoff,
    Pipeline,
    Product,
    ProductCategory,
    ProductCost,
    Stage,
)
from otdel.sales.pipeline_document import PipelineDocument
from otdel.sales.schemas import CategoryIn, CategoryPatch, DealIn, ProductIn, ProductPatch

router = Router(tags=["sales"])

SourceIn = Literal["inbound", "own_base", "pool", "new_hunt", "reactivation"]


# --- the catalogue --------------------------------------------------------------------------


class CategoryOut(Schema):
    """A product category; `code` never changes (pay plans refer to it)."""

    id: int
    code: str
    name: str
    position: int
    active: bool


def _category_out(c: ProductCategory) -> CategoryOut:
    return CategoryOut(id=c.pk, code=c.code, name=c.name, position=c.position, active=c.active)


class MoneyOut(Schema):
    """An exact amount (a decimal string in JSON) and its currency."""

    amount: Decimal
    currency: str


class ProductOut(Schema):
    """A product; `cost` is the cost price in force now, shown to the head of sales only."""

    id: int
    name: str
    sku: str
    unit: str
    category: CategoryOut
    list_price: Decimal
    currency: str
    vat_rate: Decimal | None = Field(description="Percent; null: without VAT")
    active: bool
    cost: MoneyOut | None


class CostOut(Schema):
    """One cost price, effective from a moment on (the history is append-only)."""

    id: int
    amount: Decimal
    currency: str
    effective_from: dt.datetime
    comment: str
    recorded_by: UserRef | None
    recorded_at: dt.datetime


class ProductDetailOut(ProductOut):
    costs: list[CostOut] = Field(description="Newest first (empty unless you see costs)")


class ProductPage(Schema):
    items: list[ProductOut]
    meta: PageMeta


def _product_out(me: User, p: Product) -> ProductOut:
    cost = None
    if policies.can_see_costs(me):
        if hasattr(p, "current_cost"):  # annotated by selectors.products
            amount, currency = p.current_cost, getattr(p, "current_cost_currency", p.currency)
        else:
            found = selectors.cost_at(p.pk)
            amount, currency = (found.amount, found.currency) if found else (None, None)
        if amount is not None:
            # SQLite hands a subquery's decimal back unscaled: show it in kopecks again.
            cost = MoneyOut(amount=Decimal(amount).quantize(KOPECK), currency=currency)
    return ProductOut(
        id=p.pk,
        name=p.name,
        sku=p.sku,
        unit=p.unit,
        category=_category_out(p.category),
        list_price=p.list_price,
        currency=p.currency,
        vat_rate=p.vat_rate,
        active=p.active,
        cost=cost,
    )


def _cost_out(c: ProductCost) -> CostOut:
    return CostOut(
        id=c.pk,
        amount=c.amount,
        currency=c.currency,
        effective_from=c.effective_from,
        comment=c.comment,
        recorded_by=user_ref(c.recorded_by),
        recorded_at=c.recorded_at,
    )


def _product_detail(me: User, product_id: int) -> ProductDetailOut:
    product = selectors.product_for(me, product_id)
    return ProductDetailOut(
        **_product_out(me, product).model_dump(),
        costs=[_cost_out(c) for c in selectors.cost_history(me, product_id)],
    )


@router.get("/product-categories", response={200: list[CategoryOut], **READ_ERRORS})
def list_product_categories(request: HttpRequest) -> list[CategoryOut]:
    """Product categories in their order (everyone may read the catalogue)."""
    return [_category_out(c) for c in selectors.categories()]


@router.post("/product-categories", response={201: CategoryOut, **WRITE_ERRORS})
def create_product_category(request: HttpRequest, payload: CategoryIn) -> Status[CategoryOut]:
    """The head of sales adds a category."""
    return Status(201, _category_out(services.create_category(payload, actor=viewer(request))))


@router.patch("/product-categories/{int:category_id}", response={200: CategoryOut, **WRITE_ERRORS})
def update_product_category(
    request: HttpRequest, category_id: int, payload: CategoryPatch
) -> CategoryOut:
    """The head of sales renames, reorders or retires a category."""
    return _category_out(services.update_category(category_id, payload, actor=viewer(request)))


class ProductFilters(Schema):
    category_id: int | None = None
    active: bool | None = None
    q: str = Field("", max_length=100, description="Part of the name or the SKU")


@router.get("/products", response={200: ProductPage, **READ_ERRORS})
def list_products(
    request: HttpRequest, filters: Query[ProductFilters], paging: Query[PageParams]
) -> ProductPage:
    """The catalogue; the head of sales also sees each product's current cost."""
    me = viewer(request)
    qs = selectors.products(
        me, category_id=filters.category_id, active=filters.active, query=filters.q.strip()
    )
    items, meta = page_of(qs, paging)
    return ProductPage(items=[_product_out(me, p) for p in items], meta=PageMeta(**meta))


@router.post("/products", response={201: ProductDetailOut, **WRITE_ERRORS})
def create_product(request: HttpRequest, payload: ProductIn) -> Status[ProductDetailOut]:
    """The head of sales adds a product (optionally with its first cost price)."""
    me = viewer(request)
    product = services.create_product(payload, actor=me)
    return Status(201, _product_detail(me, product.pk))


@router.get("/products/{int:product_id}", response={200: ProductDetailOut, **READ_ERRORS})
def get_product(request: HttpRequest, product_id: int) -> ProductDetailOut:
    """One product with its cost history (the history for the head of sales only)."""
    return _product_detail(viewer(request), product_id)


@router.patch("/products/{int:product_id}", response={200: ProductDetailOut, **WRITE_ERRORS})
def update_product(
    request: HttpRequest, product_id: int, payload: ProductPatch
) -> ProductDetailOut:
    """The head of sales edits a product; only the fields sent change."""
    me = viewer(request)
    services.update_product(product_id, payload, actor=me)
    return _product_detail(me, product_id)


class CostIn(Schema):
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: Literal["RUB", "USD", "EUR", "CNY"] | None = Field(
        None, description="Empty: the product's currency"
    )
    effective_from: dt.datetime | None = Field(
        None, description="Empty: now. Never in the past: past sales keep their cost"
    )
    comment: str = Field("", max_length=500)


@router.post("/products/{int:product_id}/costs", response={201: ProductDetailOut, **WRITE_ERRORS})
def change_product_cost(
    request: HttpRequest, product_id: int, payload: CostIn
) -> Status[ProductDetailOut]:
    """The head of sales records a new cost price from now or a later moment (a new row in the
    history; the cost at any past moment does not change)."""
    me = viewer(request)
    effective = payload.effective_from
    if effective is not None and effective.tzinfo is None:
        effective = effective.replace(tzinfo=clock.MOSCOW)
    services.change_cost(
        product_id,
        amount=payload.amount,
        currency=payload.currency,
        effective_from=effective,
        comment=payload.comment,
        actor=me,
    )
    return Status(201, _product_detail(me, product_id))


# --- pipelines ------------------------------------------------------------------------------


class StageOut(Schema):
    """A stage: who works it (`roles`, the first is the default receiver of a handoff) and the
    brief fields a handoff into it requires."""

    id: int
    code: str
    name: str
    position: int
    kind: str = Field(description="open, won (completed) or lost")
    roles: list[str]
    brief_required: list[str]


class StageRef(Schema):
    id: int
    code: str
    name: str
    kind: str


class MoveOut(Schema):
    """An allowed move, as stage codes."""

    from_stage: str
    to_stage: str


class PipelineOut(Schema):
    id: int
    team_id: int
    name: str
    is_default: bool
    handoff_hours: int = Field(description="Working hours to accept or return a handoff")
    stages: list[StageOut]
    moves: list[MoveOut] = Field(description="Allowed moves, as stage codes")


def _stage_out(s: Stage) -> StageOut:
    return StageOut(
        id=s.pk,
        code=s.code,
        name=s.name,
        position=s.position,
        kind=s.kind,
        roles=list(s.roles),
        brief_required=list(s.brief_required),
    )


def _stage_ref(s: Stage | None) -> StageRef | None:
    return None if s is None else StageRef(id=s.pk, code=s.code, name=s.name, kind=s.kind)


def _pipeline_out(p: Pipeline) -> PipelineOut:
    stages = sorted(p.stages.all(), key=lambda s: s.position)
    codes = {s.pk: s.code for s in stages}
    moves = sorted(
        ((codes[t.from_stage_id], codes[t.to_stage_id]) for t in p.transitions.all()),
        key=lambda m: m,
    )
    return PipelineOut(
        id=p.pk,
        team_id=p.team_id,
        name=p.name,
        is_default=p.is_default,
        handoff_hours=p.handoff_hours,
        stages=[_stage_out(s) for s in stages],
        moves=[MoveOut(from_stage=a, to_stage=b) for a, b in moves],
    )


@router.get("/pipelines", response={200: list[PipelineOut], **READ_ERRORS})
def list_pipelines(request: HttpRequest, team_id: int | None = None) -> list[PipelineOut]:
    """My team's pipelines (a director: any team's) with their stages and allowed moves."""
    return [_pipeline_out(p) for p in selectors.pipelines_for(viewer(request), team_id)]


class PipelineIn(Schema):
    document: PipelineDocument
    team_id: int | None = Field(None, description="Empty: my team")
    make_default: bool = Field(False, description="New deals go here unless told otherwise")


@router.post("/pipelines", response={201: PipelineOut, **WRITE_ERRORS})
def create_pipeline(request: HttpRequest, payload: PipelineIn) -> Status[PipelineOut]:
    """The head of sales sets up a pipeline: stages (roles, brief required) and allowed moves."""
    me = viewer(request)
    team_id = payload.team_id or me.team_id
    if team_id is None:
        raise Invalid(_("Say which team the pipeline is for."), code="team_required")
    pipeline = services.create_pipeline(
        team_id, payload.document, actor=me, make_default=payload.make_default
    )
    return Status(201, _pipeline_out(selectors.pipelines_for(me, team_id).get(pk=pipeline.pk)))


class PipelineUpdateIn(Schema):
    document: PipelineDocument


def _fresh_pipeline_out(pipeline: Pipeline) -> PipelineOut:
    return _pipeline_out(
        Pipeline.objects.prefetch_related("stages", "transitions").get(pk=pipeline.pk)
    )


@router.put("/pipelines/{pipeline_id}", response={200: PipelineOut, **WRITE_ERRORS})
def update_pipeline(
    request: HttpRequest, pipeline_id: int, payload: PipelineUpdateIn
) -> PipelineOut:
    """The head of sales edits a pipeline with the same document as on creation: a stage is
    known by its code (a new code adds a stage, a missing one removes it if no deal is in it);
    the allowed moves are replaced by the document's."""
    me = viewer(request)
    selectors.pipeline_for(me, pipeline_id)
    pipeline = services.update_pipeline(pipeline_id, payload.document, actor=me)
    return _fresh_pipeline_out(pipeline)


@router.post("/pipelines/{pipeline_id}/default", response={200: PipelineOut, **WRITE_ERRORS})
def make_default_pipeline(request: HttpRequest, pipeline_id: int) -> PipelineOut:
    """The head of sales makes this pipeline the team's default (new deals go there)."""
    me = viewer(request)
    selectors.pipeline_for(me, pipeline_id)
    return _fresh_pipeline_out(services.set_default_pipeline(pipeline_id, actor=me))


@router.post("/pipelines/{pipeline_id}/archive", response={200: PipelineOut, **WRITE_ERRORS})
def archive_pipeline(request: HttpRequest, pipeline_id: int) -> PipelineOut:
    """The head of sales archives a pipeline that is not the default and has no open deals."""
    me = viewer(request)
    selectors.pipeline_for(me, pipeline_id)
    return _fresh_pipeline_out(services.archive_pipeline(pipeline_id, actor=me))


# --- deals ----------------------------------------------------------------------------------


class ClientRef(Schema):
    id: int
    name: str


class HandoffOut(Schema):
    """A handoff: the brief, whom it is offered to (a person, or the role's queue), by when."""

    id: int
    deal_id: int
    deal_title: str
    client: ClientRef
    from_stage: StageRef
    to_stage: StageRef
    sender: UserRef
    offered_to: UserRef | None
    offered_role: str
    brief: dict[str, str]
    status: str
    created_at: dt.datetime
    deadline: dt.datetime
    overdue: bool
    escalated_at: dt.datetime | None
    answered_by: UserRef | None
    answered_at: dt.datetime | None
    return_reason: str


def _handoff_out(h: Handoff) -> HandoffOut:
    return HandoffOut(
        id=h.pk,
        deal_id=h.deal_id,
        deal_title=h.deal.title,
        client=ClientRef(id=h.deal.client_id, name=h.deal.client.name),
        from_stage=_stage_ref(h.from_stage),  # type: ignore[arg-type]
        to_stage=_stage_ref(h.to_stage),  # type: ignore[arg-type]
        sender=person(h.sender),
        offered_to=user_ref(h.offered_to),
        offered_role=h.offered_role,
        brief=dict(h.brief),
        status=h.status,
        created_at=h.created_at,
        deadline=h.deadline,
        overdue=h.is_pending and h.deadline <= clock.now(),
        escalated_at=h.escalated_at,
        answered_by=user_ref(h.answered_by),
        answered_at=h.answered_at,
        return_reason=h.return_reason,
    )


class DealOut(Schema):
    """A deal: where it stands, who is responsible, its source and why."""

    id: int
    title: str
    client: ClientRef
    team_id: int
    pipeline_id: int
    stage: StageRef
    amount_estimate: Decimal
    currency: str
    responsible: UserRef
    source: str
    source_label: str
    source_reason: dict[str, Any]
    created_by: UserRef
    created_at: dt.datetime
    updated_at: dt.datetime
    stage_entered_at: dt.datetime
    closed_at: dt.datetime | None


class DealPage(Schema):
    items: list[DealOut]
    meta: PageMeta


class DealEventOut(Schema):
    """One row of the deal's timeline (append-only)."""

    id: int
    kind: str
    kind_label: str
    at: dt.datetime
    actor: UserRef | None
    from_stage: StageRef | None
    to_stage: StageRef | None
    from_user: UserRef | None = Field(description="Responsible before")
    to_user: UserRef | None = Field(description="Responsible after")
    handoff_id: int | None
    data: dict[str, Any]


class TenureOut(Schema):
    """Who held the deal in a stage, and when (the facts credit is split from)."""

    stage: str
    stage_name: str
    holder_id: int
    holder_name: str
    role: str
    started_at: dt.datetime
    ended_at: dt.datetime | None


class DealActions(Schema):
    """What I may do with this deal (the services still check and say why not)."""

    move: bool
    change_source: bool


class DealDetailOut(DealOut):
    client_created_by: UserRef | None = Field(description="Who created the client (credit)")
    allowed_moves: list[StageRef]
    pending_handoff: HandoffOut | None
    timeline: list[DealEventOut]
    tenures: list[TenureOut]
    actions: DealActions


def _deal_out(d: Deal) -> dict[str, Any]:
    return {
        "id": d.pk,
        "title": d.title,
        "client": ClientRef(id=d.client_id, name=d.client.name),
        "team_id": d.team_id,
        "pipeline_id": d.pipeline_id,
        "stage": _stage_ref(d.stage),
        "amount_estimate": d.amount_estimate,
        "currency": d.currency,
        "responsible": person(d.responsible),
        "source": d.source,
        "source_label": str(DealSource(d.source).label),
        "source_reason": d.source_reason or {},
        "created_by": person(d.created_by),
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "stage_entered_at": d.stage_entered_at,
        "closed_at": d.closed_at,
    }


def _event_out(e: DealEvent) -> DealEventOut:
    return DealEventOut(
        id=e.pk,
        kind=e.kind,
        kind_label=str(e.get_kind_display()),
        at=e.at,
        actor=user_ref(e.actor),
        from_stage=_stage_ref(e.from_stage),
        to_stage=_stage_ref(e.to_stage),
        from_user=user_ref(e.from_user),
        to_user=user_ref(e.to_user),
        handoff_id=e.handoff_id,
        data=e.data or {},
    )


def _deal_detail(me: User, deal_id: int) -> DealDetailOut:
    deal = selectors.deal_for(me, deal_id)
    events = selectors.timeline(deal)
    pending = selectors.pending_handoff(deal)
    creator = deal.client.created_by
    allowed = selectors.allowed_moves(deal.stage)
    return DealDetailOut(
        **_deal_out(deal),
        client_created_by=user_ref(creator),
        allowed_moves=[StageRef(id=s.pk, code=s.code, name=s.name, kind=s.kind) for s in allowed],
        pending_handoff=_handoff_out(pending) if pending else None,
        timeline=[_event_out(e) for e in events],
        tenures=[
            TenureOut(
                stage=t.stage_code,
                stage_name=t.stage_name,
                holder_id=t.holder_id,
                holder_name=t.holder_name,
                role=t.role,
                started_at=t.started_at,
                ended_at=t.ended_at,
            )
            for t in selectors.stage_tenures(events)
        ],
        actions=DealActions(
            move=policies.can_move_deal(me, deal) and pending is None and bool(allowed),
            change_source=policies.can_change_source(me, deal),
        ),
    )


class DealFilters(Schema):
    pipeline_id: int | None = None
    stage_id: int | None = None
    responsible_id: int | None = None
    client_id: int | None = None
    source: SourceIn | None = None
    status: Literal["open", "won", "lost"] | None = None
    mine: bool = Field(False, description="Only deals I am responsible for")
    q: str = Field("", max_length=100, description="Part of the title or the client's name")


@router.get("/deals", response={200: DealPage, **READ_ERRORS})
def list_deals(
    request: HttpRequest, filters: Query[DealFilters], paging: Query[PageParams]
) -> DealPage:
    """My team's deals, newest first, filtered."""
    me = viewer(request)
    qs = selectors.deal_list(
        me,
        pipeline_id=filters.pipeline_id,
        stage_id=filters.stage_id,
        responsible_id=me.pk if filters.mine else filters.responsible_id,
        client_id=filters.client_id,
        source=filters.source,
        status=filters.status,
        query=filters.q.strip(),
    )
    items, meta = page_of(qs, paging)
    return DealPage(items=[DealOut(**_deal_out(d)) for d in items], meta=PageMeta(**meta))


@router.post("/deals", response={201: DealDetailOut, **WRITE_ERRORS})
def create_deal(request: HttpRequest, payload: DealIn) -> Status[DealDetailOut]:
    """The client's owner (or the head of sales) opens a deal in the pipeline's first stage;
    its source is set by the rules (`source_reason` says which), `inbound` when asked."""
    me = viewer(request)
    try:
        deal = services.create_deal(payload, actor=me)
    except NotFound as err:
        if err.code != "client_not_found":
            raise
        raise Invalid(
            _("There is no such client."), code="invalid_client", field="client_id"
        ) from err
    return Status(201, _deal_detail(me, deal.pk))


@router.get("/deals/{int:deal_id}", response={200: DealDetailOut, **READ_ERRORS})
def get_deal(request: HttpRequest, deal_id: int) -> DealDetailOut:
    """A deal with its timeline, who held each stage when, and where it may move."""
    return _deal_detail(viewer(request), deal_id)


class MoveIn(Schema):
    to_stage: int | str = Field(description="The stage's id or code")
    brief: Brief | None = Field(None, description="Needed when the move is a handoff")
    offer_to: int | None = Field(None, description="A person; empty: the role's queue")
    offer_role: str | None = Field(None, description="The queue's role; empty: the stage's first")
    comment: str = Field("", max_length=2000, description="Required when the deal is lost")
    expected_stage: int | None = Field(
        None, description="The stage I saw the deal in; a deal moved meanwhile answers 409"
    )


@router.post("/deals/{int:deal_id}/move", response={200: DealDetailOut, **WRITE_ERRORS})
def move_deal(request: HttpRequest, deal_id: int, payload: MoveIn) -> DealDetailOut:
    """Move a deal along an allowed move; into another role's stage it is a handoff (brief,
    receiver, deadline); into the completed stage it returns to the client's owner."""
    me = viewer(request)
    to_stage: int | str = payload.to_stage
    if isinstance(to_stage, str) and to_stage.isdigit():
        to_stage = int(to_stage)
    services.move_deal(
        deal_id,
        to_stage=to_stage,
        actor=me,
        brief=payload.brief,
        offer_to=payload.offer_to,
        offer_role=payload.offer_role,
        comment=payload.comment,
        expected_stage=payload.expected_stage,
    )
    return _deal_detail(me, deal_id)


class SourceChangeIn(Schema):
    source: SourceIn
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/deals/{int:deal_id}/source", response={200: DealDetailOut, **WRITE_ERRORS})
def change_deal_source(
    request: HttpRequest, deal_id: int, payload: SourceChangeIn
) -> DealDetailOut:
    """The head of sales changes a deal's source, with a reason (kept in the timeline)."""
    me = viewer(request)
    services.change_source(deal_id, source=payload.source, actor=me, reason=payload.reason)
    return _deal_detail(me, deal_id)


# --- handoffs -------------------------------------------------------------------------------


@router.get("/handoffs", response={200: list[HandoffOut], **READ_ERRORS})
def list_handoffs(
    request: HttpRequest, box: Literal["inbox", "sent", "overdue"] = "inbox"
) -> list[HandoffOut]:
    """`inbox`: waiting for me (offered to me or my role's queue), soonest deadline first;
    `sent`: the ones I handed over (latest 50); `overdue`: my team's late ones (head of sales)."""
    me = viewer(request)
    if box == "sent":
        rows = selectors.handoffs_sent(me)
    elif box == "overdue":
        rows = list(selectors.handoffs_overdue(me)[:200])
    else:
        rows = list(selectors.handoff_inbox(me)[:200])
    return [_handoff_out(h) for h in rows]


@router.post("/handoffs/{int:handoff_id}/accept", response={200: HandoffOut, **WRITE_ERRORS})
def accept_handoff(request: HttpRequest, handoff_id: int) -> HandoffOut:
    """Take the deal: from now on I am responsible for it."""
    me = viewer(request)
    services.accept_handoff(handoff_id, actor=me)
    return _handoff_out(selectors.handoff_for(me, handoff_id))


class ReturnIn(Schema):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/handoffs/{int:handoff_id}/return", response={200: HandoffOut, **WRITE_ERRORS})
def return_handoff(request: HttpRequest, handoff_id: int, payload: ReturnIn) -> HandoffOut:
    """Give the deal back with a reason: it returns to the stage it came from and its sender."""
    me = viewer(request)
    services.return_handoff(handoff_id, actor=me, reason=payload.reason)
    return _handoff_out(selectors.handoff_for(me, handoff_id))


class RedirectIn(Schema):
    offer_to: int | None = Field(None, description="A person; empty: the role's queue")
    offer_role: (
        Literal["hunter", "account_manager", "order_manager", "coordinator", "head_of_sales"] | None
    ) = None


@router.post("/handoffs/{int:handoff_id}/redirect", response={200: HandoffOut, **WRITE_ERRORS})
def redirect_handoff(request: HttpRequest, handoff_id: int, payload: RedirectIn) -> HandoffOut:
    """The sender or the head of sales offers a pending handoff to someone else (a new
    deadline runs from now)."""
    me = viewer(request)
    services.redirect_handoff(
        handoff_id, actor=me, offer_to=payload.offer_to, offer_role=payload.offer_role
    )
    return _handoff_out(selectors.handoff_for(me, handoff_id))
