"""The sales API: the catalogue, pipelines, deals, moves and handoffs, with who may do what; a
refusal or bad input answers with a stable code and writes nothing."""

from __future__ import annotations

import pytest

from otdel.people.services import issue_api_token
from otdel.sales.models import Deal, DealEvent, Handoff, Product, ProductCategory, ProductCost
from tests.api.conftest import Api
from tests.factories import make_client, make_team, make_user
from tests.sales.conftest import FULL_BRIEF, open_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_as():
    def make(user, language: str | None = "en"):
        return Api(issue_api_token(user, name="tests")[1] if user else None, language=language)

    return make


def test_anonymous_gets_401_everywhere(api_as, db):
    anon = api_as(None)
    for path in (
        "/api/products",
        "/api/product-categories",
        "/api/pipelines",
        "/api/deals",
        "/api/deals/1",
        "/api/handoffs",
        "/api/products/1",
    ):
        assert anon.get(path).status_code == 401, path
    for path in (
        "/api/products",
        "/api/deals",
        "/api/deals/1/move",
        "/api/deals/1/source",
        "/api/handoffs/1/accept",
        "/api/handoffs/1/return",
        "/api/products/1/costs",
    ):
        assert anon.post(path, {}).status_code == 401, path
    assert not Deal.objects.exists()


def test_the_catalogue_for_the_head_and_for_a_manager(api_as, head, manager, frozen_clock):
    equipment = ProductCategory.objects.get(code="equipment").pk
    body = {
        "name": "Компрессор",
        "sku": "VK-15",
        "category_id": equipment,
        "list_price": "845000.00",
        "cost": "590000.00",
    }
    refused = api_as(manager).post("/api/products", body)
    assert refused.status_code == 403 and refused.data["code"] == "not_head_of_sales"
    assert not Product.objects.exists()

    created = api_as(head).post("/api/products", body)
    assert created.status_code == 201, created.data
    assert created.data["cost"] == {"amount": "590000.00", "currency": "RUB"}
    assert created.data["vat_rate"] == "22.00"
    product_id = created.data["id"]
    bad = api_as(head).post(f"/api/products/{product_id}/costs", {"amount": "1.001"})
    assert bad.status_code == 422
    past = api_as(head).post(
        f"/api/products/{product_id}/costs",
        {"amount": "600000", "effective_from": "2026-01-01T00:00:00+03:00"},
    )
    assert past.status_code == 422 and past.data["code"] == "backdated"
    changed = api_as(head).post(f"/api/products/{product_id}/costs", {"amount": "612000.50"})
    assert changed.status_code == 201
    assert [c["amount"] for c in changed.data["costs"]] == ["612000.50", "590000.00"]
    assert ProductCost.objects.count() == 2

    seen = api_as(manager).get("/api/products")
    assert seen.status_code == 200
    assert seen.data["items"][0]["cost"] is None  # costs are for the head
    assert api_as(manager).get(f"/api/products/{product_id}").data["costs"] == []
    assert api_as(head).get("/api/products").data["items"][0]["cost"]["amount"] == "612000.50"
    patch = api_as(head).patch(f"/api/products/{product_id}", {"vat_rate": None, "unit": "компл"})
    assert patch.status_code == 200 and patch.data["vat_rate"] is None
    assert api_as(head).patch(f"/api/products/{product_id}", {"vat_rate": 18}).status_code == 422
    cats = api_as(manager).get("/api/product-categories")
    assert [c["code"] for c in cats.data] == ["equipment", "spare_parts", "services", "consumables"]


def test_pipelines_are_listed_with_stages_and_moves(api_as, manager, pipeline, frozen_clock):
    response = api_as(manager).get("/api/pipelines")
    assert response.status_code == 200, response.data
    [doc] = response.data
    assert doc["is_default"] and [s["code"] for s in doc["stages"]][:3] == [
        "prospect",
        "intent",
        "specification",
    ]
    assert {"from_stage": "act", "to_stage": "completed"} in doc["moves"]
    assert {"from_stage": "prospect", "to_stage": "completed"} not in doc["moves"]
    outsider = make_user("hunter", team=make_team("Другие"))
    assert api_as(outsider).get("/api/pipelines").data == []


def test_a_deal_through_the_conveyor_over_the_api(
    api_as, head, manager, order_manager, pipeline, frozen_clock
):
    client = make_client(manager, owner=manager)
    hunter, om = api_as(manager), api_as(order_manager)
    created = hunter.post(
        "/api/deals", {"client_id": client.pk, "title": "Поставка", "amount_estimate": "1200000"}
    )
    assert created.status_code == 201, created.data
    deal_id = created.data["id"]
    assert created.data["source"] == "new_hunt"
    assert created.data["source_reason"]["rule"] == "created_the_client"
    assert [s["code"] for s in created.data["allowed_moves"]] == ["intent", "lost"]

    assert hunter.post(f"/api/deals/{deal_id}/move", {"to_stage": "intent"}).status_code == 200
    no_brief = hunter.post(
        f"/api/deals/{deal_id}/move", {"to_stage": "specification", "offer_to": order_manager.pk}
    )
    assert no_brief.status_code == 422 and no_brief.data["code"] == "brief_required"
    assert "budget" in no_brief.data["details"]["missing"]
    assert Deal.objects.get().stage.code == "intent"
    bad_field = hunter.post(
        f"/api/deals/{deal_id}/move",
        {"to_stage": "specification", "brief": {"mood": "good"}},
    )
    assert bad_field.status_code == 422
    jump = hunter.post(f"/api/deals/{deal_id}/move", {"to_stage": "act"})
    assert jump.status_code == 409 and jump.data["code"] == "move_not_allowed"

    offered = hunter.post(
        f"/api/deals/{deal_id}/move",
        {"to_stage": "specification", "brief": FULL_BRIEF, "offer_to": order_manager.pk},
    )
    assert offered.status_code == 200
    assert offered.data["pending_handoff"]["offered_to"]["id"] == order_manager.pk
    assert offered.data["responsible"]["id"] == manager.pk
    assert offered.data["actions"]["move"] is False

    inbox = om.get("/api/handoffs")
    assert [h["deal_id"] for h in inbox.data] == [deal_id]
    assert inbox.data[0]["brief"]["budget"] == FULL_BRIEF["budget"]
    assert hunter.get("/api/handoffs").data == []
    assert [h["deal_id"] for h in hunter.get("/api/handoffs?box=sent").data] == [deal_id]
    handoff_id = inbox.data[0]["id"]
    assert hunter.post(f"/api/handoffs/{handoff_id}/accept").status_code == 403
    assert om.post(f"/api/handoffs/{handoff_id}/return", {"reason": ""}).status_code == 422
    accepted = om.post(f"/api/handoffs/{handoff_id}/accept")
    assert accepted.status_code == 200 and accepted.data["status"] == "accepted"
    again = om.post(f"/api/handoffs/{handoff_id}/accept")
    assert again.status_code == 409 and again.data["code"] == "handoff_answered"

    detail = hunter.get(f"/api/deals/{deal_id}")
    assert detail.data["responsible"]["id"] == order_manager.pk
    assert [e["kind"] for e in detail.data["timeline"]] == [
        "created",
        "moved",
        "handoff_offered",
        "handoff_accepted",
    ]
    assert detail.data["tenures"][-1]["role"] == "order_manager"
    assert detail.data["client_created_by"]["id"] == manager.pk
    assert detail.data["actions"] == {"move": False, "change_source": False}

    assert (
        hunter.post(f"/api/deals/{deal_id}/source", {"source": "pool", "reason": "x"}).status_code
        == 403
    )
    changed = api_as(head).post(
        f"/api/deals/{deal_id}/source", {"source": "inbound", "reason": "С сайта"}
    )
    assert changed.status_code == 200 and changed.data["source"] == "inbound"
    listed = hunter.get("/api/deals?source=inbound&status=open")
    assert [d["id"] for d in listed.data["items"]] == [deal_id]
    assert hunter.get("/api/deals?mine=true").data["items"] == []
    assert om.get("/api/deals?mine=true").data["meta"]["count"] == 1


def test_opening_a_deal_on_an_unknown_or_pool_client_is_refused(
    api_as, head, manager, frozen_clock
):
    unknown = api_as(manager).post("/api/deals", {"client_id": 999999, "title": "x"})
    assert unknown.status_code == 422 and unknown.data["code"] == "invalid_client"
    pool = make_client(head)
    in_pool = api_as(manager).post("/api/deals", {"client_id": pool.pk, "title": "x"})
    assert in_pool.status_code == 409 and in_pool.data["code"] == "client_in_pool"
    negative = api_as(manager).post(
        "/api/deals", {"client_id": pool.pk, "title": "x", "amount_estimate": "-5"}
    )
    assert negative.status_code == 422
    assert not Deal.objects.exists()


def test_errors_speak_russian_by_default(api_as, manager, pipeline, frozen_clock):
    deal = open_deal(manager)
    response = api_as(manager, language=None).post(
        f"/api/deals/{deal.pk}/move", {"to_stage": "contract"}
    )
    assert response.status_code == 409
    assert "Разрешено" in response.data["message"]
    assert DealEvent.objects.count() == 1
    assert not Handoff.objects.exists()
