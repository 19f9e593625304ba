"""Deadlines in working time, with a movable clock across a weekend and a Russian holiday: an
owner who does not respond in time loses the request to the next specialist (both he and the
head are told); a missed first response is escalated once; a call to the client is a response."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.activities.models import Call, CallDirection, CallDisposition
from otdel.core import clock
from otdel.inbound import deadlines, services
from otdel.inbound.models import EventKind, InboundRequest, RequestEvent, Status
from otdel.people.models import Notification
from tests.inbound.conftest import post

pytestmark = pytest.mark.django_db

FRIDAY_1750 = dt.datetime(2026, 11, 20, 17, 50, tzinfo=clock.MOSCOW)
MONDAY = dt.date(2026, 11, 23)
# 3 November 2026 (Tuesday) is before the Day of National Unity, 4 November (Wednesday).
TUESDAY_BEFORE_HOLIDAY_1745 = dt.datetime(2026, 11, 3, 17, 45, tzinfo=clock.MOSCOW)


def _at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clock.MOSCOW)


def test_owner_deadline_runs_over_the_weekend_then_the_request_goes_to_the_next_specialist(
    team, head, desk, owned_client, other_manager, django_capture_on_commit_callbacks
):
    clock.freeze(FRIDAY_1750)
    request = post(team.pk, email="zakupki@zavod.ru")
    assert request.assignee_id == other_manager.pk
    # 10 working minutes on Friday, 20 on Monday morning.
    assert request.owner_due_at == _at(MONDAY, 9, 20)

    clock.freeze(_at(MONDAY, 9, 19))
    assert deadlines.sweep()["passed_on"] == 0
    request.refresh_from_db()
    assert request.assignee_id == other_manager.pk

    clock.freeze(_at(MONDAY, 9, 21))
    with django_capture_on_commit_callbacks(execute=True):
        result = deadlines.sweep()
    assert result["passed_on"] == 1
    request.refresh_from_db()
    assert request.assignee_id in {p.pk for p in desk}
    assert request.passed_by == [other_manager.pk]
    assert request.assigned_why["owner"]["state"] == "passed"
    assert RequestEvent.objects.filter(request=request, kind=EventKind.PASSED).count() == 1
    told = set(
        Notification.objects.filter(kind="inbound_passed").values_list("recipient", flat=True)
    )
    assert {other_manager.pk, head.pk} <= told

    # Another sweep changes nothing; the owner is never offered it again.
    assert deadlines.sweep()["passed_on"] == 0
    request.refresh_from_db()
    assert request.passed_by == [other_manager.pk]


def test_owner_deadline_skips_a_russian_holiday(team, head, desk, owned_client, other_manager):
    clock.freeze(TUESDAY_BEFORE_HOLIDAY_1745)
    request = post(team.pk, phone="+7 495 000-11-22")
    assert request.assignee_id == other_manager.pk
    # 15 minutes on Tuesday, 4 November is a holiday, 15 minutes on Thursday.
    assert request.owner_due_at == dt.datetime(2026, 11, 5, 9, 15, tzinfo=clock.MOSCOW)

    clock.freeze(dt.datetime(2026, 11, 4, 12, 0, tzinfo=clock.MOSCOW))
    assert deadlines.sweep()["passed_on"] == 0


def test_an_owner_who_takes_it_in_time_keeps_it(team, head, desk, owned_client, other_manager):
    request = post(team.pk, email="zakupki@zavod.ru")
    clock.advance(dt.timedelta(minutes=10))
    services.take(request.pk, actor=other_manager)

    clock.advance(dt.timedelta(hours=2))
    deadlines.sweep()
    request.refresh_from_db()
    assert request.assignee_id == other_manager.pk
    assert request.status == Status.IN_WORK
    assert request.first_response_at == clock.now() - dt.timedelta(hours=2)


def test_a_call_to_the_client_is_the_owners_first_response(
    team, head, desk, owned_client, other_manager
):
    request = post(team.pk, email="zakupki@zavod.ru")
    clock.advance(dt.timedelta(minutes=5))
    Call.objects.create(
        source="test",
        external_id="c1",
        started_at=clock.now(),
        answered_at=clock.now(),
        direction=CallDirection.OUTBOUND,
        disposition=CallDisposition.ANSWERED,
        talk_seconds=40,
        user=other_manager,
        client=owned_client,
        their_e164="+74950001122",
        created_at=clock.now(),
    )
    clock.advance(dt.timedelta(minutes=30))
    result = deadlines.sweep()

    assert result["responded_by_call"] == 1
    assert result["passed_on"] == 0
    request.refresh_from_db()
    assert request.assignee_id == other_manager.pk
    assert request.first_response_at is not None


def test_a_call_before_the_assignment_does_not_count(team, head, desk, owned_client, other_manager):
    Call.objects.create(
        source="test",
        external_id="c0",
        started_at=clock.now() - dt.timedelta(minutes=5),
        direction=CallDirection.OUTBOUND,
        disposition=CallDisposition.ANSWERED,
        talk_seconds=40,
        user=other_manager,
        client=owned_client,
        created_at=clock.now(),
    )
    post(team.pk, email="zakupki@zavod.ru")
    assert deadlines.note_responses_by_call(clock.now()) == 0


def test_a_missed_first_response_is_escalated_to_the_head_once(
    team, head, desk, django_capture_on_commit_callbacks
):
    request = post(team.pk, email="slow@client.ru")
    assert request.first_response_due_at == clock.now() + dt.timedelta(minutes=60)

    clock.advance(dt.timedelta(minutes=59))
    assert deadlines.sweep()["first_response"] == 0

    clock.advance(dt.timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert deadlines.sweep()["first_response"] == 1
    assert deadlines.sweep()["first_response"] == 0
    request.refresh_from_db()
    assert request.escalated_at is not None
    assert request.assignee_id is not None  # escalated, not taken away from a specialist
    assert Notification.objects.filter(recipient=head, kind="inbound_escalated").count() == 1
    assert RequestEvent.objects.filter(request=request, kind=EventKind.ESCALATED).count() == 1


def test_resolution_deadline_counts_working_hours_and_escalates(team, head, desk):
    clock.freeze(FRIDAY_1750)
    request = post(team.pk, email="long@client.ru")
    services.take(request.pk, actor=request.assignee)
    # 16 working hours from Friday 17:50: 10 min Friday, 9 h Monday, 6 h 50 min Tuesday.
    assert request.resolution_due_at is not None
    request.refresh_from_db()
    assert request.resolution_due_at == dt.datetime(2026, 11, 24, 15, 50, tzinfo=clock.MOSCOW)

    clock.freeze(dt.datetime(2026, 11, 24, 15, 51, tzinfo=clock.MOSCOW))
    assert deadlines.sweep()["resolution"] == 1
    assert InboundRequest.objects.get(pk=request.pk).resolution_escalated_at is not None


def test_a_failed_acknowledgement_is_sent_later_and_only_once(team, head, desk, settings):
    from django.core import mail as outbox

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    # Received while the mail server was down: nothing went out.
    request = post(team.pk, email="buyer@ack.ru")
    assert request.acknowledged_at is None

    clock.advance(dt.timedelta(minutes=10))
    assert deadlines.sweep()["acknowledgements_retried"] == 1
    assert deadlines.sweep()["acknowledgements_retried"] == 0
    sent = [m for m in outbox.outbox if "buyer@ack.ru" in m.to]
    assert len(sent) == 1 and request.number in sent[0].subject
