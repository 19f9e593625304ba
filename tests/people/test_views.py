"""People pages: sign-in, tokens, notifications, language, and that every page needs a login."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from otdel.people.models import ApiToken, Notification
from otdel.people.services import notify

pytestmark = pytest.mark.django_db

PASSWORD = "pass-Word-123"


def test_login_with_right_password_opens_the_app(manager):
    http = HttpClient()
    response = http.post("/login/", {"username": "ivanov", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert http.get("/").headers["Location"] == "/my-base/"


def test_login_with_wrong_password_is_refused(manager):
    http = HttpClient()
    response = http.post("/login/", {"username": "ivanov", "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in http.session
    assert b"errorlist" in response.content
    assert http.get("/account/tokens/").status_code == 302


def test_head_of_sales_starts_on_the_department_page(head):
    http = HttpClient()
    http.force_login(head)
    assert http.get("/").headers["Location"] == "/head/"


def test_logout_is_a_post_and_ends_the_session(manager):
    http = HttpClient()
    http.force_login(manager)
    response = http.post("/logout/")
    assert response.status_code == 302
    assert http.get("/account/tokens/").status_code == 302


@pytest.mark.parametrize("url", ["/", "/account/tokens/", "/notifications/", "/account/password/"])
def test_people_pages_need_a_login(db, url):
    response = HttpClient().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize(
    "url", ["/account/tokens/", "/notifications/", "/account/password/", "/account/password/done/"]
)
def test_people_pages_render_for_a_signed_in_user(manager, url):
    http = HttpClient()
    http.force_login(manager)
    response = http.get(url)
    assert response.status_code == 200
    assert "Иванов" in response.content.decode()


def test_password_change_needs_the_old_password(manager):
    http = HttpClient()
    http.force_login(manager)
    response = http.post(
        "/account/password/",
        {
            "old_password": "wrong",
            "new_password1": "N3w-pass-word!",
            "new_password2": "N3w-pass-word!",
        },
    )
    assert response.status_code == 200
    manager.refresh_from_db()
    assert manager.check_password(PASSWORD)
    response = http.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "N3w-pass-word!",
            "new_password2": "N3w-pass-word!",
        },
    )
    assert response.status_code == 302
    manager.refresh_from_db()
    assert manager.check_password("N3w-pass-word!")


def test_new_token_secret_is_shown_once_and_only_its_hash_is_stored(manager):
    http = HttpClient()
    http.force_login(manager)
    response = http.post("/account/tokens/", {"name": "1C exchange"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    token = ApiToken.objects.get(user=manager)
    start = html.index('id="token-secret">') + len('id="token-secret">')
    secret = html[start : html.index("<", start)].strip()
    assert secret.startswith("otd_")
    assert token.digest == ApiToken.hash_secret(secret)
    assert secret not in (token.digest, token.prefix, token.name)
    # On the next visit the secret is gone for good.
    again = http.get("/account/tokens/").content.decode()
    assert secret not in again
    assert "1C exchange" in again


def test_revoking_a_token_locks_it_out_and_others_tokens_are_not_found(manager, other_manager):
    from otdel.people.services import issue_api_token, user_for_token

    mine, my_secret = issue_api_token(manager, name="mine")
    theirs, their_secret = issue_api_token(other_manager, name="theirs")
    http = HttpClient()
    http.force_login(manager)
    http.post(f"/account/tokens/{theirs.pk}/revoke/")
    assert user_for_token(their_secret) == other_manager
    http.post(f"/account/tokens/{mine.pk}/revoke/")
    assert user_for_token(my_secret) is None


def test_notifications_are_listed_and_marked_read(manager, other_manager, frozen_clock):
    notify([manager], kind="warning", text="Клиент скоро вернётся в пул")
    notify([other_manager], kind="warning", text="Чужое уведомление")
    http = HttpClient()
    http.force_login(manager)
    html = http.get("/notifications/").content.decode()
    assert "Клиент скоро вернётся в пул" in html
    assert "Чужое уведомление" not in html
    assert 'class="badge-count">1<' in html
    http.post("/notifications/read/")
    assert not Notification.objects.filter(recipient=manager, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=other_manager, read_at__isnull=True).exists()


def test_russian_is_the_default_and_english_can_be_chosen(manager):
    http = HttpClient()
    http.force_login(manager)
    assert '<html lang="ru">' in http.get("/notifications/").content.decode()
    response = http.post("/i18n/setlang/", {"language": "en", "next": "/notifications/"})
    assert response.status_code == 302
    html = http.get("/notifications/").content.decode()
    assert '<html lang="en">' in html
    assert "Notifications" in html


def test_every_htmx_request_carries_the_csrf_token(manager):
    http = HttpClient(enforce_csrf_checks=True)
    http.force_login(manager)
    html = http.get("/notifications/").content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "/static/vendor/htmx/htmx.min.js" in html
