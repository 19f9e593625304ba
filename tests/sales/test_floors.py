"""Price floors: an invoice below the floor waits for the head of sales; until he approves it,
no payment is allocated to it; the most specific floor applies; only the head sets floors and
decides, and a refusal changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from otdel.audit.models import AuditEvent
from otdel.core.errors import Forbidden, Invalid, NotFound
from otdel.people.models import Role
from otdel.sales import floors, money_facts
from otdel.sales.models import FloorApproval, PaymentAllocation, PriceFloor, ProductCategory
from otdel.sales.schemas import AllocationIn, PaymentIn
from tests.factories import make_user
from tests.sales.conftest import open_deal
from tests.sales.money_helpers import invoice, product

pytestmark = pytest.mark.django_db

D = Decimal


def _equipment() -> int:
    return ProductCategory.objects.get(code="equipment").pk


def test_invoice_below_the_margin_floor_waits_for_the_head_and_takes_no_payment(
    head, manager, frozen_clock
):
    floors.set_floor(head.team_id, actor=head, min_margin_percent=D("20"))
    kmp = product(head, cost="900")  # sold at 1,000: margin 10 % < 20 %
    deal = open_deal(manager)

    held = invoice(deal.pk, manager, (kmp.pk, "1", "1000"))

    approval = FloorApproval.objects.get(invoice=held)
    assert approval.status == "pending"
    assert approval.breaches == [
        {
            "position": 1,
            "product": kmp.name,
            "floor": PriceFloor.objects.get().pk,
            "rule": "margin",
            "value": "10.00",
            "limit": "20.00",
        }
    ]
    # A payment for the deal goes to no held invoice; an explicit allocation is refused.
    money_facts.record_payment(PaymentIn(amount=D("100")), actor=manager, deal_id=deal.pk)
    assert not PaymentAllocation.objects.filter(invoice=held).exists()
    with pytest.raises(Invalid) as err:
        money_facts.record_payment(
            PaymentIn(
                amount=D("100"), allocations=[AllocationIn(invoice_id=held.pk, amount=D("100"))]
            ),
            actor=manager,
            deal_id=deal.pk,
        )
    assert err.value.code == "awaiting_floor_approval"

    floors.approve_below_floor(approval.pk, actor=head, note="крупный клиент")

    money_facts.record_payment(
        PaymentIn(amount=D("100"), allocations=[AllocationIn(invoice_id=held.pk, amount=D("100"))]),
        actor=manager,
        deal_id=deal.pk,
    )
    assert PaymentAllocation.objects.filter(invoice=held).count() == 1
    assert AuditEvent.objects.filter(verb="invoice.floor_approved", object_id=held.pk).exists()


def test_invoice_above_every_floor_is_not_held(head, manager, frozen_clock):
    floors.set_floor(
        head.team_id, actor=head, min_margin_percent=D("20"), max_discount_percent=D("10")
    )
    kmp = product(head, cost="600")
    deal = open_deal(manager)
    fine = invoice(deal.pk, manager, (kmp.pk, "2", "1000", "5"))
    assert not FloorApproval.objects.filter(invoice=fine).exists()


def test_the_most_specific_floor_applies(head, manager, frozen_clock):
    """The team allows 15 % discount, hunters 5 %, this hunter 25 % on equipment."""
    team = head.team_id
    floors.set_floor(team, actor=head, max_discount_percent=D("15"))
    floors.set_floor(team, actor=head, role=Role.HUNTER, max_discount_percent=D("5"))
    floors.set_floor(
        team,
        actor=head,
        person_id=manager.pk,
        category_id=_equipment(),
        max_discount_percent=D("25"),
    )
    kmp = product(head)
    colleague = make_user(Role.HUNTER, team=head.team, username="hunter2")
    mine = invoice(open_deal(manager).pk, manager, (kmp.pk, "1", "1000", "20"))
    theirs = invoice(open_deal(colleague).pk, colleague, (kmp.pk, "1", "1000", "10"))
    assert not FloorApproval.objects.filter(invoice=mine).exists()
    breach = FloorApproval.objects.get(invoice=theirs).breaches[0]
    assert (breach["rule"], breach["value"], breach["limit"]) == ("discount", "10", "5.00")
    assert floors.describe(breach).startswith("строка 1")


def test_the_heads_own_invoice_below_the_floor_is_approved_by_him_as_issued(
    head, manager, frozen_clock
):
    floors.set_floor(head.team_id, actor=head, min_margin_percent=D("50"))
    kmp = product(head, cost="900")
    inv = invoice(open_deal(head, owner=manager).pk, head, (kmp.pk, "1", "1000"))
    approval = FloorApproval.objects.get(invoice=inv)
    assert (approval.status, approval.decided_by) == ("approved", head)


def test_a_manager_cannot_set_floors_or_decide_and_nothing_changes(head, manager, frozen_clock):
    with pytest.raises(Forbidden):
        floors.set_floor(head.team_id, actor=manager, min_margin_percent=D("1"))
    assert not PriceFloor.objects.exists()
    floors.set_floor(head.team_id, actor=head, min_margin_percent=D("20"))
    kmp = product(head, cost="900")
    held = invoice(open_deal(manager).pk, manager, (kmp.pk, "1", "1000"))
    approval = FloorApproval.objects.get(invoice=held)
    with pytest.raises((Forbidden, NotFound)):
        floors.approve_below_floor(approval.pk, actor=manager)
    approval.refresh_from_db()
    assert approval.status == "pending" and approval.decided_by is None


def test_a_refusal_needs_a_reason_and_is_decided_once(head, manager, frozen_clock):
    floors.set_floor(head.team_id, actor=head, min_margin_percent=D("20"))
    kmp = product(head, cost="900")
    held = invoice(open_deal(manager).pk, manager, (kmp.pk, "1", "1000"))
    approval = FloorApproval.objects.get(invoice=held)
    with pytest.raises(Invalid) as err:
        floors.refuse_below_floor(approval.pk, actor=head, note=" ")
    assert err.value.code == "reason_required"
    floors.refuse_below_floor(approval.pk, actor=head, note="ниже закупки")
    with pytest.raises(Invalid) as again:
        floors.approve_below_floor(approval.pk, actor=head)
    assert again.value.code == "already_decided"
    approval.refresh_from_db()
    assert (approval.status, approval.note) == ("refused", "ниже закупки")


def test_a_floor_without_a_limit_is_refused(head):
    with pytest.raises(Invalid) as err:
        floors.set_floor(head.team_id, actor=head)
    assert err.value.code == "floor_without_limit"
    assert not PriceFloor.objects.exists()


def test_api_head_sets_a_floor_and_approves(head, manager, frozen_clock, client):
    from django.test import Client as HttpClient

    http = HttpClient()
    http.force_login(head)
    response = http.post(
        "/api/price-floors", {"min_margin_percent": "20"}, content_type="application/json"
    )
    assert response.status_code == 201
    kmp = product(head, cost="900")
    held = invoice(open_deal(manager).pk, manager, (kmp.pk, "1", "1000"))
    listed = http.get("/api/price-approvals").json()
    assert [a["invoice_id"] for a in listed] == [held.pk]
    assert listed[0]["breaches"][0]["rule"] == "margin"

    other = HttpClient()
    other.force_login(manager)
    assert other.get("/api/price-approvals").status_code == 403
    refused = other.post(
        f"/api/price-approvals/{listed[0]['id']}/approve", {}, content_type="application/json"
    )
    assert refused.status_code in (403, 404)
    assert FloorApproval.objects.get(invoice=held).status == "pending"

    ok = http.post(
        f"/api/price-approvals/{listed[0]['id']}/approve", {}, content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json()["status"] == "approved"


def test_the_heads_page_lists_a_held_invoice_and_approves_it_in_russian(
    head, manager, frozen_clock
):
    from django.test import Client as HttpClient

    floors.set_floor(head.team_id, actor=head, min_margin_percent=D("20"))
    kmp = product(head, cost="900")
    held = invoice(open_deal(manager).pk, manager, (kmp.pk, "1", "1000"))
    approval = FloorApproval.objects.get(invoice=held)
    page = HttpClient()
    page.force_login(head)
    html = page.get("/head/price-approvals/").content.decode()
    assert "Счета ниже минимальной цены" in html and "маржа 10.00% ниже минимума 20.00%" in html

    manager_page = HttpClient()
    manager_page.force_login(manager)
    assert manager_page.get("/head/price-approvals/").status_code == 404
    manager_page.post(f"/head/price-approvals/{approval.pk}/", {"decision": "approve"})
    approval.refresh_from_db()
    assert approval.status == "pending"

    page.post(f"/head/price-approvals/{approval.pk}/", {"decision": "approve"})
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by) == ("approved", head)
