"""The AMI stream → the same calls the CDR files give, however the events arrive."""

from __future__ import annotations

from otdel.telephony.providers.asterisk.ami import CallAssembler, events_to_records
from otdel.telephony.providers.asterisk.cdr import Dialect


def _cdr(
    uniqueid,
    *,
    last="Dial",
    dstchannel="PJSIP/carrier-00000009",
    disposition="NO ANSWER",
    duration="20",
    start="2026-11-23 11:22:00",
    end="2026-11-23 11:22:20",
):
    return {
        "Event": "Cdr",
        "AccountCode": "103",
        "Source": "103",
        "Destination": "89161110408",
        "DestinationContext": "from-managers",
        "CallerID": '"Sidorov Oleg" <103>',
        "Channel": "PJSIP/103-00000008",
        "DestinationChannel": dstchannel,
        "LastApplication": last,
        "LastData": "PJSIP/+79161110408@carrier,20",
        "StartTime": start,
        "AnswerTime": "",
        "EndTime": end,
        "Duration": duration,
        "BillableSeconds": "0",
        "Disposition": disposition,
        "UniqueID": uniqueid,
    }


def _chan(event, uniqueid, linkedid, channel):
    return {"Event": event, "Uniqueid": uniqueid, "Linkedid": linkedid, "Channel": channel}


FAILED_DIAL = [
    _chan("Newchannel", "1.10", "1.10", "PJSIP/103-00000008"),
    _chan("Newchannel", "1.11", "1.10", "PJSIP/carrier-00000009"),
    {"Event": "DialEnd", "Uniqueid": "1.10", "Linkedid": "1.10", "DialStatus": "NOANSWER"},
    _chan("Hangup", "1.11", "1.10", "PJSIP/carrier-00000009"),
    _cdr("1.10"),
    _cdr(
        "1.10",
        last="Hangup",
        dstchannel="",
        disposition="FAILED",
        duration="0",
        start="2026-11-23 11:22:20",
    ),
    _chan("Hangup", "1.10", "1.10", "PJSIP/103-00000008"),
]


def test_a_failed_dial_sent_as_two_cdr_events_is_one_call():
    (call,) = events_to_records(FAILED_DIAL, source="pbx", dialect=Dialect())
    assert (call.external_id, call.direction, call.disposition) == ("1.10", "out", "no_answer")
    assert (call.account, call.their_number, call.ring_seconds) == ("103", "89161110408", 20)


def test_a_call_is_not_given_out_while_one_of_its_channels_is_up():
    assembler = CallAssembler(source="pbx", dialect=Dialect(), grace=1.0)
    for event in FAILED_DIAL[:-1]:
        assembler.feed(event, 0.0)
    assert assembler.ready(100.0) == []  # party A still up: more rows may come
    assembler.feed(FAILED_DIAL[-1], 100.0)
    assert assembler.ready(100.5) == []  # within the grace for late events
    assert len(assembler.ready(101.0)) == 1
    assert assembler.ready(200.0) == []  # given out once


def test_after_a_reconnect_calls_up_before_it_are_still_assembled():
    assembler = CallAssembler(source="pbx", dialect=Dialect(), grace=0)
    assembler.begin_resync()
    # A Hangup that beats the snapshot must not leave a ghost channel behind.
    assembler.feed(_chan("Hangup", "1.11", "1.10", "PJSIP/carrier-00000009"), 1.0)
    assembler.feed(_chan("CoreShowChannel", "1.10", "1.10", "PJSIP/103-00000008"), 1.0)
    assembler.feed(_chan("CoreShowChannel", "1.11", "1.10", "PJSIP/carrier-00000009"), 1.0)
    assert assembler.ready(2.0) == []  # nothing is given out during a resync
    assembler.end_resync()
    for event in FAILED_DIAL[4:6]:
        assembler.feed(event, 3.0)
    assert assembler.ready(3.0) == []
    assembler.feed(FAILED_DIAL[-1], 4.0)
    (call,) = assembler.ready(4.0)
    assert call.external_id == "1.10"
    assert len(call.raw["rows"]) == 2


def test_a_reconnect_forgets_channels_whose_hangup_was_missed():
    assembler = CallAssembler(source="pbx", dialect=Dialect(), grace=0)
    for event in FAILED_DIAL[:-1]:
        assembler.feed(event, 0.0)
    assert assembler.live_calls() == {"1.10"}
    assembler.begin_resync()  # the final Hangup came while we were away
    assembler.end_resync()
    assert assembler.live_calls() == set()
    assert [c.external_id for c in assembler.ready(1.0)] == ["1.10"]
