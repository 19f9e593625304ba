"""The phone channel: a missed inbound call becomes a request routed like any other (owner
first for a known client); an answered call from an unknown number is the answerer's request;
each call is read once."""

from __future__ import annotations

import pytest

from otdel.activities.models import Call, CallDirection, CallDisposition
from otdel.core import clock
from otdel.inbound.models import Channel, InboundRequest, Status
from otdel.inbound.phone import requests_from_calls

pytestmark = pytest.mark.django_db


def _call(n: int, *, number: str, disposition: str, user=None, client=None) -> Call:
    return Call.objects.create(
        source="test",
        external_id=f"in-{n}",
        started_at=clock.now(),
        answered_at=clock.now() if disposition == CallDisposition.ANSWERED else None,
        direction=CallDirection.INBOUND,
        disposition=disposition,
        talk_seconds=60 if disposition == CallDisposition.ANSWERED else 0,
        user=user,
        client=client,
        their_number=number,
        their_e164=number,
        created_at=clock.now(),
    )


def test_a_missed_call_from_a_client_goes_to_its_owner(
    team, head, desk, owned_client, other_manager
):
    _call(1, number="+74950001122", disposition=CallDisposition.NO_ANSWER, client=owned_client)

    assert requests_from_calls() == 1
    request = InboundRequest.objects.get()
    assert request.channel == Channel.PHONE
    assert request.client_id == owned_client.pk
    assert request.assignee_id == other_manager.pk
    assert requests_from_calls() == 0  # read once
    assert InboundRequest.objects.count() == 1


def test_an_answered_unknown_caller_is_the_answerers_request(team, head, desk):
    _call(2, number="+79120000002", disposition=CallDisposition.ANSWERED, user=desk[1])

    requests_from_calls()
    request = InboundRequest.objects.get()
    assert request.assignee_id == desk[1].pk
    assert request.status == Status.IN_WORK
    assert request.first_response_at is not None
    assert request.assigned_why["rule"] == "answered_call"


def test_an_answered_call_from_a_known_client_is_no_request(team, head, desk, owned_client):
    _call(
        3,
        number="+74950001122",
        disposition=CallDisposition.ANSWERED,
        client=owned_client,
        user=desk[0],
    )
    assert requests_from_calls() == 0
    assert InboundRequest.objects.count() == 0


def test_repeated_missed_calls_join_one_request(team, head, desk):
    for n in range(3):
        _call(10 + n, number="+79120000099", disposition=CallDisposition.NO_ANSWER)

    requests_from_calls()
    request = InboundRequest.objects.get()
    assert request.messages.count() == 3
