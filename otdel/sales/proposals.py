"""Proposals (КП / ТКП): written from a deal, sent, answered, revised, invoiced.

- Lines are priced by the invoice rule (money_facts.invoice_lines → sales.money.line: each line
  rounded half-up to the kopeck once, totals are sums of lines), so an invoice issued from a
  proposal has exactly its amounts.
- Where a proposal may go is data (MOVES: action → the statuses it leaves from → the status it
  reaches); `_move` is the one place a status changes, as a conditional UPDATE on the statuses
  allowed, so two people answering at once cannot both win, and a refused move changes nothing.
- Only a draft's lines change. A sent (declined, expired) proposal is revised: the next revision
  is a new draft linked to it, and sending that revision supersedes it.
- Price floors hold a draft below its floor for the head of sales (sales.floors); a proposal for
  a tender must also respect the floor the tender's lead manager set (sales.tenders.check_bid).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import BaseModel, ConfigDict, Field

from otdel.audit.services import record
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
from otdel.people.models import User
from otdel.sales import floors, money, money_facts, policies, tenders
from otdel.sales.events import write_event
from otdel.sales.models import (
    Deal,
    DealEventKind,
    FloorApprovalStatus,
    Invoice,
    Proposal,
    ProposalKind,
    ProposalLine,
    ProposalStatus,
)
from otdel.sales.schemas import InvoiceIn, InvoiceLineIn

ZERO = money.ZERO
# How long a proposal stays valid when the writer does not say.
DEFAULT_VALIDITY_DAYS = 14

S = ProposalStatus
# action → (the statuses it may leave from, the status it reaches). The one table of moves.
MOVES: dict[str, tuple[frozenset[str], str]] = {
    "send": (frozenset({S.DRAFT}), S.SENT),
    "accept": (frozenset({S.SENT}), S.ACCEPTED),
    "decline": (frozenset({S.SENT}), S.DECLINED),
    "expire": (frozenset({S.SENT}), S.EXPIRED),
    "cancel": (frozenset({S.DRAFT}), S.CANCELLED),
    # Sending the next revision replaces this one (an accepted proposal is never replaced).
    "supersede": (frozenset({S.SENT, S.DECLINED, S.EXPIRED}), S.SUPERSEDED),
}
# A sent proposal is changed by a new revision; these may be revised.
REVISABLE = frozenset({S.SENT, S.DECLINED, S.EXPIRED})
# What people do by hand (the rest happen to a proposal: expiry, replacement by a revision).
HAND_ACTIONS = ("send", "accept", "decline", "cancel")

# Why a move is refused, per action (the current status is put in).
REFUSALS = {
    "send": gettext_lazy("A proposal that is «%(status)s» cannot be sent."),
    "accept": gettext_lazy("A proposal that is «%(status)s» cannot be accepted."),
    "decline": gettext_lazy("A proposal that is «%(status)s» cannot be declined."),
    "expire": gettext_lazy("A proposal that is «%(status)s» does not expire."),
    "cancel": gettext_lazy("A proposal that is «%(status)s» cannot be cancelled: only a draft is."),
    "supersede": gettext_lazy("A proposal that is «%(status)s» cannot be replaced."),
}


class ProposalIn(BaseModel):
    """A proposal as written (a new one, a draft's new content, or a revision's): lines as on
    an invoice; `valid_until` empty: two weeks from today."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["kp", "tkp"] = "kp"
    lines: list[InvoiceLineIn] = Field(min_length=1, max_length=500)
    valid_until: dt.date | None = None
    terms: str = Field("", max_length=5000)
    technical_part: str = Field("", max_length=20000)
    comment: str = Field("", max_length=500)
    tender_id: int | None = None
    lot_id: int | None = None


def short_kind(kind: str) -> str:
    """КП or ТКП in Russian (CP / TCP in English)."""
    return _("TCP") if kind == ProposalKind.TECHNICAL else _("CP")


def can_move(status: str, action: str) -> bool:
    """Whether `action` applies to a proposal in `status` (MOVES)."""
    sources, _target = MOVES[action]
    return status in sources


def actions_for(status: str) -> list[str]:
    """The hand actions a proposal in this status allows (for the UI and the API)."""
    return [a for a in HAND_ACTIONS if can_move(status, a)]


def effective_status(proposal: Proposal, today: dt.date | None = None) -> str:
    """The status to show: a sent proposal whose validity passed is expired even before the
    expiry sweep (expire_overdue_proposals) writes it."""
    today = today or clock.today()
    if proposal.status == S.SENT and proposal.valid_until < today:
        return S.EXPIRED
    return proposal.status


def _refuse_move(proposal: Proposal, action: str) -> Conflict:
    current = Proposal.objects.filter(pk=proposal.pk).values_list("status", flat=True).first()
    label = S(current).label if current in S.values else current
    return Conflict(
        str(REFUSALS[action]) % {"status": label},
        code="illegal_move",
        status=current,
        action=action,
    )


# The moves of a proposal that go on its deal's timeline.
ON_TIMELINE = {
    "send": DealEventKind.PROPOSAL_SENT,
    "accept": DealEventKind.PROPOSAL_ACCEPTED,
    "decline": DealEventKind.PROPOSAL_DECLINED,
}


def _move(proposal: Proposal, action: str, *, actor: User | None, **fields: Any) -> None:
    """Move a proposal by MOVES, as one conditional UPDATE; refused (Conflict) when it is no
    longer in a status the action leaves from."""
    sources, target = MOVES[action]
    now = clock.now()
    done = Proposal.objects.filter(pk=proposal.pk, status__in=sources).update(
        status=target, updated_at=now, **fields
    )
    if not done:
        raise _refuse_move(proposal, action)
    before = proposal.status
    proposal.status = target
    for name, value in fields.items():
        setattr(proposal, name, value)
    record(
        actor=actor,
        verb=f"proposal.{action}",
        obj=proposal,
        data={
            "from": before,
            "to": target,
            **{k: v.pk if hasattr(v, "pk") else str(v) for k, v in fields.items()},
        },
    )
    if action in ON_TIMELINE:
        # The client's answers and what was offered belong to the deal's story.
        write_event(
            proposal.deal,
            ON_TIMELINE[action],
            actor=actor,
            at=now,
            data={
                "proposal_id": proposal.pk,
                "number": proposal.number,
                "revision": proposal.revision,
                "total": str(proposal.total),
                "currency": proposal.currency,
                "reason": str(fields.get("reason", "")),
            },
        )


# --- reading what an actor may act on ----------------------------------------------------------


def _deal_for_proposals(deal_id: int, actor: User) -> Deal:
    deal = Deal.objects.select_related("client", "team").filter(pk=deal_id).first()
    if deal is None or not policies.can_view_deal(actor, deal):
        raise NotFound(_("Deal not found."), code="deal_not_found")
    if not policies.can_issue_proposal(actor, deal):
        raise Forbidden(
            _(
                "Proposals of a deal are written by its responsible person, the client's "
                "owner, order managers, document clerks and the head of sales."
            ),
            code="cannot_issue_proposal",
        )
    return deal


def _visible(proposal_id: int, actor: User) -> Proposal:
    proposal = (
        Proposal.objects.select_related("deal", "deal__client", "client", "tender", "lot")
        .filter(pk=proposal_id)
        .first()
    )
    if proposal is None or not policies.can_view_proposal(actor, proposal):
        raise NotFound(_("Proposal not found."), code="proposal_not_found")
    return proposal


def _for_action(proposal_id: int, actor: User) -> Proposal:
    proposal = _visible(proposal_id, actor)
    if not policies.can_issue_proposal(actor, proposal.deal):
        raise Forbidden(
            _(
                "Proposals of a deal are written by its responsible person, the client's "
                "owner, order managers, document clerks and the head of sales."
            ),
            code="cannot_issue_proposal",
        )
    return proposal


def _lock(proposal: Proposal) -> None:
    """A row lock on the proposal (PostgreSQL; SQLite's IMMEDIATE transaction holds the
    database) so checks and the write see the same row."""
    list(Proposal.objects.select_for_update().filter(pk=proposal.pk).values("pk"))
    proposal.refresh_from_db()


# --- writing the content -----------------------------------------------------------------------


def _valid_until(day: dt.date | None) -> dt.date:
    today = clock.today()
    if day is None:
        return today + dt.timedelta(days=DEFAULT_VALIDITY_DAYS)
    if day < today:
        raise Invalid(
            _("A proposal cannot be valid until a day that has passed."),
            code="validity_passed",
            field="valid_until",
        )
    return day


def _totals(rows: list[money_facts.InvoiceLineRow]) -> dict[str, Decimal]:
    return {
        "net_total": sum((r.amounts.net for r in rows), ZERO),
        "vat_total": sum((r.amounts.vat for r in rows), ZERO),
        "total": sum((r.amounts.total for r in rows), ZERO),
    }


def _write_lines(proposal: Proposal, rows: list[money_facts.InvoiceLineRow]) -> None:
    ProposalLine.objects.bulk_create(
        ProposalLine(
            proposal=proposal,
            position=i,
            product_id=r.product_id,
            description=r.description,
            quantity=r.quantity,
            unit_price=r.unit_price,
            discount_percent=r.discount_percent,
            vat_rate=r.vat_rate,
            net_amount=r.amounts.net,
            vat_amount=r.amounts.vat,
            total_amount=r.amounts.total,
        )
        for i, r in enumerate(rows, start=1)
    )


def _content(data: ProposalIn) -> dict[str, Any]:
    return {
        "kind": data.kind,
        "terms": data.terms,
        "technical_part": data.technical_part,
        "comment": data.comment,
    }


def _tender_checked(
    deal: Deal,
    data: ProposalIn,
    rows: list[money_facts.InvoiceLineRow],
    *,
    actor: User,
    lock: bool = False,
) -> tuple[Any, Any]:
    """The tender and lot the proposal is for (None, None: not for a tender), after the bid's
    checks: the client takes part, the lot belongs to the tender, the price is within the
    lot's maximum and, for anyone but the lead manager and the head, above the floor the lead
    manager set for this client."""
    if data.tender_id is None:
        if data.lot_id is not None:
            raise Invalid(_("Choose the tender of the lot."), code="lot_without_tender")
        return None, None
    tender, lot = tenders.link_for_proposal(data.tender_id, data.lot_id, deal=deal, lock=lock)
    tenders.check_bid(
        tender,
        lot,
        client_id=deal.client_id,
        bid=tenders.Bid.of_rows(rows),
        actor=actor,
    )
    return tender, lot


def create_proposal(deal_id: int, data: ProposalIn, *, actor: User) -> Proposal:
    """A draft proposal from a deal by someone who may act on it: lines priced as invoice lines,
    our number, valid two weeks unless said; lines below their price floor hold it for the head
    of sales; for a tender, the lead manager's floor must be respected (else nothing is
    written)."""
    deal = _deal_for_proposals(deal_id, actor)
    if deal.is_closed:
        raise Conflict(
            _("The deal is closed: open a new deal to make a proposal."), code="deal_closed"
        )
    rows = money_facts.invoice_lines(data.lines)
    valid_until = _valid_until(data.valid_until)
    now = clock.now()
    with transaction.atomic():
        tender, lot = _tender_checked(deal, data, rows, actor=actor, lock=True)
        proposal = Proposal.objects.create(
            team_id=deal.team_id,
            deal=deal,
            client_id=deal.client_id,
            valid_until=valid_until,
            currency=deal.currency,
            tender=tender,
            lot=lot,
            created_by=actor,
            created_at=now,
            updated_at=now,
            **_content(data),
            **_totals(rows),
        )
        # Our numbering: the year and the first revision's id, unique without a counter.
        proposal.number = f"{clock.today():%Y}-{proposal.pk:06d}"
        Proposal.objects.filter(pk=proposal.pk).update(number=proposal.number)
        _write_lines(proposal, rows)
        floors.hold_proposal_if_below_floor(proposal, rows, actor=actor)
        record(
            actor=actor,
            verb="proposal.created",
            obj=proposal,
            data={
                "deal": deal.pk,
                "number": proposal.number,
                "kind": proposal.kind,
                "total": str(proposal.total),
                "tender": tender.pk if tender else None,
                "lot": lot.pk if lot else None,
            },
        )
    return proposal


def update_proposal(proposal_id: int, data: ProposalIn, *, actor: User) -> Proposal:
    """A draft gets new content (its lines are replaced); a sent proposal is never changed:
    that is a new revision. The price floors are checked again for the new lines."""
    proposal = _for_action(proposal_id, actor)
    rows = money_facts.invoice_lines(data.lines)
    valid_until = _valid_until(data.valid_until)
    with transaction.atomic():
        _lock(proposal)
        if proposal.status != S.DRAFT:
            raise Conflict(
                _("A sent proposal is never changed: make a new revision of it."),
                code="not_a_draft",
                status=proposal.status,
            )
        tender, lot = _tender_checked(proposal.deal, data, rows, actor=actor, lock=True)
        changed = Proposal.objects.filter(pk=proposal.pk, status=S.DRAFT).update(
            valid_until=valid_until,
            tender=tender,
            lot=lot,
            updated_at=clock.now(),
            **_content(data),
            **_totals(rows),
        )
        if not changed:
            raise Conflict(
                _("A sent proposal is never changed: make a new revision of it."),
                code="not_a_draft",
            )
        ProposalLine.objects.filter(proposal_id=proposal.pk).delete()
        proposal.refresh_from_db()
        _write_lines(proposal, rows)
        floors.hold_proposal_if_below_floor(proposal, rows, actor=actor)
        record(
            actor=actor,
            verb="proposal.changed",
            obj=proposal,
            data={"total": str(proposal.total), "lines": len(rows)},
        )
    return proposal


def line_inputs(proposal: Proposal) -> list[InvoiceLineIn]:
    """The proposal's lines as line input (for its next revision or its invoice): the same
    product, quantity, price, discount and VAT, so the same rounded amounts."""
    return [
        InvoiceLineIn(
            product_id=ln.product_id,
            description=ln.description,
            quantity=ln.quantity,
            unit_price=ln.unit_price,
            discount_percent=ln.discount_percent,
            vat_rate=ln.vat_rate,
            without_vat=ln.vat_rate is None,
        )
        for ln in ProposalLine.objects.filter(proposal=proposal).order_by("position", "id")
    ]


def content_of(proposal: Proposal) -> ProposalIn:
    """What a proposal says, as input (a revision starts from it)."""
    today = clock.today()
    return ProposalIn(
        kind=proposal.kind,
        lines=line_inputs(proposal),
        valid_until=proposal.valid_until
        if proposal.valid_until >= today
        else today + dt.timedelta(days=DEFAULT_VALIDITY_DAYS),
        terms=proposal.terms,
        technical_part=proposal.technical_part,
        comment=proposal.comment,
        tender_id=proposal.tender_id,
        lot_id=proposal.lot_id,
    )


def revise_proposal(proposal_id: int, *, actor: User, data: ProposalIn | None = None) -> Proposal:
    """The next revision of a sent (declined, expired) proposal: a new draft with the next
    revision number, linked to it, with the content given or a copy of its own. The proposal
    itself does not change until the revision is sent. One revision per proposal."""
    old = _for_action(proposal_id, actor)
    with transaction.atomic():
        _lock(old)
        if old.status not in REVISABLE:
            if old.status == S.DRAFT:
                message = _("A draft is changed as it is; revisions are made of sent proposals.")
            elif old.status == S.ACCEPTED:
                message = _("The client accepted this proposal: it is final. Issue an invoice.")
            elif old.status == S.SUPERSEDED:
                message = _("This revision was replaced: revise the latest one.")
            else:
                message = _("A cancelled proposal is not revised: write a new one.")
            raise Conflict(message, code="cannot_revise", status=old.status)
        content = data if data is not None else content_of(old)
        rows = money_facts.invoice_lines(content.lines)
        valid_until = _valid_until(content.valid_until)
        tender, lot = _tender_checked(old.deal, content, rows, actor=actor, lock=True)
        now = clock.now()
        try:
            with transaction.atomic():
                new = Proposal.objects.create(
                    team_id=old.team_id,
                    deal_id=old.deal_id,
                    client_id=old.client_id,
                    number=old.number,
                    revision=old.revision + 1,
                    previous=old,
                    valid_until=valid_until,
                    currency=old.currency,
                    tender=tender,
                    lot=lot,
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                    **_content(content),
                    **_totals(rows),
                )
        except IntegrityError:
            existing = Proposal.objects.filter(previous=old).values_list("pk", flat=True).first()
            raise Conflict(
                _("This proposal already has a next revision."),
                code="already_revised",
                revision_id=existing,
            ) from None
        _write_lines(new, rows)
        floors.hold_proposal_if_below_floor(new, rows, actor=actor)
        record(
            actor=actor,
            verb="proposal.revised",
            obj=new,
            data={"previous": old.pk, "revision": new.revision, "total": str(new.total)},
        )
    return new


# --- moves ---------------------------------------------------------------------------------------


def send_proposal(proposal_id: int, *, actor: User) -> Proposal:
    """A draft goes to the client: not while it is held below its price floor (or refused),
    not with a validity date that passed, not for a tender whose bids closed, whose conflict
    waits for a lead manager, or below the lead manager's floor. Sending a revision replaces
    the previous one (unless the client accepted that one meanwhile)."""
    proposal = _for_action(proposal_id, actor)
    with transaction.atomic():
        _lock(proposal)
        if not can_move(proposal.status, "send"):
            raise _refuse_move(proposal, "send")
        hold = floors.proposal_hold(proposal)
        if hold is not None and hold.status == FloorApprovalStatus.PENDING:
            raise Conflict(
                _(
                    "The proposal is below the price floor: it is sent once the head of sales "
                    "approves the prices."
                ),
                code="awaiting_floor_approval",
                approval_id=hold.pk,
            )
        if hold is not None:
            raise Conflict(
                _("The head of sales refused these prices (%(note)s): change the draft.")
                % {"note": hold.note},
                code="floor_refused",
                approval_id=hold.pk,
            )
        if proposal.valid_until < clock.today():
            raise Invalid(
                _("The proposal's validity date has passed: set a new one before sending."),
                code="validity_passed",
                field="valid_until",
            )
        if proposal.tender_id is not None:
            tender = tenders.lock_tender(proposal.tender_id)
            tenders.check_can_bid_now(tender, actor=actor)
            tenders.check_bid(
                tender,
                proposal.lot,
                client_id=proposal.client_id,
                bid=tenders.Bid.of_proposal(proposal),
                actor=actor,
            )
        if proposal.previous_id is not None:
            previous = Proposal.objects.get(pk=proposal.previous_id)
            if not can_move(previous.status, "supersede"):
                raise Conflict(
                    _("The previous revision is «%(status)s»: this revision cannot replace it.")
                    % {"status": S(previous.status).label},
                    code="previous_not_replaceable",
                    status=previous.status,
                )
            _move(previous, "supersede", actor=actor)
        _move(proposal, "send", actor=actor, sent_by=actor, sent_at=clock.now())
    return proposal


def accept_proposal(proposal_id: int, *, actor: User, note: str = "") -> Proposal:
    """The client accepted a sent proposal (still valid): an invoice may be issued from it."""
    proposal = _for_action(proposal_id, actor)
    with transaction.atomic():
        _lock(proposal)
        if not can_move(proposal.status, "accept"):
            raise _refuse_move(proposal, "accept")
        if proposal.valid_until < clock.today():
            raise Conflict(
                _(
                    "The proposal was valid until %(date)s: make a new revision to offer these "
                    "prices again."
                )
                % {"date": f"{proposal.valid_until:%d.%m.%Y}"},
                code="proposal_expired",
            )
        _move(
            proposal,
            "accept",
            actor=actor,
            answered_by=actor,
            answered_at=clock.now(),
            reason=note.strip()[:500],
        )
    return proposal


def decline_proposal(proposal_id: int, *, actor: User, reason: str) -> Proposal:
    """The client declined a sent proposal; why is recorded (a revision may follow)."""
    proposal = _for_action(proposal_id, actor)
    if not reason.strip():
        raise Invalid(_("Say why the client declined."), code="reason_required", field="reason")
    with transaction.atomic():
        _move(
            proposal,
            "decline",
            actor=actor,
            answered_by=actor,
            answered_at=clock.now(),
            reason=reason.strip()[:500],
        )
    return proposal


def cancel_proposal(proposal_id: int, *, actor: User, reason: str = "") -> Proposal:
    """A draft that will not be sent; a request for the head of sales about it is withdrawn."""
    proposal = _for_action(proposal_id, actor)
    with transaction.atomic():
        _move(
            proposal,
            "cancel",
            actor=actor,
            answered_by=actor,
            answered_at=clock.now(),
            reason=reason.strip()[:500],
        )
        floors.withdraw_proposal_hold(proposal, actor=actor)
    return proposal


def expire_overdue_proposals() -> int:
    """Sent proposals whose validity passed become expired, in one UPDATE (idempotent, safe on
    several workers); one audit event per run."""
    sources, target = MOVES["expire"]
    now = clock.now()
    with transaction.atomic():
        count = Proposal.objects.filter(status__in=sources, valid_until__lt=clock.today()).update(
            status=target, updated_at=now
        )
        if count:
            record(actor=None, verb="proposal.expired", data={"count": count})
    return int(count)


# --- the invoice ----------------------------------------------------------------------------------


def invoice_from_proposal(
    proposal_id: int,
    *,
    actor: User,
    number: str = "",
    issued_on: dt.date | None = None,
) -> Invoice:
    """An invoice issued from an accepted proposal through the invoice service (who may issue
    it, numbering, the price floor): its lines are the proposal's, so are its amounts. One
    invoice per proposal; the head's approval of the proposal's prices covers the invoice."""
    proposal = _visible(proposal_id, actor)
    data = InvoiceIn(
        lines=line_inputs(proposal),
        number=number.strip(),
        issued_on=issued_on,
        external_id=f"proposal-{proposal.pk}",
        comment=_("From proposal № %(number)s (revision %(revision)s)")
        % {"number": proposal.number, "revision": proposal.revision},
    )
    with transaction.atomic():
        _lock(proposal)
        if proposal.status != S.ACCEPTED:
            raise Conflict(
                _("An invoice is issued from a proposal the client accepted."),
                code="not_accepted",
                status=proposal.status,
            )
        if proposal.invoice_id is not None:
            raise Conflict(
                _("An invoice was already issued from this proposal."),
                code="already_invoiced",
                invoice_id=proposal.invoice_id,
            )
        approval = getattr(proposal, "floor_approval", None)
        with floors.approved_with(approval):
            invoice = money_facts.issue_invoice(proposal.deal_id, data, actor=actor)
        linked = Proposal.objects.filter(pk=proposal.pk, invoice__isnull=True).update(
            invoice=invoice
        )
        if not linked:
            raise Conflict(
                _("An invoice was already issued from this proposal."), code="already_invoiced"
            )
        proposal.invoice = invoice
        record(
            actor=actor,
            verb="proposal.invoiced",
            obj=proposal,
            data={"invoice": invoice.pk, "number": invoice.number, "total": str(invoice.total)},
        )
    return invoice
