"""Money facts: exact invoices (per-line half-up rounding), partial payments and their
allocation, credit notes, shipments with the cost at the time of shipment, returns, the
shipment clock, and who may write them. Every test also checks what must not happen."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otdel.audit.models import AuditEvent
from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid
from otdel.ownership import services as ownership
from otdel.ownership.sweep import run_sweep
from otdel.people.models import Role
from otdel.sales import money, money_facts, services
from otdel.sales.models import (
    DealEvent,
    FactKind,
    Invoice,
    Payment,
    PaymentAllocation,
    Shipment,
    ShipmentLine,
)
from otdel.sales.schemas import AllocationIn, CreditNoteIn, PaymentIn, ReturnIn, ReturnLineIn
from tests.factories import make_client, make_user
from tests.sales.conftest import open_deal
from tests.sales.money_helpers import invoice, product, shipment

pytestmark = pytest.mark.django_db
D = Decimal


def _status(inv: Invoice) -> str:
    due, paid, credited = money_facts.invoice_balances([inv.pk])[inv.pk]
    return money.invoice_status(due=due, paid=paid, credited=credited)


def _pay(actor, amount: str, *, deal=None, client=None, allocations=None, **kw):
    data = PaymentIn(
        amount=D(amount),
        allocations=[AllocationIn(invoice_id=i, amount=D(a)) for i, a in allocations]
        if allocations is not None
        else None,
        **kw,
    )
    return money_facts.record_payment(
        data,
        actor=actor,
        deal_id=deal.pk if deal else None,
        client_id=client.pk if client else None,
    )


# --- the arithmetic, as properties ----------------------------------------------------------

quantities = st.decimals(min_value=D("0.001"), max_value=D("10000"), places=3)
prices = st.decimals(min_value=D("0"), max_value=D("1000000"), places=2)
discounts = st.decimals(min_value=D("0"), max_value=D("100"), places=2)
rates = st.sampled_from([None, D("0"), D("5"), D("7"), D("10"), D("20"), D("22")])


@given(quantities, prices, discounts, rates)
def test_a_line_is_rounded_once_and_its_total_is_net_plus_vat(q, price, discount, rate):
    amounts = money.line(q, price, discount, rate)
    for value in (amounts.net, amounts.vat, amounts.total):
        assert value == value.quantize(D("0.01"))
    assert amounts.total == amounts.net + amounts.vat
    # never more than the undiscounted price, never negative
    assert D(0) <= amounts.net <= money.kopecks(q * price) + D("0.01")
    if rate is None or rate == 0:
        assert amounts.vat == 0


@given(
    st.decimals(min_value=D("0.01"), max_value=D("10000000"), places=2),
    st.decimals(min_value=D("1"), max_value=D("1000"), places=3),
    st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=8),
)
def test_parts_cut_cumulatively_add_up_to_the_whole_to_the_kopeck(whole, quantity, weights):
    total_weight = sum(weights)
    parts, done = [], D(0)
    for i, w in enumerate(weights):
        part = (
            quantity - done
            if i == len(weights) - 1
            else (quantity * w / total_weight).quantize(D("0.001"))
        )
        parts.append(money.share(whole, quantity, done, part))
        done += part
    assert sum(parts) == whole
    assert all(p == p.quantize(D("0.01")) for p in parts)


@given(st.decimals(min_value=D("0"), max_value=D("10000000"), places=2), rates)
def test_a_gross_amount_keeps_every_kopeck_when_split(gross, rate):
    split = money.split_gross(gross, rate)
    assert split.total == gross
    assert split.net + split.vat == gross


# --- invoices -------------------------------------------------------------------------------


def test_an_invoice_rounds_each_line_half_up_and_sums_the_lines(head, manager, frozen_clock):
    kmp = product(head)
    deal = open_deal(manager)
    inv = invoice(
        deal.pk,
        manager,
        (kmp.pk, "3", "33.33", "15", "22"),
        (None, "1", "0.25", "10", "0"),
        (None, "1", "0.05", 0, 22),
    )
    lines = list(inv.lines.order_by("position"))
    # 3 × 33.33 × 0.85 = 84.9915 → 84.99, VAT 18.6978 → 18.70; 0.225 → 0.23 (half-up, not to
    # even); VAT 0.011 → 0.01
    assert [(ln.net_amount, ln.vat_amount, ln.total_amount) for ln in lines] == [
        (D("84.99"), D("18.70"), D("103.69")),
        (D("0.23"), D("0.00"), D("0.23")),
        (D("0.05"), D("0.01"), D("0.06")),
    ]
    assert (inv.net_total, inv.vat_total, inv.total) == (D("85.27"), D("18.71"), D("103.98"))
    assert inv.source == "manual" and inv.external_id and inv.number.endswith(f"{inv.pk:06d}")
    assert _status(inv) == money.InvoiceStatus.UNPAID
    assert DealEvent.objects.filter(deal=deal, kind="invoice_issued").count() == 1


def test_a_resent_invoice_changes_nothing_and_a_changed_one_is_refused(head, manager, frozen_clock):
    kmp = product(head)
    deal = open_deal(manager)
    first = invoice(deal.pk, manager, (kmp.pk, "1", "1000"), external_id="req-1")
    again = invoice(deal.pk, manager, (kmp.pk, "1", "1000"), external_id="req-1")
    assert again.pk == first.pk
    with pytest.raises(Conflict) as err:
        invoice(deal.pk, manager, (kmp.pk, "2", "1000"), external_id="req-1")
    assert err.value.code == "external_id_reused"
    assert Invoice.objects.count() == 1
    assert DealEvent.objects.filter(deal=deal, kind="invoice_issued").count() == 1


def test_partial_payments_make_an_invoice_partly_paid_then_paid(
    head, manager, order_manager, frozen_clock
):
    kmp = product(head)
    deal = open_deal(manager)
    inv = invoice(deal.pk, manager, (kmp.pk, "1", "1000"))  # 1220.00 with VAT 22 %
    _pay(manager, "500.00", deal=deal)
    assert _status(inv) == money.InvoiceStatus.PARTLY_PAID
    _pay(order_manager, "720.00", deal=deal)
    assert _status(inv) == money.InvoiceStatus.PAID
    # More money than the invoices: kept on the payment, unallocated (an advance).
    extra = _pay(manager, "100.00", deal=deal)
    assert not PaymentAllocation.objects.filter(payment=extra).exists()
    assert money_facts.payment_balances([extra.pk])[extra.pk] == (D("100.00"), D(0))
    due, paid, _c = money_facts.invoice_balances([inv.pk])[inv.pk]
    assert (due, paid) == (D("1220.00"), D("1220.00"))


def test_one_payment_covers_several_invoices_never_more_than_is_left(head, manager, frozen_clock):
    kmp = product(head)
    deal = open_deal(manager)
    a = invoice(deal.pk, manager, (kmp.pk, "1", "100", 0, 0))
    b = invoice(deal.pk, manager, (kmp.pk, "1", "200", 0, 0))
    _pay(manager, "250.00", deal=deal, allocations=[(a.pk, "100.00"), (b.pk, "150.00")])
    assert (_status(a), _status(b)) == ("paid", "partly_paid")
    payments, allocations = Payment.objects.count(), PaymentAllocation.objects.count()
    with pytest.raises(Invalid) as err:
        _pay(manager, "60.00", deal=deal, allocations=[(b.pk, "60.00")])
    assert err.value.code == "allocation_exceeds_due"
    with pytest.raises(Invalid) as err:
        _pay(manager, "10.00", deal=deal, allocations=[(b.pk, "20.00")])
    assert err.value.code == "allocation_exceeds_payment"
    # Refused payments leave nothing behind: no payment, no allocation, no timeline entry.
    assert (Payment.objects.count(), PaymentAllocation.objects.count()) == (payments, allocations)
    assert DealEvent.objects.filter(deal=deal, kind="payment_recorded").count() == 1


def test_an_advance_is_allocated_later_within_what_is_left(
    head, manager, order_manager, frozen_clock
):
    kmp = product(head)
    deal = open_deal(manager)
    advance = _pay(order_manager, "300.00", client=deal.client)
    inv = invoice(deal.pk, manager, (kmp.pk, "1", "250", 0, 0))
    with pytest.raises(Invalid):
        money_facts.allocate_payment(
            advance.pk, [AllocationIn(invoice_id=inv.pk, amount=D("260"))], actor=order_manager
        )
    money_facts.allocate_payment(
        advance.pk, [AllocationIn(invoice_id=inv.pk, amount=D("250"))], actor=order_manager
    )
    assert _status(inv) == "paid"
    assert money_facts.payment_balances([advance.pk])[advance.pk] == (D("300.00"), D("250.00"))


def test_credit_notes_reduce_an_invoice_and_a_full_one_cancels_it(
    head, manager, order_manager, frozen_clock
):
    kmp = product(head)
    deal = open_deal(manager)
    inv = invoice(deal.pk, manager, (kmp.pk, "3", "333.33"))  # 999.99 + 220.00 = 1219.99
    note = money_facts.issue_credit_note(
        inv.pk, CreditNoteIn(amount=D("100.00"), reason="скидка"), actor=order_manager
    )
    assert note.kind == FactKind.REVERSAL and note.original_id == inv.pk
    assert note.total == D("-100.00") and note.net_total + note.vat_total == note.total
    inv.refresh_from_db()
    assert inv.total == D("1219.99")  # the original is never edited
    with pytest.raises(Invalid):
        money_facts.issue_credit_note(
            inv.pk, CreditNoteIn(amount=D("2000"), reason="x"), actor=order_manager
        )
    rest = money_facts.issue_credit_note(inv.pk, CreditNoteIn(reason="отказ"), actor=head)
    assert rest.total == D("-1119.99")
    # Crediting the whole invoice gives back exactly its net and its VAT.
    notes = Invoice.objects.filter(original=inv)
    assert sum(n.net_total for n in notes) == -inv.net_total
    assert sum(n.vat_total for n in notes) == -inv.vat_total
    assert _status(inv) == money.InvoiceStatus.CANCELLED


def test_a_hunter_cannot_write_a_credit_note_and_nothing_is_written(head, manager, frozen_clock):
    kmp = product(head)
    deal = open_deal(manager)
    inv = invoice(deal.pk, manager, (kmp.pk, "1", "100"))
    audits = AuditEvent.objects.count()
    with pytest.raises(Forbidden):
        money_facts.issue_credit_note(inv.pk, CreditNoteIn(reason="x"), actor=manager)
    assert Invoice.objects.count() == 1
    assert AuditEvent.objects.count() == audits


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(st.tuples(quantities, prices, discounts, rates), min_size=1, max_size=5),
    cuts=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=4),
    credit=st.integers(min_value=0, max_value=100),
)
def test_payments_and_credit_notes_reconcile_to_the_kopeck(
    head, manager, frozen_clock, lines, cuts, credit
):
    kmp = product(head, sku=f"P-{uuid.uuid4().hex[:12]}")
    deal = open_deal(manager)
    inv = invoice(deal.pk, manager, *[(kmp.pk, str(q), str(p), str(d), r) for q, p, d, r in lines])
    rows = list(inv.lines.all())
    assert inv.total == sum(ln.total_amount for ln in rows)
    assert inv.net_total == sum(ln.net_amount for ln in rows)
    assert inv.vat_total == sum(ln.vat_amount for ln in rows)
    credited = money.kopecks(inv.total * credit / 100)
    if credited > 0:
        money_facts.issue_credit_note(inv.pk, CreditNoteIn(amount=credited, reason="x"), actor=head)
    due = inv.total - credited
    paid = D(0)
    for i, cut in enumerate(cuts):
        part = due - paid if i == len(cuts) - 1 else money.kopecks((due - paid) * cut / 100)
        if part > 0:
            _pay(head, str(part), deal=deal, allocations=[(inv.pk, str(part))])
            paid += part
    got_due, got_paid, _c = money_facts.invoice_balances([inv.pk])[inv.pk]
    assert (got_due, got_paid) == (due, due)
    assert _status(inv) in (money.InvoiceStatus.PAID, money.InvoiceStatus.CANCELLED)
    # nothing more can be allocated to it
    if due > 0:
        with pytest.raises(Invalid):
            _pay(head, "0.01", deal=deal, allocations=[(inv.pk, "0.01")])


# --- shipments and returns ------------------------------------------------------------------


def test_margin_uses_the_cost_at_the_time_of_shipment(head, manager, frozen_clock):
    kmp = product(head, cost="600.00")
    deal = open_deal(manager)
    first = shipment(deal.pk, manager, (kmp.pk, "2", "2000.00"))
    frozen_clock.advance(dt.timedelta(days=3))
    services.change_cost(kmp.pk, amount=D("700.00"), actor=head)
    frozen_clock.advance(dt.timedelta(hours=1))
    second = shipment(deal.pk, manager, (kmp.pk, "2", "2000.00"))
    first.refresh_from_db()
    assert (first.cost, first.margin) == (D("1200.00"), D("800.00"))  # unchanged by the new cost
    assert (second.cost, second.margin) == (D("1400.00"), D("600.00"))
    line = ShipmentLine.objects.get(shipment=first)
    assert (line.unit_cost, line.margin) == (D("600.00"), D("800.00"))
    # a shipment dated before the change, recorded after it, takes the old cost
    back = shipment(
        deal.pk,
        manager,
        (kmp.pk, "1", "1000.00"),
        shipped_at=frozen_clock.now() - dt.timedelta(days=2),
    )
    assert back.cost == D("600.00")


def test_a_product_without_a_cost_cannot_be_shipped_and_nothing_is_written(
    head, manager, frozen_clock
):
    kmp = product(head, sku="NOCOST", cost="1")
    deal = open_deal(manager)
    with pytest.raises(Invalid) as err:
        shipment(
            deal.pk,
            manager,
            (kmp.pk, "1", "100"),
            shipped_at=frozen_clock.now() - dt.timedelta(days=1),
        )
    assert err.value.code == "no_cost_price"
    assert not Shipment.objects.exists() and not ShipmentLine.objects.exists()
    client = Client.objects.get(pk=deal.client_id)
    assert client.last_shipment_at is None


def test_returns_reverse_revenue_cost_and_margin_exactly(
    head, manager, order_manager, frozen_clock
):
    kmp = product(head, cost="333.33")
    deal = open_deal(manager)
    shipped = shipment(deal.pk, manager, (kmp.pk, "3", "1000.00"))
    line = shipped.lines.get()
    assert (line.cost, line.margin) == (D("999.99"), D("0.01"))
    r1 = money_facts.return_goods(
        shipped.pk,
        ReturnIn(lines=[ReturnLineIn(line_id=line.pk, quantity=D(1))], reason="брак"),
        actor=order_manager,
    )
    assert r1.kind == FactKind.REVERSAL and r1.original_id == shipped.pk
    assert (r1.revenue, r1.cost) == (D("-333.33"), D("-333.33"))
    with pytest.raises(Invalid) as err:
        money_facts.return_goods(
            shipped.pk,
            ReturnIn(lines=[ReturnLineIn(line_id=line.pk, quantity=D(3))], reason="x"),
            actor=order_manager,
        )
    assert err.value.code == "return_exceeds_shipped"
    money_facts.return_goods(
        shipped.pk,
        ReturnIn(lines=[ReturnLineIn(line_id=line.pk, quantity=D(2))], reason="x"),
        actor=order_manager,
    )
    totals = Shipment.objects.filter(client_id=deal.client_id).values_list(
        "revenue", "cost", "margin"
    )
    assert [sum(c) for c in zip(*totals, strict=True)] == [D(0), D(0), D(0)]
    shipped.refresh_from_db()
    assert shipped.revenue == D("1000.00")  # the original is never edited
    with pytest.raises(Forbidden):
        money_facts.return_goods(
            shipped.pk,
            ReturnIn(lines=[ReturnLineIn(line_id=line.pk, quantity=D(1))], reason="x"),
            actor=manager,
        )


# --- the shipment clock ---------------------------------------------------------------------


def _shipment_clock(team, head, days: int = 90) -> None:
    ownership.publish_policy(
        team.pk,
        document={
            "shipment_clock_enabled": True,
            "return_after_no_shipment_days": days,
            "return_after_idle_days": 3650,
        },
        effective_from=clock.now(),
        actor=head,
    )


def test_a_shipping_client_stays_out_of_the_pool_sweep(head, manager, team, frozen_clock):
    _shipment_clock(team, head)
    kmp = product(head)
    shipping = open_deal(manager)
    idle = make_client(head, owner=manager)
    frozen_clock.advance(dt.timedelta(days=80))
    services.change_cost(kmp.pk, amount=D("600"), actor=head)
    moment = frozen_clock.now()
    shipment(shipping.pk, manager, (kmp.pk, "1", "1000"))
    client = Client.objects.get(pk=shipping.client_id)
    assert client.last_shipment_at == moment and client.shipment_clock_at == moment
    frozen_clock.advance(dt.timedelta(days=20))
    run_sweep()
    assert Client.objects.get(pk=shipping.client_id).owner_id == manager.pk
    assert Client.objects.get(pk=idle.pk).owner_id is None  # no shipment for 100 days: returned


def test_the_shipment_clock_never_moves_backwards(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    now = frozen_clock.now()
    assert ownership.note_shipments([(client.pk, now)]) == 1
    assert ownership.note_shipments([(client.pk, now - dt.timedelta(days=5))]) == 0
    pool = make_client(head)
    ownership.note_shipments([(pool.pk, now)])
    client.refresh_from_db()
    pool.refresh_from_db()
    assert client.shipment_clock_at == now and client.last_shipment_at == now
    # a pool client records the shipment but has no clock to restart
    assert pool.last_shipment_at == now and pool.shipment_clock_at is None


# --- permissions ----------------------------------------------------------------------------


def test_who_may_record_money_on_a_deal(head, manager, other_manager, team, frozen_clock):
    kmp = product(head)
    deal = open_deal(manager)
    clerk = make_user(Role.DOC_CLERK, team=team, username="clerk")
    operator = make_user(Role.DB_OPERATOR, team=team, username="operator")
    for outsider in (other_manager, operator):
        with pytest.raises(Forbidden):
            invoice(deal.pk, outsider, (kmp.pk, "1", "100"))
        with pytest.raises(Forbidden):
            shipment(deal.pk, outsider, (kmp.pk, "1", "100"))
        with pytest.raises(Forbidden):
            _pay(outsider, "1.00", deal=deal)
    assert not Invoice.objects.exists() and not Shipment.objects.exists()
    assert not Payment.objects.exists()
    assert not DealEvent.objects.filter(deal=deal).exclude(kind="created").exists()
    invoice(deal.pk, clerk, (kmp.pk, "1", "100"))
    invoice(deal.pk, head, (kmp.pk, "1", "100"))
    assert Invoice.objects.count() == 2
    # the list shows the hunter his own deal's facts, and the other hunter nothing
    assert selectors_count(manager) == 2 and selectors_count(other_manager) == 0


def selectors_count(viewer) -> int:
    from otdel.sales import money_selectors

    return money_selectors.invoices(viewer).count()


def test_future_dated_facts_are_refused(head, manager, frozen_clock):
    kmp = product(head)
    deal = open_deal(manager)
    with pytest.raises(Invalid):
        shipment(
            deal.pk,
            manager,
            (kmp.pk, "1", "1"),
            shipped_at=frozen_clock.now() + dt.timedelta(days=1),
        )
    assert not Shipment.objects.exists()
