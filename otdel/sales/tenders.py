"""Tenders: registering a purchase and its lots, linking our clients that bid in it, the lead
manager the head of sales assigns, the conflict raised when clients of two or more owners bid
with nobody leading, and the floors the lead manager sets per participant.

Every write locks the tender's row first (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's
IMMEDIATE transaction holds the database), so participants, the conflict and the floors are
read and written by one writer at a time: two managers linking their clients at once raise one
conflict, and a floor cannot change between a proposal's check and its sending.

The bid rules a proposal for a tender must pass (`link_for_proposal`, `check_bid`,
`check_can_bid_now`) live here; otdel.sales.proposals calls them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Annotated, Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, Field

from otdel.audit.services import record
from otdel.clients.models import Client
from otdel.clients.normalize import ValidationFailure, clean_inn
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
from otdel.ownership.policies import manages_team
from otdel.people.models import OWNING_ROLES, User
from otdel.people.selectors import heads_of_team
from otdel.people.services import notify
from otdel.sales import money, policies
from otdel.sales.models import (
    Deal,
    Proposal,
    ProposalLine,
    Tender,
    TenderConflict,
    TenderFloor,
    TenderLot,
    TenderOutcome,
    TenderParticipant,
)
from otdel.sales.money_facts import costs_at
from otdel.sales.schemas import Currency

HUNDRED = Decimal(100)
CENT = Decimal("0.01")

Price = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
MarginPercent = Annotated[Decimal, Field(ge=-100, le=100, max_digits=5, decimal_places=2)]


# --- input -------------------------------------------------------------------------------------


class LotIn(BaseModel):
    """A lot: what is bought and the customer's maximum price (НМЦ), if stated; the number is
    the next one unless given."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=500)
    max_price: Price | None = None
    number: int | None = Field(None, ge=1, le=999)


class TenderIn(BaseModel):
    """A tender as registered; `participants` are client ids linked right away."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    registry_number: str = Field(min_length=1, max_length=64)
    title: str = Field("", max_length=500)
    platform: str = Field(min_length=1, max_length=120)
    customer_name: str = Field(min_length=1, max_length=300)
    customer_inn: str = Field("", max_length=12)
    submission_deadline: dt.datetime
    currency: Currency = "RUB"
    url: str = Field("", max_length=500)
    lots: list[LotIn] = Field(default_factory=list, max_length=100)
    participants: list[int] = Field(default_factory=list, max_length=50)


class TenderPatch(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    registry_number: str | None = Field(None, min_length=1, max_length=64)
    title: str | None = Field(None, max_length=500)
    platform: str | None = Field(None, min_length=1, max_length=120)
    customer_name: str | None = Field(None, min_length=1, max_length=300)
    customer_inn: str | None = Field(None, max_length=12)
    submission_deadline: dt.datetime | None = None
    url: str | None = Field(None, max_length=500)


class OutcomeIn(BaseModel):
    """How the tender ended: won (by which of our bidding clients, at what price), lost (the
    winner's price, if known), cancelled by the customer; "open" takes a recorded result back
    (the head of sales only)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcome: TenderOutcome
    winner_id: int | None = None
    winning_price: Price | None = None
    note: str = Field("", max_length=500)


class TenderFloorIn(BaseModel):
    """The least one participant may offer: a minimum price (the proposal's total with VAT),
    a minimum margin, or both; for one lot, or every lot when `lot_id` is empty."""

    model_config = ConfigDict(extra="forbid")

    participant_id: int
    lot_id: int | None = None
    min_price: Price | None = None
    min_margin_percent: MarginPercent | None = None


# --- reading -----------------------------------------------------------------------------------


def _tender(tender_id: int, actor: User) -> Tender:
    tender = Tender.objects.select_related("lead_manager").filter(pk=tender_id).first()
    if tender is None or not policies.can_view_tender(actor, tender):
        raise NotFound(_("Tender not found."), code="tender_not_found")
    return tender


def lock_tender(tender_id: int) -> Tender:
    """The tender, read under a row lock (see the module's docstring)."""
    found = Tender.objects.select_for_update().filter(pk=tender_id).first()
    if found is None:
        raise NotFound(_("Tender not found."), code="tender_not_found")
    return found


def _names(user_ids: Iterable[int]) -> str:
    people = {u.pk: u.display_name for u in User.objects.filter(pk__in=list(user_ids))}
    return ", ".join(people[i] for i in user_ids if i in people)


def _url(tender: Tender) -> str:
    return f"/tenders/{tender.pk}/"


def _moment(value: dt.datetime) -> dt.datetime:
    """A deadline typed without a zone is Moscow time."""
    if value.tzinfo is None:
        return value.replace(tzinfo=clock.MOSCOW)
    return value


def _inn(value: str) -> str:
    if not value:
        return ""
    try:
        return clean_inn(value)
    except ValidationFailure as err:
        raise Invalid(str(err), code="invalid_inn", field="customer_inn") from None


# --- the tender and its lots -------------------------------------------------------------------


def create_tender(data: TenderIn, *, actor: User) -> Tender:
    """A person of the team (who keeps clients or documents) or the head of sales registers a
    tender with its lots, and may link clients right away. A registry number already known in
    the team is refused: link your client to the tender that is there."""
    team_id = actor.team_id
    if team_id is None or not policies.can_create_tender(actor, team_id):
        raise Forbidden(
            _("Tenders are registered by the team's managers and the head of sales."),
            code="cannot_create_tender",
        )
    deadline = _moment(data.submission_deadline)
    if deadline <= clock.now():
        raise Invalid(
            _("The submission deadline has already passed."),
            code="deadline_passed",
            field="submission_deadline",
        )
    inn = _inn(data.customer_inn)
    numbers = [lot.number for lot in data.lots if lot.number is not None]
    if len(numbers) != len(set(numbers)):
        raise Invalid(_("Two lots have the same number."), code="duplicate_lot", field="lots")
    now = clock.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                tender = Tender.objects.create(
                    team_id=team_id,
                    registry_number=data.registry_number,
                    title=data.title,
                    platform=data.platform,
                    customer_name=data.customer_name,
                    customer_inn=inn,
                    submission_deadline=deadline,
                    currency=data.currency,
                    url=data.url,
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:
            existing = Tender.objects.filter(
                team_id=team_id, registry_number=data.registry_number
            ).first()
            raise Conflict(
                _("Tender № %(number)s is already registered: link your client to it.")
                % {"number": data.registry_number},
                code="tender_exists",
                tender_id=existing.pk if existing else None,
            ) from None
        used, free = set(numbers), 1
        for lot in data.lots:
            number = lot.number
            if number is None:
                # Lots without a number take the smallest numbers nobody gave.
                while free in used:
                    free += 1
                number = free
                used.add(number)
            TenderLot.objects.create(
                tender=tender, number=number, name=lot.name, max_price=lot.max_price
            )
        record(
            actor=actor,
            verb="tender.created",
            obj=tender,
            data={
                "registry_number": tender.registry_number,
                "platform": tender.platform,
                "customer": tender.customer_name,
                "deadline": tender.submission_deadline.isoformat(),
                "lots": len(data.lots),
            },
        )
        for client_id in data.participants:
            _link(tender, client_id, actor=actor)
        _sync_conflict(tender, actor=actor)
    return tender


def update_tender(tender_id: int, data: TenderPatch, *, actor: User) -> Tender:
    """The head of sales, the lead manager or whoever registered the tender corrects it."""
    tender = _tender(tender_id, actor)
    if not policies.can_edit_tender(actor, tender):
        raise Forbidden(
            _("The tender is changed by the head of sales, its lead manager or its author."),
            code="cannot_edit_tender",
        )
    changes: dict[str, Any] = data.model_dump(exclude_unset=True, exclude_none=True)
    if "customer_inn" in changes:
        changes["customer_inn"] = _inn(changes["customer_inn"])
    if "submission_deadline" in changes:
        changes["submission_deadline"] = _moment(changes["submission_deadline"])
    if not changes:
        return tender
    with transaction.atomic():
        lock_tender(tender.pk)
        try:
            with transaction.atomic():
                Tender.objects.filter(pk=tender.pk).update(updated_at=clock.now(), **changes)
        except IntegrityError:
            raise Conflict(
                _("Tender № %(number)s is already registered.")
                % {"number": changes.get("registry_number")},
                code="tender_exists",
            ) from None
        record(
            actor=actor,
            verb="tender.changed",
            obj=tender,
            data={
                k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in changes.items()
            },
        )
        tender.refresh_from_db()
    return tender


def add_lot(tender_id: int, data: LotIn, *, actor: User) -> TenderLot:
    """A lot more (the next number unless given)."""
    tender = _tender(tender_id, actor)
    if not policies.can_edit_tender(actor, tender):
        raise Forbidden(
            _("The tender is changed by the head of sales, its lead manager or its author."),
            code="cannot_edit_tender",
        )
    with transaction.atomic():
        lock_tender(tender.pk)
        number = data.number
        if number is None:
            top = TenderLot.objects.filter(tender=tender).aggregate(n=Max("number"))["n"]
            number = (top or 0) + 1
        elif TenderLot.objects.filter(tender=tender, number=number).exists():
            raise Invalid(
                _("Lot № %(n)s is already there.") % {"n": number},
                code="duplicate_lot",
                field="number",
            )
        lot = TenderLot.objects.create(
            tender=tender, number=number, name=data.name, max_price=data.max_price
        )
        record(
            actor=actor,
            verb="tender.lot_added",
            obj=tender,
            data={
                "lot": lot.pk,
                "number": number,
                "name": lot.name,
                "max_price": str(lot.max_price) if lot.max_price is not None else None,
            },
        )
    return lot


# --- participants and the conflict -------------------------------------------------------------


def _link(tender: Tender, client_id: int, *, actor: User) -> TenderParticipant:
    client = Client.objects.filter(pk=client_id, merged_into__isnull=True).first()
    if client is None or client.team_id != tender.team_id:
        raise Invalid(_("Client not found."), code="client_not_found", client_id=client_id)
    if client.owner_id is None:
        raise Invalid(
            _("«%(client)s» is in the pool: claim it before it bids in a tender.")
            % {"client": client.name},
            code="client_in_pool",
            client_id=client_id,
        )
    if not policies.can_link_to_tender(actor, tender, client):
        raise Forbidden(
            _(
                "A client is linked to a tender by its owner, the tender's lead manager or the "
                "head of sales."
            ),
            code="cannot_link_client",
        )
    if TenderParticipant.objects.filter(tender=tender, client=client).exists():
        raise Conflict(
            _("«%(client)s» already takes part in this tender.") % {"client": client.name},
            code="already_participant",
        )
    participant = TenderParticipant.objects.create(
        tender=tender,
        client=client,
        owner_id=client.owner_id,
        added_by=actor,
        added_at=clock.now(),
    )
    record(
        actor=actor,
        verb="tender.participant_added",
        obj=tender,
        data={"client": client.pk, "owner": client.owner_id, "participant": participant.pk},
    )
    lead_id = tender.lead_manager_id
    if lead_id is not None:
        # Someone already runs our bids: the new owner learns whose floors he follows, the
        # lead manager learns of the new bidder.
        if client.owner_id != lead_id:
            transaction.on_commit(
                partial(
                    notify,
                    [client.owner_id],
                    kind="tender_lead",
                    text=_(
                        "%(lead)s leads our bids in tender № %(number)s: your proposals for it "
                        "follow the floors he sets."
                    )
                    % {"lead": _names([lead_id]), "number": tender.registry_number},
                    client_id=client.pk,
                    url=_url(tender),
                )
            )
        if actor.pk != lead_id:
            transaction.on_commit(
                partial(
                    notify,
                    [lead_id],
                    kind="tender_participant",
                    text=_("«%(client)s» now bids in tender № %(number)s, which you lead.")
                    % {"client": client.name, "number": tender.registry_number},
                    client_id=client.pk,
                    url=_url(tender),
                )
            )
    return participant


def _sync_conflict(tender: Tender, *, actor: User | None) -> TenderConflict | None:
    """Raise, update or resolve the tender's conflict from its participants' owners (the
    caller holds the tender's lock): open while two or more owners bid and nobody leads."""
    owners = sorted(
        set(TenderParticipant.objects.filter(tender=tender).values_list("owner_id", flat=True))
    )
    lead_id = Tender.objects.filter(pk=tender.pk).values_list("lead_manager_id", flat=True)[0]
    current = TenderConflict.objects.filter(tender=tender, resolved_at__isnull=True).first()
    now = clock.now()
    if lead_id is None and len(owners) >= 2:
        if current is None:
            current = TenderConflict.objects.create(tender=tender, owners=owners, raised_at=now)
            record(actor=actor, verb="tender.conflict_raised", obj=tender, data={"owners": owners})
            transaction.on_commit(
                partial(
                    notify,
                    heads_of_team(tender.team_id, or_directors=False),
                    kind="tender_conflict",
                    text=_(
                        "Tender № %(number)s (%(customer)s): clients of %(owners)s bid in it. "
                        "Assign a lead manager."
                    )
                    % {
                        "number": tender.registry_number,
                        "customer": tender.customer_name,
                        "owners": _names(owners),
                    },
                    url=_url(tender),
                )
            )
        elif current.owners != owners:
            TenderConflict.objects.filter(pk=current.pk).update(owners=owners)
            record(actor=actor, verb="tender.conflict_changed", obj=tender, data={"owners": owners})
            current.owners = owners
        return current
    if current is not None:
        resolution = "lead_assigned" if lead_id is not None else "one_owner"
        TenderConflict.objects.filter(pk=current.pk, resolved_at__isnull=True).update(
            resolved_at=now, resolved_by=actor, resolution=resolution
        )
        record(
            actor=actor,
            verb="tender.conflict_resolved",
            obj=tender,
            data={"resolution": resolution, "lead_manager": lead_id},
        )
    return None


def add_participant(tender_id: int, client_id: int, *, actor: User) -> TenderParticipant:
    """One of our clients bids in the tender, with its owner now; when clients of two or more
    owners bid and nobody leads, a conflict is raised and the head of sales is told."""
    tender = _tender(tender_id, actor)
    with transaction.atomic():
        tender = lock_tender(tender.pk)
        participant = _link(tender, client_id, actor=actor)
        _sync_conflict(tender, actor=actor)
    return participant


def remove_participant(tender_id: int, participant_id: int, *, actor: User) -> None:
    """A client no longer bids (its floors go with it); the conflict is re-checked."""
    tender = _tender(tender_id, actor)
    participant = (
        TenderParticipant.objects.select_related("client")
        .filter(pk=participant_id, tender=tender)
        .first()
    )
    if participant is None:
        raise NotFound(_("Participant not found."), code="participant_not_found")
    if not policies.can_unlink_from_tender(actor, tender, participant):
        raise Forbidden(
            _(
                "A client is taken out of a tender by its owner, the tender's lead manager or "
                "the head of sales."
            ),
            code="cannot_unlink_client",
        )
    with transaction.atomic():
        tender = lock_tender(tender.pk)
        floors = list(TenderFloor.objects.filter(participant=participant).values("pk"))
        TenderFloor.objects.filter(participant=participant).delete()
        TenderParticipant.objects.filter(pk=participant.pk).delete()
        record(
            actor=actor,
            verb="tender.participant_removed",
            obj=tender,
            data={
                "client": participant.client_id,
                "owner": participant.owner_id,
                "floors_removed": [f["pk"] for f in floors],
            },
        )
        _sync_conflict(tender, actor=actor)


def assign_lead_manager(tender_id: int, user_id: int, *, actor: User) -> Tender:
    """The head of sales names the one person who runs all our bids in the tender; the open
    conflict is resolved, the other owners of bidding clients and the lead are told."""
    tender = _tender(tender_id, actor)
    if not policies.can_assign_lead_manager(actor, tender):
        raise Forbidden(
            _("Only the head of sales assigns the lead manager of a tender."),
            code="not_head_of_sales",
        )
    lead = User.objects.filter(pk=user_id, team_id=tender.team_id, is_active=True).first()
    if lead is None or lead.role not in OWNING_ROLES:
        raise Invalid(
            _("The lead manager is a manager of the tender's team."),
            code="invalid_lead_manager",
            field="user_id",
        )
    with transaction.atomic():
        tender = lock_tender(tender.pk)
        before = tender.lead_manager_id
        if before == lead.pk:
            return tender
        now = clock.now()
        Tender.objects.filter(pk=tender.pk).update(
            lead_manager=lead, lead_assigned_by=actor, lead_assigned_at=now, updated_at=now
        )
        tender.refresh_from_db()
        record(
            actor=actor,
            verb="tender.lead_assigned",
            obj=tender,
            data={"from": before, "to": lead.pk},
        )
        _sync_conflict(tender, actor=actor)
        others = set(
            TenderParticipant.objects.filter(tender=tender)
            .exclude(owner_id=lead.pk)
            .values_list("owner_id", flat=True)
        )
        text = _(
            "%(lead)s leads our bids in tender № %(number)s: your proposals for it follow the "
            "floors he sets."
        ) % {"lead": lead.display_name, "number": tender.registry_number}
        transaction.on_commit(
            partial(notify, sorted(others), kind="tender_lead", text=text, url=_url(tender))
        )
        transaction.on_commit(
            partial(
                notify,
                [lead.pk],
                kind="tender_lead",
                text=_("You lead our bids in tender № %(number)s (%(customer)s).")
                % {"number": tender.registry_number, "customer": tender.customer_name},
                url=_url(tender),
            )
        )
    return tender


# --- floors ------------------------------------------------------------------------------------


def describe_floor(floor: TenderFloor) -> str:
    """A floor as words in the active language."""
    parts = []
    if floor.min_price is not None:
        parts.append(_("price from %(price)s") % {"price": floor.min_price})
    if floor.min_margin_percent is not None:
        parts.append(_("margin from %(margin)s%%") % {"margin": floor.min_margin_percent})
    return ", ".join(parts)


def set_tender_floor(tender_id: int, data: TenderFloorIn, *, actor: User) -> TenderFloor:
    """The lead manager (or the head of sales) sets the least one participant may offer, for a
    lot or every lot; it replaces the floor set before for the same participant and lot. The
    participant's owner is told."""
    tender = _tender(tender_id, actor)
    if not policies.can_set_tender_floor(actor, tender):
        raise Forbidden(
            _("Floors in a tender are set by its lead manager or the head of sales."),
            code="not_lead_manager",
        )
    if data.min_price is None and data.min_margin_percent is None:
        raise Invalid(
            _("Set a minimum price, a minimum margin or both."), code="floor_without_limit"
        )
    participant = (
        TenderParticipant.objects.select_related("client")
        .filter(pk=data.participant_id, tender=tender)
        .first()
    )
    if participant is None:
        raise Invalid(
            _("The client does not take part in this tender."),
            code="invalid_participant",
            field="participant_id",
        )
    lot = None
    if data.lot_id is not None:
        lot = TenderLot.objects.filter(pk=data.lot_id, tender=tender).first()
        if lot is None:
            raise Invalid(_("Unknown lot."), code="invalid_lot", field="lot_id")
    with transaction.atomic():
        lock_tender(tender.pk)
        TenderFloor.objects.filter(participant=participant, lot=lot).delete()
        floor = TenderFloor.objects.create(
            tender=tender,
            participant=participant,
            lot=lot,
            min_price=data.min_price,
            min_margin_percent=data.min_margin_percent,
            set_by=actor,
            set_at=clock.now(),
        )
        record(
            actor=actor,
            verb="tender.floor_set",
            obj=tender,
            data={
                "floor": floor.pk,
                "participant": participant.pk,
                "client": participant.client_id,
                "lot": lot.pk if lot else None,
                "min_price": str(data.min_price) if data.min_price is not None else None,
                "min_margin_percent": str(data.min_margin_percent)
                if data.min_margin_percent is not None
                else None,
            },
        )
        owner_id = participant.client.owner_id or participant.owner_id
        if owner_id != actor.pk:
            where = _("lot %(n)s") % {"n": lot.number} if lot is not None else _("every lot")
            transaction.on_commit(
                partial(
                    notify,
                    [owner_id],
                    kind="tender_floor",
                    text=_("Tender № %(number)s, «%(client)s», %(where)s: your floor is %(floor)s.")
                    % {
                        "number": tender.registry_number,
                        "client": participant.client.name,
                        "where": where,
                        "floor": describe_floor(floor),
                    },
                    client_id=participant.client_id,
                    url=_url(tender),
                )
            )
    return floor


def remove_tender_floor(tender_id: int, floor_id: int, *, actor: User) -> None:
    """The lead manager (or the head of sales) lifts a floor."""
    tender = _tender(tender_id, actor)
    if not policies.can_set_tender_floor(actor, tender):
        raise Forbidden(
            _("Floors in a tender are set by its lead manager or the head of sales."),
            code="not_lead_manager",
        )
    floor = TenderFloor.objects.filter(pk=floor_id, tender=tender).first()
    if floor is None:
        raise NotFound(_("Floor not found."), code="floor_not_found")
    with transaction.atomic():
        lock_tender(tender.pk)
        record(
            actor=actor,
            verb="tender.floor_removed",
            obj=tender,
            data={"floor": floor.pk, "participant": floor.participant_id, "lot": floor.lot_id},
        )
        floor.delete()


# --- the rules a bid (a proposal for a tender) must pass --------------------------------------


@dataclass(frozen=True)
class Bid:
    """What a proposal offers, for the checks: its total with VAT, its net and its lines
    (product, quantity, net amount)."""

    total: Decimal
    net: Decimal
    lines: tuple[tuple[int | None, Decimal, Decimal], ...]

    @classmethod
    def of_rows(cls, rows: Iterable[Any]) -> Bid:
        """From priced line rows (money_facts.InvoiceLineRow)."""
        rows = list(rows)
        return cls(
            total=sum((r.amounts.total for r in rows), money.ZERO),
            net=sum((r.amounts.net for r in rows), money.ZERO),
            lines=tuple((r.product_id, r.quantity, r.amounts.net) for r in rows),
        )

    @classmethod
    def of_proposal(cls, proposal: Proposal) -> Bid:
        """From a stored proposal's lines."""
        lines = tuple(
            ProposalLine.objects.filter(proposal=proposal)
            .order_by("position", "id")
            .values_list("product_id", "quantity", "net_amount")
        )
        return cls(total=proposal.total, net=proposal.net_total, lines=lines)


def margin_of(bid: Bid, at: dt.datetime) -> Decimal | None:
    """The bid's margin in percent of its net, with each product's cost in force at `at`; None
    when a line has no product or no cost (the margin cannot be known)."""
    if not bid.lines:
        return None
    if any(pid is None for pid, _q, _n in bid.lines):
        return None
    costs = costs_at((pid, at) for pid, _q, _n in bid.lines if pid is not None)
    cost_total = money.ZERO
    for pid, quantity, _net in bid.lines:
        found = costs.get((pid, at)) if pid is not None else None
        if found is None:
            return None
        cost_total += money.kopecks(found[0] * quantity)
    if bid.net <= 0:
        return -HUNDRED
    return ((bid.net - cost_total) * HUNDRED / bid.net).quantize(CENT)


def link_for_proposal(
    tender_id: int, lot_id: int | None, *, deal: Deal, lock: bool = False
) -> tuple[Tender, TenderLot | None]:
    """The tender and lot a proposal of this deal is for: a tender of the deal's team in the
    deal's currency, in which the deal's client takes part; a lot of it (required when the
    tender has lots)."""
    qs = Tender.objects.filter(pk=tender_id, team_id=deal.team_id)
    tender = (qs.select_for_update() if lock else qs).first()
    if tender is None:
        raise Invalid(_("Tender not found."), code="tender_not_found", field="tender_id")
    if tender.currency != deal.currency:
        raise Invalid(
            _("The tender is in %(tender)s, the deal in %(deal)s.")
            % {"tender": tender.currency, "deal": deal.currency},
            code="currency_mismatch",
            field="tender_id",
        )
    if not TenderParticipant.objects.filter(tender=tender, client_id=deal.client_id).exists():
        raise Invalid(
            _(
                "«%(client)s» does not take part in tender № %(number)s: link it to the "
                "tender first."
            )
            % {"client": deal.client.name, "number": tender.registry_number},
            code="client_not_in_tender",
            field="tender_id",
        )
    if lot_id is None:
        if TenderLot.objects.filter(tender=tender).exists():
            raise Invalid(
                _("Choose the lot the proposal is for."), code="lot_required", field="lot_id"
            )
        return tender, None
    lot = TenderLot.objects.filter(pk=lot_id, tender=tender).first()
    if lot is None:
        raise Invalid(_("Unknown lot."), code="invalid_lot", field="lot_id")
    return tender, lot


def floor_for(tender: Tender, lot: TenderLot | None, client_id: int) -> TenderFloor | None:
    """The floor of this client in the tender for the lot: the lot's own, else every lot's."""
    floors = list(
        TenderFloor.objects.filter(tender=tender, participant__client_id=client_id).select_related(
            "set_by"
        )
    )
    own = [f for f in floors if lot is not None and f.lot_id == lot.pk]
    every = [f for f in floors if f.lot_id is None]
    found = own or every
    return found[0] if found else None


def check_bid(
    tender: Tender,
    lot: TenderLot | None,
    *,
    client_id: int,
    bid: Bid,
    actor: User,
    at: dt.datetime | None = None,
) -> None:
    """A bid above the lot's maximum price is refused; for anyone but the lead manager and the
    head of sales, so is a bid below the floor the lead manager set for the client (a price
    under the minimum, a margin under the minimum or a margin that cannot be known)."""
    if lot is not None and lot.max_price is not None and bid.total > lot.max_price:
        raise Invalid(
            _("%(total)s is above the lot's maximum price of %(max)s.")
            % {"total": bid.total, "max": lot.max_price},
            code="above_max_price",
            field="lines",
            limit=str(lot.max_price),
        )
    if not policies.bound_by_tender_floors(actor, tender):
        return
    floor = floor_for(tender, lot, client_id)
    if floor is None:
        return
    lead = floor.set_by.display_name
    if floor.min_price is not None and bid.total < floor.min_price:
        raise Invalid(
            _(
                "Tender № %(number)s: the proposal's total %(total)s is below the floor of "
                "%(limit)s that the lead manager %(lead)s set for this client."
            )
            % {
                "number": tender.registry_number,
                "total": bid.total,
                "limit": floor.min_price,
                "lead": lead,
            },
            code="below_tender_floor",
            field="lines",
            rule="price",
            value=str(bid.total),
            limit=str(floor.min_price),
            floor_id=floor.pk,
        )
    if floor.min_margin_percent is not None:
        margin = margin_of(bid, at or clock.now())
        if margin is None:
            raise Invalid(
                _(
                    "Tender № %(number)s: the lead manager %(lead)s set a minimum margin of "
                    "%(limit)s%% for this client, and a line has no known cost price, so the "
                    "margin cannot be checked."
                )
                % {
                    "number": tender.registry_number,
                    "lead": lead,
                    "limit": floor.min_margin_percent,
                },
                code="below_tender_floor",
                field="lines",
                rule="no_cost",
                limit=str(floor.min_margin_percent),
                floor_id=floor.pk,
            )
        if margin < floor.min_margin_percent:
            raise Invalid(
                _(
                    "Tender № %(number)s: the proposal's margin %(value)s%% is below the floor "
                    "of %(limit)s%% that the lead manager %(lead)s set for this client."
                )
                % {
                    "number": tender.registry_number,
                    "value": margin,
                    "limit": floor.min_margin_percent,
                    "lead": lead,
                },
                code="below_tender_floor",
                field="lines",
                rule="margin",
                value=str(margin),
                limit=str(floor.min_margin_percent),
                floor_id=floor.pk,
            )


def check_can_bid_now(tender: Tender, *, actor: User) -> None:
    """A proposal for a tender is sent before its deadline and while it is undecided, and not
    while clients of several owners bid with nobody leading (only the head of sales may send
    one then)."""
    if tender.outcome != TenderOutcome.OPEN:
        raise Conflict(
            _("Tender № %(number)s is decided: %(outcome)s.")
            % {"number": tender.registry_number, "outcome": tender.get_outcome_display()},
            code="tender_decided",
        )
    if tender.submission_deadline <= clock.now():
        raise Conflict(
            _("Bids for tender № %(number)s were accepted until %(deadline)s.")
            % {
                "number": tender.registry_number,
                "deadline": f"{tender.submission_deadline.astimezone(clock.MOSCOW):%d.%m.%Y %H:%M}",
            },
            code="tender_closed",
        )
    if manages_team(actor, tender.team_id):
        return
    if TenderConflict.objects.filter(tender=tender, resolved_at__isnull=True).exists():
        raise Conflict(
            _(
                "Clients of several managers bid in tender № %(number)s: the head of sales "
                "assigns a lead manager before any bid is sent."
            )
            % {"number": tender.registry_number},
            code="tender_conflict_open",
        )


# --- the outcome -------------------------------------------------------------------------------


def record_tender_outcome(tender_id: int, data: OutcomeIn, *, actor: User) -> Tender:
    """The lead manager (or the head of sales) records how the tender ended once bids are
    closed — won by one of our bidding clients, lost, or cancelled at any time; a recorded
    result is corrected by the head of sales only. Audited; the bidding clients' owners told."""
    tender = _tender(tender_id, actor)
    with transaction.atomic():
        tender = lock_tender(tender.pk)
        if not policies.can_record_tender_outcome(actor, tender):
            raise Forbidden(
                _(
                    "The lead manager records the result of a tender; the head of sales corrects it."
                ),
                code="not_lead_manager",
            )
        winner = None
        if data.outcome == TenderOutcome.WON:
            winner = TenderParticipant.objects.filter(pk=data.winner_id, tender=tender).first()
            if winner is None:
                raise Invalid(
                    _("Choose which of our bidding clients won."),
                    code="invalid_winner",
                    field="winner_id",
                )
        elif data.winner_id is not None:
            raise Invalid(
                _("Only a won tender has a winner of ours."),
                code="invalid_winner",
                field="winner_id",
            )
        now = clock.now()
        decided = data.outcome in (TenderOutcome.WON, TenderOutcome.LOST)
        if decided and tender.submission_deadline > now:
            raise Conflict(
                _("Bids for this tender are still accepted: its result comes after the deadline."),
                code="tender_not_closed",
            )
        before = tender.outcome
        reopened = data.outcome == TenderOutcome.OPEN
        Tender.objects.filter(pk=tender.pk).update(
            outcome=data.outcome,
            winner=winner,
            winning_price=None if reopened else data.winning_price,
            outcome_note="" if reopened else data.note,
            outcome_by=None if reopened else actor,
            outcome_at=None if reopened else now,
            updated_at=now,
        )
        tender.refresh_from_db()
        record(
            actor=actor,
            verb="tender.outcome",
            obj=tender,
            data={
                "from": before,
                "to": data.outcome,
                "winner": winner.client_id if winner else None,
                "price": str(data.winning_price) if data.winning_price is not None else None,
            },
        )
        told = set(
            TenderParticipant.objects.filter(tender=tender).values_list("owner_id", flat=True)
        ) | ({tender.lead_manager_id} if tender.lead_manager_id else set())
        told.discard(actor.pk)
        text = _("Tender № %(number)s (%(customer)s): %(outcome)s.") % {
            "number": tender.registry_number,
            "customer": tender.customer_name,
            "outcome": tender.get_outcome_display(),
        }
        transaction.on_commit(
            partial(
                notify,
                sorted(u for u in told if u),
                kind="tender_outcome",
                text=text,
                url=_url(tender),
            )
        )
    return tender
