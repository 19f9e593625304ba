"""The client base over HTTP: search, create, the card, edits, contacts, legal entities,
activities, history, duplicates and merges."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.activities.models import Activity
from otdel.clients.models import Client
from otdel.ownership import services as ownership
from otdel.ownership.models import EventKind
from tests.factories import make_client, valid_inn

pytestmark = pytest.mark.django_db


def test_manager_creates_a_client_into_his_base(manager, api_as, frozen_clock):
    inn = valid_inn(31)
    response = api_as(manager).post(
        "/api/clients",
        {
            "name": "ООО Ромашка",
            "website": "https://romashka.ru",
            "legal_entities": [{"name": "ООО «Ромашка»", "inn": inn, "kpp": "770101001"}],
            "contacts": [
                {
                    "full_name": "Пётр Сидоров",
                    "is_decision_maker": True,
                    "phones": ["8 (916) 123-45-67"],
                    "email": "Petr@Romashka.ru",
                }
            ],
            "brands": ["Ромашка"],
        },
    )
    assert response.status_code == 201, response.content
    card = response.data
    assert card["ownership"]["owner"]["id"] == manager.pk
    assert card["legal_entities"][0]["inn"] == inn
    [contact] = card["contacts"]
    assert contact["email"] == "petr@romashka.ru" and contact["masked"] is False
    assert card["brands"] == ["Ромашка"]
    assert card["actions"]["release"] is True and card["actions"]["claim"] is False
    client = Client.objects.get(pk=card["id"])
    assert client.owner == manager
    assert client.ownership_events.get().kind == EventKind.CREATED


def test_head_creates_a_pool_client_by_default(head, api_as):
    response = api_as(head).post("/api/clients", {"name": "ООО Пул"})
    assert response.status_code == 201
    assert response.data["ownership"]["in_pool"] is True
    assert Client.objects.get(pk=response.data["id"]).owner_id is None


def test_card_shows_owner_protection_and_countdown(head, manager, api_as, frozen_clock):
    client = make_client(head)
    ownership.claim(client.pk, actor=manager)
    frozen_clock.advance(dt.timedelta(days=20))
    card = api_as(head).get(f"/api/clients/{client.pk}").data
    status = card["ownership"]
    assert status["owner"]["username"] == "ivanov"
    assert status["protected_until"] is not None and status["is_protected"] is False
    # 30 idle days from the claim, 20 gone.
    assert status["days_left"] == 10
    assert dt.datetime.fromisoformat(status["returns_at"]) == frozen_clock.now() + dt.timedelta(
        days=10
    )


def test_search_filters_by_owner_and_pool(head, manager, other_manager, api_as):
    mine = make_client(head, owner=manager, name="ООО Моё")
    make_client(head, owner=other_manager, name="ООО Чужое")
    pooled = make_client(head, name="ООО Ничьё")
    api = api_as(manager)
    assert [c["id"] for c in api.get("/api/clients?owner=me").data["items"]] == [mine.pk]
    assert [c["id"] for c in api.get("/api/clients?owner=pool").data["items"]] == [pooled.pk]
    page = api.get(f"/api/clients?owner={other_manager.pk}").data
    assert [c["owner"]["id"] for c in page["items"]] == [other_manager.pk]
    everyone = api.get("/api/clients?q=ООО&page_size=2").data
    assert everyone["count"] == 3 and everyone["pages"] == 2 and len(everyone["items"]) == 2
    assert api.get("/api/clients?owner=nobody").status_code == 422


def test_search_by_inn(head, manager, api_as):
    inn = valid_inn(99)
    client = make_client(head, inn=inn)
    page = api_as(manager).get(f"/api/clients?q={inn}").data
    assert [c["id"] for c in page["items"]] == [client.pk]


def test_owner_edits_details_but_not_the_owner(head, manager, api_as):
    client = make_client(head, owner=manager)
    response = api_as(manager).patch(
        f"/api/clients/{client.pk}", {"region": "Москва", "owner": 123, "owner_id": 123}
    )
    assert response.status_code == 200
    assert response.data["region"] == "Москва"
    client.refresh_from_db()
    assert client.region == "Москва" and client.owner_id == manager.pk


def test_contacts_are_added_listed_and_removed(head, manager, api_as):
    client = make_client(head, owner=manager, phones=[])
    api = api_as(manager)
    added = api.post(
        f"/api/clients/{client.pk}/contacts",
        {"full_name": "Анна Ким", "phones": ["+7 495 111-22-33"], "is_decision_maker": True},
    )
    assert added.status_code == 201
    assert added.data["phones"] == ["+7 495 111-22-33"]
    names = [c["full_name"] for c in api.get(f"/api/clients/{client.pk}/contacts").data]
    assert "Анна Ким" in names
    assert api.delete(f"/api/contacts/{added.data['id']}").status_code == 204
    names = [c["full_name"] for c in api.get(f"/api/clients/{client.pk}/contacts").data]
    assert "Анна Ким" not in names


def test_bad_phone_in_contact_is_422(head, manager, api_as):
    client = make_client(head, owner=manager)
    response = api_as(manager).post(
        f"/api/clients/{client.pk}/contacts", {"full_name": "Анна", "phones": ["12"]}
    )
    assert response.status_code == 422
    assert response.data["details"]["fields"][0]["field"] == "phones"


def test_pool_contacts_are_masked_when_the_policy_says(head, manager, team, api_as, frozen_clock):
    ownership.publish_policy(
        team.pk,
        document={"mask_pool_contacts": True},
        effective_from=frozen_clock.now(),
        actor=head,
    )
    client = make_client(head, phones=["+74951234567"], email="boss@firma.ru")
    [contact] = api_as(manager).get(f"/api/clients/{client.pk}/contacts").data
    assert contact["masked"] is True
    assert "1234567" not in "".join(contact["phones"]) and contact["email"] != "boss@firma.ru"
    [seen_by_head] = api_as(head).get(f"/api/clients/{client.pk}/contacts").data
    assert seen_by_head["masked"] is False


def test_legal_entity_with_a_known_inn_needs_confirmation(head, manager, api_as):
    inn = valid_inn(55)
    make_client(head, inn=inn, name="ООО Другое")
    client = make_client(head, owner=manager)
    api = api_as(manager)
    body = {"name": "ООО Дубль", "inn": inn}
    refused = api.post(f"/api/clients/{client.pk}/legal-entities", body)
    assert refused.status_code == 409 and refused.data["code"] == "possible_duplicates"
    assert len(api.get(f"/api/clients/{client.pk}/legal-entities").data) == 1
    confirmed = api.post(
        f"/api/clients/{client.pk}/legal-entities", body | {"allow_duplicates": True}
    )
    assert confirmed.status_code == 201
    assert len(api.get(f"/api/clients/{client.pk}/legal-entities").data) == 2


def test_owner_logs_a_meeting_and_restarts_his_clock(head, manager, api_as, frozen_clock):
    client = make_client(head, owner=manager)
    frozen_clock.advance(dt.timedelta(days=10))
    response = api_as(manager).post(
        f"/api/clients/{client.pk}/activities",
        {"kind": "meeting", "subject": "Встреча на объекте"},
    )
    assert response.status_code == 201 and response.data["kind"] == "meeting"
    card = api_as(manager).get(f"/api/clients/{client.pk}").data
    assert card["ownership"]["days_left"] == 30


def test_a_typed_in_call_is_logged_but_does_not_restart_the_clock(
    head, manager, api_as, frozen_clock
):
    client = make_client(head, owner=manager)
    frozen_clock.advance(dt.timedelta(days=10))
    response = api_as(manager).post(
        f"/api/clients/{client.pk}/activities",
        {"kind": "call", "direction": "out", "talk_seconds": 950, "subject": "Обсудили заказ"},
    )
    assert response.status_code == 201
    assert response.data["kind"] == "call" and response.data["talk_seconds"] == 950
    card = api_as(manager).get(f"/api/clients/{client.pk}").data
    # The team's call policy counts only calls the phone system reported.
    assert card["ownership"]["days_left"] == 20


def test_activity_in_the_future_is_422_and_not_logged(head, manager, api_as, frozen_clock):
    client = make_client(head, owner=manager)
    response = api_as(manager).post(
        f"/api/clients/{client.pk}/activities",
        {"kind": "call", "occurred_at": (frozen_clock.now() + dt.timedelta(days=1)).isoformat()},
    )
    assert response.status_code == 422 and response.data["code"] == "future_activity"
    assert not Activity.objects.filter(client=client).exists()


def test_history_lists_ledger_events_with_actor_reason_and_policy(
    head, manager, team, api_as, frozen_clock
):
    ownership.publish_policy(
        team.pk, document={"cooldown_days": 5}, effective_from=frozen_clock.now(), actor=head
    )
    client = make_client(head)
    ownership.claim(client.pk, actor=manager)
    frozen_clock.advance(dt.timedelta(hours=1))
    ownership.release_to_pool(client.pk, actor=manager, reason="не наш профиль")
    events = api_as(head).get(f"/api/clients/{client.pk}/history").data
    assert [e["kind"] for e in events] == ["release", "claim", "created"]
    release = events[0]
    assert release["from_user"]["id"] == manager.pk and release["to_user"] is None
    assert release["actor"]["id"] == manager.pk
    assert release["reason"] == "не наш профиль"
    assert release["policy_version"] == 1


def test_duplicates_and_merge(head, manager, other_manager, api_as):
    inn = valid_inn(77)
    survivor = make_client(head, owner=manager, name="ООО Гамма", inn=inn)
    duplicate = make_client(head, owner=other_manager, name="Гамма ООО", inn=inn)
    api = api_as(head)
    found = api.get(f"/api/clients/{survivor.pk}/duplicates").data
    assert [d["id"] for d in found] == [duplicate.pk]
    assert "inn" in found[0]["reasons"] and found[0]["strong"] is True
    merged = api.post(
        f"/api/clients/{survivor.pk}/merge",
        {"duplicate_id": duplicate.pk, "keep_owner_id": other_manager.pk},
    )
    assert merged.status_code == 200, merged.content
    assert merged.data["ownership"]["owner"]["id"] == other_manager.pk
    assert len(merged.data["legal_entities"]) == 2
    assert Client.objects.get(pk=duplicate.pk).merged_into_id == survivor.pk
    # The merged id leads to the survivor; its history includes the duplicate's.
    assert api.get(f"/api/clients/{duplicate.pk}").data["id"] == survivor.pk
    kinds = [e["kind"] for e in api.get(f"/api/clients/{survivor.pk}/history").data]
    assert kinds.count("merge") == 2 and kinds.count("created") == 2


def test_merge_into_itself_is_422(head, manager, api_as):
    client = make_client(head, owner=manager)
    response = api_as(head).post(f"/api/clients/{client.pk}/merge", {"duplicate_id": client.pk})
    assert response.status_code == 422 and response.data["code"] == "same_client"
