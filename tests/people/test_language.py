"""Russian by default; English when the person chooses it; the API follows Accept-Language."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

pytestmark = pytest.mark.django_db


def test_pages_are_russian_even_for_an_english_browser(manager):
    http = HttpClient(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    http.force_login(manager)
    page = http.get("/my-base/").content.decode()
    assert '<html lang="ru">' in page and "Моя база" in page


def test_person_who_chose_english_gets_english(manager):
    manager.language = "en"
    manager.save()
    http = HttpClient()
    http.force_login(manager)
    page = http.get("/my-base/").content.decode()
    assert '<html lang="en">' in page and "My base" in page


def test_language_switch_overrides_the_setting(manager):
    http = HttpClient()
    http.force_login(manager)
    http.post("/i18n/setlang/", {"language": "en", "next": "/my-base/"})
    assert "My base" in http.get("/my-base/").content.decode()
    http.post("/i18n/setlang/", {"language": "ru", "next": "/my-base/"})
    assert "Моя база" in http.get("/my-base/").content.decode()


def test_api_errors_follow_accept_language(manager):
    from otdel.people.services import issue_api_token

    _, secret = issue_api_token(manager, name="t")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    ru = HttpClient().post("/api/clients/999999/claim", **auth).json()
    en = HttpClient().post("/api/clients/999999/claim", HTTP_ACCEPT_LANGUAGE="en", **auth).json()
    assert ru["code"] == en["code"] == "client_not_found"
    assert ru["message"] == "Клиент не найден." and en["message"] == "Client not found."
