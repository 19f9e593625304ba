"""Ownership over HTTP: claim, release, assign, my base, the pool, transfers and the policy."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.clients.models import Client
from otdel.ownership import services as ownership
from otdel.ownership.models import EventKind, OwnershipEvent
from tests.factories import make_client

pytestmark = pytest.mark.django_db


def test_claim_then_release_with_reason_then_cooldown(head, manager, api_as, frozen_clock):
    client = make_client(head)
    api = api_as(manager)
    claimed = api.post(f"/api/clients/{client.pk}/claim")
    assert claimed.status_code == 200
    assert claimed.data["owner"]["id"] == manager.pk and claimed.data["is_protected"] is True
    no_reason = api.post(f"/api/clients/{client.pk}/release", {"reason": ""})
    assert no_reason.status_code == 422
    assert Client.objects.get(pk=client.pk).owner_id == manager.pk
    released = api.post(f"/api/clients/{client.pk}/release", {"reason": "не наш профиль"})
    assert released.status_code == 200 and released.data["in_pool"] is True
    again = api.post(f"/api/clients/{client.pk}/claim")
    assert again.status_code == 409 and again.data["code"] == "cooldown"
    assert "until" in again.data["details"]
    assert Client.objects.get(pk=client.pk).owner_id is None


def test_head_assigns_over_the_cap_only_when_told(head, manager, api_as):
    manager.client_cap = 1
    manager.save()
    make_client(head, owner=manager)
    client = make_client(head)
    api = api_as(head)
    body = {"user_id": manager.pk, "reason": "крупный клиент"}
    refused = api.post(f"/api/clients/{client.pk}/assign", body)
    assert refused.status_code == 409 and refused.data["code"] == "over_cap"
    assert Client.objects.get(pk=client.pk).owner_id is None
    done = api.post(f"/api/clients/{client.pk}/assign", body | {"override_cap": True})
    assert done.status_code == 200 and done.data["owner"]["id"] == manager.pk
    event = OwnershipEvent.objects.get(client=client, kind=EventKind.ASSIGN)
    assert event.actor == head and event.details == {"override_cap": True}


def test_assign_to_unknown_person_is_404(head, api_as):
    client = make_client(head)
    response = api_as(head).post(f"/api/clients/{client.pk}/assign", {"user_id": 987654})
    assert response.status_code == 404 and response.data["code"] == "user_not_found"


def test_my_base_sorted_by_days_left_with_cap(head, manager, api_as, frozen_clock):
    older = make_client(head, owner=manager, name="ООО Старый")
    frozen_clock.advance(dt.timedelta(days=5))
    newer = make_client(head, owner=manager, name="ООО Новый")
    make_client(head, name="ООО Пул")
    page = api_as(manager).get("/api/my-base").data
    assert [c["id"] for c in page["items"]] == [older.pk, newer.pk]
    assert [c["days_left"] for c in page["items"]] == [25, 30]
    assert page["cap"] == {"owned": 2, "cap": 200, "free": 198, "is_over": False}
    by_name = api_as(manager).get("/api/my-base?sort=name").data
    assert [c["name"] for c in by_name["items"]] == ["ООО Новый", "ООО Старый"]
    assert api_as(manager).get("/api/my-base?sort=bogus").status_code == 422


def test_pool_lists_unowned_clients_with_filters(head, manager, api_as):
    make_client(head, owner=manager)
    a = make_client(head, name="ООО Альфа")
    b = make_client(head, name="ООО Бета")
    Client.objects.filter(pk=b.pk).update(region="Казань")  # test data only
    api = api_as(manager)
    assert [c["id"] for c in api.get("/api/pool").data["items"]] == [a.pk, b.pk]
    assert [c["id"] for c in api.get("/api/pool?region=Казань").data["items"]] == [b.pk]
    assert [c["id"] for c in api.get("/api/pool?q=Альфа").data["items"]] == [a.pk]


def test_transfer_flow_owner_objects_head_approves(
    head, manager, other_manager, api_as, frozen_clock
):
    client = make_client(head, owner=manager)
    asked = api_as(other_manager).post(
        f"/api/clients/{client.pk}/transfer-requests", {"reason": "у меня заказ на 2 млн"}
    )
    assert asked.status_code == 201
    transfer = asked.data
    assert transfer["status"] == "awaiting_owner" and transfer["owner"]["id"] == manager.pk
    assert dt.datetime.fromisoformat(transfer["owner_deadline"]) > frozen_clock.now()
    inbox = api_as(manager).get("/api/transfers").data
    assert [t["id"] for t in inbox] == [transfer["id"]]

    silent = api_as(manager).post(f"/api/transfers/{transfer['id']}/answer", {"agree": False})
    assert silent.status_code == 422 and silent.data["code"] == "comment_required"
    objected = api_as(manager).post(
        f"/api/transfers/{transfer['id']}/answer", {"agree": False, "comment": "веду переговоры"}
    )
    assert objected.status_code == 200 and objected.data["status"] == "awaiting_decision"
    approved = api_as(head).post(
        f"/api/transfers/{transfer['id']}/decide", {"approve": True, "comment": "заказ важнее"}
    )
    assert approved.status_code == 200 and approved.data["status"] == "approved"
    assert Client.objects.get(pk=client.pk).owner_id == other_manager.pk
    # Decided requests cannot be decided again.
    again = api_as(head).post(f"/api/transfers/{transfer['id']}/decide", {"approve": False})
    assert again.status_code == 409 and again.data["code"] == "transfer_not_open"
    assert Client.objects.get(pk=client.pk).owner_id == other_manager.pk
    assert api_as(manager).get("/api/transfers?box=open").data == []
    closed = api_as(manager).get("/api/transfers?box=closed").data
    assert [t["status"] for t in closed] == ["approved"]


def test_requester_cancels_and_nothing_moves(head, manager, other_manager, api_as):
    client = make_client(head, owner=manager)
    request = ownership.request_transfer(client.pk, requester=other_manager, reason="заказ")
    response = api_as(other_manager).post(f"/api/transfers/{request.pk}/cancel")
    assert response.status_code == 200 and response.data["status"] == "cancelled"
    assert Client.objects.get(pk=client.pk).owner_id == manager.pk


def test_policy_versions_are_listed_and_published(head, manager, team, api_as, frozen_clock):
    api = api_as(head)
    initial = api.get(f"/api/teams/{team.pk}/ownership-policy").data
    assert initial["version_in_force"] == 0 and initial["versions"] == []
    assert initial["document"]["default_cap"] == 200 and initial["can_edit"] is True
    published = api.post(
        f"/api/teams/{team.pk}/ownership-policy",
        {"document": {"default_cap": 120, "cooldown_days": 10}, "comment": "осень"},
    )
    assert published.status_code == 201
    assert published.data["version_in_force"] == 1
    assert published.data["document"]["default_cap"] == 120
    future = api.post(
        f"/api/teams/{team.pk}/ownership-policy",
        {
            "document": {"default_cap": 100},
            "effective_from": (frozen_clock.now() + dt.timedelta(days=7)).isoformat(),
        },
    )
    assert future.status_code == 201
    assert future.data["version_in_force"] == 1
    assert [v["version"] for v in future.data["versions"]] == [2, 1]
    seen_by_manager = api_as(manager).get(f"/api/teams/{team.pk}/ownership-policy").data
    assert seen_by_manager["can_edit"] is False and seen_by_manager["version_in_force"] == 1
    assert api.get("/api/teams/987654/ownership-policy").status_code == 404


def test_head_sets_personal_cap_through_the_api_and_a_manager_cannot(
    api_as, head, manager, other_manager
):
    denied = api_as(other_manager).post(f"/api/people/{manager.pk}/cap", {"cap": 999})
    assert denied.status_code == 404
    manager.refresh_from_db()
    assert manager.client_cap is None
    ok = api_as(head).post(f"/api/people/{manager.pk}/cap", {"cap": 3})
    assert ok.status_code == 200 and ok.json()["usage"]["cap"] == 3
    bad = api_as(head).post(f"/api/people/{manager.pk}/cap", {"cap": -1})
    assert bad.status_code == 422
    manager.refresh_from_db()
    assert manager.client_cap == 3
