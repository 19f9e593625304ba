"""Price floors: which floor applies to a person and a category, which invoice or proposal
lines fall below it (as data: rule, value, limit), and the head of sales' decision on them.

An invoice below its floor is stored (it is a fact: the person issued it) and held: it gets a
FloorApproval awaiting the head of sales, and no payment is allocated to it until he approves.
A proposal is held the same way while it is a draft, and cannot be sent until he approves; its
request follows the draft's lines (rewritten when the draft changes). A document the head
writes himself is approved by him as it is written. An invoice issued from a proposal the head
approved carries that approval (he already approved those prices).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from functools import partial
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from otdel.audit.services import record
from otdel.core import clock
from otdel.core.errors import Forbidden, Invalid, NotFound
from otdel.people.models import Role, User
from otdel.people.selectors import heads_of_team
from otdel.people.services import notify
from otdel.sales import policies
from otdel.sales.models import (
    FloorApproval,
    FloorApprovalStatus,
    Invoice,
    PriceFloor,
    Product,
    ProductCategory,
    Proposal,
)

HUNDRED = Decimal(100)
CENT = Decimal("0.01")


# --- which floor ------------------------------------------------------------------------------


def _specificity(floor: PriceFloor) -> tuple[int, int]:
    return (2 if floor.person_id else 1 if floor.role else 0, 1 if floor.category_id else 0)


def floor_for(floors: Iterable[PriceFloor], *, person: User, category_id: int | None) -> Any:
    """The most specific floor for this person and category: his own over his role's over the
    team's; for his category over for every category. None: no floor."""
    applicable = [
        f
        for f in floors
        if (f.person_id is None or f.person_id == person.pk)
        and (not f.role or f.role == person.role)
        and (f.category_id is None or f.category_id == category_id)
    ]
    return max(applicable, key=_specificity, default=None)


def breaches_of(
    lines: Iterable[Any], *, person: User, team_id: int, at: dt.datetime
) -> list[dict[str, Any]]:
    """The invoice lines below their floor, each with the rule it breaks and by how much.
    `lines` have product_id, unit_price and discount_percent (money_facts.InvoiceLineRow)."""
    from otdel.sales.money_facts import costs_at

    lines = [ln for ln in lines if ln.product_id]
    floors = list(PriceFloor.objects.filter(team_id=team_id))
    if not floors or not lines:
        return []
    products = {
        p.pk: p
        for p in Product.objects.filter(pk__in={ln.product_id for ln in lines}).only(
            "pk", "name", "category_id"
        )
    }
    costs = costs_at((ln.product_id, at) for ln in lines)
    found: list[dict[str, Any]] = []
    for position, ln in enumerate(lines, start=1):
        product = products[ln.product_id]
        floor = floor_for(floors, person=person, category_id=product.category_id)
        if floor is None:
            continue
        base = {"position": position, "product": product.name, "floor": floor.pk}
        discount = Decimal(ln.discount_percent or 0)
        if floor.max_discount_percent is not None and discount > floor.max_discount_percent:
            found.append(
                {
                    **base,
                    "rule": "discount",
                    "value": str(discount),
                    "limit": str(floor.max_discount_percent),
                }
            )
        if floor.min_margin_percent is None:
            continue
        net = Decimal(ln.unit_price) * (HUNDRED - discount) / HUNDRED
        cost = costs.get((ln.product_id, at))
        if cost is None:
            # No cost price known: the margin cannot be shown to be above the floor.
            found.append({**base, "rule": "no_cost", "limit": str(floor.min_margin_percent)})
            continue
        margin = ((net - cost[0]) * HUNDRED / net).quantize(CENT) if net > 0 else -HUNDRED
        if margin < floor.min_margin_percent:
            found.append(
                {
                    **base,
                    "rule": "margin",
                    "value": str(margin),
                    "limit": str(floor.min_margin_percent),
                }
            )
    return found


def describe(breach: dict[str, Any]) -> str:
    """A breach as a sentence in the active language."""
    if breach.get("rule") == "discount":
        return _("line %(n)s (%(product)s): discount %(value)s%% over the allowed %(limit)s%%") % {
            "n": breach.get("position"),
            "product": breach.get("product"),
            "value": breach.get("value"),
            "limit": breach.get("limit"),
        }
    if breach.get("rule") == "no_cost":
        return _(
            "line %(n)s (%(product)s): no cost price is known, the margin cannot be checked "
            "against the floor of %(limit)s%%"
        ) % {
            "n": breach.get("position"),
            "product": breach.get("product"),
            "limit": breach.get("limit"),
        }
    return _("line %(n)s (%(product)s): margin %(value)s%% under the floor of %(limit)s%%") % {
        "n": breach.get("position"),
        "product": breach.get("product"),
        "value": breach.get("value"),
        "limit": breach.get("limit"),
    }


# --- holding an invoice -------------------------------------------------------------------------


# The approval an invoice being issued from a proposal carries (see `approved_with`).
_carried: ContextVar[FloorApproval | None] = ContextVar(
    "otdel_carried_floor_approval", default=None
)


@contextmanager
def approved_with(approval: FloorApproval | None) -> Iterator[None]:
    """While an invoice is issued from a proposal the head approved below its floor, the
    invoice's own hold is approved with that approval instead of asking him again."""
    token = _carried.set(approval)
    try:
        yield
    finally:
        _carried.reset(token)


def hold_if_below_floor(invoice: Invoice, lines: Iterable[Any], *, actor: User) -> Any:
    """Called by issue_invoice inside its transaction: an invoice with lines below their floor
    waits for the head of sales (approved at once when he issued it himself, or when it comes
    from a proposal he approved). Returns the FloorApproval, or None when every line is above
    its floor."""
    now = clock.now()
    breaches = breaches_of(lines, person=actor, team_id=invoice.team_id, at=now)
    if not breaches:
        return None
    by_head = policies.can_manage_floors(actor, invoice.team_id)
    carried = _carried.get()
    if carried is not None and carried.status != FloorApprovalStatus.APPROVED:
        carried = None
    decider = actor if by_head else (carried.decided_by if carried is not None else None)
    if by_head:
        note = _("issued by the head of sales")
    elif carried is not None and carried.proposal is not None:
        note = _("approved with proposal %(number)s") % {"number": carried.proposal.number}
    else:
        note = ""
    approval = FloorApproval.objects.create(
        invoice=invoice,
        team_id=invoice.team_id,
        breaches=breaches,
        status=FloorApprovalStatus.APPROVED if decider else FloorApprovalStatus.PENDING,
        requested_by=actor,
        requested_at=now,
        decided_by=decider,
        decided_at=now if decider else None,
        note=note,
    )
    record(
        actor=actor,
        verb="invoice.below_floor",
        obj=invoice,
        data={
            "breaches": breaches,
            "status": approval.status,
            **({"carried_from": carried.pk} if carried is not None else {}),
        },
    )
    if decider is None:
        transaction.on_commit(
            partial(
                notify,
                heads_of_team(invoice.team_id, or_directors=False),
                kind="floor_approval",
                text=_("Invoice %(number)s is below the price floor and needs your approval.")
                % {"number": invoice.number},
                client_id=invoice.client_id,
                url="/head/price-approvals/",
            )
        )
    return approval


def hold_proposal_if_below_floor(
    proposal: Proposal, lines: Iterable[Any], *, actor: User
) -> FloorApproval | None:
    """Called whenever a draft proposal's lines are written: lines below their floor (for the
    person writing it) hold the draft for the head of sales; the request follows the draft,
    so a changed draft asks again (a decision on other prices does not cover new ones), and a
    draft with no line below its floor any more withdraws the request. Returns the approval
    in force, or None."""
    now = clock.now()
    breaches = breaches_of(lines, person=actor, team_id=proposal.team_id, at=now)
    existing = FloorApproval.objects.filter(proposal=proposal).first()
    if not breaches:
        if existing is not None and existing.status != FloorApprovalStatus.WITHDRAWN:
            FloorApproval.objects.filter(pk=existing.pk).update(
                status=FloorApprovalStatus.WITHDRAWN, decided_by=None, decided_at=now, note=""
            )
            record(
                actor=actor,
                verb="proposal.floor_withdrawn",
                obj=proposal,
                data={"was": existing.status},
            )
        return None
    by_head = policies.can_manage_floors(actor, proposal.team_id)
    values: dict[str, Any] = {
        "team_id": proposal.team_id,
        "breaches": breaches,
        "status": FloorApprovalStatus.APPROVED if by_head else FloorApprovalStatus.PENDING,
        "requested_by": actor,
        "requested_at": now,
        "decided_by": actor if by_head else None,
        "decided_at": now if by_head else None,
        "note": _("written by the head of sales") if by_head else "",
    }
    if existing is None:
        approval = FloorApproval.objects.create(proposal=proposal, **values)
    else:
        # The earlier request and its decision stay in the audit trail (proposal.floor_*).
        FloorApproval.objects.filter(pk=existing.pk).update(**values)
        approval = FloorApproval.objects.get(pk=existing.pk)
    record(
        actor=actor,
        verb="proposal.below_floor",
        obj=proposal,
        data={"breaches": breaches, "status": approval.status},
    )
    if not by_head:
        transaction.on_commit(
            partial(
                notify,
                heads_of_team(proposal.team_id, or_directors=False),
                kind="floor_approval",
                text=_("Proposal %(number)s is below the price floor and needs your approval.")
                % {"number": proposal.number},
                client_id=proposal.client_id,
                url="/head/price-approvals/",
            )
        )
    return approval


def withdraw_proposal_hold(proposal: Proposal, *, actor: User) -> None:
    """A cancelled draft needs no decision any more: its pending request is withdrawn."""
    done = FloorApproval.objects.filter(
        proposal=proposal, status=FloorApprovalStatus.PENDING
    ).update(status=FloorApprovalStatus.WITHDRAWN, decided_at=clock.now())
    if done:
        record(actor=actor, verb="proposal.floor_withdrawn", obj=proposal, data={"was": "pending"})


def proposal_hold(proposal: Proposal) -> FloorApproval | None:
    """The request holding a proposal: awaiting the head, or refused by him (None: free to
    send, because no line is below its floor or the head approved the prices)."""
    return (
        FloorApproval.objects.filter(
            proposal=proposal,
            status__in=[FloorApprovalStatus.PENDING, FloorApprovalStatus.REFUSED],
        )
        .select_related("decided_by")
        .first()
    )


def unapproved(invoice_ids: Iterable[int]) -> list[int]:
    """Of these invoices, the ones held below their floor (awaiting or refused)."""
    return list(
        FloorApproval.objects.filter(invoice_id__in=list(invoice_ids))
        .exclude(status=FloorApprovalStatus.APPROVED)
        .values_list("invoice_id", flat=True)
    )


# --- the head's decision ------------------------------------------------------------------------


def _decide(approval_id: int, *, actor: User, status: str, note: str) -> FloorApproval:
    approval = (
        FloorApproval.objects.select_related("invoice", "proposal").filter(pk=approval_id).first()
    )
    if approval is None or not policies.can_decide_floor(actor, approval):
        if approval is not None and actor.team_id == approval.team_id:
            raise Forbidden(
                _("Only the head of sales approves prices below the floor."),
                code="not_head_of_sales",
            )
        raise NotFound(_("Approval request not found."), code="approval_not_found")
    if status == FloorApprovalStatus.REFUSED and not note.strip():
        raise Invalid(_("Say why the price is refused."), code="reason_required", field="note")
    with transaction.atomic():
        now = clock.now()
        # Only a pending request is decided, once: two heads clicking at once cannot both win.
        done = FloorApproval.objects.filter(
            pk=approval.pk, status=FloorApprovalStatus.PENDING
        ).update(status=status, decided_by=actor, decided_at=now, note=note.strip())
        if not done:
            raise Invalid(_("This request has already been decided."), code="already_decided")
        document = approval.document
        is_invoice = approval.invoice_id is not None
        record(
            actor=actor,
            verb=f"{'invoice' if is_invoice else 'proposal'}.floor_{status}",
            obj=document,
            data={"note": note.strip(), "breaches": approval.breaches},
        )
        approval.refresh_from_db()
        if is_invoice:
            text = (
                _("The price of invoice %(number)s is approved.")
                if status == FloorApprovalStatus.APPROVED
                else _("The price of invoice %(number)s is refused: %(note)s")
            )
        else:
            text = (
                _("The price of proposal %(number)s is approved: it may be sent.")
                if status == FloorApprovalStatus.APPROVED
                else _("The price of proposal %(number)s is refused: %(note)s")
            )
        transaction.on_commit(
            partial(
                notify,
                [approval.requested_by_id],
                kind="floor_decision",
                text=text % {"number": document.number, "note": note.strip()},
                client_id=document.client_id,
                url="" if is_invoice else f"/proposals/{document.pk}/",
            )
        )
    return approval


def approve_below_floor(approval_id: int, *, actor: User, note: str = "") -> FloorApproval:
    """The head of sales approves an invoice (or a proposal) below its price floor; payments
    may then be allocated to the invoice, the proposal may be sent."""
    return _decide(approval_id, actor=actor, status=FloorApprovalStatus.APPROVED, note=note)


def refuse_below_floor(approval_id: int, *, actor: User, note: str) -> FloorApproval:
    """The head of sales refuses an invoice (or a proposal) below its price floor, saying why;
    the invoice receives no payment (a credit note cancels it), the proposal is not sent
    until its draft is changed."""
    return _decide(approval_id, actor=actor, status=FloorApprovalStatus.REFUSED, note=note)


# --- setting floors -----------------------------------------------------------------------------


def set_floor(
    team_id: int,
    *,
    actor: User,
    category_id: int | None = None,
    role: str = "",
    person_id: int | None = None,
    min_margin_percent: Decimal | None = None,
    max_discount_percent: Decimal | None = None,
) -> PriceFloor:
    """The head of sales sets the floor for a category (or all) and the team, a role or a
    person; it replaces the floor he set before for the same category and people."""
    if not policies.can_manage_floors(actor, team_id):
        raise Forbidden(_("Only the head of sales sets price floors."), code="not_head_of_sales")
    if min_margin_percent is None and max_discount_percent is None:
        raise Invalid(
            _("Set a minimum margin, a maximum discount or both."), code="floor_without_limit"
        )
    for value, field in (
        (min_margin_percent, "min_margin_percent"),
        (max_discount_percent, "max_discount_percent"),
    ):
        if value is not None and not (Decimal(-100) <= value <= HUNDRED):
            raise Invalid(
                _("A percentage is between -100 and 100."), code="invalid_percent", field=field
            )
    if role and person_id:
        raise Invalid(_("A floor is for a role or for a person, not both."), code="role_or_person")
    if role and role not in Role.values:
        raise Invalid(_("Unknown role."), code="invalid_role", field="role")
    if person_id and not User.objects.filter(pk=person_id, team_id=team_id).exists():
        raise Invalid(
            _("The person is not in this team."), code="invalid_person", field="person_id"
        )
    if category_id and not ProductCategory.objects.filter(pk=category_id).exists():
        raise Invalid(_("Unknown category."), code="invalid_category", field="category_id")
    with transaction.atomic():
        PriceFloor.objects.filter(
            team_id=team_id, category_id=category_id, role=role, person_id=person_id
        ).delete()
        floor = PriceFloor.objects.create(
            team_id=team_id,
            category_id=category_id,
            role=role,
            person_id=person_id,
            min_margin_percent=min_margin_percent,
            max_discount_percent=max_discount_percent,
            created_by=actor,
            created_at=clock.now(),
        )
        record(
            actor=actor,
            verb="price_floor.set",
            obj=floor,
            data={
                "category": category_id,
                "role": role,
                "person": person_id,
                "min_margin_percent": str(min_margin_percent)
                if min_margin_percent is not None
                else None,
                "max_discount_percent": str(max_discount_percent)
                if max_discount_percent is not None
                else None,
            },
        )
    return floor


def remove_floor(floor_id: int, *, actor: User) -> None:
    """The head of sales removes a floor of his team."""
    floor = PriceFloor.objects.filter(pk=floor_id).first()
    if floor is None or not policies.can_manage_floors(actor, floor.team_id):
        raise NotFound(_("Price floor not found."), code="floor_not_found")
    with transaction.atomic():
        record(actor=actor, verb="price_floor.removed", obj=floor, data={})
        floor.delete()
