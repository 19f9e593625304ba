"""The proposals and tenders API: the whole path from a proposal to its invoice and from a tender
to a refused below-floor bid, with who is refused (a stable code, nothing written)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import translation

from otdel.core import clock
from otdel.people.services import issue_api_token
from otdel.sales import floors
from otdel.sales.models import Invoice, Proposal, Tender, TenderFloor
from tests.api.conftest import Api
from tests.factories import make_team, make_user
from tests.sales.conftest import open_deal
from tests.sales.money_helpers import product

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _default_language_after():
    """A request in English leaves English active in this thread: later tests expect the
    default (Russian)."""
    yield
    translation.deactivate()


def _api(user, language: str = "en") -> Api:
    return Api(issue_api_token(user, name="tests")[1] if user else None, language=language)


def _line(pid: int, price: str = "1000.00", **kw) -> dict:
    return {"product_id": pid, "quantity": "2", "unit_price": price, **kw}


def test_anonymous_gets_401(db):
    anon = _api(None)
    for path in ("/api/proposals", "/api/proposals/1", "/api/tenders", "/api/tenders/1"):
        assert anon.get(path).status_code == 401, path
    assert anon.post("/api/deals/1/proposals", {"lines": []}).status_code == 401
    assert anon.post("/api/tenders/1/lead-manager", {"user_id": 1}).status_code == 401


def test_a_proposal_from_draft_to_invoice_over_the_api(frozen_clock, head, manager, other_manager):
    kmp = product(head, cost="600")
    deal = open_deal(manager)
    me = _api(manager)
    r = me.post(
        f"/api/deals/{deal.pk}/proposals",
        {"kind": "tkp", "lines": [_line(kmp.pk, discount_percent="5")], "terms": "Отсрочка"},
    )
    assert r.status_code == 201, r.content
    body = r.data
    assert (body["net_total"], body["vat_total"], body["total"]) == ("1900.00", "418.00", "2318.00")
    assert (body["status"], body["revision"], body["kind"]) == ("draft", 1, "tkp")
    assert body["actions"] == ["send", "cancel"] and len(body["lines"]) == 1
    pid = body["id"]

    # A colleague neither sees nor sends it; nothing changes.
    them = _api(other_manager)
    assert them.get(f"/api/proposals/{pid}").status_code == 404
    assert them.post(f"/api/proposals/{pid}/send").data["code"] == "proposal_not_found"
    assert (
        them.post(f"/api/deals/{deal.pk}/proposals", {"lines": [_line(kmp.pk)]}).status_code == 403
    )
    assert Proposal.objects.get().status == "draft" and Proposal.objects.count() == 1

    changed = me.call("put", f"/api/proposals/{pid}", {"lines": [_line(kmp.pk, "1100.00")]})
    assert changed.status_code == 200 and changed.data["net_total"] == "2200.00"
    assert me.post(f"/api/proposals/{pid}/send").data["status"] == "sent"
    refused = me.call("put", f"/api/proposals/{pid}", {"lines": [_line(kmp.pk, "1.00")]})
    assert (refused.status_code, refused.data["code"]) == (409, "not_a_draft")
    illegal = me.post(f"/api/proposals/{pid}/send")
    assert (illegal.status_code, illegal.data["code"]) == (409, "illegal_move")

    declined = me.post(f"/api/proposals/{pid}/decline", {"reason": "Дорого"})
    assert declined.data["status"] == "declined" and declined.data["reason"] == "Дорого"
    revision = me.post(
        f"/api/proposals/{pid}/revisions", {"content": {"lines": [_line(kmp.pk, "1050.00")]}}
    )
    assert revision.status_code == 201
    assert (revision.data["revision"], revision.data["previous_id"]) == (2, pid)
    rid = revision.data["id"]
    me.post(f"/api/proposals/{rid}/send")
    assert me.get(f"/api/proposals/{pid}").data["status"] == "superseded"
    assert me.post(f"/api/proposals/{rid}/accept", {"note": ""}).data["status"] == "accepted"
    invoiced = me.post(f"/api/proposals/{rid}/invoice", {})
    assert invoiced.status_code == 201, invoiced.content
    assert invoiced.data["total"] == "2562.00" and invoiced.data["proposal"]["invoice_id"]
    assert Invoice.objects.get().total == Proposal.objects.get(pk=rid).total
    listed = me.get(f"/api/proposals?deal_id={deal.pk}").data
    assert [p["revision"] for p in listed["items"]] == [2, 1]


def test_a_held_proposal_shows_on_the_price_approvals_api(frozen_clock, head, manager):
    floors.set_floor(head.team_id, actor=head, max_discount_percent=Decimal("10"))
    kmp = product(head)
    deal = open_deal(manager)
    r = _api(manager).post(
        f"/api/deals/{deal.pk}/proposals", {"lines": [_line(kmp.pk, discount_percent="20")]}
    )
    assert r.data["floor_hold"]["status"] == "pending"
    sent = _api(manager).post(f"/api/proposals/{r.data['id']}/send")
    assert (sent.status_code, sent.data["code"]) == (409, "awaiting_floor_approval")
    boss = _api(head)
    pending = boss.get("/api/price-approvals").data
    assert [(a["proposal_id"], a["invoice_id"]) for a in pending] == [(r.data["id"], None)]
    boss.post(f"/api/price-approvals/{pending[0]['id']}/approve", {"note": ""})
    assert _api(manager).post(f"/api/proposals/{r.data['id']}/send").data["status"] == "sent"


def test_a_tender_over_the_api_conflict_lead_and_floor(frozen_clock, head, manager, other_manager):
    kmp = product(head, cost="600")
    mine, theirs = open_deal(manager), open_deal(other_manager)
    me, them, boss = _api(manager), _api(other_manager), _api(head)
    created = me.post(
        "/api/tenders",
        {
            "registry_number": "0173200001426000777",
            "platform": "Росэлторг",
            "customer_name": "ФГУП «Завод»",
            "submission_deadline": (clock.now() + dt.timedelta(days=3)).isoformat(),
            "lots": [{"name": "Компрессоры", "max_price": "9000000"}],
            "participants": [mine.client_id],
        },
    )
    assert created.status_code == 201, created.content
    tid = created.data["id"]
    lot_id = created.data["lots"][0]["id"]
    again = them.post(
        "/api/tenders",
        {
            "registry_number": "0173200001426000777",
            "platform": "Росэлторг",
            "customer_name": "ФГУП «Завод»",
            "submission_deadline": (clock.now() + dt.timedelta(days=3)).isoformat(),
        },
    )
    assert (again.status_code, again.data["code"]) == (409, "tender_exists")
    assert again.data["details"]["tender_id"] == tid

    joined = them.post(f"/api/tenders/{tid}/participants", {"client_id": theirs.client_id})
    assert joined.status_code == 201
    assert {o["id"] for o in joined.data["conflict"]["owners"]} == {manager.pk, other_manager.pk}
    assert me.get("/api/tenders").data["items"][0]["has_conflict"] is True

    for caller in (me, them):
        denied = caller.post(f"/api/tenders/{tid}/lead-manager", {"user_id": manager.pk})
        assert (denied.status_code, denied.data["code"]) == (403, "not_head_of_sales")
    assert Tender.objects.get().lead_manager_id is None
    led = boss.post(f"/api/tenders/{tid}/lead-manager", {"user_id": manager.pk})
    assert led.data["lead_manager"]["id"] == manager.pk and led.data["conflict"] is None

    participant = next(p for p in led.data["participants"] if p["client_id"] == theirs.client_id)
    denied = them.post(
        f"/api/tenders/{tid}/floors", {"participant_id": participant["id"], "min_price": "1"}
    )
    assert (denied.status_code, denied.data["code"]) == (403, "not_lead_manager")
    assert not TenderFloor.objects.exists()
    floor = me.post(
        f"/api/tenders/{tid}/floors",
        {"participant_id": participant["id"], "lot_id": lot_id, "min_margin_percent": "40"},
    )
    assert floor.status_code == 201 and floor.data["text"] == "margin from 40.00%"

    below = them.post(
        f"/api/deals/{theirs.pk}/proposals",
        {"lines": [_line(kmp.pk, "990.00")], "tender_id": tid, "lot_id": lot_id},
    )
    assert (below.status_code, below.data["code"]) == (422, "below_tender_floor")
    assert below.data["details"]["rule"] == "margin"
    assert not Proposal.objects.exists()
    ok = them.post(
        f"/api/deals/{theirs.pk}/proposals",
        {"lines": [_line(kmp.pk, "1000.00")], "tender_id": tid, "lot_id": lot_id},
    )
    assert ok.status_code == 201 and ok.data["tender_id"] == tid
    card = me.get(f"/api/tenders/{tid}").data
    assert [p["id"] for p in card["proposals"]] == [ok.data["id"]]
    assert card["participants"][1]["floors"][0]["min_margin_percent"] == "40.00"

    stranger = _api(make_user(team=make_team()))
    assert stranger.get(f"/api/tenders/{tid}").status_code == 404
    assert stranger.get("/api/tenders").data["items"] == []
