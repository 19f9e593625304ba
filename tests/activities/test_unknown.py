"""Unknown callers: an operator puts a number on a client's contact; the calls follow."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.activities.models import Activity, Call
from otdel.activities.selectors import unknown_callers
from otdel.activities.unknown import resolve_unknown_number
from otdel.clients.models import ContactPhone
from otdel.clients.selectors import phone_calls_for
from otdel.core import clock
from otdel.core.errors import Forbidden, Invalid, NotFound
from otdel.people.models import Role
from tests.activities.calls import make_call
from tests.factories import make_client, make_user

pytestmark = pytest.mark.django_db

NUMBER = "+74957770011"


def _unknown_calls(manager, n=2, talk=200):
    calls = []
    for i in range(n):
        call = make_call(user=manager, at=clock.now() - dt.timedelta(hours=i + 1), talk=talk)
        Call.objects.filter(pk=call.pk).update(their_e164=NUMBER, their_number="8 495 777-00-11")
        calls.append(call)
    return calls


def test_unknown_numbers_are_grouped_with_count_and_last_call(head, manager, frozen_clock):
    _unknown_calls(manager, n=3)
    rows = list(unknown_callers(head))
    assert len(rows) == 1
    assert rows[0]["their_e164"] == NUMBER
    assert rows[0]["calls"] == 3
    assert rows[0]["last_call"] == clock.now() - dt.timedelta(hours=1)


def test_a_manager_may_not_see_or_resolve_unknown_numbers(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    _unknown_calls(manager)
    with pytest.raises(NotFound):
        unknown_callers(manager)
    with pytest.raises(Forbidden):
        resolve_unknown_number(NUMBER, actor=manager, contact_id=client.contacts.first().pk)
    assert Call.objects.filter(their_e164=NUMBER, client__isnull=True).count() == 2
    assert not ContactPhone.objects.filter(e164=NUMBER).exists()


def test_the_operator_attaches_a_number_and_its_calls_join_the_client(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    contact = client.contacts.first()
    clock.advance(dt.timedelta(hours=3))  # he owned the client when he called
    calls = _unknown_calls(manager)
    operator = make_user(Role.DB_OPERATOR, team=head.team)

    done = resolve_unknown_number(NUMBER, actor=operator, contact_id=contact.pk)

    assert done.calls_matched == 2
    assert ContactPhone.objects.filter(contact=contact, e164=NUMBER).exists()
    for call in calls:
        call.refresh_from_db()
        assert (call.client_id, call.contact_id) == (client.pk, contact.pk)
        assert call in phone_calls_for(operator, client)  # on the client's timeline
    # Judged: the earlier 200 s outbound call to his own client counts, the same day's next not.
    later, earlier = calls
    assert (earlier.effective, later.effective) == (True, False)
    assert [r["code"] for r in later.verdict_reasons] == ["already_counted"]
    # Each is its own timeline entry: no copies are written as activities.
    assert not Activity.objects.filter(kind="call").exists()
    assert list(unknown_callers(head)) == []


def test_a_new_contact_on_a_client_takes_the_number(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    _unknown_calls(manager, n=1)
    done = resolve_unknown_number(
        NUMBER, actor=head, client_id=client.pk, full_name="Сидоров Пётр", position="снабженец"
    )
    assert done.contact.client_id == client.pk
    assert done.contact.full_name == "Сидоров Пётр"
    assert Call.objects.get(their_e164=NUMBER).client_id == client.pk


def test_a_bad_number_or_no_target_changes_nothing(head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    _unknown_calls(manager, n=1)
    with pytest.raises(Invalid):
        resolve_unknown_number("12", actor=head, contact_id=client.contacts.first().pk)
    with pytest.raises(Invalid):
        resolve_unknown_number(NUMBER, actor=head)
    with pytest.raises(Invalid):
        resolve_unknown_number(NUMBER, actor=head, client_id=client.pk, full_name=" ")
    assert Call.objects.get(their_e164=NUMBER).client_id is None
    assert client.contacts.count() == 1
