"""The permission matrix over HTTP: anonymous / another manager / the owner / the head of sales
(and, for transfers, the requester) × every ownership action and write endpoint.

A denied request answers with its status and code and changes nothing: the owner, the ledger,
the transfer statuses, the contacts, legal entities and policy versions are as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from otdel.clients.models import Client, Contact, LegalEntity
from otdel.clients.schemas import ContactIn
from otdel.clients.services import add_contact
from otdel.ownership import services as ownership
from otdel.ownership.models import (
    OwnershipEvent,
    OwnershipPolicy,
    TransferRequest,
    TransferStatus,
)
from otdel.people.models import Role
from tests.factories import make_client, make_user, valid_inn

pytestmark = pytest.mark.django_db


@dataclass
class World:
    """A department: the owner's client, a pool client, an open transfer request about the
    owner's client by the requester, and a contact on the owner's client."""

    people: dict[str, Any]
    client: Client
    pool_client: Client
    transfer: TransferRequest
    contact_id: int
    team_id: int


@pytest.fixture
def world(team, head, manager, other_manager) -> World:
    requester = make_user(Role.HUNTER, team=team, username="sidorov")
    client = make_client(head, owner=manager, name="ООО Альфа")
    pool_client = make_client(head, name="ООО Бета")
    transfer = ownership.request_transfer(client.pk, requester=requester, reason="есть заказ")
    contact = add_contact(client.pk, ContactIn(full_name="Сергей Петров"), actor=manager)
    return World(
        people={
            "anonymous": None,
            "other": other_manager,
            "owner": manager,
            "head": head,
            "requester": requester,
        },
        client=client,
        pool_client=pool_client,
        transfer=transfer,
        contact_id=contact.pk,
        team_id=team.pk,
    )


def snapshot(w: World) -> dict[str, Any]:
    """Everything a write could change."""
    rows = {c.pk: c for c in Client.objects.filter(pk__in=[w.client.pk, w.pool_client.pk])}
    return {
        "owner": rows[w.client.pk].owner_id,
        "pool_owner": rows[w.pool_client.pk].owner_id,
        "name": rows[w.client.pk].name,
        "merged": rows[w.pool_client.pk].merged_into_id,
        "ledger": OwnershipEvent.objects.count(),
        "transfers": sorted(TransferRequest.objects.values_list("pk", "status")),
        "contacts": Contact.objects.count(),
        "legal_entities": LegalEntity.objects.count(),
        "policies": OwnershipPolicy.objects.count(),
    }


def _policy_body() -> dict[str, Any]:
    return {"document": {"default_cap": 150, "daily_claim_limit": 5}, "comment": "новая"}


# action → (method, path, body) for a world
ACTIONS: dict[str, Callable[[World], tuple[str, str, Any]]] = {
    "claim_owned": lambda w: ("post", f"/api/clients/{w.client.pk}/claim", {}),
    "claim_pool": lambda w: ("post", f"/api/clients/{w.pool_client.pk}/claim", {}),
    "release": lambda w: ("post", f"/api/clients/{w.client.pk}/release", {"reason": "не наш"}),
    "assign": lambda w: (
        "post",
        f"/api/clients/{w.client.pk}/assign",
        {"user_id": w.people["other"].pk, "reason": "перераспределение"},
    ),
    "request_transfer": lambda w: (
        "post",
        f"/api/clients/{w.client.pk}/transfer-requests",
        {"reason": "у меня заказ"},
    ),
    "answer": lambda w: (
        "post",
        f"/api/transfers/{w.transfer.pk}/answer",
        {"agree": True, "comment": "забирай"},
    ),
    "decide": lambda w: (
        "post",
        f"/api/transfers/{w.transfer.pk}/decide",
        {"approve": True, "comment": "согласовано"},
    ),
    "cancel": lambda w: ("post", f"/api/transfers/{w.transfer.pk}/cancel", {}),
    "patch": lambda w: ("patch", f"/api/clients/{w.client.pk}", {"name": "ООО Альфа-Плюс"}),
    "add_contact": lambda w: (
        "post",
        f"/api/clients/{w.client.pk}/contacts",
        {"full_name": "Ольга Смирнова", "phones": ["8 (495) 123-45-67"]},
    ),
    "remove_contact": lambda w: ("delete", f"/api/contacts/{w.contact_id}", None),
    "add_legal_entity": lambda w: (
        "post",
        f"/api/clients/{w.client.pk}/legal-entities",
        {"name": "ООО Альфа-Юг", "inn": valid_inn(4242)},
    ),
    "merge": lambda w: (
        "post",
        f"/api/clients/{w.client.pk}/merge",
        {"duplicate_id": w.pool_client.pk},
    ),
    "publish_policy": lambda w: (
        "post",
        f"/api/teams/{w.team_id}/ownership-policy",
        _policy_body(),
    ),
}

# What each allowed request visibly did (given the state before and after).
Snap = dict[str, Any]
EFFECTS: dict[str, Callable[[World, Snap, Snap], bool]] = {
    "claim_pool": lambda w, b, a: (
        a["pool_owner"] == w.people["other"].pk and a["ledger"] == b["ledger"] + 1
    ),
    "release": lambda w, b, a: a["owner"] is None and a["ledger"] == b["ledger"] + 1,
    "assign": lambda w, b, a: a["owner"] == w.people["other"].pk and a["ledger"] == b["ledger"] + 1,
    "request_transfer": lambda w, b, a: len(a["transfers"]) == len(b["transfers"]) + 1,
    "answer": lambda w, b, a: (
        a["owner"] == w.people["requester"].pk
        and a["transfers"] == [(w.transfer.pk, TransferStatus.APPROVED)]
    ),
    "decide": lambda w, b, a: (
        a["owner"] == w.people["requester"].pk
        and a["transfers"] == [(w.transfer.pk, TransferStatus.APPROVED)]
    ),
    "cancel": lambda w, b, a: (
        a["transfers"] == [(w.transfer.pk, TransferStatus.CANCELLED)] and a["owner"] == b["owner"]
    ),
    "patch": lambda w, b, a: a["name"] == "ООО Альфа-Плюс" and a["owner"] == b["owner"],
    "add_contact": lambda w, b, a: a["contacts"] == b["contacts"] + 1,
    "remove_contact": lambda w, b, a: a["contacts"] == b["contacts"] - 1,
    "add_legal_entity": lambda w, b, a: a["legal_entities"] == b["legal_entities"] + 1,
    "merge": lambda w, b, a: a["merged"] == w.client.pk and a["owner"] == b["owner"],
    "publish_policy": lambda w, b, a: a["policies"] == b["policies"] + 1,
}

# (action, who) → (status, code); code None for a success.
MATRIX: dict[tuple[str, str], tuple[int, str | None]] = {
    ("claim_owned", "anonymous"): (401, "unauthorized"),
    ("claim_owned", "other"): (409, "already_owned"),
    ("claim_owned", "owner"): (409, "already_yours"),
    ("claim_owned", "head"): (409, "already_owned"),
    ("claim_pool", "anonymous"): (401, "unauthorized"),
    ("claim_pool", "other"): (200, None),
    ("claim_pool", "head"): (409, "role_cannot_own"),
    ("release", "anonymous"): (401, "unauthorized"),
    ("release", "other"): (404, "client_not_found"),
    ("release", "owner"): (200, None),
    ("release", "head"): (200, None),
    ("assign", "anonymous"): (401, "unauthorized"),
    ("assign", "other"): (404, "client_not_found"),
    ("assign", "owner"): (403, "not_head_of_sales"),
    ("assign", "head"): (200, None),
    ("request_transfer", "anonymous"): (401, "unauthorized"),
    ("request_transfer", "other"): (201, None),
    ("request_transfer", "owner"): (409, "cannot_request"),
    ("request_transfer", "head"): (409, "cannot_request"),
    ("request_transfer", "requester"): (409, "transfer_exists"),
    ("answer", "anonymous"): (401, "unauthorized"),
    ("answer", "other"): (404, "transfer_not_found"),
    ("answer", "requester"): (403, "not_owner"),
    ("answer", "owner"): (200, None),
    ("answer", "head"): (403, "not_owner"),
    ("decide", "anonymous"): (401, "unauthorized"),
    ("decide", "other"): (404, "transfer_not_found"),
    ("decide", "requester"): (403, "not_head_of_sales"),
    ("decide", "owner"): (403, "not_head_of_sales"),
    ("decide", "head"): (200, None),
    ("cancel", "anonymous"): (401, "unauthorized"),
    ("cancel", "other"): (404, "transfer_not_found"),
    ("cancel", "owner"): (403, "not_requester"),
    ("cancel", "head"): (403, "not_requester"),
    ("cancel", "requester"): (200, None),
    ("patch", "anonymous"): (401, "unauthorized"),
    ("patch", "other"): (404, "client_not_found"),
    ("patch", "owner"): (200, None),
    ("patch", "head"): (200, None),
    ("add_contact", "anonymous"): (401, "unauthorized"),
    ("add_contact", "other"): (404, "client_not_found"),
    ("add_contact", "owner"): (201, None),
    ("add_contact", "head"): (201, None),
    ("remove_contact", "anonymous"): (401, "unauthorized"),
    ("remove_contact", "other"): (404, "contact_not_found"),
    ("remove_contact", "owner"): (204, None),
    ("remove_contact", "head"): (204, None),
    ("add_legal_entity", "anonymous"): (401, "unauthorized"),
    ("add_legal_entity", "other"): (404, "client_not_found"),
    ("add_legal_entity", "owner"): (201, None),
    ("add_legal_entity", "head"): (201, None),
    ("merge", "anonymous"): (401, "unauthorized"),
    ("merge", "other"): (404, "client_not_found"),
    ("merge", "owner"): (403, "cannot_merge"),
    ("merge", "head"): (200, None),
    ("publish_policy", "anonymous"): (401, "unauthorized"),
    ("publish_policy", "other"): (403, "not_head_of_sales"),
    ("publish_policy", "owner"): (403, "not_head_of_sales"),
    ("publish_policy", "head"): (201, None),
}


@pytest.mark.parametrize(("action", "who"), sorted(MATRIX), ids=lambda v: str(v))
def test_permission_matrix(world, api_as, frozen_clock, action, who):
    status, code = MATRIX[(action, who)]
    method, path, body = ACTIONS[action](world)
    before = snapshot(world)
    api = api_as(world.people[who])
    response = api.call(method, path, body)
    assert response.status_code == status, response.content
    after = snapshot(world)
    if code is None:
        assert EFFECTS[action](world, before, after), (before, after)
    else:
        assert response.data["code"] == code
        assert response.data["message"]
        assert after == before


WRITES_ON_A_CLIENT: dict[str, Callable[[int, World], tuple[str, str, Any]]] = {
    "release": lambda cid, w: ("post", f"/api/clients/{cid}/release", {"reason": "x"}),
    "claim": lambda cid, w: ("post", f"/api/clients/{cid}/claim", {}),
    "assign": lambda cid, w: (
        "post",
        f"/api/clients/{cid}/assign",
        {"user_id": w.people["other"].pk},
    ),
    "patch": lambda cid, w: ("patch", f"/api/clients/{cid}", {"name": "Новое имя"}),
    "add_contact": lambda cid, w: ("post", f"/api/clients/{cid}/contacts", {"full_name": "Иван"}),
    "add_legal_entity": lambda cid, w: (
        "post",
        f"/api/clients/{cid}/legal-entities",
        {"name": "ООО", "inn": valid_inn(77)},
    ),
    "merge": lambda cid, w: ("post", f"/api/clients/{cid}/merge", {"duplicate_id": 1}),
    "transfer_request": lambda cid, w: (
        "post",
        f"/api/clients/{cid}/transfer-requests",
        {"reason": "заказ"},
    ),
    "activity": lambda cid, w: ("post", f"/api/clients/{cid}/activities", {"kind": "call"}),
}


@pytest.mark.parametrize("action", sorted(WRITES_ON_A_CLIENT))
def test_missing_client_is_404_on_every_write(world, api_as, action):
    method, path, body = WRITES_ON_A_CLIENT[action](987_654, world)
    before = snapshot(world)
    response = api_as(world.people["head"]).call(method, path, body)
    assert response.status_code == 404
    assert response.data["code"] == "client_not_found"
    assert snapshot(world) == before


@pytest.mark.parametrize(
    "action", ["release", "assign", "patch", "add_contact", "add_legal_entity", "merge"]
)
def test_someone_elses_client_looks_missing_on_writes(world, api_as, action):
    """Another manager gets the very same 404 as for a client that does not exist."""
    method, path, body = WRITES_ON_A_CLIENT[action](world.client.pk, world)
    before = snapshot(world)
    theirs = api_as(world.people["other"]).call(method, path, body)
    method, path, body = WRITES_ON_A_CLIENT[action](987_654, world)
    missing = api_as(world.people["other"]).call(method, path, body)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.data["code"] == missing.data["code"] == "client_not_found"
    assert snapshot(world) == before


def test_missing_transfer_and_contact_are_404(world, api_as):
    head = api_as(world.people["head"])
    for path in ("/api/transfers/987654/answer", "/api/transfers/987654/decide"):
        response = head.post(path, {"agree": True, "approve": True})
        assert response.status_code == 404
        assert response.data["code"] == "transfer_not_found"
    assert head.post("/api/transfers/987654/cancel").status_code == 404
    assert head.get("/api/transfers/987654").status_code == 404
    response = head.delete("/api/contacts/987654")
    assert response.status_code == 404 and response.data["code"] == "contact_not_found"


def test_transfer_is_visible_only_to_the_three_involved(world, api_as):
    path = f"/api/transfers/{world.transfer.pk}"
    for who in ("requester", "owner", "head"):
        assert api_as(world.people[who]).get(path).status_code == 200
    assert api_as(world.people["other"]).get(path).status_code == 404
    assert api_as(None).get(path).status_code == 401


def test_head_of_another_team_cannot_publish_our_policy(world, api_as):
    from tests.factories import make_head, make_team

    stranger = make_head(make_team("Другой отдел"))
    before = snapshot(world)
    response = api_as(stranger).post(f"/api/teams/{world.team_id}/ownership-policy", _policy_body())
    assert response.status_code == 403
    assert response.data["code"] == "not_head_of_sales"
    assert snapshot(world) == before


def test_backdated_policy_is_422_and_not_saved(world, api_as, frozen_clock):
    body = _policy_body() | {
        "effective_from": (frozen_clock.now() - dt.timedelta(days=3)).isoformat()
    }
    before = snapshot(world)
    response = api_as(world.people["head"]).post(
        f"/api/teams/{world.team_id}/ownership-policy", body
    )
    assert response.status_code == 422
    assert response.data["code"] == "backdated"
    assert snapshot(world) == before


def test_invalid_policy_document_is_422_with_fields(world, api_as):
    before = snapshot(world)
    response = api_as(world.people["head"]).post(
        f"/api/teams/{world.team_id}/ownership-policy",
        {"document": {"default_cap": -5, "bogus": 1}},
    )
    assert response.status_code == 422
    assert response.data["code"] == "validation_error"
    fields = {f["field"] for f in response.data["details"]["fields"]}
    assert {"document.default_cap", "document.bogus"} <= fields
    assert snapshot(world) == before
