"""Errors are JSON with a stable code, the right status and a message in the caller's language."""

from __future__ import annotations

import pytest

from otdel.clients.models import Client, LegalEntity
from otdel.ownership.models import OwnershipEvent
from tests.factories import make_client, valid_inn

pytestmark = pytest.mark.django_db


def _bad_inn(inn: str) -> str:
    return inn[:-1] + str((int(inn[-1]) + 1) % 10)


def test_bad_inn_is_422_naming_the_inn_and_nothing_is_written(manager, api_as):
    clients, events = Client.objects.count(), OwnershipEvent.objects.count()
    bad = _bad_inn(valid_inn(5))
    response = api_as(manager).post(
        "/api/clients",
        {"name": "ООО Ромашка", "legal_entities": [{"name": "ООО Ромашка", "inn": bad}]},
    )
    assert response.status_code == 422
    assert response.data["code"] == "validation_error"
    assert "ИНН" in response.data["message"]
    [field] = response.data["details"]["fields"]
    assert field["field"] == "legal_entities.0.inn"
    assert "ИНН" in field["message"] and bad in field["message"]
    assert Client.objects.count() == clients
    assert OwnershipEvent.objects.count() == events
    assert not LegalEntity.objects.filter(inn=bad).exists()


def test_missing_required_field_is_422_with_the_field(manager, api_as):
    response = api_as(manager).post("/api/clients", {"website": "example.ru"})
    assert response.status_code == 422
    assert response.data["code"] == "validation_error"
    assert [f["field"] for f in response.data["details"]["fields"]] == ["name"]


def test_malformed_json_is_422(manager, api_as):
    api = api_as(manager)
    response = api.http.post(
        "/api/clients", data="{not json", content_type="application/json", headers=api.headers
    )
    assert response.status_code in (400, 422)
    assert response.json()["code"]


def test_possible_duplicates_are_409_with_the_list_and_nothing_is_written(head, manager, api_as):
    inn = valid_inn(11)
    existing = make_client(head, owner=manager, name="ООО Вектор", inn=inn)
    count = Client.objects.count()
    response = api_as(head).post(
        "/api/clients",
        {"name": "Вектор", "legal_entities": [{"name": "ООО Вектор-М", "inn": inn}]},
    )
    assert response.status_code == 409
    assert response.data["code"] == "possible_duplicates"
    [dup] = response.data["details"]["duplicates"]
    assert dup["id"] == existing.pk and "inn" in dup["reasons"]
    assert dup["owner"] == manager.display_name
    assert Client.objects.count() == count


def test_confirmed_duplicate_is_created(head, manager, api_as):
    inn = valid_inn(12)
    make_client(head, owner=manager, name="ООО Вектор", inn=inn)
    response = api_as(head).post(
        "/api/clients",
        {
            "name": "Вектор 2",
            "owner": "pool",
            "allow_duplicates": True,
            "legal_entities": [{"name": "ООО Вектор-2", "inn": inn}],
        },
    )
    assert response.status_code == 201
    assert response.data["ownership"]["in_pool"] is True


def test_missing_client_is_404_json(manager, api_as):
    response = api_as(manager).get("/api/clients/987654")
    assert response.status_code == 404
    assert response.data["code"] == "client_not_found"
    assert response.data["message"]


def test_unknown_url_under_api_is_404(manager, api_as):
    response = api_as(manager).get("/api/no-such-thing")
    assert response.status_code == 404


def test_ownership_conflict_is_409_with_its_code(head, manager, other_manager, api_as):
    client = make_client(head, owner=other_manager)
    response = api_as(manager).post(f"/api/clients/{client.pk}/claim")
    assert response.status_code == 409
    assert response.data["code"] == "already_owned"
    assert response.data["details"] == {}


def test_over_cap_names_the_numbers(head, manager, api_as):
    manager.client_cap = 1
    manager.save()
    make_client(head, owner=manager)
    extra = make_client(head)
    response = api_as(manager).post(f"/api/clients/{extra.pk}/claim")
    assert response.status_code == 409
    assert response.data["code"] == "over_cap"
    assert response.data["details"] == {"owned": 1, "cap": 1}
    assert Client.objects.get(pk=extra.pk).owner_id is None


def test_language_follows_accept_language_russian_by_default(manager, api_as):
    assert api_as(manager).get("/api/clients/987654")["Content-Language"] == "ru"
    english = api_as(manager, language="en").get("/api/clients/987654")
    assert english["Content-Language"] == "en"
    assert english.data["message"] == "Client not found."
