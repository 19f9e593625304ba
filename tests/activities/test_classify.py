"""Verdicts on real call rows: ownership at the time of the call, callbacks, the gaming case."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from otdel.activities.models import Call
from otdel.activities.verdicts import (
    classify_calls,
    effective_owner_calls,
    reasons_of,
)
from otdel.ownership import services as ownership
from otdel.people.models import Role
from tests.activities.calls import make_call
from tests.factories import make_client, make_user

pytestmark = pytest.mark.django_db


def _texts(call: Call) -> list[str]:
    call.refresh_from_db()
    with translation.override("en"):
        return [r.text for r in reasons_of(call)]


def test_only_outbound_answered_call_over_threshold_to_own_client_is_effective(
    head, manager, other_manager, frozen_clock
):
    mine = make_client(head, owner=manager)
    theirs = make_client(head, owner=other_manager)
    pool = make_client(head)
    frozen_clock.advance(dt.timedelta(hours=1))
    good = make_call(user=manager, client=mine, talk=192)
    short = make_call(user=manager, client=mine, talk=95, at=frozen_clock.now())
    colleague = make_call(user=manager, client=theirs)
    pooled = make_call(user=manager, client=pool)
    inbound = make_call(user=manager, client=mine, direction="in")
    busy = make_call(user=manager, client=mine, disposition="busy")
    calls = [good, short, colleague, pooled, inbound, busy]

    assert classify_calls([c.pk for c in calls]) == 6

    for call in calls:
        call.refresh_from_db()
        assert call.classified_at == frozen_clock.now()
        assert call.verdict_policy is None  # no version published: the defaults
    assert [c.effective for c in calls] == [True, False, False, False, False, False]
    assert _texts(good) == ["effective: outbound, 3:12, client in your base"]
    assert _texts(short) == ["not effective: talk time 95 s < 150 s"]
    assert _texts(colleague) == ["not effective: client in a colleague's base"]
    assert _texts(pooled) == ["not effective: client not in your base"]


def test_ownership_is_judged_at_the_time_of_the_call(head, manager, other_manager, frozen_clock):
    client = make_client(head, owner=manager)
    start = frozen_clock.now()
    frozen_clock.advance(dt.timedelta(days=2))
    ownership.assign(client.pk, to_user=other_manager, actor=head, reason="reorganisation")
    # Both calls reach us only now (a late CDR import).
    before = make_call(user=manager, client=client, at=start + dt.timedelta(days=1))
    after = make_call(user=manager, client=client, at=frozen_clock.now() + dt.timedelta(hours=1))
    new_owner = make_call(
        user=other_manager, client=client, at=frozen_clock.now() + dt.timedelta(hours=2)
    )

    classify_calls([before.pk, after.pk, new_owner.pk])

    for call in (before, after, new_owner):
        call.refresh_from_db()
    assert before.effective is True
    assert after.effective is False
    assert _texts(after) == ["not effective: client in a colleague's base"]
    assert new_owner.effective is True


def test_self_reported_call_is_never_effective(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    call = make_call(user=manager, client=client, self_reported=True)
    classify_calls([call.pk])
    call.refresh_from_db()
    assert call.effective is False
    assert _texts(call) == ["not effective: self-reported"]


def test_second_effective_call_the_same_day_is_not_counted_again(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    first = make_call(user=manager, client=client)
    classify_calls([first.pk])
    frozen_clock.advance(dt.timedelta(hours=3))
    second = make_call(user=manager, client=client)
    classify_calls([second.pk])
    frozen_clock.advance(dt.timedelta(days=1))
    next_day = make_call(user=manager, client=client)
    classify_calls([next_day.pk])

    assert [Call.objects.get(pk=c.pk).effective for c in (first, second, next_day)] == [
        True,
        False,
        True,
    ]
    assert _texts(second) == [
        "not effective: an effective call to this client was already counted on 18.11"
    ]


def test_calls_of_one_batch_see_each_other_in_time_order(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    frozen_clock.advance(dt.timedelta(hours=1))
    later = make_call(user=manager, client=client, at=frozen_clock.now() + dt.timedelta(hours=1))
    earlier = make_call(user=manager, client=client, at=frozen_clock.now())
    classify_calls([later.pk, earlier.pk])
    assert Call.objects.get(pk=earlier.pk).effective is True
    assert Call.objects.get(pk=later.pk).effective is False


def test_outcomes_from_the_call_record_are_checked(head, manager, frozen_clock):
    from otdel.activities.call_policy_services import publish_call_policy

    publish_call_policy(
        manager.team_id,
        document={"required_outcomes": ["decision_maker_reached"]},
        effective_from=frozen_clock.now(),
        actor=head,
    )
    frozen_clock.advance(dt.timedelta(minutes=1))
    client = make_client(head, owner=manager)
    other = make_client(head, owner=manager)
    with_outcome = make_call(user=manager, client=client, outcomes=["decision_maker_reached"])
    without = make_call(user=manager, client=other, outcomes=[])
    classify_calls([with_outcome.pk, without.pk])
    assert Call.objects.get(pk=with_outcome.pk).effective is True
    assert _texts(without) == ["not effective: outcomes missing: decision maker reached"]


def test_same_day_callback_to_an_inbound_call_counts_normally(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    missed = make_call(client=client, direction="in", disposition="no_answer")
    frozen_clock.advance(dt.timedelta(hours=2))
    callback = make_call(user=manager, client=client, talk=240)
    classify_calls([missed.pk, callback.pk])
    callback.refresh_from_db()
    assert callback.effective is True
    assert _texts(callback) == [
        "effective: outbound callback to today's inbound call, 4:00, client in your base"
    ]


def test_gaming_assistant_calling_back_week_old_inbound_calls_gets_nothing(
    head, manager, frozen_clock
):
    """An assistant calls back week-old inbound calls with many 20-40 s calls: 0 effective,
    and every call says why."""
    assistant = make_user(Role.COORDINATOR, team=manager.team, username="assistant")
    clients = [make_client(head, owner=assistant) for _ in range(5)]
    inbound = [make_call(client=c, direction="in", talk=60) for c in clients]
    classify_calls([c.pk for c in inbound])
    frozen_clock.advance(dt.timedelta(days=7))
    callbacks = []
    for i, client in enumerate(clients):
        for attempt in range(4):
            at = frozen_clock.now() + dt.timedelta(minutes=10 * (4 * i + attempt))
            callbacks.append(make_call(user=assistant, client=client, talk=20 + 5 * attempt, at=at))
    # The one long callback is still a stale callback.
    long_one = make_call(
        user=assistant, client=clients[0], talk=400, at=frozen_clock.now() + dt.timedelta(hours=5)
    )
    callbacks.append(long_one)

    assert classify_calls([c.pk for c in callbacks]) == 21

    assert Call.objects.filter(user=assistant, effective=True).count() == 0
    assert Call.objects.filter(user=assistant, effective=False).count() == 21
    first = callbacks[0]
    assert _texts(first) == [
        "not effective: talk time 20 s < 150 s",
        "not effective: inbound callback, the client's inbound call is 7 days old",
    ]
    assert _texts(long_one) == [
        "not effective: inbound callback, the client's inbound call is 7 days old"
    ]
    assert effective_owner_calls([c.pk for c in callbacks]) == []


def test_effective_owner_calls_are_those_that_restart_the_clock(
    head, manager, other_manager, frozen_clock
):
    from otdel.activities.call_policy_services import publish_call_policy

    publish_call_policy(
        manager.team_id,
        document={"client_scope": "own_base_or_pool"},
        effective_from=frozen_clock.now(),
        actor=head,
    )
    mine = make_client(head, owner=manager)
    pool = make_client(head)
    frozen_clock.advance(dt.timedelta(minutes=5))
    effective = make_call(user=manager, client=mine)
    pooled = make_call(user=manager, client=pool)
    short = make_call(user=manager, client=make_client(head, owner=manager), talk=20)
    ids = [effective.pk, pooled.pk, short.pk]
    classify_calls(ids)
    assert Call.objects.get(pk=pooled.pk).effective is True
    assert effective_owner_calls(ids) == [(mine.pk, manager.pk, effective.started_at)]
    for client_id, user_id, at in effective_owner_calls(ids):
        assert ownership.note_qualifying_activity(
            client_id, user_id=user_id, kind="call", at=at, effective_call=True
        )
