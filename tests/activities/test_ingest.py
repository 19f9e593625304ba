"""Calls reported by a phone system become facts once, matched to people and clients."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest
from django.db import connection

from otdel.activities.calls import record_calls
from otdel.activities.models import Activity, Call
from otdel.clients.models import Client
from otdel.clients.selectors import phone_calls_for, timeline
from otdel.core import clock
from otdel.telephony.models import PhoneAccount
from otdel.telephony.records import CallRecord
from tests.factories import make_client, make_head, make_team, make_user

pytestmark = pytest.mark.django_db

PBX = "asterisk:office"


def _call(
    external_id: str,
    number: str,
    *,
    account: str = "101",
    talk: int = 200,
    direction: str = "out",
    disposition: str = "answered",
    at: dt.datetime | None = None,
) -> CallRecord:
    return CallRecord(
        source=PBX,
        external_id=external_id,
        started_at=at or clock.now() - dt.timedelta(minutes=10),
        direction=direction,
        disposition=disposition,
        talk_seconds=talk,
        account=account,
        their_number=number,
    )


@pytest.fixture
def caller(team, manager):
    PhoneAccount.objects.create(source=PBX, account="101", user=manager)
    return manager


def test_resending_the_same_calls_changes_nothing(head, caller):
    client = make_client(head, owner=caller, phones=["+74951234567"])
    batch = [_call("c-1", "84951234567"), _call("c-2", "+7 999 000-00-00")]
    first = record_calls(batch)
    assert (first.created, first.already_known, first.unknown_numbers) == (2, 0, 1)
    again = record_calls(batch)
    assert (again.created, again.already_known) == (0, 2)
    assert Call.objects.count() == 2
    assert len(phone_calls_for(head, client)) == 1  # the matched one, on its timeline


def test_call_is_matched_to_the_extension_owner_and_the_client_whatever_the_prefix(head, caller):
    client = make_client(head, owner=caller, phones=["+74951234567"])
    record_calls([_call("c-1", "8 (495) 123-45-67"), _call("c-2", "74951234567", account="999")])
    first, second = Call.objects.order_by("external_id")
    assert (first.user, first.client, first.their_e164) == (caller, client, "+74951234567")
    assert second.user is None and second.client == client
    entries = [i["obj"] for i in timeline(head, client) if i["type"] == "call"]
    # Both on the client's timeline as themselves, each with its caller (none: unknown line).
    assert {(c.external_id, c.user_id) for c in entries} == {("c-1", caller.pk), ("c-2", None)}
    assert not Activity.objects.exists()  # a phone-system call is its own timeline entry


def test_unknown_number_is_kept_without_a_client(caller):
    result = record_calls([_call("c-9", "+7 912 000-11-22", direction="in")])
    call = Call.objects.get(external_id="c-9")
    assert result.unknown_numbers == 1
    assert call.client is None and call.their_e164 == "+79120001122" and call.activity is None


def test_internal_call_is_not_an_unknown_client(caller):
    result = record_calls([_call("c-5", "102", direction="internal")])
    assert result.unknown_numbers == 0
    assert Call.objects.get(external_id="c-5").client is None


def test_shared_number_goes_to_the_callers_own_client(head, caller, other_manager):
    make_client(head, owner=other_manager, phones=["+74957000000"])
    mine = make_client(head, owner=caller, phones=["+74957000000"])
    record_calls([_call("c-1", "+74957000000")])
    assert Call.objects.get().client == mine


def test_naive_times_are_refused_before_anything_is_written():
    with pytest.raises(ValueError):
        CallRecord(
            source=PBX,
            external_id="x",
            started_at=dt.datetime(2026, 11, 20, 10, 0),
            direction="out",
            disposition="answered",
        )
    assert Call.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_ingesters_sending_the_same_batch_store_each_call_once():
    team = make_team("Телефония")
    head = make_head(team)
    person = make_user("hunter", team=team)
    PhoneAccount.objects.create(source=PBX, account="101", user=person)
    make_client(head, team=team, owner=person, phones=["+74951234567"])
    batch = [_call(f"c-{i}", "+74951234567") for i in range(40)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            barrier.wait()
            record_calls(batch)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ingest) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert Call.objects.count() == 40
    assert not Activity.objects.exists()


def test_merged_clients_keep_their_calls(head, caller):
    from otdel.clients.services import merge_clients

    a = make_client(head, phones=["+74951111111"])
    b = make_client(head, phones=["+74952222222"])
    record_calls([_call("c-1", "+74952222222")])
    merge_clients(a.pk, b.pk, actor=head)
    assert Call.objects.get().client_id == a.pk
    assert Client.objects.get(pk=b.pk).merged_into_id == a.pk


def test_effective_call_by_the_owner_restarts_his_clock_and_a_short_one_does_not(
    head, caller, frozen_clock
):
    from otdel.ownership.sweep import run_sweep

    long_called = make_client(head, owner=caller, phones=["+74951000001"])
    short_called = make_client(head, owner=caller, phones=["+74951000002"])
    frozen_clock.advance(dt.timedelta(days=20))
    record_calls(
        [
            _call("long", "+74951000001", talk=200, at=frozen_clock.now()),
            _call("short", "+74951000002", talk=20, at=frozen_clock.now()),
        ]
    )
    long_call, short_call = (
        Call.objects.get(external_id="long"),
        Call.objects.get(external_id="short"),
    )
    assert long_call.effective is True
    assert short_call.effective is False and short_call.verdict_reasons
    frozen_clock.advance(dt.timedelta(days=10, minutes=1))
    run_sweep()
    assert Client.objects.get(pk=long_called.pk).owner == caller
    assert Client.objects.get(pk=short_called.pk).owner is None


def test_self_reported_call_is_shown_but_does_not_protect_the_client(head, manager, frozen_clock):
    from otdel.activities.services import log_activity
    from otdel.ownership.sweep import run_sweep

    client = make_client(head, owner=manager)
    frozen_clock.advance(dt.timedelta(days=20))
    log_activity(client.pk, actor=manager, kind="call", direction="out", talk_seconds=600)
    call = Call.objects.get(client=client)
    assert call.self_reported and call.effective is False
    assert Activity.objects.filter(client=client, kind="call").count() == 1
    frozen_clock.advance(dt.timedelta(days=10, minutes=1))
    run_sweep()
    assert Client.objects.get(pk=client.pk).owner is None


def _publish(head, frozen_clock, **document):
    from otdel.activities.call_policy_services import publish_call_policy

    publish_call_policy(
        head.team_id, document=document, effective_from=frozen_clock.now(), actor=head
    )
    frozen_clock.advance(dt.timedelta(minutes=1))


def test_late_call_judges_the_later_calls_of_its_client_again(head, caller, frozen_clock):
    """An old CDR imported today: its effective call was first, so the call already counted
    for the following days no longer counts (one effective call per client in 7 days)."""
    _publish(head, frozen_clock, once_per_client_days=7)
    make_client(head, owner=caller, phones=["+74951000001"])
    start = frozen_clock.now()
    record_calls([_call("tuesday", "+74951000001", at=start + dt.timedelta(days=1))])
    assert Call.objects.get(external_id="tuesday").effective is True

    record_calls([_call("monday-late", "+74951000001", at=start + dt.timedelta(hours=1))])

    late, later = (
        Call.objects.get(external_id="monday-late"),
        Call.objects.get(external_id="tuesday"),
    )
    assert late.effective is True and late.measure == "effective"
    assert later.effective is False and later.measure == ""
    assert [r["code"] for r in later.verdict_reasons] == ["already_counted"]


def test_late_call_changes_nothing_for_other_clients_or_earlier_calls(head, caller, frozen_clock):
    _publish(head, frozen_clock, once_per_client_days=7)
    make_client(head, owner=caller, phones=["+74951000001"])
    make_client(head, owner=caller, phones=["+74951000002"])
    start = frozen_clock.now()
    record_calls(
        [
            _call("first", "+74951000001", at=start),
            _call("other-client", "+74951000002", at=start + dt.timedelta(days=2)),
        ]
    )
    before = {c.external_id: (c.effective, c.classified_at) for c in Call.objects.all()}
    frozen_clock.advance(dt.timedelta(hours=1))

    record_calls([_call("late", "+74951000001", at=start + dt.timedelta(days=1))])

    assert Call.objects.get(external_id="late").effective is False  # counted on day one
    after = {c.external_id: (c.effective, c.classified_at) for c in Call.objects.all()}
    assert after["first"] == before["first"]  # earlier calls are not rewritten
    assert after["other-client"] == before["other-client"]


def test_stale_callback_counts_as_a_callback_when_the_policy_says_so(head, caller, frozen_clock):
    """'Counted separately': a week-old inbound call called back at length is no effective
    call, but it is reported in the callback measure."""
    _publish(head, frozen_clock, stale_callbacks="separate")
    make_client(head, owner=caller, phones=["+74951000001"])
    record_calls([_call("in", "+74951000001", direction="in", talk=30, at=frozen_clock.now())])
    frozen_clock.advance(dt.timedelta(days=7))
    record_calls(
        [
            _call("callback", "+74951000001", talk=300, at=frozen_clock.now()),
            _call("short", "+74951000001", talk=40, at=frozen_clock.now() + dt.timedelta(hours=1)),
        ]
    )
    callback, short = (
        Call.objects.get(external_id="callback"),
        Call.objects.get(external_id="short"),
    )
    assert (callback.effective, callback.measure) == (False, "callback")
    assert (short.effective, short.measure) == (False, "")
    # The day's fact and the call log report it apart from effective calls.
    from otdel.activities.selectors import call_log
    from otdel.planning.selectors import team_facts

    fact = team_facts([caller], frozen_clock.today())[0]
    assert (fact.effective, fact.callbacks) == (0, 1)
    assert list(call_log(caller, period="all", measure="callback")) == [callback]


@pytest.mark.parametrize(
    "typed",
    ["+7 (495) 123-45-67", "8 495 123 45 67", "74951234567", "8-495-123-45-67 доб. 12"],
)
def test_rewritten_number_is_the_one_the_full_check_gives(typed):
    from otdel.activities.calls import e164_or_blank, quick_e164

    assert quick_e164(typed) == ("+74951234567", False)
    assert e164_or_blank(typed) == "+74951234567"


def test_invalid_number_that_matches_nobody_keeps_no_e164(head, caller):
    """'8 000 …' looks like a Russian number but is none: it is stored as typed, unmatched."""
    record_calls([_call("bad", "8 000 000-00-00", direction="in")])
    call = Call.objects.get(external_id="bad")
    assert call.their_e164 == "" and call.client is None and call.their_number == "8 000 000-00-00"


def test_a_phone_system_with_a_long_name_gets_its_calls_on_the_timeline(head, manager):
    """A source name of 64 characters (the calls' limit) fits the timeline entry too: nothing
    of the batch is refused."""
    source = "zadarma:" + "x" * 56
    PhoneAccount.objects.create(source=source, account="101", user=manager)
    client = make_client(head, owner=manager, phones=["+74951000001"])
    record = _call("long-source", "+74951000001")
    result = record_calls([dataclasses.replace(record, source=source)])
    assert result.created == 1
    assert [c.source for c in phone_calls_for(head, client)] == [source]
