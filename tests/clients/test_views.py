"""Client base pages: search, create with validation and duplicates, the card, edit, merge."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client as HttpClient

from otdel.activities.models import Activity
from otdel.clients.models import Client, Contact, LegalEntity
from otdel.ownership.models import OwnershipEvent
from tests.factories import make_client, make_user, valid_inn

pytestmark = pytest.mark.django_db


def signed_in(user) -> HttpClient:
    """A signed-in person who switched the interface to English (Russian is the default)."""
    http = HttpClient()
    http.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    http.force_login(user)
    return http


def create_payload(**overrides: str) -> dict[str, str]:
    data = {
        "name": "ООО «Ромашка»",
        "website": "romashka.ru",
        "region": "Москва",
        "industry": "Розница",
        "inn": valid_inn(4242),
        "kpp": "770101001",
        "contact_name": "Сергеев Сергей",
        "position": "Закупщик",
        "phone": "8 (495) 765-43-21",
        "email": "s@romashka.ru",
        "destination": "me",
    }
    data.update(overrides)
    return data


@pytest.fixture
def owned(manager):
    return make_client(manager, owner=manager, name="ООО «Своя фирма»")


@pytest.mark.parametrize(
    "url",
    [
        "/clients/",
        "/clients/new/",
        "/clients/{id}/",
        "/clients/{id}/edit/",
        "/clients/{id}/contacts/new/",
        "/clients/{id}/legal-entities/new/",
        "/clients/{id}/duplicates/",
    ],
)
def test_client_pages_render_for_the_owner_and_need_a_login(manager, owned, url):
    url = url.format(id=owned.pk)
    assert HttpClient().get(url)["Location"].startswith("/login/")
    response = signed_in(manager).get(url)
    assert response.status_code == 200


def test_search_finds_by_name_inn_and_phone_and_shows_owner_or_pool(manager, head):
    mine = make_client(manager, owner=manager, name="ООО «Искомая»", phones=["+74951112233"])
    make_client(head, owner=None, name="ООО «Пуловая»")
    http = signed_in(manager)
    assert "Искомая" in http.get("/clients/", {"q": "Искомая"}).content.decode()
    inn = mine.legal_entities.get().inn
    assert "Искомая" in http.get("/clients/", {"q": inn}).content.decode()
    assert "Искомая" in http.get("/clients/", {"q": "8 495 111-22-33"}).content.decode()
    pool_html = http.get("/clients/", {"scope": "pool"}).content.decode()
    assert "Пуловая" in pool_html and "Искомая" not in pool_html
    assert "badge-pool" in pool_html
    assert http.get("/clients/", {"sort": "-owner"}).status_code == 200


def test_create_client_goes_into_my_base(manager):
    response = signed_in(manager).post("/clients/new/", create_payload())
    client = Client.objects.get(name="ООО «Ромашка»")
    assert response.status_code == 302
    assert response["Location"] == f"/clients/{client.pk}/"
    assert client.owner == manager
    assert client.contacts.get().phones.get().e164 == "+74957654321"
    assert client.legal_entities.get().kpp == "770101001"


def test_create_into_the_pool_leaves_it_unowned(manager):
    signed_in(manager).post("/clients/new/", create_payload(destination="pool"))
    assert Client.objects.get(name="ООО «Ромашка»").owner is None


def test_create_with_a_bad_inn_says_so_next_to_the_field_and_writes_nothing(manager):
    response = signed_in(manager).post("/clients/new/", create_payload(inn="7707083894"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "7707083894" in html and "check digit" in html
    assert "Value error" not in html
    assert not Client.objects.exists()
    assert not LegalEntity.objects.exists()


def test_create_with_a_bad_phone_shows_the_error_and_writes_nothing(manager):
    response = signed_in(manager).post("/clients/new/", create_payload(phone="12345"))
    assert "12345" in response.content.decode()
    assert not Client.objects.exists()


def test_create_with_duplicates_shows_them_and_writes_nothing_until_confirmed(
    manager, other_manager
):
    existing = make_client(
        other_manager, owner=other_manager, name="ООО «Старая Ромашка»", inn=valid_inn(4242)
    )
    http = signed_in(manager)
    response = http.post("/clients/new/", create_payload())
    html = response.content.decode()
    assert response.status_code == 200
    assert "Старая Ромашка" in html
    assert "Петрова Анна" in html  # who owns the duplicate
    assert f"/clients/{existing.pk}/" in html
    assert 'name="allow_duplicates"' in html
    assert Client.objects.count() == 1

    response = http.post("/clients/new/", create_payload(allow_duplicates="on"))
    assert response.status_code == 302
    assert Client.objects.count() == 2
    assert Client.objects.get(name="ООО «Ромашка»").owner == manager


def test_another_manager_sees_card_and_history_but_cannot_edit(manager, other_manager, owned):
    http = signed_in(other_manager)
    html = http.get(f"/clients/{owned.pk}/").content.decode()
    assert "Своя фирма" in html
    assert 'id="timeline"' in html  # the history is for everyone
    assert 'data-testid="edit-client"' not in html
    assert f"/clients/{owned.pk}/contacts/new/" not in html
    assert f"/clients/{owned.pk}/legal-entities/new/" not in html

    assert http.get(f"/clients/{owned.pk}/edit/").status_code == 404
    response = http.post(f"/clients/{owned.pk}/edit/", {"name": "Взломано"})
    assert response.status_code == 404
    owned.refresh_from_db()
    assert owned.name == "ООО «Своя фирма»"
    response = http.post(f"/clients/{owned.pk}/contacts/new/", {"full_name": "Чужой"})
    assert response.status_code == 404
    assert not Contact.objects.filter(full_name="Чужой").exists()
    contact = owned.contacts.get()
    assert http.post(f"/clients/{owned.pk}/contacts/{contact.pk}/remove/").status_code == 404
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_owner_edits_details(manager, owned):
    response = signed_in(manager).post(
        f"/clients/{owned.pk}/edit/", {"name": "ООО «Новое имя»", "region": "Казань"}
    )
    assert response.status_code == 302
    owned.refresh_from_db()
    assert (owned.name, owned.region) == ("ООО «Новое имя»", "Казань")


def test_head_of_sales_edits_any_client(head, owned):
    signed_in(head).post(f"/clients/{owned.pk}/edit/", {"name": "ООО «Правка РОПа»"})
    owned.refresh_from_db()
    assert owned.name == "ООО «Правка РОПа»"


def test_owner_adds_a_contact_with_a_normalised_phone(manager, owned):
    signed_in(manager).post(
        f"/clients/{owned.pk}/contacts/new/",
        {"full_name": "Новый Контакт", "phone": "+7 916 123-45-67", "is_decision_maker": "on"},
    )
    contact = owned.contacts.get(full_name="Новый Контакт")
    assert contact.is_decision_maker
    assert contact.phones.get().e164 == "+79161234567"


def test_legal_entity_with_a_known_inn_needs_confirmation(manager, other_manager, owned):
    other = make_client(other_manager, owner=other_manager, name="ООО «Другая»")
    inn = other.legal_entities.get().inn
    http = signed_in(manager)
    response = http.post(
        f"/clients/{owned.pk}/legal-entities/new/", {"name": "ООО «Юрлицо»", "inn": inn}
    )
    assert "Другая" in response.content.decode()
    assert not owned.legal_entities.filter(inn=inn).exists()
    http.post(
        f"/clients/{owned.pk}/legal-entities/new/",
        {"name": "ООО «Юрлицо»", "inn": inn, "allow_duplicates": "on"},
    )
    assert owned.legal_entities.filter(inn=inn).exists()


def test_logging_an_activity_with_htmx_redraws_the_history(manager, owned):
    response = signed_in(manager).post(
        f"/clients/{owned.pk}/activities/",
        {"kind": "call", "direction": "out", "talk_time": "3:05", "subject": "Договорились о КП"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Договорились о КП" in html
    assert 'id="activity-block"' in html
    activity = Activity.objects.get(client=owned)
    assert (activity.author, activity.talk_seconds) == (manager, 185)


def test_any_manager_may_log_an_activity_but_an_empty_note_is_refused(other_manager, owned):
    http = signed_in(other_manager)
    response = http.post(
        f"/clients/{owned.pk}/activities/", {"kind": "note"}, HTTP_HX_REQUEST="true"
    )
    assert "errorlist" in response.content.decode()
    assert not Activity.objects.exists()
    http.post(f"/clients/{owned.pk}/activities/", {"kind": "note", "body": "Звонил конкурент"})
    assert Activity.objects.get().author == other_manager


def test_duplicates_page_lists_lookalikes(head, manager, owned):
    twin = make_client(head, name="ООО «Своя фирма»", inn=owned.legal_entities.get().inn)
    html = signed_in(manager).get(f"/clients/{owned.pk}/duplicates/").content.decode()
    assert f"/clients/{twin.pk}/" in html
    assert f"/clients/{owned.pk}/merge/{twin.pk}/" not in html  # a manager may not merge
    html = signed_in(head).get(f"/clients/{owned.pk}/duplicates/").content.decode()
    assert f"/clients/{owned.pk}/merge/{twin.pk}/" in html


def test_head_of_sales_merges_duplicates_and_keeps_the_chosen_owner(
    head, manager, other_manager, owned
):
    twin = make_client(other_manager, owner=other_manager, name="Своя фирма")
    http = signed_in(head)
    assert http.get(f"/clients/{owned.pk}/merge/{twin.pk}/").status_code == 200
    response = http.post(
        f"/clients/{owned.pk}/merge/{twin.pk}/",
        {"keep_owner": str(other_manager.pk), "confirm": "on"},
    )
    assert response.status_code == 302
    owned.refresh_from_db()
    twin.refresh_from_db()
    assert twin.merged_into == owned
    assert owned.owner == other_manager
    assert owned.contacts.count() == 2
    assert OwnershipEvent.objects.filter(client=owned, kind="merge").exists()
    # The old card leads to the survivor.
    assert http.get(f"/clients/{twin.pk}/")["Location"] == f"/clients/{owned.pk}/"


def test_merge_without_confirmation_changes_nothing(head, manager, owned):
    twin = make_client(head, name="Своя фирма")
    signed_in(head).post(f"/clients/{owned.pk}/merge/{twin.pk}/", {})
    twin.refresh_from_db()
    assert twin.merged_into is None


def test_manager_cannot_merge_and_nothing_changes(manager, other_manager, owned):
    twin = make_client(manager, owner=manager, name="Своя фирма")
    http = signed_in(manager)
    assert http.get(f"/clients/{owned.pk}/merge/{twin.pk}/").status_code == 404
    response = http.post(
        f"/clients/{owned.pk}/merge/{twin.pk}/", {"keep_owner": str(manager.pk), "confirm": "on"}
    )
    assert response.status_code == 404
    twin.refresh_from_db()
    assert twin.merged_into is None
    assert owned.contacts.count() == 1


def test_database_operator_may_open_the_merge_page(team, owned, manager):
    operator = make_user("db_operator", team=team)
    twin = make_client(manager, owner=manager, name="Своя фирма")
    assert signed_in(operator).get(f"/clients/{owned.pk}/merge/{twin.pk}/").status_code == 200


def test_card_in_english_after_switching_language(manager, owned):
    http = signed_in(manager)
    http.post("/i18n/setlang/", {"language": "en", "next": "/"})
    html = http.get(f"/clients/{owned.pk}/").content.decode()
    assert "Contacts" in html and "Legal entities" in html and "History" in html


def test_duplicate_queue_lists_clients_sharing_an_inn_for_the_head_only(
    head, manager, other_manager
):
    inn = valid_inn(4242)
    a = make_client(head, owner=manager, name="ООО Первый", inn=inn)
    b = make_client(head, owner=other_manager, name="ООО Второй", inn=inn)
    make_client(head, name="ООО Одинокий")
    assert signed_in(manager).get("/clients/duplicates/").status_code == 404
    page = signed_in(head).get("/clients/duplicates/").content.decode()
    assert "ООО Первый" in page and "ООО Второй" in page and "ООО Одинокий" not in page
    assert f"/clients/{a.pk}/merge/{b.pk}/" in page or f"/clients/{b.pk}/merge/{a.pk}/" in page


def test_merged_clients_leave_the_duplicate_queue(head, manager):
    from otdel.clients.services import merge_clients

    inn = valid_inn(4343)
    a = make_client(head, name="ООО Альфа-1", inn=inn)
    b = make_client(head, name="ООО Альфа-2", inn=inn)
    merge_clients(a.pk, b.pk, actor=head)
    page = signed_in(head).get("/clients/duplicates/").content.decode()
    assert "ООО Альфа-2" not in page
