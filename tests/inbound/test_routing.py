"""Routing: owner first, then the policy's strategy among the available specialists with room;
every assignment says why; nobody offline or over capacity ever gets a request."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid
from otdel.inbound import services
from otdel.inbound.assign import route_waiting
from otdel.inbound.models import EventKind, InboundRequest, RequestEvent, Status
from otdel.inbound.policy_document import RoutingPolicyDocument
from otdel.inbound.routing import explain
from otdel.people.models import Availability, Notification, Role
from otdel.sales.models import Deal, DealSource
from tests.factories import make_user
from tests.inbound.conftest import post

pytestmark = pytest.mark.django_db


def _policy(team, head, **fields):
    services.publish_routing_policy(
        team.pk,
        document=RoutingPolicyDocument(**fields),
        effective_from=clock.now(),
        actor=head,
    )


def _away(user):
    user.availability = Availability.AWAY
    user.save(update_fields=["availability"])


def test_request_from_an_owned_client_goes_to_the_available_owner_with_a_deadline(
    team, head, desk, owned_client, other_manager
):
    request = post(team.pk, phone="8 (495) 000-11-22", message="Нужен счёт")

    assert request.client_id == owned_client.pk
    assert request.assignee_id == other_manager.pk
    assert request.status == Status.ASSIGNED
    assert request.assigned_why["rule"] == "owner_first"
    # 30 working minutes from Wednesday 10:00.
    assert request.owner_due_at == clock.now() + dt.timedelta(minutes=30)
    assert "Петрова" in explain(request.assigned_why)


def test_owner_away_request_goes_to_the_least_loaded_and_the_reason_names_both(
    team, head, desk, owned_client, other_manager, manager
):
    _away(other_manager)
    _away(manager)
    # spec1 already holds two, spec2 one, spec3 none.
    for person, count in ((desk[0], 2), (desk[1], 1)):
        for _ in range(count):
            r = post(team.pk, email=f"x{InboundRequest.objects.count()}@other.ru")
            if r.assignee_id != person.pk:
                services.reassign(r.pk, to_user_id=person.pk, actor=head, reason="нагрузка")
    request = post(team.pk, email="zakupki@zavod.ru")

    assert request.client_id == owned_client.pk
    assert request.assignee_id == desk[2].pk
    why = request.assigned_why
    assert why["owner"] == {
        "id": other_manager.pk,
        "name": other_manager.short_name,
        "state": "away",
    }
    assert why["rule"] == "least_loaded"
    assert why["chosen"]["id"] == desk[2].pk and why["chosen"]["open"] == 0
    text = explain(why)
    assert other_manager.short_name in text and desk[2].short_name in text
    assert owned_client.owner_id == other_manager.pk  # the owner is never bypassed silently


def test_nobody_available_request_waits_then_goes_to_the_first_who_comes_back(
    team, head, desk, manager, other_manager
):
    for person in (*desk, manager, other_manager):
        _away(person)
    request = post(team.pk, email="new@client.ru")

    assert request.status == Status.NEW and request.assignee_id is None
    assert request.assigned_why["rule"] == "queued"
    assert RequestEvent.objects.filter(request=request, kind=EventKind.QUEUED).count() == 1

    services.set_availability(desk[1].pk, status=Availability.ON_SHIFT, actor=desk[1])

    request.refresh_from_db()
    assert request.assignee_id == desk[1].pk
    assert request.status == Status.ASSIGNED


def test_nobody_is_given_a_request_outside_his_working_hours_or_on_a_holiday(
    team, head, desk, manager, other_manager
):
    clock.freeze(dt.datetime(2026, 11, 18, 19, 30, tzinfo=clock.MOSCOW))  # after 18:00
    request = post(team.pk, email="late@client.ru")
    assert request.assignee_id is None

    clock.freeze(dt.datetime(2026, 11, 4, 11, 0, tzinfo=clock.MOSCOW))  # Day of National Unity
    holiday = post(team.pk, email="holiday@client.ru")
    assert holiday.assignee_id is None

    clock.freeze(dt.datetime(2026, 11, 19, 9, 0, tzinfo=clock.MOSCOW))  # next morning
    assert route_waiting(team.pk) == 2
    assert not InboundRequest.objects.filter(assignee__isnull=True).exists()


def test_capacity_is_never_exceeded_and_the_rest_waits(team, head, desk, manager, other_manager):
    _policy(team, head, default_capacity=2)
    for person in (manager, other_manager):
        _away(person)
    for i in range(8):
        post(team.pk, email=f"c{i}@cap.ru")

    loads = [
        InboundRequest.objects.filter(assignee=p, status=Status.ASSIGNED).count() for p in desk
    ]
    assert loads == [2, 2, 2]
    waiting = InboundRequest.objects.filter(status=Status.NEW)
    assert waiting.count() == 2
    assert waiting.first().assigned_why["reason"] == "all_full"
    with translation.override("ru"):
        assert "заняты" in explain(waiting.first().assigned_why)

    # One is closed: the oldest waiting request takes the freed place.
    first = InboundRequest.objects.filter(assignee=desk[0]).order_by("pk").first()
    services.close(first.pk, actor=desk[0], reason="спам")
    assert route_waiting(team.pk) == 1
    assert InboundRequest.objects.filter(assignee=desk[0], status=Status.ASSIGNED).count() == 2


def test_round_robin_spreads_evenly(team, head, desk, manager, other_manager):
    _policy(team, head, strategy="round_robin", default_capacity=100)
    for i in range(20):
        post(team.pk, email=f"rr{i}@rr.ru")

    people = (*desk, manager, other_manager)
    counts = [InboundRequest.objects.filter(assignee=p).count() for p in people]
    assert sum(counts) == 20
    assert max(counts) - min(counts) <= 1


def test_weighted_round_robin_follows_the_weights(team, head, desk, manager, other_manager):
    _policy(team, head, strategy="weighted", default_capacity=100)
    for person in (manager, other_manager):
        services.set_specialist(person.pk, actor=head, takes_requests=False)
    services.set_specialist(desk[0].pk, actor=head, weight=3)
    for i in range(20):
        post(team.pk, email=f"w{i}@w.ru")

    counts = [InboundRequest.objects.filter(assignee=p).count() for p in desk]
    assert counts == [12, 4, 4]
    assert InboundRequest.objects.filter(assignee__in=[manager, other_manager]).count() == 0


def test_skill_routing_gives_the_category_to_who_knows_it_and_falls_back_when_nobody_does(
    team, head, desk, manager, other_manager
):
    from otdel.sales.models import ProductCategory

    spares = ProductCategory.objects.order_by("pk").first()
    services_cat = ProductCategory.objects.exclude(pk=spares.pk).order_by("pk").first()
    _policy(team, head, skills=["category"])
    for person in (manager, other_manager):
        _away(person)
    services.set_specialist(desk[2].pk, actor=head, category_ids=[spares.pk])

    request = post(team.pk, email="zip@skills.ru", category_id=spares.pk)
    assert request.assignee_id == desk[2].pk
    assert request.assigned_why["skills"] == ["category"]

    nobody_knows = post(team.pk, email="svc@skills.ru", category_id=services_cat.pk)
    assert nobody_knows.assignee_id in {desk[0].pk, desk[1].pk, desk[2].pk}
    assert nobody_knows.assigned_why.get("skills_fallback") is True


def test_a_person_back_on_shift_is_not_flooded_with_what_waited(
    team, head, desk, manager, other_manager
):
    _policy(team, head, catch_up_per_hour=3, default_capacity=50)
    everyone = (*desk, manager, other_manager)
    for person in everyone:
        _away(person)
    for i in range(10):
        post(team.pk, email=f"wait{i}@queue.ru")
    clock.advance(dt.timedelta(minutes=5))

    services.set_availability(desk[0].pk, status=Availability.ON_SHIFT, actor=desk[0])

    assert InboundRequest.objects.filter(assignee=desk[0]).count() == 3
    assert InboundRequest.objects.filter(status=Status.NEW).count() == 7
    # A fresh request is not a catch-up: it still goes to him, after the older ones waiting.
    clock.advance(dt.timedelta(minutes=61))
    assert route_waiting(team.pk) == 3
    assert InboundRequest.objects.filter(assignee=desk[0]).count() == 6


def test_a_repeat_within_the_window_joins_the_open_request(team, head, desk):
    first = post(team.pk, email="repeat@client.ru", message="Первое")
    again = post(team.pk, email="Repeat@Client.ru", message="Второе")

    assert again.pk == first.pk
    assert InboundRequest.objects.count() == 1
    assert list(first.messages.values_list("body", flat=True)) == ["Первое", "Второе"]
    assert RequestEvent.objects.filter(request=first, kind=EventKind.JOINED).count() == 1

    clock.advance(dt.timedelta(hours=25))
    later = post(team.pk, email="repeat@client.ru", message="Через сутки")
    assert later.pk != first.pk


def test_a_resent_record_changes_nothing(team, head, desk):
    a = post(team.pk, email="one@client.ru", external_id="form-1")
    b = post(team.pk, email="other@client.ru", external_id="form-1")

    assert a.pk == b.pk
    assert InboundRequest.objects.count() == 1
    assert a.messages.count() == 1


def test_bad_input_is_refused_with_reasons_and_nothing_is_stored(team, head, desk):
    with pytest.raises(Invalid) as err:
        services.parse_request({"name": "Без контактов", "message": "перезвоните"})
    assert err.value.code == "invalid_request"
    with pytest.raises(Invalid):
        services.parse_request({"name": "x", "phone": "12", "email": ""})
    with pytest.raises(Invalid):
        services.parse_request({"name": "x", "email": "not-an-address"})
    assert InboundRequest.objects.count() == 0


def test_only_the_assignee_or_the_head_closes_and_a_refusal_changes_nothing(
    team, head, desk, manager
):
    request = post(team.pk, email="close@client.ru")
    outsider = next(p for p in (*desk, manager) if p.pk != request.assignee_id)

    with pytest.raises(Forbidden):
        services.close(request.pk, actor=outsider, reason="не моё")
    request.refresh_from_db()
    assert request.status == Status.ASSIGNED and request.close_reason == ""

    with pytest.raises(Invalid):
        services.close(request.pk, actor=request.assignee, reason=" ")
    services.close(request.pk, actor=request.assignee, reason="Ошиблись номером")
    request.refresh_from_db()
    assert request.status == Status.CLOSED and request.resolved_at is not None
    with pytest.raises(Conflict):
        services.take(request.pk, actor=request.assignee)


def test_only_the_head_reassigns_with_a_reason(
    team, head, desk, manager, django_capture_on_commit_callbacks
):
    request = post(team.pk, email="re@client.ru")
    target = next(p for p in desk if p.pk != request.assignee_id)

    with pytest.raises(Forbidden):
        services.reassign(request.pk, to_user_id=target.pk, actor=manager, reason="хочу")
    request.refresh_from_db()
    assert request.assignee_id != target.pk

    with django_capture_on_commit_callbacks(execute=True):
        services.reassign(request.pk, to_user_id=target.pk, actor=head, reason="знает клиента")
    request.refresh_from_db()
    assert request.assignee_id == target.pk
    assert request.assigned_why["rule"] == "manual"
    assert "знает клиента" in explain(request.assigned_why)
    assert Notification.objects.filter(recipient=target, kind="inbound_reassigned").exists()


def test_converting_a_new_company_makes_it_his_client_and_an_inbound_deal(team, head, desk):
    request = post(team.pk, email="boss@newco.ru", name="Пётр", company="ООО Новая")
    person = request.assignee

    services.take(request.pk, actor=person)
    services.convert_to_deal(request.pk, actor=person, title="Компрессор")

    request.refresh_from_db()
    deal = Deal.objects.get(pk=request.deal_id)
    assert request.status == Status.CONVERTED
    assert deal.source == DealSource.INBOUND
    assert deal.responsible_id == person.pk
    assert deal.client.owner_id == person.pk and deal.client.name == "ООО Новая"


def test_converting_an_owned_clients_request_keeps_the_owner_and_tells_him(
    team, head, desk, owned_client, other_manager, manager, django_capture_on_commit_callbacks
):
    _away(other_manager)
    request = post(team.pk, email="zakupki@zavod.ru")
    person = request.assignee
    assert person.pk != other_manager.pk

    with django_capture_on_commit_callbacks(execute=True):
        services.convert_to_deal(request.pk, actor=person, title="ЗИП")

    owned_client.refresh_from_db()
    deal = Deal.objects.get(pk=InboundRequest.objects.get(pk=request.pk).deal_id)
    assert owned_client.owner_id == other_manager.pk
    assert deal.responsible_id == person.pk and deal.source == DealSource.INBOUND
    assert Notification.objects.filter(recipient=other_manager, kind="inbound_converted").exists()


def test_someone_else_cannot_convert_and_nothing_is_written(team, head, desk, manager):
    request = post(team.pk, email="steal@client.ru", company="ООО Чужая")
    outsider = next(p for p in desk if p.pk != request.assignee_id)

    with pytest.raises(Forbidden):
        services.convert_to_deal(request.pk, actor=outsider, title="Моя сделка")
    assert Deal.objects.count() == 0
    request.refresh_from_db()
    assert request.status == Status.ASSIGNED


def test_take_from_queue_respects_capacity(team, head, desk, manager, other_manager):
    _policy(team, head, default_capacity=1)
    for person in (*desk[1:], manager, other_manager):
        _away(person)
    post(team.pk, email="a@q.ru")  # goes to desk[0]
    waiting = post(team.pk, email="b@q.ru")
    assert waiting.status == Status.NEW

    with pytest.raises(Conflict) as err:
        services.take_from_queue(waiting.pk, actor=desk[0])
    assert err.value.code == "over_capacity"
    waiting.refresh_from_db()
    assert waiting.assignee_id is None

    fresh = make_user(Role.COORDINATOR, team=team, username="coord")
    services.take_from_queue(waiting.pk, actor=fresh)
    waiting.refresh_from_db()
    assert waiting.assignee_id == fresh.pk and waiting.status == Status.IN_WORK


def test_personal_working_hours_decide_availability(team, head, desk, manager, other_manager):
    for person in (desk[1], desk[2], manager, other_manager):
        _away(person)
    services.set_specialist(
        desk[0].pk, actor=head, work_starts=dt.time(12, 0), work_ends=dt.time(20, 0)
    )
    early = post(team.pk, email="early@client.ru")  # 10:00: before his day starts
    assert early.assignee_id is None

    clock.advance(dt.timedelta(hours=2, minutes=1))
    assert route_waiting(team.pk) == 1
    early.refresh_from_db()
    assert early.assignee_id == desk[0].pk

    with pytest.raises(Invalid):
        services.set_specialist(
            desk[0].pk, actor=head, work_starts=dt.time(18, 0), work_ends=dt.time(9, 0)
        )
    desk[0].refresh_from_db()
    assert desk[0].work_starts == dt.time(12, 0)
