"""Claiming from the pool: caps, daily limits, cooldowns, and what a refusal leaves behind."""

from __future__ import annotations

import pytest

from otdel.clients.models import Client
from otdel.core.errors import Conflict, Invalid
from otdel.ownership import services
from otdel.ownership.models import EventKind, OwnershipEvent
from tests.factories import make_client

pytestmark = pytest.mark.django_db


def test_manager_claims_pool_client_and_ledger_records_it(head, manager, frozen_clock):
    client = make_client(head)
    services.claim(client.pk, actor=manager)
    client.refresh_from_db()
    assert client.owner == manager
    assert client.protected_until > frozen_clock.now()
    event = OwnershipEvent.objects.get(client=client, kind=EventKind.CLAIM)
    assert event.to_user == manager and event.from_user is None and event.actor == manager


def test_claimed_client_cannot_be_claimed_by_another(head, manager, other_manager):
    client = make_client(head)
    services.claim(client.pk, actor=manager)
    with pytest.raises(Conflict) as err:
        services.claim(client.pk, actor=other_manager)
    assert err.value.code == "already_owned"
    assert Client.objects.get(pk=client.pk).owner == manager
    assert OwnershipEvent.objects.filter(client=client, kind=EventKind.CLAIM).count() == 1


def test_manager_over_cap_cannot_claim_but_keeps_his_clients(head, manager):
    manager.client_cap = 2
    manager.save()
    owned = [make_client(head, owner=manager) for _ in range(2)]
    extra = make_client(head)
    with pytest.raises(Conflict) as err:
        services.claim(extra.pk, actor=manager)
    assert err.value.code == "over_cap"
    assert Client.objects.get(pk=extra.pk).owner is None
    assert set(Client.objects.filter(owner=manager)) == set(owned)


def test_daily_claim_limit_stops_the_next_claim(head, manager, team, frozen_clock):
    services.publish_policy(
        team.pk, document={"daily_claim_limit": 2}, effective_from=frozen_clock.now(), actor=head
    )
    clients = [make_client(head) for _ in range(3)]
    services.claim(clients[0].pk, actor=manager)
    services.claim(clients[1].pk, actor=manager)
    with pytest.raises(Conflict) as err:
        services.claim(clients[2].pk, actor=manager)
    assert err.value.code == "daily_limit"
    assert Client.objects.get(pk=clients[2].pk).owner is None


def test_release_requires_reason_and_starts_cooldown(head, manager, frozen_clock):
    import datetime as dt

    client = make_client(head, owner=manager)
    with pytest.raises(Invalid):
        services.release_to_pool(client.pk, actor=manager, reason="  ")
    assert Client.objects.get(pk=client.pk).owner == manager
    services.release_to_pool(client.pk, actor=manager, reason="не наш профиль")
    assert Client.objects.get(pk=client.pk).owner is None
    frozen_clock.advance(dt.timedelta(days=29))
    with pytest.raises(Conflict) as err:
        services.claim(client.pk, actor=manager)
    assert err.value.code == "cooldown"
    frozen_clock.advance(dt.timedelta(days=1, minutes=1))
    services.claim(client.pk, actor=manager)
    assert Client.objects.get(pk=client.pk).owner == manager


def test_other_manager_cannot_release_someone_elses_client(head, manager, other_manager):
    from otdel.core.errors import NotFound

    client = make_client(head, owner=manager)
    with pytest.raises(NotFound):
        services.release_to_pool(client.pk, actor=other_manager, reason="хочу")
    assert Client.objects.get(pk=client.pk).owner == manager
    assert not OwnershipEvent.objects.filter(client=client, kind=EventKind.RELEASE).exists()
