"""Ownership pages: who may press which button, what a refusal leaves behind, what pages say."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.urls import reverse

from otdel.clients.models import Client
from otdel.ownership import services
from otdel.ownership.forms import DESCRIPTION_MSGIDS
from otdel.ownership.models import OwnershipEvent, OwnershipPolicy, TransferRequest, TransferStatus
from otdel.ownership.policy_document import OwnershipPolicyDocument
from otdel.people.models import Role, User
from tests.factories import make_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_as() -> Callable[[User | None], HttpClient]:
    """An HTTP client signed in as a person (None: anonymous) who switched to English."""

    def make(user: User | None) -> HttpClient:
        http = HttpClient()
        http.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        if user is not None:
            http.force_login(user)
        return http

    return make


def _state(client: Client) -> tuple[int | None, bool, int]:
    """What a denied request must leave untouched: owner, lock, ledger size."""
    client.refresh_from_db()
    return client.owner_id, client.is_locked, OwnershipEvent.objects.filter(client=client).count()


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- anonymous -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,data",
    [
        ("ownership:claim", {}),
        ("ownership:release", {"reason": "x"}),
        ("ownership:assign", {"to_user": "1", "reason": "x"}),
        ("ownership:request_transfer", {"reason": "x"}),
        ("ownership:lock", {"locked": "1"}),
    ],
)
def test_anonymous_post_redirects_to_login_and_changes_nothing(
    browser_as, head, manager, name, data
):
    client = make_client(head, owner=manager)
    pool_client = make_client(head)
    for target in (client, pool_client):
        before = _state(target)
        response = browser_as(None).post(reverse(name, args=[target.pk]), data)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
        assert _state(target) == before


def test_anonymous_sees_no_ownership_page(browser_as):
    for name in ("ownership:my_base", "ownership:pool", "ownership:transfers"):
        response = browser_as(None).get(reverse(name))
        assert response.status_code == 302 and reverse("login") in response["Location"]


# --- another manager -------------------------------------------------------------------------


def test_other_manager_cannot_release_assign_or_lock_someones_client(
    browser_as, head, manager, other_manager
):
    client = make_client(head, owner=manager)
    before = _state(client)
    http = browser_as(other_manager)
    card = reverse("clients:detail", args=[client.pk])
    for name, data in [
        ("ownership:release", {"reason": "мой теперь"}),
        ("ownership:assign", {"to_user": other_manager.pk, "reason": "хочу"}),
        ("ownership:lock", {"locked": "1"}),
        ("ownership:claim", {}),
    ]:
        response = http.post(reverse(name, args=[client.pk]), {**data, "next": card}, follow=True)
        assert response.status_code == 200
        assert response.redirect_chain[0][0] == card
        assert any(_messages(response)), name
        assert _state(client) == before, name


def test_other_manager_requests_transfer_and_the_client_stays_with_the_owner(
    browser_as, head, manager, other_manager, frozen_clock
):
    client = make_client(head, owner=manager)
    before = _state(client)
    response = browser_as(other_manager).post(
        reverse("ownership:request_transfer", args=[client.pk]),
        {"reason": "У меня заказ от них на 2 млн"},
    )
    assert response.status_code == 302
    transfer = TransferRequest.objects.get(client=client)
    assert transfer.requester == other_manager and transfer.status == TransferStatus.AWAITING_OWNER
    assert _state(client) == before


def test_transfer_request_without_reason_is_refused(browser_as, head, manager, other_manager):
    client = make_client(head, owner=manager)
    response = browser_as(other_manager).post(
        reverse("ownership:request_transfer", args=[client.pk]), {"reason": " "}, follow=True
    )
    assert "Say why you need this client" in " ".join(_messages(response))
    assert not TransferRequest.objects.exists()


# --- the owner -------------------------------------------------------------------------------


def test_owner_releases_with_reason_but_not_without(browser_as, head, manager):
    client = make_client(head, owner=manager)
    http = browser_as(manager)
    before = _state(client)
    response = http.post(
        reverse("ownership:release", args=[client.pk]), {"reason": ""}, follow=True
    )
    assert "Say why" in " ".join(_messages(response))
    assert _state(client) == before
    http.post(reverse("ownership:release", args=[client.pk]), {"reason": "не наш профиль"})
    client.refresh_from_db()
    assert client.owner_id is None


def test_owner_cannot_assign_or_lock(browser_as, head, manager, other_manager):
    client = make_client(head, owner=manager)
    before = _state(client)
    http = browser_as(manager)
    http.post(reverse("ownership:assign", args=[client.pk]), {"to_user": other_manager.pk})
    http.post(reverse("ownership:lock", args=[client.pk]), {"locked": "1"})
    assert _state(client) == before


def test_manager_claims_from_the_pool_with_htmx_and_the_row_says_yours_now(
    browser_as, head, manager
):
    client = make_client(head)
    response = browser_as(manager).post(
        reverse("ownership:claim", args=[client.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "yours now" in response.content.decode()
    client.refresh_from_db()
    assert client.owner_id == manager.pk


def test_claim_over_cap_shows_the_reason_in_the_row_and_changes_nothing(browser_as, head, manager):
    manager.client_cap = 1
    manager.save()
    make_client(head, owner=manager)
    client = make_client(head)
    before = _state(client)
    response = browser_as(manager).post(
        reverse("ownership:claim", args=[client.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert _state(client) == before


# --- the head of sales -----------------------------------------------------------------------


def test_head_assigns_locks_and_releases(browser_as, head, manager, other_manager):
    client = make_client(head, owner=manager)
    http = browser_as(head)
    http.post(
        reverse("ownership:assign", args=[client.pk]),
        {"to_user": other_manager.pk, "reason": "перераспределение"},
    )
    client.refresh_from_db()
    assert client.owner_id == other_manager.pk
    http.post(reverse("ownership:lock", args=[client.pk]), {"locked": "1"})
    client.refresh_from_db()
    assert client.is_locked
    http.post(reverse("ownership:release", args=[client.pk]), {"reason": "ушёл к конкурентам"})
    client.refresh_from_db()
    assert client.owner_id is None


def test_assign_without_a_person_is_refused(browser_as, head, manager):
    client = make_client(head, owner=manager)
    before = _state(client)
    response = browser_as(head).post(
        reverse("ownership:assign", args=[client.pk]), {"to_user": ""}, follow=True
    )
    assert "Choose who gets the client" in " ".join(_messages(response))
    assert _state(client) == before


# --- transfer requests -----------------------------------------------------------------------


@pytest.fixture
def transfer(head, manager, other_manager, frozen_clock) -> TransferRequest:
    client = make_client(head, owner=manager)
    return services.request_transfer(client.pk, requester=other_manager, reason="заказ")


def test_transfer_steps_are_visible_to_the_three_people_only(
    browser_as, transfer, head, manager, other_manager, team
):
    url = reverse("ownership:transfer_detail", args=[transfer.pk])
    for person in (head, manager, other_manager):
        response = browser_as(person).get(url)
        assert response.status_code == 200
        assert "answer by 20.11.2026" in response.content.decode()
    stranger = make_user(Role.HUNTER, team=team)
    assert browser_as(stranger).get(url).status_code == 404


def test_only_the_owner_answers_and_only_the_head_decides(
    browser_as, transfer, head, manager, other_manager
):
    client = transfer.client
    before = _state(client)
    browser_as(other_manager).post(
        reverse("ownership:transfer_answer", args=[transfer.pk]), {"answer": "agree"}
    )
    browser_as(manager).post(
        reverse("ownership:transfer_decide", args=[transfer.pk]), {"decision": "approve"}
    )
    browser_as(manager).post(reverse("ownership:transfer_cancel", args=[transfer.pk]))
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.AWAITING_OWNER
    assert _state(client) == before

    page = browser_as(manager).get(reverse("ownership:transfer_detail", args=[transfer.pk]))
    assert "Agree to give" in page.content.decode() and "Approve" not in page.content.decode()

    browser_as(head).post(
        reverse("ownership:transfer_decide", args=[transfer.pk]),
        {"decision": "approve", "comment": "заказ подтверждён"},
    )
    client.refresh_from_db()
    assert client.owner_id == other_manager.pk


def test_owner_objection_needs_a_comment_and_goes_to_the_head(browser_as, transfer, manager):
    url = reverse("ownership:transfer_answer", args=[transfer.pk])
    response = browser_as(manager).post(url, {"answer": "object", "comment": ""}, follow=True)
    assert "Say why you object" in " ".join(_messages(response))
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.AWAITING_OWNER
    browser_as(manager).post(url, {"answer": "object", "comment": "веду переговоры"})
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.AWAITING_DECISION


def test_requester_withdraws_his_request(browser_as, transfer, other_manager):
    browser_as(other_manager).post(reverse("ownership:transfer_cancel", args=[transfer.pk]))
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.CANCELLED


def test_inbox_tabs(browser_as, transfer, head, other_manager):
    page = browser_as(other_manager).get(reverse("ownership:transfers")).content.decode()
    assert transfer.client.name in page and "Awaiting decision" not in page
    head_page = browser_as(head).get(reverse("ownership:transfers")).content.decode()
    assert "Awaiting decision" in head_page


# --- pages -----------------------------------------------------------------------------------


def test_my_base_shows_cap_usage_and_the_countdown(browser_as, head, manager, frozen_clock):
    client = make_client(head)
    services.claim(client.pk, actor=manager)
    make_client(head, owner=manager)
    frozen_clock.advance(dt.timedelta(days=20))
    page = browser_as(manager).get(reverse("ownership:my_base") + "?sort=returns")
    html = page.content.decode()
    assert page.status_code == 200
    assert "2 of 200" in html
    assert client.name in html
    assert "returns to the pool in 10 days" in html


def test_pool_lists_only_pool_clients_and_filters(browser_as, head, manager):
    free = make_client(head, name="ООО Свободный")
    taken = make_client(head, owner=manager, name="ООО Занятый")
    html = browser_as(manager).get(reverse("ownership:pool")).content.decode()
    assert free.name in html and taken.name not in html
    assert reverse("ownership:claim", args=[free.pk]) in html
    html = browser_as(manager).get(reverse("ownership:pool") + "?q=нет-такого").content.decode()
    assert free.name not in html


def test_client_panel_offers_each_viewer_only_his_actions(browser_as, head, manager, other_manager):
    client = make_client(head, owner=manager)
    card = reverse("clients:detail", args=[client.pk])
    claim_url = reverse("ownership:claim", args=[client.pk])
    release_url = reverse("ownership:release", args=[client.pk])
    transfer_url = reverse("ownership:request_transfer", args=[client.pk])
    assign_url = reverse("ownership:assign", args=[client.pk])

    other = browser_as(other_manager).get(card).content.decode()
    assert transfer_url in other
    assert release_url not in other and claim_url not in other and assign_url not in other

    owner = browser_as(manager).get(card).content.decode()
    assert release_url in owner and transfer_url not in owner and assign_url not in owner

    boss = browser_as(head).get(card).content.decode()
    assert release_url in boss and assign_url in boss


def test_head_dashboard_is_404_for_a_manager_and_works_for_the_head(browser_as, head, manager):
    make_client(head, owner=manager)
    assert browser_as(manager).get(reverse("ownership:head_dashboard")).status_code == 404
    assert browser_as(manager).get(reverse("ownership:policy")).status_code == 404
    page = browser_as(head).get(reverse("ownership:head_dashboard"))
    assert page.status_code == 200
    assert manager.display_name in page.content.decode()
    assert "1 of 200" in page.content.decode()


# --- the policy editor -----------------------------------------------------------------------


def _policy_post(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        k: v
        for k, v in OwnershipPolicyDocument().model_dump().items()
        if k not in ("role_caps", "qualifying_kinds") and not isinstance(v, bool)
    }
    data.update(
        {
            "exclude_locked": "on",
            "qualifying_kinds": ["call", "meeting"],
            "effective_from": "2026-11-18",
            "comment": "",
        }
    )
    data.update(overrides)
    return data


def test_publishing_a_bad_policy_shows_the_error_and_creates_no_version(
    browser_as, head, team, frozen_clock
):
    response = browser_as(head).post(
        reverse("ownership:policy"), _policy_post(return_after_idle_days=0)
    )
    assert response.status_code == 200
    assert 'data-testid="error-return_after_idle_days"' in response.content.decode()
    assert not OwnershipPolicy.objects.filter(team=team).exists()

    response = browser_as(head).post(reverse("ownership:policy"), _policy_post(warn_days_before=40))
    assert "the warning must come before the return" in response.content.decode()
    assert not OwnershipPolicy.objects.filter(team=team).exists()


def test_publishing_a_policy_creates_a_new_version_in_force(
    browser_as, head, manager, team, frozen_clock
):
    response = browser_as(head).post(
        reverse("ownership:policy"),
        _policy_post(default_cap=150, role_cap_hunter=50, comment="меньше охотникам"),
    )
    assert response.status_code == 302
    version = OwnershipPolicy.objects.get(team=team)
    assert version.version == 1
    assert version.doc.default_cap == 150 and version.doc.cap_for_role("hunter") == 50
    assert version.doc.qualifying_kinds == ["call", "meeting"]
    page = browser_as(head).get(reverse("ownership:policy")).content.decode()
    assert "Version 1" in page and "меньше охотникам" in page
    assert services.cap_usage(manager).cap == 50


def test_a_manager_cannot_publish_a_policy(browser_as, manager, team, frozen_clock):
    response = browser_as(manager).post(reverse("ownership:policy"), _policy_post())
    assert response.status_code == 404
    assert not OwnershipPolicy.objects.exists()


def test_every_policy_field_description_is_marked_for_translation():
    descriptions = {f.description for f in OwnershipPolicyDocument.model_fields.values()}
    assert descriptions == set(DESCRIPTION_MSGIDS)


def test_head_sets_a_personal_cap_and_a_manager_cannot(browser_as, head, manager, other_manager):
    from otdel.audit.models import AuditEvent

    url = reverse("ownership:set_cap", args=[manager.pk])
    browser_as(other_manager).post(url, {"cap": "500"})
    manager.refresh_from_db()
    assert manager.client_cap is None
    browser_as(head).post(url, {"cap": "5"})
    manager.refresh_from_db()
    assert manager.client_cap == 5
    assert AuditEvent.objects.filter(verb="people.cap_set", object_id=manager.pk).exists()
    browser_as(head).post(url, {"cap": "много"})
    manager.refresh_from_db()
    assert manager.client_cap == 5
    browser_as(head).post(url, {"cap": ""})
    manager.refresh_from_db()
    assert manager.client_cap is None
