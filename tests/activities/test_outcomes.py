"""The post-call card's outcomes: only the caller marks them, they are checked against the
data, and a required outcome makes the call effective (restarting the owner's clock)."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.activities.call_policy_services import publish_call_policy
from otdel.activities.models import CallOutcome
from otdel.activities.outcomes import mark_outcomes, reverify_outcomes
from otdel.activities.services import log_activity
from otdel.activities.unknown import resolve_unknown_number
from otdel.activities.verdicts import classify_calls
from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.errors import Conflict, Invalid, NotFound
from otdel.people.models import Role
from tests.activities.calls import make_call
from tests.factories import make_client, make_user

pytestmark = pytest.mark.django_db


def _require(head, *outcomes):
    publish_call_policy(
        head.team_id,
        document={"required_outcomes": list(outcomes)},
        effective_from=clock.now(),
        actor=head,
    )
    clock.advance(dt.timedelta(minutes=10))  # calls from now on fall under this version


def _judged_call(manager, client, **kw):
    call = make_call(user=manager, client=client, at=clock.now() - dt.timedelta(minutes=5), **kw)
    classify_calls([call.pk])
    call.refresh_from_db()
    return call


def test_marking_the_required_outcome_makes_the_call_effective_and_restarts_the_clock(
    head, manager, frozen_clock
):
    client = make_client(head, owner=manager)
    _require(head, "decision_maker_reached")
    call = _judged_call(manager, client)
    assert call.effective is False
    clock_before = Client.objects.get(pk=client.pk).activity_clock_at

    marked = mark_outcomes(call.pk, actor=manager, kinds=["decision_maker_reached"])

    assert marked.effective is True
    assert [r["code"] for r in marked.verdict_reasons] == ["effective"]
    restarted = Client.objects.get(pk=client.pk).activity_clock_at
    assert restarted == call.started_at
    assert clock_before is None or clock_before < restarted


def test_only_the_caller_marks_outcomes(head, manager, other_manager, frozen_clock):
    client = make_client(head, owner=manager)
    _require(head, "decision_maker_reached")
    call = _judged_call(manager, client)
    for stranger in (other_manager, head):
        with pytest.raises(NotFound):
            mark_outcomes(call.pk, actor=stranger, kinds=["decision_maker_reached"])
    call.refresh_from_db()
    assert call.effective is False
    assert not CallOutcome.objects.filter(call=call).exists()


def test_outcomes_cannot_be_marked_two_days_later(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    call = _judged_call(manager, client)
    clock.advance(dt.timedelta(hours=49))
    with pytest.raises(Conflict):
        mark_outcomes(call.pk, actor=manager, kinds=["email_obtained"])
    assert not CallOutcome.objects.filter(call=call).exists()


def test_an_unknown_outcome_is_refused(head, manager, frozen_clock):
    call = _judged_call(manager, make_client(head, owner=manager))
    with pytest.raises(Invalid):
        mark_outcomes(call.pk, actor=manager, kinds=["coffee"])
    assert not CallOutcome.objects.filter(call=call).exists()


def test_unmarking_replaces_the_earlier_marks(head, manager, frozen_clock):
    call = _judged_call(manager, make_client(head, owner=manager))
    mark_outcomes(call.pk, actor=manager, kinds=["email_obtained", "decision_maker_reached"])
    mark_outcomes(call.pk, actor=manager, kinds=["email_obtained"])
    assert set(CallOutcome.objects.filter(call=call).values_list("kind", flat=True)) == {
        "email_obtained"
    }


def test_a_new_mobile_on_the_client_confirms_mobile_obtained(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    call = _judged_call(manager, client)
    operator = make_user(Role.DB_OPERATOR, team=head.team)
    contact = client.contacts.first()
    resolve_unknown_number("+79161234567", actor=operator, contact_id=contact.pk)

    mark_outcomes(call.pk, actor=manager, kinds=["mobile_obtained", "decision_maker_reached"])

    outcomes = {o.kind: o for o in CallOutcome.objects.filter(call=call)}
    assert outcomes["mobile_obtained"].verified is True
    assert outcomes["decision_maker_reached"].verified is None  # nothing to check it against


def test_an_unconfirmed_mobile_waits_then_fails_and_stops_counting(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    _require(head, "mobile_obtained")
    call = _judged_call(manager, client)
    mark_outcomes(call.pk, actor=manager, kinds=["mobile_obtained"])
    outcome = CallOutcome.objects.get(call=call)
    assert outcome.verified is None  # the data may still come
    call.refresh_from_db()
    assert call.effective is True

    clock.advance(dt.timedelta(hours=49))
    assert reverify_outcomes([call.pk]) == 1

    outcome.refresh_from_db()
    call.refresh_from_db()
    assert outcome.verified is False
    assert call.effective is False
    assert [r["code"] for r in call.verdict_reasons] == ["outcomes_missing"]


def test_a_presentation_email_logged_after_the_call_confirms_it(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    call = _judged_call(manager, client)
    log_activity(client.pk, actor=manager, kind="email", subject="Презентация")
    mark_outcomes(call.pk, actor=manager, kinds=["presentation_sent"])
    assert CallOutcome.objects.get(call=call).verified is True
