"""The return-to-pool clock at its boundaries: warning, return, cooldown, and what the ledger says."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.activities.services import log_activity
from otdel.clients.models import Client
from otdel.core.errors import Conflict
from otdel.ownership import services
from otdel.ownership.models import EventKind, OwnershipEvent
from otdel.ownership.sweep import run_sweep
from otdel.people.models import Notification
from tests.factories import make_client

pytestmark = pytest.mark.django_db


def _owner_of(client: Client):
    return Client.objects.get(pk=client.pk).owner


def test_qualifying_meeting_keeps_client_until_exactly_thirty_days(
    head, manager, other_manager, frozen_clock
):
    client = make_client(head)
    services.claim(client.pk, actor=manager)
    frozen_clock.advance(dt.timedelta(days=1))
    log_activity(client.pk, actor=manager, kind="meeting", subject="встреча в офисе")
    called_at = frozen_clock.now()

    frozen_clock.freeze(called_at + dt.timedelta(days=26, hours=23))
    assert run_sweep() == {"warned": 0, "returned": 0}

    frozen_clock.freeze(called_at + dt.timedelta(days=27))
    assert run_sweep() == {"warned": 1, "returned": 0}
    warning = OwnershipEvent.objects.get(client=client, kind=EventKind.WARNING)
    assert warning.from_user == manager and "3" in warning.reason
    assert Notification.objects.filter(recipient=manager, kind="return_warning").count() == 1
    # A second sweep the same day warns nobody again.
    assert run_sweep() == {"warned": 0, "returned": 0}

    frozen_clock.freeze(called_at + dt.timedelta(days=29, hours=23))
    assert run_sweep()["returned"] == 0
    assert _owner_of(client) == manager

    frozen_clock.freeze(called_at + dt.timedelta(days=30))
    assert run_sweep()["returned"] == 1
    assert _owner_of(client) is None
    event = OwnershipEvent.objects.get(client=client, kind=EventKind.AUTO_RETURN)
    assert event.from_user == manager and event.actor is None
    assert "30" in event.reason

    with pytest.raises(Conflict) as err:
        services.claim(client.pk, actor=manager)
    assert err.value.code == "cooldown"
    assert _owner_of(client) is None
    # Anyone else may take it at once.
    services.claim(client.pk, actor=other_manager)
    assert _owner_of(client) == other_manager


def test_non_qualifying_note_does_not_restart_the_clock(head, manager, frozen_clock):
    client = make_client(head)
    services.claim(client.pk, actor=manager)
    claimed_at = frozen_clock.now()
    frozen_clock.advance(dt.timedelta(days=20))
    log_activity(client.pk, actor=manager, kind="note", body="подумать")
    frozen_clock.freeze(claimed_at + dt.timedelta(days=30))
    assert run_sweep()["returned"] == 1
    assert _owner_of(client) is None


def test_someone_elses_call_does_not_protect_the_owner(head, manager, other_manager, frozen_clock):
    client = make_client(head)
    services.claim(client.pk, actor=manager)
    claimed_at = frozen_clock.now()
    frozen_clock.advance(dt.timedelta(days=20))
    log_activity(client.pk, actor=other_manager, kind="call", direction="out", talk_seconds=300)
    frozen_clock.freeze(claimed_at + dt.timedelta(days=30))
    assert run_sweep()["returned"] == 1


def test_protection_period_postpones_the_return(head, manager, team, frozen_clock):
    services.publish_policy(
        team.pk,
        document={"protection_days": 45, "return_after_idle_days": 30},
        effective_from=frozen_clock.now(),
        actor=head,
    )
    client = make_client(head)
    services.claim(client.pk, actor=manager)
    claimed_at = frozen_clock.now()
    frozen_clock.freeze(claimed_at + dt.timedelta(days=44))
    assert run_sweep()["returned"] == 0
    frozen_clock.freeze(claimed_at + dt.timedelta(days=45))
    assert run_sweep()["returned"] == 1


def test_locked_client_is_excluded_when_policy_says_so(head, manager, frozen_clock):
    from otdel.clients.services import set_locked

    client = make_client(head, owner=manager)
    set_locked(client.pk, locked=True, actor=head)
    frozen_clock.advance(dt.timedelta(days=120))
    assert run_sweep()["returned"] == 0
    assert _owner_of(client) == manager


def test_ledger_names_the_policy_version_that_applied(head, manager, team, frozen_clock):
    policy = services.publish_policy(
        team.pk,
        document={"return_after_idle_days": 10, "warn_days_before": 2},
        effective_from=frozen_clock.now(),
        actor=head,
    )
    client = make_client(head)
    services.claim(client.pk, actor=manager)
    frozen_clock.advance(dt.timedelta(days=14, minutes=1))
    run_sweep()
    event = OwnershipEvent.objects.get(client=client, kind=EventKind.AUTO_RETURN)
    assert event.policy == policy
    assert event.details["policy_version"] == policy.version
    assert "10" in event.reason


def test_new_policy_version_applies_only_from_its_date(head, manager, team, frozen_clock):
    client = make_client(head)
    services.claim(client.pk, actor=manager)
    start = frozen_clock.now()
    services.publish_policy(
        team.pk,
        document={"return_after_idle_days": 60, "warn_days_before": 3},
        effective_from=start + dt.timedelta(days=40),
        actor=head,
    )
    frozen_clock.freeze(start + dt.timedelta(days=31))
    assert run_sweep()["returned"] == 1  # the 30-day version was still in force
