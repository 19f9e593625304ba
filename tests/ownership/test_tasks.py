"""The periodic ownership work runs through the django-tasks database queue and its worker."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from otdel.clients.models import Client
from otdel.ownership.models import EventKind, OwnershipEvent
from otdel.ownership.tasks import return_to_pool_sweep, transfer_deadlines
from tests.factories import make_client

pytestmark = pytest.mark.django_db(transaction=True)


def test_worker_runs_the_enqueued_sweep_once_even_if_enqueued_twice(head, manager, frozen_clock):
    clients = [make_client(head, owner=manager) for _ in range(3)]
    frozen_clock.advance(dt.timedelta(days=31))
    return_to_pool_sweep.enqueue()
    return_to_pool_sweep.enqueue()
    transfer_deadlines.enqueue()
    call_command("db_worker", batch=True, no_startup_delay=True, interval=0.01, verbosity=0)
    assert DBTaskResult.objects.filter(status="SUCCESSFUL").count() == 3
    assert not Client.objects.filter(pk__in=[c.pk for c in clients], owner__isnull=False).exists()
    assert OwnershipEvent.objects.filter(kind=EventKind.AUTO_RETURN).count() == 3
