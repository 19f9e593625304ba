"""Who may call the API: personal tokens, the browser session with CSRF, nobody else."""

from __future__ import annotations

import json

import pytest
from django.test import Client as HttpClient

from otdel.clients.models import Client
from otdel.ownership.models import OwnershipEvent
from otdel.people.services import issue_api_token, revoke_api_token
from tests.api.conftest import Api
from tests.factories import make_client

pytestmark = pytest.mark.django_db


def test_request_without_token_is_401_json(manager):
    response = Api().get("/api/clients")
    assert response.status_code == 401
    assert response.data["code"] == "unauthorized"
    assert response.data["message"]


def test_wrong_token_is_401(manager):
    issue_api_token(manager, name="real")
    response = Api("otd_not-a-real-token").get("/api/clients")
    assert response.status_code == 401
    assert response.data["code"] == "unauthorized"


def test_revoked_token_is_401(manager):
    token, secret = issue_api_token(manager, name="old")
    assert Api(secret).get("/api/me").status_code == 200
    revoke_api_token(token.pk, actor=manager)
    response = Api(secret).get("/api/me")
    assert response.status_code == 401
    assert response.data["code"] == "unauthorized"


def test_token_of_deactivated_person_is_401(manager):
    _, secret = issue_api_token(manager, name="t")
    manager.is_active = False
    manager.save()
    assert Api(secret).get("/api/me").status_code == 401


def test_valid_token_identifies_the_person(manager):
    _, secret = issue_api_token(manager, name="script")
    response = Api(secret).get("/api/me")
    assert response.status_code == 200
    assert response.data["username"] == "ivanov"
    assert response.data["cap"] == {"owned": 0, "cap": 200, "free": 200, "is_over": False}


def test_anonymous_write_is_401_and_changes_nothing(head, manager):
    client = make_client(head)
    events = OwnershipEvent.objects.count()
    response = Api().post(f"/api/clients/{client.pk}/claim")
    assert response.status_code == 401
    assert Client.objects.get(pk=client.pk).owner_id is None
    assert OwnershipEvent.objects.count() == events


def test_wrong_token_does_not_fall_back_to_the_session(head, manager):
    browser = HttpClient()
    browser.force_login(manager)
    response = browser.get("/api/me", headers={"Authorization": "Bearer otd_wrong"})
    assert response.status_code == 401


def test_session_reads_work_for_the_browser(manager):
    browser = HttpClient()
    browser.force_login(manager)
    response = browser.get("/api/me")
    assert response.status_code == 200
    assert json.loads(response.content)["username"] == "ivanov"


def test_session_post_without_csrf_token_is_refused_and_changes_nothing(head, manager):
    client = make_client(head)
    events = OwnershipEvent.objects.count()
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(manager)
    response = browser.post(f"/api/clients/{client.pk}/claim")
    assert response.status_code == 403
    assert json.loads(response.content)["code"] == "csrf_failed"
    assert Client.objects.get(pk=client.pk).owner_id is None
    assert OwnershipEvent.objects.count() == events


def test_session_post_with_csrf_token_is_accepted(head, manager):
    client = make_client(head)
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(manager)
    # What the page does: the CSRF cookie plus the same token in the X-CSRFToken header.
    csrf_value = "k" * 32
    browser.cookies["csrftoken"] = csrf_value
    response = browser.post(f"/api/clients/{client.pk}/claim", headers={"X-CSRFToken": csrf_value})
    assert response.status_code == 200, response.content
    assert Client.objects.get(pk=client.pk).owner_id == manager.pk


def test_token_post_needs_no_csrf_token(head, manager, api_as):
    client = make_client(head)
    response = api_as(manager).post(f"/api/clients/{client.pk}/claim")
    assert response.status_code == 200
    assert response.data["owner"]["id"] == manager.pk
