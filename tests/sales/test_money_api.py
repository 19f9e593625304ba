"""The money API: invoices, payments, shipments and reversals with who may do what; a refusal
answers with a stable code and writes nothing; costs are hidden from managers."""

from __future__ import annotations

import pytest

from otdel.people.services import issue_api_token
from otdel.sales.models import Invoice, Payment, Shipment
from tests.api.conftest import Api
from tests.sales.conftest import open_deal
from tests.sales.money_helpers import product

pytestmark = pytest.mark.django_db


def _api(user) -> Api:
    return Api(issue_api_token(user, name="tests")[1] if user else None, language="en")


def test_anonymous_gets_401(db):
    anon = _api(None)
    for path in (
        "/api/invoices",
        "/api/payments",
        "/api/shipments",
        "/api/money-imports/unresolved",
    ):
        assert anon.get(path).status_code == 401, path
    assert anon.post("/api/deals/1/invoices", {"lines": []}).status_code == 401


def test_invoice_payment_shipment_and_reversals_over_the_api(
    frozen_clock, head, manager, other_manager, order_manager
):
    kmp = product(head, cost="600.00")
    deal = open_deal(manager)
    me = _api(manager)
    r = me.post(
        f"/api/deals/{deal.pk}/invoices",
        {
            "lines": [
                {
                    "product_id": kmp.pk,
                    "quantity": "2",
                    "unit_price": "1000.00",
                    "discount_percent": "5",
                }
            ],
            "external_id": "crm-1",
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["net_total"], body["vat_total"], body["total"]) == ("1900.00", "418.00", "2318.00")
    assert body["status"] == "unpaid" and len(body["lines"]) == 1
    again = me.post(
        f"/api/deals/{deal.pk}/invoices",
        {
            "lines": [
                {
                    "product_id": kmp.pk,
                    "quantity": "2",
                    "unit_price": "1000.00",
                    "discount_percent": "5",
                }
            ],
            "external_id": "crm-1",
        },
    )
    assert again.json()["id"] == body["id"] and Invoice.objects.count() == 1

    # an allocation over what is left is refused and writes nothing
    r = me.post(
        f"/api/deals/{deal.pk}/payments",
        {"amount": "3000.00", "allocations": [{"invoice_id": body["id"], "amount": "3000.00"}]},
    )
    assert r.status_code == 422 and r.json()["code"] == "allocation_exceeds_due"
    assert not Payment.objects.exists()
    r = me.post(f"/api/deals/{deal.pk}/payments", {"amount": "1000.00"})
    assert r.status_code == 201 and r.json()["allocated"] == "1000.00"
    assert me.get(f"/api/invoices/{body['id']}").json()["status"] == "partly_paid"

    # a hunter cannot credit; an order manager can
    r = me.post(f"/api/invoices/{body['id']}/credit-notes", {"reason": "скидка"})
    assert r.status_code == 403 and Invoice.objects.count() == 1
    r = _api(order_manager).post(
        f"/api/invoices/{body['id']}/credit-notes", {"amount": "318.00", "reason": "скидка"}
    )
    assert r.status_code == 201 and r.json()["total"] == "-318.00"

    r = me.post(
        f"/api/deals/{deal.pk}/shipments",
        {"lines": [{"product_id": kmp.pk, "quantity": "2", "revenue": "1900.00"}]},
    )
    assert r.status_code == 201, r.content
    shipped = r.json()
    assert shipped["revenue"] == "1900.00" and shipped["cost"] is None  # costs: head only
    seen_by_head = _api(head).get(f"/api/shipments/{shipped['id']}").json()
    assert (seen_by_head["cost"], seen_by_head["margin"]) == ("1200.00", "700.00")
    line = seen_by_head["lines"][0]["id"]
    r = _api(head).post(
        f"/api/shipments/{shipped['id']}/returns",
        {"lines": [{"line_id": line, "quantity": "1"}], "reason": "брак"},
    )
    assert r.status_code == 201 and r.json()["revenue"] == "-950.00"
    assert r.json()["margin"] == "-350.00"

    # someone else's hunter sees none of it and cannot write on the deal
    other = _api(other_manager)
    assert other.get("/api/invoices").json()["meta"]["count"] == 0
    assert other.get(f"/api/invoices/{body['id']}").status_code == 404
    r = other.post(
        f"/api/deals/{deal.pk}/shipments",
        {"lines": [{"product_id": kmp.pk, "quantity": "1", "revenue": "1.00"}]},
    )
    assert r.status_code == 403 and Shipment.objects.count() == 2
    assert _api(head).get("/api/shipments?kind=reversal").json()["meta"]["count"] == 1
