"""Every read about the catalogue, pipelines, deals and handoffs, always for a viewer.

The timeline facts (who held each stage and when, who created the client) are computed from
the append-only DealEvent rows, so the pay engine can recompute credit at any time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext as _

from otdel.core import clock
from otdel.core.errors import NotFound
from otdel.core.money import Money
from otdel.ownership.policies import manages_team
from otdel.people.models import User
from otdel.sales import policies
from otdel.sales.models import (
    Deal,
    DealEvent,
    Handoff,
    HandoffStatus,
    Pipeline,
    Product,
    ProductCategory,
    ProductCost,
    Stage,
    StageKind,
    StageTransition,
)

# The board shows closed deals of the last days only; open ones are all there.
BOARD_CLOSED_DAYS = 30
# Cards shown per column (the most recently changed); the column's badge counts them all.
BOARD_COLUMN_LIMIT = 50


# --- the catalogue ---------------------------------------------------------------------------


def cost_at(product_id: int, moment: dt.datetime | None = None) -> Money | None:
    """The product's cost price in force at a moment (now by default): the latest cost row
    effective by then. None when no cost was recorded yet."""
    row = (
        ProductCost.objects.filter(product_id=product_id, effective_from__lte=moment or clock.now())
        .order_by("-effective_from", "-id")
        .values_list("amount", "currency")
        .first()
    )
    return Money(row[0], row[1]) if row else None


def categories(*, active_only: bool = False) -> QuerySet[ProductCategory]:
    """The product categories in their order (everyone may read the catalogue)."""
    qs = ProductCategory.objects.all()
    return qs.filter(active=True) if active_only else qs


def products(
    viewer: User,
    *,
    category_id: int | None = None,
    active: bool | None = None,
    query: str = "",
) -> QuerySet[Product]:
    """Products with their category; for those who may see costs, `current_cost` and
    `current_cost_currency` are annotated (the cost in force now)."""
    qs = Product.objects.select_related("category").order_by("category__position", "name")
    if category_id:
        qs = qs.filter(category_id=category_id)
    if active is not None:
        qs = qs.filter(active=active)
    if query:
        qs = qs.filter(Q(name__icontains=query) | Q(sku__icontains=query))
    if policies.can_see_costs(viewer):
        latest = ProductCost.objects.filter(
            product_id=OuterRef("pk"), effective_from__lte=clock.now()
        ).order_by("-effective_from", "-id")
        qs = qs.annotate(
            current_cost=Subquery(latest.values("amount")[:1]),
            current_cost_currency=Subquery(latest.values("currency")[:1]),
        )
    return qs


def product_for(viewer: User, product_id: int) -> Product:
    """One product (everyone may read the catalogue)."""
    product = Product.objects.select_related("category").filter(pk=product_id).first()
    if product is None:
        raise NotFound(_("Product not found."), code="product_not_found")
    return product


def cost_history(viewer: User, product_id: int) -> list[ProductCost]:
    """Every cost price of a product, newest first (only for those who may see costs)."""
    if not policies.can_see_costs(viewer):
        return []
    return list(
        ProductCost.objects.filter(product_id=product_id)
        .select_related("recorded_by")
        .order_by("-effective_from", "-id")
    )


# --- pipelines -------------------------------------------------------------------------------


def _sees_team(viewer: User, team_id: int | None) -> bool:
    return team_id is not None and (team_id == viewer.team_id or manages_team(viewer, team_id))


def pipelines_for(viewer: User, team_id: int | None = None) -> QuerySet[Pipeline]:
    """The active pipelines of the viewer's team (or of a team he manages), default first, with
    their stages in order and their allowed moves."""
    team = team_id or viewer.team_id
    if not _sees_team(viewer, team):
        return Pipeline.objects.none()
    return (
        Pipeline.objects.filter(active=True, team_id=team)
        .prefetch_related(
            Prefetch("stages", queryset=Stage.objects.order_by("position")),
            Prefetch(
                "transitions",
                queryset=StageTransition.objects.select_related("from_stage", "to_stage"),
            ),
        )
        .order_by("-is_default", "name")
    )


def pipeline_for(viewer: User, pipeline_id: int) -> Pipeline:
    """One pipeline the viewer's team runs (or a team he manages)."""
    pipeline = Pipeline.objects.filter(pk=pipeline_id).first()
    if pipeline is None or not _sees_team(viewer, pipeline.team_id):
        raise NotFound(_("Pipeline not found."), code="pipeline_not_found")
    return pipeline


def allowed_moves(stage: Stage) -> list[Stage]:
    """The stages a deal in `stage` may move to, in the pipeline's order."""
    return list(Stage.objects.filter(moves_in__from_stage=stage).order_by("position").distinct())


def move_kind(responsible: User, target: Stage) -> str:
    """What a move into `target` is, for the person now responsible: "won" (the deal returns to
    the client's owner), "lost" (needs a reason), "handoff" (another role works the stage:
    needs a brief and a receiver) or "move". move_deal and the pages ask this same question."""
    if target.kind == StageKind.WON:
        return "won"
    if target.kind == StageKind.LOST:
        return "lost"
    return "move" if target.worked_by(responsible.role) else "handoff"


def moves_by_stage(pipeline: Pipeline) -> dict[int, list[Stage]]:
    """For each stage of a pipeline, the stages a deal may move to (one query)."""
    result: dict[int, list[Stage]] = {}
    for t in StageTransition.objects.filter(pipeline=pipeline).select_related("to_stage"):
        result.setdefault(t.from_stage_id, []).append(t.to_stage)
    for targets in result.values():
        targets.sort(key=lambda s: s.position)
    return result


def receivers_for(team_id: int, stage: Stage, *, exclude_id: int | None = None) -> list[User]:
    """The people who may receive a deal entering `stage`: active members of the team whose
    role works that stage."""
    qs = User.objects.filter(team_id=team_id, is_active=True)
    if stage.roles:
        qs = qs.filter(role__in=stage.roles)
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return list(qs.order_by("last_name", "first_name"))


# --- deals -----------------------------------------------------------------------------------


def _deals() -> QuerySet[Deal]:
    return Deal.objects.select_related(
        "client", "pipeline", "stage", "responsible", "created_by", "team"
    )


def visible_deals(viewer: User) -> QuerySet[Deal]:
    """The deals of the viewer's team (all teams for a director or an admin)."""
    qs = _deals()
    if manages_team(viewer, None):
        return qs
    if viewer.team_id is None:
        return qs.none()
    return qs.filter(team_id=viewer.team_id)


def deal_for(viewer: User, deal_id: int) -> Deal:
    """One deal the viewer may see (someone else's team's deal looks missing)."""
    deal = _deals().filter(pk=deal_id).first()
    if deal is None or not policies.can_view_deal(viewer, deal):
        raise NotFound(_("Deal not found."), code="deal_not_found")
    return deal


def deal_list(
    viewer: User,
    *,
    pipeline_id: int | None = None,
    stage_id: int | None = None,
    responsible_id: int | None = None,
    client_id: int | None = None,
    source: str | None = None,
    status: str | None = None,
    query: str = "",
) -> QuerySet[Deal]:
    """Deals the viewer may see, newest first, filtered; status is open, won or lost."""
    qs = visible_deals(viewer)
    if pipeline_id:
        qs = qs.filter(pipeline_id=pipeline_id)
    if stage_id:
        qs = qs.filter(stage_id=stage_id)
    if responsible_id:
        qs = qs.filter(responsible_id=responsible_id)
    if client_id:
        qs = qs.filter(client_id=client_id)
    if source:
        qs = qs.filter(source=source)
    if status == "open":
        qs = qs.filter(closed_at__isnull=True)
    elif status in (StageKind.WON, StageKind.LOST):
        qs = qs.filter(stage__kind=status)
    if query:
        qs = qs.filter(Q(title__icontains=query) | Q(client__name__icontains=query))
    return qs.order_by("-created_at", "-id")


@dataclass
class Column:
    """One column of the board: a stage and its deals (open ones; recent closed ones)."""

    stage: Stage
    deals: list[Deal] = field(default_factory=list)
    more: bool = False
    count: int = 0


def board(viewer: User, pipeline: Pipeline, *, responsible_id: int | None = None) -> list[Column]:
    """The pipeline board: one column per stage, each with its deals (pending handoffs
    attached as `deal.pending`), most recently changed first."""
    stages = list(Stage.objects.filter(pipeline=pipeline).order_by("position"))
    columns = {s.pk: Column(stage=s) for s in stages}
    since = clock.now() - dt.timedelta(days=BOARD_CLOSED_DAYS)
    qs = visible_deals(viewer).filter(pipeline=pipeline)
    qs = qs.filter(Q(closed_at__isnull=True) | Q(closed_at__gte=since))
    if responsible_id:
        qs = qs.filter(responsible_id=responsible_id)
    counts = dict(qs.order_by().values_list("stage_id").annotate(n=Count("id")))
    # The newest cards of every column in one query: rank within the stage, keep the first N
    # (the cost follows the cards shown, not the deals in the pipeline).
    ranked = qs.annotate(
        rank=Window(
            RowNumber(),
            partition_by=[F("stage_id")],
            order_by=[F("updated_at").desc(), F("id").desc()],
        )
    ).filter(rank__lte=BOARD_COLUMN_LIMIT)
    deals = list(ranked.order_by("-updated_at", "-id"))
    pending = {
        h.deal_id: h
        for h in Handoff.objects.filter(
            deal_id__in=[d.pk for d in deals], status=HandoffStatus.PENDING
        ).select_related("offered_to")
    }
    for deal in deals:
        column = columns.get(deal.stage_id)
        if column is None:
            continue
        deal.pending = pending.get(deal.pk)  # type: ignore[attr-defined]
        column.deals.append(deal)
    for stage_id, column in columns.items():
        column.count = counts.get(stage_id, 0)
        column.more = column.count > len(column.deals)
    return [columns[s.pk] for s in stages]


def pending_handoff(deal: Deal) -> Handoff | None:
    """The deal's handoff awaiting acceptance, if any."""
    return (
        Handoff.objects.select_related("sender", "offered_to", "from_stage", "to_stage")
        .filter(deal=deal, status=HandoffStatus.PENDING)
        .first()
    )


def timeline(deal: Deal) -> list[DealEvent]:
    """The deal's events in the order they happened."""
    return list(
        DealEvent.objects.filter(deal=deal)
        .select_related("actor", "from_stage", "to_stage", "from_user", "to_user", "handoff")
        .order_by("at", "id")
    )


@dataclass(frozen=True)
class Tenure:
    """One person holding a deal in one stage, from a moment until another (None: still)."""

    stage_id: int
    stage_code: str
    stage_name: str
    holder_id: int
    holder_name: str
    role: str
    started_at: dt.datetime
    ended_at: dt.datetime | None


def stage_tenures(events: list[DealEvent]) -> list[Tenure]:
    """Who held each stage and when, from the timeline: a tenure starts whenever the stage or
    the responsible person changes (a handoff's sender keeps it until it is accepted)."""
    tenures: list[Tenure] = []
    stage: Stage | None = None
    holder: User | None = None
    role = ""
    started: dt.datetime | None = None
    for event in events:
        new_stage = event.to_stage or stage
        new_holder = event.to_user or holder
        if new_stage is None or new_holder is None:
            continue
        if stage is not None and holder is not None and started is not None:
            if new_stage.pk == stage.pk and new_holder.pk == holder.pk:
                continue
            tenures.append(_tenure(stage, holder, role, started, event.at))
        if event.to_user is not None:
            role = str(event.data.get("to_role") or new_holder.role)
        stage, holder, started = new_stage, new_holder, event.at
    if stage is not None and holder is not None and started is not None:
        tenures.append(_tenure(stage, holder, role, started, None))
    return tenures


def _tenure(
    stage: Stage, holder: User, role: str, started: dt.datetime, ended: dt.datetime | None
) -> Tenure:
    return Tenure(
        stage_id=stage.pk,
        stage_code=stage.code,
        stage_name=stage.name,
        holder_id=holder.pk,
        holder_name=holder.display_name,
        role=role or holder.role,
        started_at=started,
        ended_at=ended,
    )


@dataclass(frozen=True)
class CreditFacts:
    """What the motivation engine splits credit from: the deal's source, who created the
    client, and who held each stage when."""

    deal_id: int
    source: str
    client_created_by_id: int | None
    client_created_by_name: str
    client_created_at: dt.datetime
    tenures: list[Tenure]


def credit_facts(viewer: User, deal_id: int) -> CreditFacts:
    """The credit facts of one deal the viewer may see."""
    deal = deal_for(viewer, deal_id)
    creator = deal.client.created_by
    return CreditFacts(
        deal_id=deal.pk,
        source=deal.source,
        client_created_by_id=creator.pk if creator else None,
        client_created_by_name=creator.display_name if creator else "",
        client_created_at=deal.client.created_at,
        tenures=stage_tenures(timeline(deal)),
    )


def client_deals(viewer: User, client_id: int) -> QuerySet[Deal]:
    """A client's deals the viewer may see, open ones first."""
    return (
        visible_deals(viewer)
        .filter(client_id=client_id)
        .order_by(F("closed_at").desc(nulls_first=True), "-created_at")
    )


# --- handoffs --------------------------------------------------------------------------------


def _handoffs() -> QuerySet[Handoff]:
    return Handoff.objects.select_related(
        "deal",
        "deal__client",
        "deal__stage",
        "from_stage",
        "to_stage",
        "sender",
        "offered_to",
        "answered_by",
    )


def handoff_inbox(viewer: User) -> QuerySet[Handoff]:
    """Handoffs waiting for the viewer: offered to him, or to his role's queue in his team
    (not the ones he sent himself), soonest deadline first."""
    mine = Q(offered_to=viewer)
    if viewer.team_id is not None:
        mine |= Q(
            offered_to__isnull=True, offered_role=viewer.role, deal__team_id=viewer.team_id
        ) & ~Q(sender=viewer)
    return _handoffs().filter(mine, status=HandoffStatus.PENDING).order_by("deadline", "id")


def handoffs_sent(viewer: User, *, limit: int = 50) -> list[Handoff]:
    """Handoffs the viewer sent, newest first (pending and answered)."""
    return list(_handoffs().filter(sender=viewer).order_by("-created_at", "-id")[:limit])


def handoffs_overdue(viewer: User) -> QuerySet[Handoff]:
    """For the head of sales: his team's pending handoffs past their deadline."""
    qs = _handoffs().filter(status=HandoffStatus.PENDING, deadline__lte=clock.now())
    if manages_team(viewer, None):
        return qs.order_by("deadline")
    if not viewer.is_head_of_sales or viewer.team_id is None:
        return qs.none()
    return qs.filter(deal__team_id=viewer.team_id).order_by("deadline")


def handoff_for(viewer: User, handoff_id: int) -> Handoff:
    """One handoff of a deal the viewer may see."""
    handoff = _handoffs().filter(pk=handoff_id).first()
    if handoff is None or not policies.can_view_deal(viewer, handoff.deal):
        raise NotFound(_("Handoff not found."), code="handoff_not_found")
    return handoff


def last_holder(deal: Deal, stage: Stage) -> int | None:
    """Who last held the deal in a stage (the natural receiver when a deal goes back there)."""
    tenures = [t for t in stage_tenures(timeline(deal)) if t.stage_id == stage.pk]
    return tenures[-1].holder_id if tenures else None


def summary_of(deal: Deal) -> dict[str, Any]:
    """The facts a completed deal's account manager gets: amount, who held which stage, and
    the latest brief (its promises and the next step)."""
    events = timeline(deal)
    brief = (
        Handoff.objects.filter(deal=deal, status=HandoffStatus.ACCEPTED)
        .order_by("-answered_at", "-id")
        .values_list("brief", flat=True)
        .first()
    ) or {}
    return {
        "title": deal.title,
        "amount": str(deal.amount_estimate),
        "currency": deal.currency,
        "stages": [
            {"stage": t.stage_name, "holder": t.holder_name, "role": t.role}
            for t in stage_tenures(events)
        ],
        "promises": brief.get("promises", ""),
        "next_step": brief.get("next_step", ""),
    }


# --- pipeline editing ---------------------------------------------------------------------------

from otdel.sales.pipeline_document import PipelineDocument  # noqa: E402


def pipeline_document_of(pipeline: Pipeline) -> PipelineDocument:
    """The pipeline as it stands, as the document the head of sales edits (stages in their
    order, allowed moves as pairs of stage codes)."""
    stages = list(Stage.objects.filter(pipeline=pipeline).order_by("position", "pk"))
    codes = {s.pk: s.code for s in stages}
    moves = [
        (codes[a], codes[b])
        for a, b in StageTransition.objects.filter(pipeline=pipeline)
        .order_by("from_stage__position", "to_stage__position")
        .values_list("from_stage_id", "to_stage_id")
    ]
    # Validated like any document: every pipeline was written from one.
    return PipelineDocument.model_validate(
        {
            "name": pipeline.name,
            "handoff_hours": pipeline.handoff_hours,
            "stages": [
                {
                    "code": s.code,
                    "name": s.name,
                    "kind": s.kind,
                    "roles": list(s.roles),
                    "brief_required": list(s.brief_required),
                }
                for s in stages
            ],
            "transitions": moves,
        }
    )


def pipelines_overview(viewer: User) -> QuerySet[Pipeline]:
    """The viewer's team's active pipelines with how many deals each holds (all and open)."""
    return pipelines_for(viewer).annotate(
        deal_count=Count("deals", distinct=True),
        open_count=Count("deals", filter=Q(deals__stage__kind=StageKind.OPEN), distinct=True),
    )


def stage_deal_counts(pipeline: Pipeline) -> dict[str, int]:
    """How many deals sit in each stage of a pipeline, by stage code."""
    return dict(
        Deal.objects.filter(pipeline=pipeline)
        .values_list("stage__code")
        .annotate(n=Count("pk"))
        .values_list("stage__code", "n")
    )
