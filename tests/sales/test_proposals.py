"""Proposals (КП / ТКП): priced by the invoice rule to the kopeck, held below the price floor
until the head approves, never changed once sent (a revision instead), moved only as the
table of moves allows (a refused move changes nothing), and invoiced with exactly their
amounts."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otdel.audit.models import AuditEvent
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
from otdel.people.models import Notification, Role
from otdel.sales import floors, money, proposals, services
from otdel.sales.models import (
    FloorApproval,
    Invoice,
    Proposal,
    ProposalLine,
    ProposalStatus,
)
from otdel.sales.proposals import ProposalIn
from otdel.sales.schemas import InvoiceLineIn
from tests.factories import make_team, make_user
from tests.sales.conftest import open_deal
from tests.sales.money_helpers import product

pytestmark = pytest.mark.django_db

D = Decimal


def lines(*rows: tuple[Any, ...]) -> list[InvoiceLineIn]:
    """(product_id, quantity, unit price[, discount[, vat: None = without VAT]])."""
    out = []
    for row in rows:
        pid, qty, price, *rest = row
        extra: dict[str, Any] = {}
        if rest:
            extra["discount_percent"] = D(str(rest[0]))
        if len(rest) > 1 and rest[1] is None:
            extra["without_vat"] = True
        elif len(rest) > 1:
            extra["vat_rate"] = D(str(rest[1]))
        out.append(
            InvoiceLineIn(product_id=pid, quantity=D(str(qty)), unit_price=D(str(price)), **extra)
        )
    return out


def propose(deal_id: int, actor: Any, *rows: tuple[Any, ...], **kw: Any) -> Proposal:
    return services.create_proposal(deal_id, ProposalIn(lines=lines(*rows), **kw), actor=actor)


def snapshot(proposal: Proposal) -> tuple[Any, ...]:
    """Everything a refused action must leave as it was."""
    row = Proposal.objects.get(pk=proposal.pk)
    return (
        row.status,
        row.kind,
        row.total,
        row.valid_until,
        row.sent_at,
        row.answered_at,
        row.reason,
        row.invoice_id,
        tuple(
            ProposalLine.objects.filter(proposal=proposal)
            .order_by("position")
            .values_list("unit_price", "quantity", "discount_percent", "total_amount")
        ),
        Proposal.objects.count(),
        FloorApproval.objects.count(),
        Invoice.objects.count(),
    )


# --- the arithmetic -----------------------------------------------------------------------------


def test_a_proposal_is_priced_line_by_line_to_the_kopeck_like_an_invoice(
    head, manager, frozen_clock
):
    kmp = product(head)
    deal = open_deal(manager)
    p = propose(
        deal.pk, manager, (kmp.pk, "3", "333.33", "7.5", "22"), (kmp.pk, "1.5", "1000", 0, None)
    )
    got = list(p.lines.order_by("position"))
    # 3 × 333.33 × 0.925 = 924.99075 → 924.99; VAT 203.4978 → 203.50; without VAT: no VAT at all.
    assert [(ln.net_amount, ln.vat_amount, ln.total_amount) for ln in got] == [
        (D("924.99"), D("203.50"), D("1128.49")),
        (D("1500.00"), D("0.00"), D("1500.00")),
    ]
    assert (p.net_total, p.vat_total, p.total) == (D("2424.99"), D("203.50"), D("2628.49"))
    expected = money.line(D("3"), D("333.33"), D("7.5"), D("22"))
    assert (got[0].net_amount, got[0].vat_amount) == (expected.net, expected.vat)
    assert p.status == "draft" and p.revision == 1 and p.number.endswith(f"{p.pk:06d}")
    assert p.valid_until == clock.today() + dt.timedelta(days=proposals.DEFAULT_VALIDITY_DAYS)
    assert AuditEvent.objects.filter(verb="proposal.created", object_id=p.pk).exists()


quantities = st.decimals(min_value=D("0.001"), max_value=D("10000"), places=3)
prices = st.decimals(min_value=D("0"), max_value=D("1000000"), places=2)
discounts = st.decimals(min_value=D("0"), max_value=D("100"), places=2)
rates = st.sampled_from([None, D("0"), D("5"), D("7"), D("10"), D("20"), D("22")])


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(quantities, prices, discounts, rates), min_size=1, max_size=5))
def test_the_invoice_issued_from_a_proposal_has_exactly_its_amounts(
    head, manager, frozen_clock, rows
):
    kmp = product(head, sku=f"P-{uuid.uuid4().hex[:12]}")
    deal = open_deal(head, owner=manager)
    p = propose(deal.pk, head, *[(kmp.pk, q, price, d, r) for q, price, d, r in rows])
    services.send_proposal(p.pk, actor=head)
    services.accept_proposal(p.pk, actor=head)
    inv = services.invoice_from_proposal(p.pk, actor=head)
    assert (inv.net_total, inv.vat_total, inv.total) == (p.net_total, p.vat_total, p.total)
    assert inv.total == p.net_total + p.vat_total
    mine = p.lines.order_by("position").values_list(
        "product_id", "quantity", "unit_price", "discount_percent", "vat_rate",
        "net_amount", "vat_amount", "total_amount",
    )  # fmt: skip
    theirs = inv.lines.order_by("position").values_list(
        "product_id", "quantity", "unit_price", "discount_percent", "vat_rate",
        "net_amount", "vat_amount", "total_amount",
    )  # fmt: skip
    assert list(mine) == list(theirs)
    assert Proposal.objects.get(pk=p.pk).invoice_id == inv.pk


# --- the status machine -------------------------------------------------------------------------


def test_a_proposal_moves_draft_sent_accepted_and_is_invoiced_once(head, manager, frozen_clock):
    kmp = product(head)
    deal = open_deal(manager)
    p = propose(deal.pk, manager, (kmp.pk, "2", "1000"))
    services.send_proposal(p.pk, actor=manager)
    p.refresh_from_db()
    assert (p.status, p.sent_by, p.sent_at) == ("sent", manager, clock.now())
    services.accept_proposal(p.pk, actor=manager, note="Подписали")
    p.refresh_from_db()
    assert (p.status, p.answered_by, p.reason) == ("accepted", manager, "Подписали")
    inv = services.invoice_from_proposal(p.pk, actor=manager)
    assert inv.deal_id == deal.pk and inv.total == p.total
    assert "2026-" in inv.comment or p.number in inv.comment
    with pytest.raises(Conflict) as err:
        services.invoice_from_proposal(p.pk, actor=manager)
    assert err.value.code == "already_invoiced"
    assert Invoice.objects.count() == 1
    assert list(
        AuditEvent.objects.filter(object_type="sales.proposal", object_id=p.pk)
        .order_by("id")
        .values_list("verb", flat=True)
    ) == ["proposal.created", "proposal.send", "proposal.accept", "proposal.invoiced"]


@pytest.mark.parametrize(
    ("prepare", "action"),
    [
        ([], "accept"),
        ([], "decline"),
        (["send"], "send"),
        (["send"], "cancel"),
        (["send", "accept"], "decline"),
        (["send", "accept"], "send"),
        (["send", "decline"], "accept"),
        (["cancel"], "send"),
        (["cancel"], "accept"),
    ],
)
def test_illegal_moves_are_refused_and_change_nothing(head, manager, frozen_clock, prepare, action):
    kmp = product(head)
    deal = open_deal(manager)
    p = propose(deal.pk, manager, (kmp.pk, "1", "1000"))
    do = {
        "send": lambda: services.send_proposal(p.pk, actor=manager),
        "accept": lambda: services.accept_proposal(p.pk, actor=manager),
        "decline": lambda: services.decline_proposal(p.pk, actor=manager, reason="дорого"),
        "cancel": lambda: services.cancel_proposal(p.pk, actor=manager),
    }
    for step in prepare:
        do[step]()
    before = snapshot(p)
    audits = AuditEvent.objects.count()
    with pytest.raises(Conflict) as err:
        do[action]()
    assert err.value.code == "illegal_move"
    assert "нельзя" in err.value.message or "cannot" in err.value.message
    assert snapshot(p) == before
    assert AuditEvent.objects.count() == audits


def test_the_table_of_moves_is_the_one_rule(db):
    assert proposals.actions_for("draft") == ["send", "cancel"]
    assert proposals.actions_for("sent") == ["accept", "decline"]
    for final in ("accepted", "superseded", "cancelled"):
        assert proposals.actions_for(final) == []
    assert not proposals.can_move("accepted", "supersede")


def test_declining_needs_a_reason(head, manager, frozen_clock):
    kmp = product(head)
    p = propose(open_deal(manager).pk, manager, (kmp.pk, "1", "1000"))
    services.send_proposal(p.pk, actor=manager)
    with pytest.raises(Invalid):
        services.decline_proposal(p.pk, actor=manager, reason="  ")
    assert Proposal.objects.get(pk=p.pk).status == "sent"


def test_an_expired_proposal_cannot_be_accepted_and_the_sweep_marks_it(head, manager, frozen_clock):
    kmp = product(head)
    p = propose(
        open_deal(manager).pk,
        manager,
        (kmp.pk, "1", "1000"),
        valid_until=clock.today() + dt.timedelta(days=3),
    )
    services.send_proposal(p.pk, actor=manager)
    clock.advance(dt.timedelta(days=5))
    assert proposals.effective_status(Proposal.objects.get(pk=p.pk)) == "expired"
    with pytest.raises(Conflict) as err:
        services.accept_proposal(p.pk, actor=manager)
    assert err.value.code == "proposal_expired"
    assert Proposal.objects.get(pk=p.pk).status == "sent"
    assert services.expire_overdue_proposals() == 1
    assert services.expire_overdue_proposals() == 0
    assert Proposal.objects.get(pk=p.pk).status == "expired"


def test_a_validity_date_in_the_past_is_refused(head, manager, frozen_clock):
    kmp = product(head)
    with pytest.raises(Invalid) as err:
        propose(
            open_deal(manager).pk,
            manager,
            (kmp.pk, "1", "1000"),
            valid_until=clock.today() - dt.timedelta(days=1),
        )
    assert err.value.code == "validity_passed"
    assert not Proposal.objects.exists()


# --- drafts and revisions -----------------------------------------------------------------------


def test_a_draft_is_changed_in_place_but_a_sent_proposal_never(head, manager, frozen_clock):
    kmp = product(head)
    deal = open_deal(manager)
    p = propose(deal.pk, manager, (kmp.pk, "1", "1000"))
    services.update_proposal(
        p.pk, ProposalIn(kind="tkp", lines=lines((kmp.pk, "2", "900")), terms="Отсрочка 30 дней"),
        actor=manager,
    )  # fmt: skip
    p.refresh_from_db()
    assert (p.kind, p.terms, p.net_total, p.lines.count()) == (
        "tkp",
        "Отсрочка 30 дней",
        D("1800.00"),
        1,
    )
    services.send_proposal(p.pk, actor=manager)
    before = snapshot(p)
    with pytest.raises(Conflict) as err:
        services.update_proposal(p.pk, ProposalIn(lines=lines((kmp.pk, "1", "1"))), actor=manager)
    assert err.value.code == "not_a_draft"
    assert snapshot(p) == before


def test_changing_a_sent_proposal_is_a_new_revision_that_replaces_it_when_sent(
    head, manager, frozen_clock
):
    kmp = product(head)
    deal = open_deal(manager)
    first = propose(deal.pk, manager, (kmp.pk, "2", "1000"))
    services.send_proposal(first.pk, actor=manager)
    services.decline_proposal(first.pk, actor=manager, reason="Дорого")

    second = services.revise_proposal(
        first.pk, actor=manager, data=ProposalIn(lines=lines((kmp.pk, "2", "950")))
    )
    assert (second.number, second.revision, second.previous_id) == (first.number, 2, first.pk)
    assert second.status == "draft" and second.net_total == D("1900.00")
    # The first stays as the client has it until the revision is sent.
    assert Proposal.objects.get(pk=first.pk).status == "declined"
    with pytest.raises(Conflict) as err:
        services.revise_proposal(first.pk, actor=manager)
    assert err.value.code == "already_revised"

    services.send_proposal(second.pk, actor=manager)
    assert Proposal.objects.get(pk=first.pk).status == "superseded"
    assert Proposal.objects.get(pk=second.pk).status == "sent"
    # A copy by default: the third revision repeats the second.
    third = services.revise_proposal(second.pk, actor=manager)
    assert (third.revision, third.net_total) == (3, second.net_total)


def test_a_revision_cannot_replace_a_proposal_the_client_accepted_meanwhile(
    head, manager, frozen_clock
):
    kmp = product(head)
    first = propose(open_deal(manager).pk, manager, (kmp.pk, "1", "1000"))
    services.send_proposal(first.pk, actor=manager)
    second = services.revise_proposal(first.pk, actor=manager)
    services.accept_proposal(first.pk, actor=manager)
    before = snapshot(second)
    with pytest.raises(Conflict) as err:
        services.send_proposal(second.pk, actor=manager)
    assert err.value.code == "previous_not_replaceable"
    assert snapshot(second) == before
    assert Proposal.objects.get(pk=first.pk).status == "accepted"


@pytest.mark.parametrize("status", ["draft", "accepted"])
def test_drafts_and_accepted_proposals_are_not_revised(head, manager, frozen_clock, status):
    kmp = product(head)
    p = propose(open_deal(manager).pk, manager, (kmp.pk, "1", "1000"))
    if status == "accepted":
        services.send_proposal(p.pk, actor=manager)
        services.accept_proposal(p.pk, actor=manager)
    count = Proposal.objects.count()
    with pytest.raises(Conflict) as err:
        services.revise_proposal(p.pk, actor=manager)
    assert err.value.code == "cannot_revise"
    assert Proposal.objects.count() == count


# --- price floors -------------------------------------------------------------------------------


def test_a_proposal_below_the_floor_is_held_until_the_head_approves(
    head, manager, frozen_clock, django_capture_on_commit_callbacks
):
    floors.set_floor(head.team_id, actor=head, max_discount_percent=D("10"))
    kmp = product(head)
    with django_capture_on_commit_callbacks(execute=True):
        p = propose(open_deal(manager).pk, manager, (kmp.pk, "1", "1000", "15"))
    approval = FloorApproval.objects.get(proposal=p)
    assert approval.status == "pending" and approval.invoice_id is None
    assert approval.breaches[0]["rule"] == "discount"
    assert Notification.objects.filter(recipient=head, kind="floor_approval").exists()

    before = snapshot(p)
    with pytest.raises(Conflict) as err:
        services.send_proposal(p.pk, actor=manager)
    assert err.value.code == "awaiting_floor_approval"
    assert snapshot(p) == before

    with django_capture_on_commit_callbacks(execute=True):
        floors.approve_below_floor(approval.pk, actor=head, note="Стратегический клиент")
    assert AuditEvent.objects.filter(verb="proposal.floor_approved", object_id=p.pk).exists()
    assert Notification.objects.filter(recipient=manager, kind="floor_decision").exists()
    services.send_proposal(p.pk, actor=manager)
    assert Proposal.objects.get(pk=p.pk).status == "sent"


def test_a_refused_proposal_is_not_sent_until_its_draft_is_changed(head, manager, frozen_clock):
    floors.set_floor(head.team_id, actor=head, max_discount_percent=D("10"))
    kmp = product(head)
    p = propose(open_deal(manager).pk, manager, (kmp.pk, "1", "1000", "30"))
    floors.refuse_below_floor(FloorApproval.objects.get(proposal=p).pk, actor=head, note="Нет")
    with pytest.raises(Conflict) as err:
        services.send_proposal(p.pk, actor=manager)
    assert err.value.code == "floor_refused"
    # Still below: asked again; within the floor: the request is withdrawn and it goes.
    services.update_proposal(
        p.pk, ProposalIn(lines=lines((kmp.pk, "1", "1000", "20"))), actor=manager
    )
    assert FloorApproval.objects.get(proposal=p).status == "pending"
    services.update_proposal(
        p.pk, ProposalIn(lines=lines((kmp.pk, "1", "1000", "5"))), actor=manager
    )
    assert FloorApproval.objects.get(proposal=p).status == "withdrawn"
    services.send_proposal(p.pk, actor=manager)
    assert Proposal.objects.get(pk=p.pk).status == "sent"


def test_an_approval_does_not_cover_prices_changed_after_it(head, manager, frozen_clock):
    floors.set_floor(head.team_id, actor=head, max_discount_percent=D("10"))
    kmp = product(head)
    p = propose(open_deal(manager).pk, manager, (kmp.pk, "1", "1000", "15"))
    approval = FloorApproval.objects.get(proposal=p)
    floors.approve_below_floor(approval.pk, actor=head)
    services.update_proposal(
        p.pk, ProposalIn(lines=lines((kmp.pk, "1", "1000", "40"))), actor=manager
    )
    approval.refresh_from_db()
    assert approval.status == "pending" and approval.breaches[0]["value"] == "40"
    with pytest.raises(Conflict):
        services.send_proposal(p.pk, actor=manager)


def test_the_invoice_from_an_approved_proposal_carries_the_approval(
    head, manager, frozen_clock, django_capture_on_commit_callbacks
):
    floors.set_floor(head.team_id, actor=head, min_margin_percent=D("30"))
    kmp = product(head, cost="800")  # 20 % margin at 1,000
    deal = open_deal(manager)
    p = propose(deal.pk, manager, (kmp.pk, "1", "1000"))
    floors.approve_below_floor(FloorApproval.objects.get(proposal=p).pk, actor=head)
    services.send_proposal(p.pk, actor=manager)
    services.accept_proposal(p.pk, actor=manager)
    heads_told = Notification.objects.filter(recipient=head, kind="floor_approval").count()
    with django_capture_on_commit_callbacks(execute=True):
        inv = services.invoice_from_proposal(p.pk, actor=manager)
    carried = FloorApproval.objects.get(invoice=inv)
    assert (carried.status, carried.decided_by) == ("approved", head)
    assert p.number in carried.note
    assert floors.unapproved([inv.pk]) == []
    assert Notification.objects.filter(recipient=head, kind="floor_approval").count() == heads_told


def test_cancelling_a_held_draft_withdraws_its_request(head, manager, frozen_clock):
    floors.set_floor(head.team_id, actor=head, max_discount_percent=D("10"))
    kmp = product(head)
    p = propose(open_deal(manager).pk, manager, (kmp.pk, "1", "1000", "50"))
    services.cancel_proposal(p.pk, actor=manager, reason="Клиент передумал")
    assert FloorApproval.objects.get(proposal=p).status == "withdrawn"
    with pytest.raises(Invalid) as err:
        floors.approve_below_floor(FloorApproval.objects.get(proposal=p).pk, actor=head)
    assert err.value.code == "already_decided"


def test_the_heads_own_proposal_below_the_floor_is_approved_as_written(head, manager, frozen_clock):
    floors.set_floor(head.team_id, actor=head, max_discount_percent=D("5"))
    kmp = product(head)
    p = propose(open_deal(head, owner=manager).pk, head, (kmp.pk, "1", "1000", "20"))
    assert FloorApproval.objects.get(proposal=p).status == "approved"
    services.send_proposal(p.pk, actor=head)


# --- who may ------------------------------------------------------------------------------------


def test_who_may_write_a_deals_proposals(head, manager, other_manager, team, frozen_clock):
    kmp = product(head)
    deal = open_deal(manager)
    clerk = make_user(Role.DOC_CLERK, team=team)
    order_manager = make_user(Role.ORDER_MANAGER, team=team)
    for allowed in (manager, head, clerk, order_manager):
        propose(deal.pk, allowed, (kmp.pk, "1", "1000"))
    count = Proposal.objects.count()
    with pytest.raises(Forbidden):
        propose(deal.pk, other_manager, (kmp.pk, "1", "1000"))
    stranger = make_user(Role.HUNTER, team=make_team())  # another team: sees nothing of ours
    with pytest.raises(NotFound):
        propose(deal.pk, stranger, (kmp.pk, "1", "1000"))
    assert Proposal.objects.count() == count


def test_a_colleague_can_neither_see_nor_move_someone_elses_proposal(
    head, manager, other_manager, frozen_clock
):
    kmp = product(head)
    p = propose(open_deal(manager).pk, manager, (kmp.pk, "1", "1000"))
    before = snapshot(p)
    for act in (
        lambda: services.send_proposal(p.pk, actor=other_manager),
        lambda: services.cancel_proposal(p.pk, actor=other_manager),
        lambda: services.revise_proposal(p.pk, actor=other_manager),
        lambda: services.update_proposal(
            p.pk, ProposalIn(lines=lines((kmp.pk, "1", "1"))), actor=other_manager
        ),
    ):
        with pytest.raises(NotFound):
            act()
    assert snapshot(p) == before


def test_a_closed_deal_takes_no_new_proposal(head, manager, frozen_clock):
    kmp = product(head)
    deal = open_deal(manager)
    services.move_deal(deal.pk, to_stage="lost", actor=manager, comment="Купили у других")
    with pytest.raises(Conflict) as err:
        propose(deal.pk, manager, (kmp.pk, "1", "1000"))
    assert err.value.code == "deal_closed"
    assert not Proposal.objects.exists()


def test_an_unaccepted_proposal_is_not_invoiced(head, manager, frozen_clock):
    kmp = product(head)
    p = propose(open_deal(manager).pk, manager, (kmp.pk, "1", "1000"))
    services.send_proposal(p.pk, actor=manager)
    with pytest.raises(Conflict) as err:
        services.invoice_from_proposal(p.pk, actor=manager)
    assert err.value.code == "not_accepted"
    assert not Invoice.objects.exists()
    assert Proposal.objects.get(pk=p.pk).status == ProposalStatus.SENT


def test_what_was_offered_and_the_clients_answers_are_on_the_deals_timeline(
    head, manager, frozen_clock
):
    from django.test import Client as HttpClient
    from django.urls import reverse

    from otdel.sales.models import DealEvent

    kmp = product(head)
    deal = open_deal(manager)
    first = propose(deal.pk, manager, (kmp.pk, "2", "1000"))
    services.send_proposal(first.pk, actor=manager)
    services.decline_proposal(first.pk, actor=manager, reason="Дорого")
    second = propose(deal.pk, manager, (kmp.pk, "2", "900"))
    services.send_proposal(second.pk, actor=manager)
    services.accept_proposal(second.pk, actor=manager)
    # A draft that was never sent, and a refused move, leave the timeline alone.
    draft = propose(deal.pk, manager, (kmp.pk, "1", "1000"))
    with pytest.raises(Conflict):
        services.accept_proposal(draft.pk, actor=manager)
    events = DealEvent.objects.filter(deal=deal, kind__startswith="proposal").order_by("id")
    assert [(e.kind, e.data["proposal_id"]) for e in events] == [
        ("proposal_sent", first.pk),
        ("proposal_declined", first.pk),
        ("proposal_sent", second.pk),
        ("proposal_accepted", second.pk),
    ]
    assert events[1].data["reason"] == "Дорого" and events[1].actor_id == manager.pk
    http = HttpClient()
    http.force_login(manager)
    card = http.get(reverse("sales:deal_detail", args=[deal.pk])).content.decode()
    assert "КП отправлено" in card and "КП отклонено клиентом" in card and "Дорого" in card
