"""Every read of proposals and tenders, for a viewer.

Proposals are seen by those who see the deal's money (the head of sales, order managers and
document clerks of the team), the deal's responsible person, the client's owner, and the lead
manager of the tender a proposal is for (sales.policies.can_view_proposal says the same for one
proposal). Tenders are seen by the whole team.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.errors import NotFound
from otdel.ownership.policies import manages_team
from otdel.people.models import OWNING_ROLES, Role, User
from otdel.sales import floors, policies, proposals, tenders
from otdel.sales.models import (
    Deal,
    FloorApprovalStatus,
    Proposal,
    ProposalStatus,
    Tender,
    TenderConflict,
    TenderFloor,
    TenderLot,
    TenderOutcome,
    TenderParticipant,
)

# --- proposals ---------------------------------------------------------------------------------


def proposals_visible(viewer: User) -> QuerySet[Proposal]:
    """The proposals the viewer may see, newest first."""
    qs = Proposal.objects.select_related(
        "deal", "client", "tender", "lot", "created_by", "floor_approval"
    )
    if not viewer.is_authenticated or not viewer.is_active:
        return qs.none()
    if manages_team(viewer, None):
        return qs
    if viewer.role in (Role.ORDER_MANAGER, Role.DOC_CLERK) or viewer.is_head_of_sales:
        return qs.filter(team_id=viewer.team_id)
    return qs.filter(
        Q(deal__responsible=viewer) | Q(client__owner=viewer) | Q(tender__lead_manager=viewer)
    )


def proposal_list(
    viewer: User,
    *,
    deal_id: int | None = None,
    tender_id: int | None = None,
    client_id: int | None = None,
    status: str | None = None,
) -> QuerySet[Proposal]:
    """Proposals the viewer may see, filtered."""
    qs = proposals_visible(viewer)
    if deal_id:
        qs = qs.filter(deal_id=deal_id)
    if tender_id:
        qs = qs.filter(tender_id=tender_id)
    if client_id:
        qs = qs.filter(client_id=client_id)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def annotate(viewer: User, rows: list[Proposal]) -> list[Proposal]:
    """Attach what a list or a card shows: the status to show (a sent proposal past its date
    shows as expired), the hold below the price floor, the actions the viewer may take."""
    today = clock.today()
    for p in rows:
        shown = proposals.effective_status(p, today)
        p.shown_status = shown  # type: ignore[attr-defined]
        p.shown_label = ProposalStatus(shown).label  # type: ignore[attr-defined]
        p.kind_short = proposals.short_kind(p.kind)  # type: ignore[attr-defined]
        approval = getattr(p, "floor_approval", None)
        p.hold = (  # type: ignore[attr-defined]
            approval
            if approval is not None
            and approval.status in (FloorApprovalStatus.PENDING, FloorApprovalStatus.REFUSED)
            else None
        )
        p.approved_below_floor = (  # type: ignore[attr-defined]
            approval is not None and approval.status == FloorApprovalStatus.APPROVED
        )
        may = policies.can_issue_proposal(viewer, p.deal)
        p.actions = proposals.actions_for(p.status) if may else []  # type: ignore[attr-defined]
        p.may_revise = may and p.status in proposals.REVISABLE  # type: ignore[attr-defined]
    return rows


def deal_proposals(viewer: User, deal: Deal, *, limit: int = 100) -> list[Proposal]:
    """A deal card's proposals, newest first, annotated."""
    return annotate(viewer, list(proposal_list(viewer, deal_id=deal.pk)[:limit]))


def proposal_for(viewer: User, proposal_id: int) -> Proposal:
    """One proposal the viewer may see (anything else looks missing), annotated."""
    found = (
        proposals_visible(viewer)
        .select_related("deal__client", "tender__lead_manager", "sent_by", "answered_by", "invoice")
        .filter(pk=proposal_id)
        .first()
    )
    if found is None:
        raise NotFound(_("Proposal not found."), code="proposal_not_found")
    return annotate(viewer, [found])[0]


def revisions(proposal: Proposal) -> list[Proposal]:
    """Every revision of the proposal (same number, same deal), first to last."""
    return list(
        Proposal.objects.filter(deal_id=proposal.deal_id, number=proposal.number).order_by(
            "revision"
        )
    )


@dataclass
class ProposalCard:
    """What a proposal's page shows."""

    proposal: Proposal
    lines: list[Any]
    revisions: list[Proposal]
    breaches: list[str]
    may_edit: bool
    may_invoice: bool


def proposal_card(viewer: User, proposal: Proposal) -> ProposalCard:
    """A proposal's page: its lines, its revisions, why it is held, what the viewer may do."""
    approval = getattr(proposal, "floor_approval", None)
    return ProposalCard(
        proposal=proposal,
        lines=list(proposal.lines.select_related("product").order_by("position", "id")),
        revisions=revisions(proposal),
        breaches=[floors.describe(b) for b in (approval.breaches if approval else [])],
        may_edit=proposal.status == ProposalStatus.DRAFT
        and policies.can_issue_proposal(viewer, proposal.deal),
        may_invoice=proposal.status == ProposalStatus.ACCEPTED
        and proposal.invoice_id is None
        and policies.can_record_money(viewer, proposal.deal),
    )


# --- tenders -----------------------------------------------------------------------------------


def tenders_visible(viewer: User) -> QuerySet[Tender]:
    """The tenders of the viewer's team (every team's for a director), with the number of
    participants and whether a conflict is open."""
    qs = Tender.objects.select_related("lead_manager", "winner").annotate(
        participant_count=Count("participants", distinct=True),
        has_conflict=Exists(
            TenderConflict.objects.filter(tender=OuterRef("pk"), resolved_at__isnull=True)
        ),
    )
    if not viewer.is_authenticated or not viewer.is_active:
        return qs.none()
    if manages_team(viewer, None):
        return qs
    return qs.filter(team_id=viewer.team_id)


def tender_list(
    viewer: User, *, query: str = "", mine: bool = False, include_closed: bool = False
) -> QuerySet[Tender]:
    """Tenders by deadline: unless `include_closed`, those still accepting bids and those
    whose result nobody has recorded yet; `mine`: those I lead or in which a client of mine
    bids; `query` in the number, customer, ИНН or subject."""
    qs = tenders_visible(viewer)
    if not include_closed:
        qs = qs.filter(Q(submission_deadline__gt=clock.now()) | Q(outcome=TenderOutcome.OPEN))
    if mine:
        qs = qs.filter(
            Q(lead_manager=viewer) | Q(participants__owner=viewer) | Q(created_by=viewer)
        ).distinct()
    if query:
        qs = qs.filter(
            Q(registry_number__icontains=query)
            | Q(customer_name__icontains=query)
            | Q(customer_inn__icontains=query)
            | Q(title__icontains=query)
        )
    return qs.order_by("submission_deadline", "id")


def tender_for(viewer: User, tender_id: int) -> Tender:
    """One tender the viewer may see."""
    found = tenders_visible(viewer).filter(pk=tender_id).first()
    if found is None:
        raise NotFound(_("Tender not found."), code="tender_not_found")
    return found


def tenders_for_client(viewer: User, client_id: int, currency: str) -> list[Tender]:
    """Open tenders the client bids in (for the proposal form), with their lots."""
    return list(
        tenders_visible(viewer)
        .filter(
            participants__client_id=client_id,
            currency=currency,
            submission_deadline__gt=clock.now(),
        )
        .prefetch_related("lots")
        .order_by("submission_deadline")
    )


@dataclass
class ParticipantRow:
    """A participant on the tender card, with its floors in words."""

    participant: TenderParticipant
    floors: list[TenderFloor] = field(default_factory=list)
    may_remove: bool = False


@dataclass
class TenderCard:
    """What the tender card shows to a viewer, and what he may do on it."""

    tender: Tender
    lots: list[TenderLot]
    participants: list[ParticipantRow]
    conflict: TenderConflict | None
    conflict_owners: list[str]
    proposals: list[Proposal]
    may_edit: bool
    may_assign_lead: bool
    may_set_floors: bool
    may_record_outcome: bool
    lead_candidates: list[User]
    linkable_clients: list[tuple[int, str]]
    closed: bool
    bound: bool


def _linkable(viewer: User, tender: Tender, taken: set[int]) -> list[tuple[int, str]]:
    """Clients the viewer may link: his own; the head and the lead manager: any owned client
    of the team."""
    qs = Client.objects.filter(
        team_id=tender.team_id, merged_into__isnull=True, owner__isnull=False
    ).exclude(pk__in=taken)
    if not (manages_team(viewer, tender.team_id) or tender.lead_manager_id == viewer.pk):
        qs = qs.filter(owner=viewer)
    return list(qs.order_by("name").values_list("pk", "name")[:2000])


def tender_card(viewer: User, tender: Tender) -> TenderCard:
    """The tender card: lots, participants with their owners and floors, the lead manager, the
    open conflict, the proposals the viewer may see, and the forms he may use."""
    participants = list(
        TenderParticipant.objects.filter(tender=tender)
        .select_related("client", "client__owner", "owner")
        .order_by("added_at", "id")
    )
    floors_by: dict[int, list[TenderFloor]] = {}
    for f in TenderFloor.objects.filter(tender=tender).select_related("lot", "set_by"):
        f.text = tenders.describe_floor(f)  # type: ignore[attr-defined]
        floors_by.setdefault(f.participant_id, []).append(f)
    conflict = TenderConflict.objects.filter(tender=tender, resolved_at__isnull=True).first()
    owners: list[str] = []
    if conflict is not None:
        names = {u.pk: u.display_name for u in User.objects.filter(pk__in=conflict.owners)}
        owners = [names[i] for i in conflict.owners if i in names]
    may_assign = policies.can_assign_lead_manager(viewer, tender)
    return TenderCard(
        tender=tender,
        lots=list(TenderLot.objects.filter(tender=tender).order_by("number")),
        participants=[
            ParticipantRow(
                participant=p,
                floors=floors_by.get(p.pk, []),
                may_remove=policies.can_unlink_from_tender(viewer, tender, p),
            )
            for p in participants
        ],
        conflict=conflict,
        conflict_owners=owners,
        proposals=annotate(viewer, list(proposal_list(viewer, tender_id=tender.pk)[:200])),
        may_edit=policies.can_edit_tender(viewer, tender),
        may_assign_lead=may_assign,
        may_set_floors=policies.can_set_tender_floor(viewer, tender),
        may_record_outcome=policies.can_record_tender_outcome(viewer, tender),
        lead_candidates=list(
            User.objects.filter(
                team_id=tender.team_id, is_active=True, role__in=list(OWNING_ROLES)
            ).order_by("last_name", "first_name")
        )
        if may_assign
        else [],
        linkable_clients=_linkable(viewer, tender, {p.client_id for p in participants}),
        closed=tender.submission_deadline <= clock.now(),
        bound=policies.bound_by_tender_floors(viewer, tender),
    )
