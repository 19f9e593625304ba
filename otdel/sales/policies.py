"""Named yes/no questions about deals, handoffs, pipelines, the catalogue, money facts, price
floors, proposals and tenders."""

from __future__ import annotations

from otdel.clients.models import Client
from otdel.ownership.policies import can_act_on, manages_team
from otdel.people.models import Role, User
from otdel.sales.models import (
    Deal,
    FloorApproval,
    Handoff,
    HandoffStatus,
    Proposal,
    Tender,
    TenderParticipant,
)


def _active(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active)


def can_view_deal(user: User, deal: Deal) -> bool:
    """Everyone in the deal's team (and whoever manages it) sees the deal and its timeline."""
    return _active(user) and (user.team_id == deal.team_id or manages_team(user, deal.team_id))


def can_create_deal(user: User, client: Client) -> bool:
    """The client's owner or the head of sales opens a deal on an owned client (a pool client
    must be claimed first: a deal is work on a client, and only the owner works it)."""
    return (
        _active(user)
        and client.owner_id is not None
        and client.merged_into_id is None
        and can_act_on(user, client)
    )


def can_move_deal(user: User, deal: Deal) -> bool:
    """The responsible person and the head of sales move a deal."""
    return _active(user) and (deal.responsible_id == user.pk or manages_team(user, deal.team_id))


def can_change_source(user: User, deal: Deal) -> bool:
    """Only the head of sales changes a deal's source (pay depends on it)."""
    return _active(user) and manages_team(user, deal.team_id)


def can_accept_handoff(user: User, handoff: Handoff) -> bool:
    """The person it is offered to; for an offer to a role's queue, anyone of that role in the
    deal's team (but not the sender). The same people may return it."""
    if not _active(user) or handoff.status != HandoffStatus.PENDING:
        return False
    if handoff.offered_to_id is not None:
        return handoff.offered_to_id == user.pk
    return (
        user.pk != handoff.sender_id
        and user.role == handoff.offered_role
        and user.team_id == handoff.deal.team_id
    )


def can_return_handoff(user: User, handoff: Handoff) -> bool:
    """Whoever may accept a handoff may return it instead, with a reason."""
    return can_accept_handoff(user, handoff)


def can_redirect_handoff(user: User, handoff: Handoff) -> bool:
    """The sender or the head of sales offers a pending handoff to someone else (the head's
    answer to an overdue one)."""
    return (
        _active(user)
        and handoff.status == HandoffStatus.PENDING
        and (user.pk == handoff.sender_id or manages_team(user, handoff.deal.team_id))
    )


def can_edit_catalogue(user: User) -> bool:
    """The head of sales (or a director, an admin) edits categories, products and costs."""
    return _active(user) and user.is_head_of_sales


def can_see_costs(user: User) -> bool:
    """Cost prices (and so margins) are for the head of sales, not for every manager."""
    return can_edit_catalogue(user)


def can_edit_pipelines(user: User, team_id: int) -> bool:
    """The head of sales sets up his team's pipelines."""
    return _active(user) and manages_team(user, team_id)


# --- money facts: invoices, payments, shipments, 1С imports ----------------------------------

# Roles that keep the documents of every deal of their team (besides the head of sales).
_DOCUMENT_ROLES = frozenset({Role.ORDER_MANAGER, Role.DOC_CLERK})


def _keeps_documents(user: User, team_id: int) -> bool:
    return _active(user) and (
        manages_team(user, team_id) or (user.role in _DOCUMENT_ROLES and user.team_id == team_id)
    )


def can_record_money(user: User, deal: Deal) -> bool:
    """The deal's responsible person, the team's order managers and document clerks, and the
    head of sales issue invoices and record payments and shipments on a deal."""
    return _active(user) and (
        deal.responsible_id == user.pk or _keeps_documents(user, deal.team_id)
    )


def can_record_money_for_team(user: User, team_id: int) -> bool:
    """Facts not tied to a deal (a payment for a client, an allocation) are entered by the
    team's order managers and document clerks and by the head of sales."""
    return _keeps_documents(user, team_id)


def can_reverse_money(user: User, team_id: int) -> bool:
    """Credit notes, refunds and returns undo money someone may be paid on: only the team's
    order managers, document clerks and the head of sales write them."""
    return _keeps_documents(user, team_id)


def sees_all_money(user: User, team_id: int) -> bool:
    """The head of sales, order managers and document clerks see every money fact of the
    team; everyone else sees the facts of deals he is responsible for and clients he owns."""
    return _keeps_documents(user, team_id)


def can_view_money_fact(user: User, team_id: int, *, deal: Deal | None, client: Client) -> bool:
    """See `sees_all_money`; a fact of someone else looks missing."""
    if not _active(user):
        return False
    if sees_all_money(user, team_id):
        return True
    return (deal is not None and deal.responsible_id == user.pk) or client.owner_id == user.pk


def can_import_money(user: User) -> bool:
    """The head of sales and document clerks load 1С exports (they are the accounting facts)."""
    return _active(user) and (user.is_head_of_sales or user.role == Role.DOC_CLERK)


def can_resolve_import_rows(user: User) -> bool:
    """Database operators (and whoever may import) pick the client of an unmatched row."""
    return _active(user) and (can_import_money(user) or user.role == Role.DB_OPERATOR)


def can_resolve_row_of(user: User, team_id: int) -> bool:
    """...of their own team's imports (a director or an admin: any team's)."""
    return can_resolve_import_rows(user) and (
        user.team_id == team_id or manages_team(user, team_id)
    )


# --- price floors ------------------------------------------------------------------------------


def can_manage_floors(user: User, team_id: int) -> bool:
    """The head of sales sets his team's price floors."""
    return _active(user) and manages_team(user, team_id)


def can_decide_floor(user: User, approval: FloorApproval) -> bool:
    """The head of sales of the invoice's team approves or refuses a below-floor invoice."""
    return can_manage_floors(user, approval.team_id)


# --- proposals (КП / ТКП) ----------------------------------------------------------------------


def can_issue_proposal(user: User, deal: Deal) -> bool:
    """The deal's responsible person, the client's owner, the team's order managers and
    document clerks, and the head of sales write a deal's proposals, send them and record the
    client's answer."""
    return _active(user) and (
        deal.responsible_id == user.pk
        or deal.client.owner_id == user.pk
        or _keeps_documents(user, deal.team_id)
    )


def can_view_proposal(user: User, proposal: Proposal) -> bool:
    """Who sees the deal's money (see `sees_all_money`), the deal's responsible person, the
    client's owner, and the lead manager of the tender the proposal is for; anyone else finds
    it missing."""
    if not _active(user):
        return False
    if sees_all_money(user, proposal.team_id):
        return True
    if proposal.tender is not None and proposal.tender.lead_manager_id == user.pk:
        return True
    return proposal.deal.responsible_id == user.pk or proposal.client.owner_id == user.pk


# --- tenders -----------------------------------------------------------------------------------


def can_view_tender(user: User, tender: Tender) -> bool:
    """Everyone in the tender's team (and whoever manages it) sees the tender card."""
    return _active(user) and (user.team_id == tender.team_id or manages_team(user, tender.team_id))


def can_create_tender(user: User, team_id: int) -> bool:
    """Managers who keep clients, order managers and clerks of the team, and the head of sales
    register tenders."""
    if not _active(user):
        return False
    return manages_team(user, team_id) or (
        user.team_id == team_id and (user.owns_clients or user.role in _DOCUMENT_ROLES)
    )


def can_edit_tender(user: User, tender: Tender) -> bool:
    """The head of sales, the tender's lead manager and whoever registered it change its
    details and lots."""
    return _active(user) and (
        manages_team(user, tender.team_id)
        or tender.lead_manager_id == user.pk
        or tender.created_by_id == user.pk
    )


def can_link_to_tender(user: User, tender: Tender, client: Client) -> bool:
    """A client is linked to a tender (it bids) by its owner, the tender's lead manager or the
    head of sales."""
    return can_view_tender(user, tender) and (
        client.owner_id == user.pk
        or tender.lead_manager_id == user.pk
        or manages_team(user, tender.team_id)
    )


def can_unlink_from_tender(user: User, tender: Tender, participant: TenderParticipant) -> bool:
    """A participant is taken out by the client's owner (then or now), the lead manager or the
    head of sales."""
    return can_view_tender(user, tender) and (
        participant.owner_id == user.pk
        or participant.client.owner_id == user.pk
        or tender.lead_manager_id == user.pk
        or manages_team(user, tender.team_id)
    )


def can_assign_lead_manager(user: User, tender: Tender) -> bool:
    """Only the head of sales of the tender's team names its lead manager."""
    return _active(user) and manages_team(user, tender.team_id)


def can_set_tender_floor(user: User, tender: Tender) -> bool:
    """The tender's lead manager (or the head of sales) sets the participants' floors."""
    return _active(user) and (
        tender.lead_manager_id == user.pk or manages_team(user, tender.team_id)
    )


def can_record_tender_outcome(user: User, tender: Tender) -> bool:
    """The tender's lead manager records how it ended; the head of sales too, and only he
    corrects a result already recorded."""
    if not _active(user):
        return False
    if manages_team(user, tender.team_id):
        return True
    return tender.lead_manager_id == user.pk and tender.outcome == "open"


def bound_by_tender_floors(user: User, tender: Tender) -> bool:
    """Everyone's proposals for a tender respect the floors the lead manager set, except his
    own and the head of sales'."""
    return not (tender.lead_manager_id == user.pk or manages_team(user, tender.team_id))
