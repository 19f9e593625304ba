"""The handoff deadline sweep runs as a periodic task through the django-tasks worker; enqueued
twice (two schedulers), it escalates each overdue handoff once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from otdel.core import clock
from otdel.core.calendar import add_working_hours
from otdel.people.models import Notification
from otdel.sales.models import DealEvent, DealEventKind
from otdel.sales.tasks import handoff_deadlines
from tests.sales.conftest import hand_to_order_manager, open_deal

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_worker_escalates_an_overdue_handoff_once_even_if_enqueued_twice(
    head, manager, order_manager, pipeline, frozen_clock
):
    hand_to_order_manager(open_deal(manager), manager, order_manager)
    frozen_clock.advance(dt.timedelta(days=1))
    handoff_deadlines.enqueue()
    handoff_deadlines.enqueue()
    call_command("db_worker", batch=True, no_startup_delay=True, interval=0.01, verbosity=0)
    assert DBTaskResult.objects.filter(status="SUCCESSFUL").count() == 2
    assert Notification.objects.filter(kind="handoff_overdue", recipient=head).count() == 1
    assert DealEvent.objects.filter(kind=DealEventKind.HANDOFF_ESCALATED).count() == 1
    assert not Notification.objects.filter(kind="handoff_overdue").exclude(recipient=head).exists()


def test_working_hours_skip_nights_weekends_and_holidays(db):
    moscow = clock.MOSCOW
    at = dt.datetime
    assert add_working_hours(at(2026, 11, 18, 10, 0, tzinfo=moscow), 4) == at(
        2026, 11, 18, 14, 0, tzinfo=moscow
    )
    # An offer made at night counts from the morning.
    assert add_working_hours(at(2026, 11, 18, 22, 0, tzinfo=moscow), 1) == at(
        2026, 11, 19, 10, 0, tzinfo=moscow
    )
    # Saturday: from Monday morning.
    assert add_working_hours(at(2026, 11, 21, 12, 0, tzinfo=moscow), 2) == at(
        2026, 11, 23, 11, 0, tzinfo=moscow
    )
    # A whole working day (9 hours) after Friday 17:00 is Monday 17:00.
    assert add_working_hours(at(2026, 11, 20, 17, 0, tzinfo=moscow), 9) == at(
        2026, 11, 23, 17, 0, tzinfo=moscow
    )
    # New Year holidays (31 December 2026 is a day off too): from 11 January 2027 at 09:00.
    assert add_working_hours(at(2026, 12, 31, 17, 0, tzinfo=moscow), 2) == at(
        2027, 1, 11, 11, 0, tzinfo=moscow
    )
