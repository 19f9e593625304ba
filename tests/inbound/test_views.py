"""Inbound pages, in Russian: my requests (counting down, refreshed by polling), the team queue,
the request card and its actions, the head of sales' board and settings, manual entry, the
availability switch, and the public form a site embeds; what a refusal leaves."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.test import Client as HttpClient
from django.urls import reverse

from otdel.core import clock
from otdel.inbound import services
from otdel.inbound.forms import DESCRIPTION_MSGIDS
from otdel.inbound.models import (
    EventKind,
    InboundRequest,
    RequestAttachment,
    RoutingPolicy,
    Specialist,
    Status,
    WebForm,
)
from otdel.inbound.policy_document import RoutingPolicyDocument
from otdel.people.models import Availability, Role, User
from otdel.sales.models import Deal, DealSource
from tests.factories import make_team, make_user
from tests.inbound.conftest import post

pytestmark = pytest.mark.django_db


def browser(user: User | None = None, lang: str = "ru", **kwargs) -> HttpClient:
    http = HttpClient(**kwargs)
    http.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    if user is not None:
        http.force_login(user)
    return http


def html(response) -> str:
    return response.content.decode()


def routed(team_id: int, **fields) -> InboundRequest:
    """A request routed to someone (asserted), fresh from the database."""
    request = post(team_id, **fields)
    assert request.assignee_id, request.assigned_why
    return request


@pytest.fixture
def web_form(team, head):
    return services.create_web_form(team.pk, name="Сайт завода", actor=head)


def form_url(form: WebForm) -> str:
    return reverse("inbound:public_form", args=[form.key])


# --- my requests ---------------------------------------------------------------------------------


def test_my_requests_shows_my_open_requests_counting_down(team, desk, frozen_clock):
    request = routed(team.pk, name="Сергей", company="ООО Вектор", message="Нужен компрессор")
    mine = request.assignee
    page = browser(mine).get(reverse("inbound:my_requests"))
    assert page.status_code == 200
    text = html(page)
    assert "Мои заявки" in text
    assert f"№{request.number}" in text and "ООО Вектор" in text
    # The first response is due in 60 working minutes: the page says so, computed on the server.
    assert "первый ответ: <b>через 1 ч</b>" in text
    # The list polls its partial every 10 s.
    assert 'hx-get="/requests/live/"' in text and "every 10s" in text
    # Another specialist does not see it among his.
    other = next(u for u in desk if u.pk != mine.pk)
    assert f"№{request.number}" not in html(browser(other).get(reverse("inbound:my_requests")))


def test_a_missed_deadline_says_by_how_much(team, desk, frozen_clock):
    request = routed(team.pk)
    clock.advance(dt.timedelta(minutes=65))
    text = html(browser(request.assignee).get(reverse("inbound:my_requests_list")))
    assert "первый ответ: <b>просрочено на 5 мин</b>" in text
    assert "rq-late" in text


def test_the_polled_partial_returns_the_fresh_list(team, desk, frozen_clock):
    first = routed(team.pk, name="Первый")
    person = first.assignee
    http = browser(person)
    before = html(http.get(reverse("inbound:my_requests_list"), headers={"HX-Request": "true"}))
    assert f"№{first.number}" in before
    assert "<html" not in before  # only the list, not a page
    # Everyone else goes away: the next request can only come to him.
    User.objects.filter(team=team).exclude(pk=person.pk).update(availability=Availability.AWAY)
    second = routed(team.pk, name="Второй")
    assert second.assignee_id == person.pk
    after = html(http.get(reverse("inbound:my_requests_list"), headers={"HX-Request": "true"}))
    assert f"№{first.number}" in after and f"№{second.number}" in after


def test_a_signed_out_poll_sends_the_page_to_the_login_form(db):
    response = browser().get(reverse("inbound:my_requests_list"), headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("login")


def test_the_assignee_takes_the_request_in_work(team, desk, frozen_clock):
    request = routed(team.pk)
    response = browser(request.assignee).post(
        reverse("inbound:take", args=[request.pk]), {"next": reverse("inbound:my_requests")}
    )
    assert response.status_code == 302 and response["Location"] == reverse("inbound:my_requests")
    request.refresh_from_db()
    assert request.status == Status.IN_WORK
    assert request.first_response_at == clock.now()


def test_someone_else_cannot_take_or_close_my_request_and_nothing_changes(team, desk, frozen_clock):
    request = routed(team.pk)
    other = next(u for u in desk if u.pk != request.assignee_id)
    http = browser(other)
    http.post(reverse("inbound:take", args=[request.pk]))
    http.post(reverse("inbound:close", args=[request.pk]), {"reason": "спам"})
    http.post(reverse("inbound:convert", args=[request.pk]), {"title": "Сделка"})
    fresh = InboundRequest.objects.get(pk=request.pk)
    assert fresh.status == Status.ASSIGNED
    assert fresh.assignee_id == request.assignee_id
    assert fresh.close_reason == "" and fresh.deal_id is None
    assert not Deal.objects.exists()
    assert not fresh.events.filter(kind__in=[EventKind.TAKEN, EventKind.CLOSED]).exists()


# --- the card -----------------------------------------------------------------------------------


def test_the_card_shows_the_fields_the_client_and_why_it_came_to_this_person(
    team, desk, owned_client, other_manager, frozen_clock
):
    # The owner (Petrova) is away: the request goes to the least loaded specialist.
    other_manager.availability = Availability.AWAY
    other_manager.save(update_fields=["availability"])
    request = routed(team.pk, phone="+7 495 000-11-22", message="Нужна цена")
    assert request.client_id == owned_client.pk and request.assignee_id != other_manager.pk
    text = html(browser(request.assignee).get(reverse("inbound:detail", args=[request.pk])))
    assert f"Заявка №{request.number}" in text
    assert "ООО Завод" in text and reverse("clients:detail", args=[owned_client.pk]) in text
    assert 'data-testid="why"' in text and "Петрова" in text and request.assignee.last_name in text
    assert "Нужна цена" in text
    assert 'data-testid="convert-form"' in text and 'data-testid="close-form"' in text
    # A specialist may not reassign; only the head of sales sees that form.
    assert "reassign-form" not in text


def test_html_typed_into_the_public_form_is_shown_escaped_on_the_card(
    team, head, desk, web_form, frozen_clock
):
    browser().post(
        form_url(web_form),
        {
            "name": "<script>alert('name')</script>",
            "company": '<img src=x onerror="alert(1)">',
            "email": "buyer@example.org",
            "message": "<b>жирный</b><script>steal()</script>",
        },
    )
    request = InboundRequest.objects.get()
    assert request.name == "<script>alert('name')</script>"  # stored as given
    for viewer in (head, request.assignee):
        for url in (reverse("inbound:detail", args=[request.pk]), reverse("inbound:board")):
            if viewer != head and url == reverse("inbound:board"):
                continue
            text = html(browser(viewer).get(url))
            assert "<script>alert(" not in text and "<script>steal()" not in text
            assert "<img src=x" not in text and "<b>жирный</b>" not in text
    card = html(browser(head).get(reverse("inbound:detail", args=[request.pk])))
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in card
    assert "&lt;b&gt;жирный&lt;/b&gt;" in card
    listing = html(browser(request.assignee).get(reverse("inbound:my_requests")))
    assert "<script>alert(" not in listing and "&lt;script&gt;alert(" in listing


def test_the_card_is_not_shown_outside_the_team(team, desk, frozen_clock):
    request = routed(team.pk)
    stranger = make_user(Role.HUNTER, team=make_team("Другой отдел"), username="stranger")
    assert browser(stranger).get(reverse("inbound:detail", args=[request.pk])).status_code == 404


def test_converting_opens_the_new_deal_with_the_inbound_source(team, desk, frozen_clock):
    request = routed(team.pk, company="ООО Новый", email="new@novyi.ru")
    response = browser(request.assignee).post(
        reverse("inbound:convert", args=[request.pk]),
        {"title": "Компрессоры для цеха", "amount": "150 000,50"},
    )
    deal = Deal.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("sales:deal_detail", args=[deal.pk])
    assert deal.title == "Компрессоры для цеха"
    assert deal.amount_estimate == Decimal("150000.50")
    assert deal.source == DealSource.INBOUND
    request.refresh_from_db()
    assert request.status == Status.CONVERTED and request.deal_id == deal.pk
    card = html(browser(request.assignee).get(reverse("inbound:detail", args=[request.pk])))
    assert reverse("sales:deal_detail", args=[deal.pk]) in card


def test_a_bad_amount_converts_nothing(team, desk, frozen_clock):
    request = routed(team.pk)
    response = browser(request.assignee).post(
        reverse("inbound:convert", args=[request.pk]), {"amount": "много"}, follow=True
    )
    assert "«много» — это не сумма." in html(response)
    assert not Deal.objects.exists()
    assert InboundRequest.objects.get(pk=request.pk).status == Status.ASSIGNED


def test_closing_needs_a_reason_and_without_one_changes_nothing(team, desk, frozen_clock):
    request = routed(team.pk)
    http = browser(request.assignee)
    http.post(reverse("inbound:close", args=[request.pk]), {"reason": "  "})
    assert InboundRequest.objects.get(pk=request.pk).status == Status.ASSIGNED
    http.post(reverse("inbound:close", args=[request.pk]), {"reason": "ошиблись номером"})
    closed = InboundRequest.objects.get(pk=request.pk)
    assert closed.status == Status.CLOSED and closed.close_reason == "ошиблись номером"


def test_the_head_reassigns_with_a_reason_and_a_manager_cannot(
    team, head, manager, desk, frozen_clock
):
    request = routed(team.pk)
    target = next(u for u in desk if u.pk != request.assignee_id)
    # A manager's attempt changes nothing.
    browser(manager).post(
        reverse("inbound:reassign", args=[request.pk]),
        {"to_user": target.pk, "reason": "хочу"},
    )
    assert InboundRequest.objects.get(pk=request.pk).assignee_id == request.assignee_id
    # The head's card offers the form; without a reason nothing moves.
    card = html(browser(head).get(reverse("inbound:detail", args=[request.pk])))
    assert f'data-testid="reassign-form-{request.pk}"' in card
    browser(head).post(reverse("inbound:reassign", args=[request.pk]), {"to_user": target.pk})
    assert InboundRequest.objects.get(pk=request.pk).assignee_id == request.assignee_id
    browser(head).post(
        reverse("inbound:reassign", args=[request.pk]),
        {"to_user": target.pk, "reason": "знает этот завод"},
    )
    moved = InboundRequest.objects.get(pk=request.pk)
    assert moved.assignee_id == target.pk
    card = html(browser(head).get(reverse("inbound:detail", args=[request.pk])))
    assert "знает этот завод" in card


def test_a_reply_goes_through_the_mail_channel(
    team, desk, frozen_clock, settings, django_capture_on_commit_callbacks
):
    from django.core import mail as outbox

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    request = routed(team.pk, email="buyer@zavod.ru")
    card = html(browser(request.assignee).get(reverse("inbound:detail", args=[request.pk])))
    assert 'data-testid="reply-form"' in card and "buyer@zavod.ru" in card
    with django_capture_on_commit_callbacks(execute=True):
        response = browser(request.assignee).post(
            reverse("inbound:reply", args=[request.pk]), {"body": "Добрый день! Цена 100 ₽."}
        )
    assert response.status_code == 302
    sent = [m for m in outbox.outbox if "buyer@zavod.ru" in m.to]
    assert len(sent) == 1 and "Цена 100 ₽" in sent[0].body
    stored = request.messages.get(incoming=False)
    assert stored.body == "Добрый день! Цена 100 ₽."
    assert InboundRequest.objects.get(pk=request.pk).first_response_at is not None


def test_an_attachment_is_downloaded_never_shown_inline(
    team, desk, frozen_clock, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    request = routed(team.pk)
    message = request.messages.get()
    found = RequestAttachment(message=message, name="прайс.html", content_type="text/html", size=9)
    found.file.save("price.html", ContentFile(b"<script>"), save=True)
    url = reverse("inbound:attachment", args=[request.pk, found.pk])
    response = browser(request.assignee).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    stranger = make_user(Role.HUNTER, team=make_team("Чужие"), username="stranger2")
    assert browser(stranger).get(url).status_code == 404


# --- the queue ----------------------------------------------------------------------------------


def test_the_queue_shows_why_a_request_waits_and_a_specialist_takes_it(team, desk, frozen_clock):
    User.objects.filter(team=team).update(availability=Availability.AWAY)
    request = post(team.pk, name="Ждущий")
    assert request.status == Status.NEW
    spec = desk[0]
    http = browser(spec)
    page = html(http.get(reverse("inbound:queue")))
    assert f"№{request.number}" in page
    assert 'data-testid="why-' in page  # why it waits, as a sentence
    assert f'data-testid="take-{request.pk}"' in page
    assert 'hx-get="/requests/queue/live/"' in page
    response = http.post(reverse("inbound:take_from_queue", args=[request.pk]))
    assert response["Location"] == reverse("inbound:detail", args=[request.pk])
    request.refresh_from_db()
    assert request.assignee_id == spec.pk and request.status == Status.IN_WORK
    assert f"№{request.number}" not in html(http.get(reverse("inbound:queue_list")))


def test_someone_of_another_team_cannot_take_from_the_queue(team, desk, frozen_clock):
    User.objects.filter(team=team).update(availability=Availability.AWAY)
    request = post(team.pk)
    stranger = make_user(Role.HUNTER, team=make_team("Соседи"), username="neighbour")
    assert browser(stranger).get(reverse("inbound:queue")).status_code == 200  # his own queue
    browser(stranger).post(reverse("inbound:take_from_queue", args=[request.pk]))
    request.refresh_from_db()
    assert request.status == Status.NEW and request.assignee_id is None


# --- the head of sales --------------------------------------------------------------------------


def test_the_board_is_the_head_of_sales_and_shows_load_waiting_and_breaches(
    team, head, manager, desk, frozen_clock
):
    busy = routed(team.pk, name="В работе")
    User.objects.filter(team=team).update(availability=Availability.AWAY)
    waiting = post(team.pk, name="В очереди")
    clock.advance(dt.timedelta(hours=2))
    from otdel.inbound.deadlines import escalate_breaches

    escalate_breaches(clock.now())
    page = browser(head).get(reverse("inbound:board"))
    assert page.status_code == 200
    text = html(page)
    assert "Входящие заявки" in text
    assert f'data-testid="person-{busy.assignee_id}"' in text and "1 / 8" in text
    assert f'data-testid="waiting-{waiting.pk}"' in text
    assert f'data-testid="breach-{busy.pk}"' in text
    assert 'hx-get="/head/inbound/live/"' in text
    live = html(browser(head).get(reverse("inbound:board_live")))
    assert "<html" not in live and f'data-testid="waiting-{waiting.pk}"' in live
    for url in ("board", "board_live", "policy", "specialists", "web_forms"):
        assert browser(manager).get(reverse(f"inbound:{url}")).status_code in (404, 302), url


def test_the_availability_switch_is_in_the_header_and_switches_by_htmx(
    team, manager, desk, frozen_clock
):
    page = html(browser(manager).get(reverse("inbound:my_requests")))
    assert 'data-testid="availability"' in page and 'data-testid="availability-away"' in page
    response = browser(manager).post(
        reverse("inbound:availability"), {"status": "away"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "availabilityChanged"
    assert "avail-away" in html(response) and "<html" not in html(response)
    manager.refresh_from_db()
    assert manager.availability == Availability.AWAY


def test_someone_without_a_team_has_no_switch(db):
    loner = make_user(Role.DIRECTOR, username="director")
    assert 'data-testid="availability"' not in html(
        browser(loner).get(reverse("inbound:my_requests"))
    )


def test_a_manager_cannot_switch_a_colleague_but_the_head_can(
    team, head, manager, other_manager, frozen_clock
):
    browser(manager).post(
        reverse("inbound:availability"), {"status": "off", "person": other_manager.pk}
    )
    other_manager.refresh_from_db()
    assert other_manager.availability == Availability.ON_SHIFT
    browser(head).post(
        reverse("inbound:availability"),
        {"status": "away", "person": other_manager.pk, "next": reverse("inbound:board")},
    )
    other_manager.refresh_from_db()
    assert other_manager.availability == Availability.AWAY


def test_the_head_publishes_a_routing_policy_version(team, head, frozen_clock):
    page = html(browser(head).get(reverse("inbound:policy")))
    assert "Версия" in page or "версия" in page
    data = {
        "owner_first": "on",
        "owner_response_minutes": "20",
        "strategy": "round_robin",
        "skills": ["category", "language"],
        "skills_fallback": "on",
        "default_capacity": "5",
        "first_response_minutes": "45",
        "resolution_hours": "8",
        "duplicate_window_hours": "24",
        "catch_up_per_hour": "2",
        "effective_from": clock.today().isoformat(),
        "comment": "меньше очередь",
    }
    response = browser(head).post(reverse("inbound:policy"), data)
    assert response.status_code == 302
    version = RoutingPolicy.objects.get()
    doc = RoutingPolicyDocument.model_validate(version.document)
    assert doc.strategy == "round_robin" and doc.owner_response_minutes == 20
    assert doc.skills == ["category", "language"] and doc.acknowledge_by_email is False
    assert version.comment == "меньше очередь"


def test_an_invalid_routing_policy_is_refused_and_nothing_is_published(team, head, frozen_clock):
    data = {
        "owner_response_minutes": "0",
        "strategy": "least_loaded",
        "default_capacity": "8",
        "first_response_minutes": "60",
        "resolution_hours": "16",
        "duplicate_window_hours": "24",
        "catch_up_per_hour": "3",
        "effective_from": clock.today().isoformat(),
    }
    response = browser(head).post(reverse("inbound:policy"), data)
    assert response.status_code == 200
    assert 'data-testid="error-owner_response_minutes"' in html(response)
    assert not RoutingPolicy.objects.exists()


def test_every_policy_field_label_is_listed_for_translation():
    descriptions = {i.description for i in RoutingPolicyDocument.model_fields.values()}
    assert descriptions == set(DESCRIPTION_MSGIDS)


def test_the_head_sets_who_takes_requests_in_one_table(team, head, manager, desk, frozen_clock):
    page = html(browser(head).get(reverse("inbound:specialists")))
    assert f'data-testid="specialist-{manager.pk}"' in page
    data = {}
    for person in [manager, *desk]:
        data[f"takes_{person.pk}"] = "on"
        data[f"weight_{person.pk}"] = "1"
    data[f"capacity_{desk[0].pk}"] = "3"
    data[f"weight_{desk[0].pk}"] = "2"
    data[f"regions_{desk[0].pk}"] = "Москва, Тверь"
    data[f"languages_{desk[0].pk}"] = "RU, en"
    del data[f"takes_{manager.pk}"]
    response = browser(head).post(reverse("inbound:specialists"), data)
    assert response.status_code == 302
    spec = Specialist.objects.get(user=desk[0])
    assert (spec.capacity, spec.weight, spec.regions, spec.languages) == (
        3,
        2,
        ["Москва", "Тверь"],
        ["ru", "en"],
    )
    assert Specialist.objects.get(user=manager).takes_requests is False
    # Everyone shown was saved, so nobody silently drops out of routing.
    assert Specialist.objects.filter(user__in=desk, takes_requests=True).count() == 3


def test_a_bad_row_saves_nobody(team, head, desk, frozen_clock):
    data = {f"takes_{p.pk}": "on" for p in desk}
    data[f"capacity_{desk[0].pk}"] = "5"
    data[f"capacity_{desk[1].pk}"] = "0"
    response = browser(head).post(reverse("inbound:specialists"), data)
    assert response.status_code == 200
    text = html(response)
    assert "Ёмкость — целое число от 1 до 1000." in text
    assert 'value="0"' in text  # what was typed is kept
    assert not Specialist.objects.exists()


def test_the_head_creates_a_web_form_and_sees_the_snippet_then_switches_it_off(
    team, head, frozen_clock
):
    response = browser(head).post(
        reverse("inbound:web_forms"), {"name": "Сайт", "allowed_origins": "https://zavod.ru\n"}
    )
    assert response.status_code == 302
    form = WebForm.objects.get()
    assert form.allowed_origins == ["https://zavod.ru"]
    page = html(browser(head).get(reverse("inbound:web_forms")))
    assert f'&lt;iframe src="http://testserver/f/{form.key}/"' in page
    assert f"POST http://testserver/api/inbound/forms/{form.key}" in page
    assert browser().get(form_url(form)).status_code == 200
    browser(head).post(reverse("inbound:web_form_active", args=[form.pk]), {"active": "0"})
    assert browser().get(form_url(form)).status_code == 404
    assert not WebForm.objects.get().is_active


# --- manual entry -------------------------------------------------------------------------------


def test_a_coordinator_enters_a_request_and_it_is_routed(team, desk, frozen_clock):
    coordinator = make_user(Role.COORDINATOR, team=team, username="coord")
    response = browser(coordinator).post(
        reverse("inbound:enter"),
        {"name": "Посетитель", "phone": "+7 (495) 111-22-33", "message": "Зашёл в офис"},
    )
    request = InboundRequest.objects.get()
    assert response["Location"] == reverse("inbound:detail", args=[request.pk])
    assert request.channel == "manual" and request.created_by == coordinator
    assert request.phone_e164 == "+74951112233" and request.assignee_id is not None


def test_manual_entry_without_a_way_to_answer_shows_errors_and_keeps_the_values(
    team, desk, frozen_clock
):
    coordinator = make_user(Role.COORDINATOR, team=team, username="coord")
    response = browser(coordinator).post(
        reverse("inbound:enter"), {"name": "Аноним", "company": "ООО Тайна", "inn": "123"}
    )
    assert response.status_code == 200
    text = html(response)
    assert 'data-testid="enter-errors"' in text
    assert "Заявка не сохранена" in text
    assert "Оставьте телефон или e-mail" in text
    assert 'value="ООО Тайна"' in text
    assert not InboundRequest.objects.exists()


def test_manual_entry_shows_the_schema_errors_under_their_fields(team, desk, frozen_clock):
    coordinator = make_user(Role.COORDINATOR, team=team, username="coord")
    response = browser(coordinator).post(
        reverse("inbound:enter"), {"name": "Кто-то", "phone": "12", "email": "не почта"}
    )
    assert response.status_code == 200
    text = html(response)
    assert 'value="не почта"' in text
    assert text.count('class="field has-error') >= 2
    assert not InboundRequest.objects.exists()


def test_a_document_clerk_has_no_manual_entry(team, frozen_clock):
    clerk = make_user(Role.DOC_CLERK, team=team, username="clerk")
    assert browser(clerk).get(reverse("inbound:enter")).status_code == 404


# --- the public form ----------------------------------------------------------------------------


def test_the_public_form_is_a_standalone_page_allowed_in_a_frame(web_form):
    response = browser().get(form_url(web_form))
    assert response.status_code == 200
    text = html(response)
    assert "Оставьте заявку" in text
    assert "sidebar" not in text and "otdel.css" not in text
    assert "X-Frame-Options" not in response.headers
    assert 'name="website"' in text and 'class="hp"' in text
    assert 'name="submission_id"' in text


def test_a_valid_post_thanks_with_the_number_and_the_request_exists(web_form, desk, frozen_clock):
    # Posted from another site: no CSRF token of ours.
    response = browser(enforce_csrf_checks=True).post(
        form_url(web_form),
        {"name": "Ольга", "phone": "+7 916 123-45-67", "message": "Перезвоните", "website": ""},
    )
    assert response.status_code == 200
    request = InboundRequest.objects.get()
    assert request.channel == "web" and request.web_form == web_form
    assert request.name == "Ольга" and request.message == "Перезвоните"
    text = html(response)
    assert "Спасибо" in text and f"№{request.number}" in text
    assert "X-Frame-Options" not in response.headers


def test_a_resent_post_with_the_same_submission_changes_nothing(web_form, desk, frozen_clock):
    data = {"name": "Ольга", "email": "olga@example.org", "submission_id": "abc123"}
    first = browser().post(form_url(web_form), data)
    second = browser().post(form_url(web_form), data)
    number = InboundRequest.objects.get().number
    assert f"№{number}" in html(first) and f"№{number}" in html(second)


def test_ids_of_ours_posted_from_outside_are_ignored(web_form, desk, frozen_clock):
    response = browser().post(
        form_url(web_form), {"email": "a@b.ru", "category_id": "999999", "region": "Тверь"}
    )
    assert response.status_code == 200
    request = InboundRequest.objects.get()
    assert request.category_id is None and request.region == ""


def test_a_filled_honeypot_thanks_but_stores_nothing(web_form, frozen_clock):
    response = browser().post(
        form_url(web_form),
        {"name": "Bot", "email": "bot@spam.example", "website": "http://spam.example"},
    )
    assert response.status_code == 200
    assert "Спасибо" in html(response)
    assert not InboundRequest.objects.exists()


def test_a_post_without_a_contact_shows_the_errors_keeps_the_values_and_stores_nothing(
    web_form, frozen_clock
):
    response = browser().post(
        form_url(web_form), {"name": "Иван", "company": "ООО Вектор", "message": "цена?"}
    )
    assert response.status_code == 422
    text = html(response)
    assert 'data-testid="errors"' in text
    assert "Оставьте телефон или e-mail" in text
    assert 'value="Иван"' in text and 'value="ООО Вектор"' in text and ">цена?</textarea>" in text
    assert not InboundRequest.objects.exists()


def test_a_bad_phone_is_shown_under_the_phone(web_form, frozen_clock):
    response = browser().post(form_url(web_form), {"name": "Иван", "phone": "12"})
    assert response.status_code == 422
    assert 'data-testid="error-phone"' in html(response)
    assert not InboundRequest.objects.exists()


def test_an_unknown_or_switched_off_key_is_404(web_form, head, frozen_clock):
    assert browser().get("/f/no-such-key/").status_code == 404
    assert browser().post("/f/no-such-key/", {"email": "a@b.ru"}).status_code == 404
    services.set_web_form_active(web_form.pk, active=False, actor=head)
    response = browser().post(form_url(web_form), {"email": "a@b.ru"})
    assert response.status_code == 404
    assert not InboundRequest.objects.exists()


def test_an_oversized_post_is_413_and_stores_nothing(web_form, frozen_clock):
    response = browser().post(form_url(web_form), {"email": "a@b.ru", "message": "x" * (40 * 1024)})
    assert response.status_code == 413
    assert not InboundRequest.objects.exists()


def test_a_flood_from_one_address_is_429(web_form, desk, frozen_clock, settings):
    settings.OTDEL_WEBFORM_RATE_LIMIT = 2
    http = browser()
    for i in range(2):
        ok = http.post(form_url(web_form), {"email": f"person{i}@example.org"})
        assert ok.status_code == 200
    flooded = http.post(form_url(web_form), {"email": "third@example.org"})
    assert flooded.status_code == 429
    assert int(flooded["Retry-After"]) >= 1
    assert "Слишком много" in html(flooded)
    assert InboundRequest.objects.count() == 2


def test_the_public_form_speaks_english_when_asked(web_form):
    text = html(browser().get(form_url(web_form) + "?lang=en"))
    assert "Leave a request" in text and "Оставьте заявку" not in text


def test_the_pages_speak_english_when_chosen(team, head, desk, frozen_clock):
    request = routed(team.pk)
    mine = html(browser(request.assignee, lang="en").get(reverse("inbound:my_requests")))
    assert "My requests" in mine and "first response: <b>in 1 h</b>" in mine
    board = html(browser(head, lang="en").get(reverse("inbound:board")))
    assert "Load per person" in board and "Нагрузка по людям" not in board
