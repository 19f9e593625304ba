"""Owners recorded in bulk (imports): caps per batch, one ledger row per client, all or nothing."""

from __future__ import annotations

import pytest
from django.db import transaction

from otdel.clients.models import Client
from otdel.core.errors import Conflict
from otdel.ownership.models import EventKind, OwnershipEvent
from otdel.ownership.services import establish_owners_in_bulk
from tests.factories import make_client

pytestmark = pytest.mark.django_db


def test_bulk_owners_get_clients_and_ledger_rows(head, manager, team):
    mine = [make_client(head).pk for _ in range(3)]
    pooled = [make_client(head).pk for _ in range(2)]
    establish_owners_in_bulk({manager.pk: mine, None: pooled}, team_id=team.pk, actor=head)
    assert set(Client.objects.filter(owner=manager).values_list("pk", flat=True)) == set(mine)
    assert OwnershipEvent.objects.filter(kind=EventKind.IMPORT, to_user=manager).count() == 3
    assert OwnershipEvent.objects.filter(kind=EventKind.IMPORT, to_user=None).count() == 2


def test_batch_over_an_owners_cap_writes_nothing(head, manager, other_manager, team):
    manager.client_cap = 2
    manager.save()
    ids = [make_client(head).pk for _ in range(3)]
    others = [make_client(head).pk]
    with pytest.raises(Conflict) as err, transaction.atomic():
        establish_owners_in_bulk(
            {other_manager.pk: others, manager.pk: ids}, team_id=team.pk, actor=head
        )
    assert err.value.code == "over_cap"
    assert not Client.objects.filter(owner__isnull=False).exists()
    assert not OwnershipEvent.objects.filter(kind=EventKind.IMPORT).exists()


def test_effective_calls_restart_only_their_owners_clocks_and_never_backwards(
    head, manager, other_manager, frozen_clock
):
    import datetime as dt

    from otdel.ownership.services import note_effective_calls

    mine = make_client(head, owner=manager)
    theirs = make_client(head, owner=other_manager)
    started = Client.objects.get(pk=mine.pk).activity_clock_at
    later = frozen_clock.now() + dt.timedelta(days=3)
    earlier = frozen_clock.now() - dt.timedelta(days=3)
    moved = note_effective_calls(
        [
            (mine.pk, manager.pk, later),
            (mine.pk, manager.pk, earlier),
            (theirs.pk, manager.pk, later),
        ]
    )
    assert moved == 1
    assert Client.objects.get(pk=mine.pk).activity_clock_at == later
    assert Client.objects.get(pk=theirs.pk).activity_clock_at == started
    assert note_effective_calls([(mine.pk, manager.pk, earlier)]) == 0
    assert Client.objects.get(pk=mine.pk).activity_clock_at == later
