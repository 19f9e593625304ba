"""The inbound API: the public web-form endpoint with its refusals (unknown key, honeypot,
missing fields, oversized, flood), and the signed-in operations with who may do what; a refusal
answers with a stable code and writes nothing."""

from __future__ import annotations

import json

import pytest
from django.test import Client as HttpClient

from otdel.inbound import services
from otdel.inbound.models import InboundRequest, Status
from otdel.people.models import Availability
from tests.api.conftest import Api
from tests.inbound.conftest import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def form(team, head):
    return services.create_web_form(
        team.pk, name="Сайт", actor=head, allowed_origins=["https://zavod-site.ru"]
    )


def _post_form(key: str, body: object, **headers: str):
    http = HttpClient()
    raw = body if isinstance(body, str) else json.dumps(body)
    response = http.post(
        f"/api/inbound/forms/{key}", data=raw, content_type="application/json", headers=headers
    )
    response.data = json.loads(response.content) if response.content else None
    return response


def test_a_site_posts_its_form_and_the_request_is_routed(team, head, desk, form):
    r = _post_form(
        form.key,
        {"name": "Ольга", "phone": "+7 912 000-00-01", "message": "Нужен компрессор"},
        Origin="https://zavod-site.ru",
    )

    assert r.status_code == 201, r.data
    request = InboundRequest.objects.get()
    assert r.data["number"] == request.number
    assert request.web_form_id == form.pk and request.assignee_id is not None
    assert r["Access-Control-Allow-Origin"] == "https://zavod-site.ru"


def test_another_site_gets_no_cors_permission(team, head, desk, form):
    r = _post_form(form.key, {"name": "x", "email": "x@x.ru"}, Origin="https://evil.example")
    assert r.status_code == 201
    assert "Access-Control-Allow-Origin" not in r


def test_unknown_or_disabled_key_is_404_and_nothing_is_stored(team, head, desk, form):
    assert _post_form("nope", {"name": "x", "email": "x@x.ru"}).status_code == 404
    services.set_web_form_active(form.pk, active=False, actor=head)
    r = _post_form(form.key, {"name": "x", "email": "x@x.ru"})
    assert r.status_code == 404 and r.data["code"] == "unknown_form"
    assert InboundRequest.objects.count() == 0


def test_a_robot_filling_the_honeypot_is_thanked_and_nothing_is_stored(team, head, desk, form):
    r = _post_form(form.key, {"name": "bot", "email": "bot@x.ru", "website": "http://spam"})
    assert r.status_code == 201 and r.data["number"] == ""
    assert InboundRequest.objects.count() == 0


def test_missing_contact_and_malformed_json_are_clear_422s(team, head, desk, form):
    r = _post_form(form.key, {"name": "Без контакта"}, **{"Accept-Language": "ru"})
    assert r.status_code == 422
    assert "телефон" in json.dumps(r.data, ensure_ascii=False).lower() or r.data["code"]
    assert _post_form(form.key, "{not json").status_code in (400, 422)
    assert InboundRequest.objects.count() == 0


def test_an_oversized_post_is_413_and_nothing_is_stored(team, head, desk, form):
    r = _post_form(form.key, {"name": "x", "email": "x@x.ru", "message": "я" * 40_000})
    assert r.status_code == 413 and r.data["code"] == "too_large"
    assert InboundRequest.objects.count() == 0


def test_a_flood_from_one_address_is_429(team, head, desk, form, settings):
    settings.OTDEL_WEBFORM_RATE_LIMIT = 2
    codes = [
        _post_form(form.key, {"name": "x", "email": f"f{i}@x.ru"}).status_code for i in range(4)
    ]
    assert codes == [201, 201, 429, 429]
    assert InboundRequest.objects.count() == 2


def test_script_in_a_field_is_stored_as_text(team, head, desk, form, api_as):
    _post_form(form.key, {"name": "<script>alert(1)</script>", "email": "s@x.ru"})
    request = InboundRequest.objects.get()
    assert request.name == "<script>alert(1)</script>"
    r = api_as(head).get(f"/api/inbound/requests/{request.pk}")
    assert r.data["name"] == "<script>alert(1)</script>"  # JSON, escaped by the browser's page


def test_mine_queue_and_the_request_with_why(team, head, desk, owned_client, other_manager, api_as):
    request = post(team.pk, email="zakupki@zavod.ru")
    me = api_as(other_manager)

    mine = me.get("/api/inbound/requests/mine")
    assert mine.status_code == 200
    assert [row["id"] for row in mine.data["items"]] == [request.pk]
    detail = me.get(f"/api/inbound/requests/{request.pk}")
    assert detail.data["assignee_id"] == other_manager.pk
    assert other_manager.short_name in detail.data["why"]
    assert [e["kind"] for e in detail.data["events"]] == ["created", "assigned"]


def test_take_convert_and_close_over_the_api(team, head, desk, api_as):
    request = post(team.pk, email="buyer@newco.ru", company="ООО Новая")
    me = api_as(request.assignee)

    assert me.post(f"/api/inbound/requests/{request.pk}/take").data["status"] == "in_work"
    r = me.post(f"/api/inbound/requests/{request.pk}/convert", {"title": "Компрессор"})
    assert r.status_code == 200, r.data
    assert r.data["status"] == "converted" and r.data["deal_id"]
    r = me.post(f"/api/inbound/requests/{request.pk}/close", {"reason": "дубль"})
    assert r.status_code == 409 and r.data["code"] == "request_moved_on"


def test_a_specialist_cannot_reassign_or_see_the_board(team, head, desk, api_as):
    request = post(team.pk, email="x@y.ru")
    other = next(p for p in desk if p.pk != request.assignee_id)
    me = api_as(other)

    r = me.post(
        f"/api/inbound/requests/{request.pk}/reassign", {"to_user_id": other.pk, "reason": "хочу"}
    )
    assert r.status_code == 403
    assert InboundRequest.objects.get(pk=request.pk).assignee_id == request.assignee_id
    assert me.get("/api/inbound/board").status_code == 403
    assert me.post("/api/inbound/routing-policy", {"document": {}}).status_code == 403


def test_the_head_sees_the_board_and_reassigns(team, head, desk, api_as):
    request = post(team.pk, email="x@y.ru")
    target = next(p for p in desk if p.pk != request.assignee_id)
    boss = api_as(head)

    board = boss.get("/api/inbound/board")
    assert board.status_code == 200
    loads = {p["user_id"]: p["open"] for p in board.data["people"]}
    assert loads[request.assignee_id] == 1
    r = boss.post(
        f"/api/inbound/requests/{request.pk}/reassign",
        {"to_user_id": target.pk, "reason": "знает клиента"},
    )
    assert r.status_code == 200 and r.data["assignee_id"] == target.pk


def test_availability_switch_for_oneself_not_for_a_colleague(team, head, desk, api_as):
    me = api_as(desk[0])
    r = me.call("put", f"/api/people/{desk[0].pk}/availability", {"status": "away"})
    assert r.status_code == 200 and r.data["status"] == "away"
    r = me.call("put", f"/api/people/{desk[1].pk}/availability", {"status": "away"})
    assert r.status_code == 404
    desk[1].refresh_from_db()
    assert desk[1].availability == Availability.ON_SHIFT


def test_an_invalid_routing_policy_is_refused_and_nothing_changes(team, head, api_as):
    boss = api_as(head)
    r = boss.post("/api/inbound/routing-policy", {"document": {"strategy": "lottery"}})
    assert r.status_code == 422 and r.data["code"] == "invalid_policy"
    assert boss.get("/api/inbound/routing-policy").data["version"] == 0
    r = boss.post(
        "/api/inbound/routing-policy", {"document": {"strategy": "round_robin"}, "comment": "ок"}
    )
    assert r.status_code == 201 and r.data["version"] == 1


def test_manual_entry_by_a_coordinator(team, head, desk, api_as):
    r = api_as(desk[0]).post(
        "/api/inbound/requests", {"name": "Посетитель", "phone": "+7 495 123-45-67"}
    )
    assert r.status_code == 201, r.data
    assert r.data["channel"] == "manual" and r.data["status"] in (Status.ASSIGNED, Status.NEW)
    bad = api_as(desk[0]).post("/api/inbound/requests", {"name": "Без контакта"})
    assert bad.status_code == 422
    assert InboundRequest.objects.count() == 1


def test_anonymous_is_401_except_the_public_form(db):
    anon = Api()
    assert anon.get("/api/inbound/requests/mine").status_code == 401
    assert anon.get("/api/inbound/board").status_code == 401


def test_an_unknown_category_is_a_clear_422_not_a_crash(team, head, desk, api_as):
    r = api_as(desk[0]).post(
        "/api/inbound/requests", {"name": "x", "email": "x@cat.ru", "category_id": 999_999}
    )
    assert r.status_code == 422 and r.data["code"] == "invalid_category"
    assert InboundRequest.objects.count() == 0
