"""The AMI stream → the same calls the CDR files give, however the events arrive."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from otdel.telephony.providers.asterisk.ami import (
    AmiListener,
    CallAssembler,
    CatchUp,
    events_to_records,
)
from otdel.telephony.providers.asterisk.catchup import (
    MemoryPositions,
    PositionFile,
    read_cdr_appended,
    read_cel_appended,
)
from otdel.telephony.providers.asterisk.cdr import Dialect, ParseReport, records_from_file
from otdel.telephony.providers.asterisk.cel import answers_from_file
from tests.telephony.test_asterisk_cdr import C2C_CEL_CSV, C2C_MASTER_CSV, MASTER_CSV

MOSCOW = ZoneInfo("Europe/Moscow")


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


# --- click-to-call on the AMI -------------------------------------------------------------------
# The lab's click-to-call to ...0777 (see test_asterisk_cdr: C2C_*), its AMI events as recorded
# (the events that matter; `_received` is when the lab's logger got each one).
C2C_ANSWERED = [
    {"Event": "Newchannel", "Channel": "PJSIP/101-00000004", "Uniqueid": "1795999430.4", "Linkedid": "1795999430.4", "_received": 1795999430.34},
    {"Event": "CEL", "EventName": "ANSWER", "Channel": "PJSIP/101-00000004", "EventTime": "2026-11-30 03:43:54", "UniqueID": "1795999430.4", "LinkedID": "1795999430.4", "_received": 1795999434.361},
    {"Event": "Newstate", "Channel": "PJSIP/101-00000004", "Uniqueid": "1795999430.4", "Linkedid": "1795999430.4", "ChannelState": "6", "_received": 1795999434.362},
    {"Event": "Newchannel", "Channel": "PJSIP/carrier-0000000c", "Uniqueid": "1795999434.12", "Linkedid": "1795999430.4", "_received": 1795999434.368},
    {"Event": "Newstate", "Channel": "PJSIP/carrier-0000000c", "Uniqueid": "1795999434.12", "Linkedid": "1795999430.4", "ChannelState": "6", "_received": 1795999437.366},
    {"Event": "CEL", "EventName": "ANSWER", "Channel": "PJSIP/carrier-0000000c", "EventTime": "2026-11-30 03:43:57", "UniqueID": "1795999434.12", "LinkedID": "1795999430.4", "_received": 1795999437.367},
    {"Event": "DialEnd", "Channel": "PJSIP/101-00000004", "Uniqueid": "1795999430.4", "Linkedid": "1795999430.4", "DestChannel": "PJSIP/carrier-0000000c", "DialStatus": "ANSWER", "_received": 1795999437.367},
    {"Event": "Hangup", "Channel": "PJSIP/carrier-0000000c", "Uniqueid": "1795999434.12", "Linkedid": "1795999430.4", "_received": 1795999477.37},
    {"Event": "Cdr", "AccountCode": "101", "Source": "101", "Destination": "+79161230777", "DestinationContext": "from-managers", "CallerID": '"+79161230777" <101>', "Channel": "PJSIP/101-00000004", "DestinationChannel": "PJSIP/carrier-0000000c", "LastApplication": "Dial", "LastData": "PJSIP/+79161230777@carrier,20,b(trunk-cid^s^1)", "StartTime": "2026-11-30 03:43:50", "AnswerTime": "2026-11-30 03:43:54", "EndTime": "2026-11-30 03:44:37", "Duration": "47", "BillableSeconds": "43", "Disposition": "ANSWERED", "UniqueID": "1795999430.4", "Direction": "outbound", "_received": 1795999477.371},
    {"Event": "Hangup", "Channel": "PJSIP/101-00000004", "Uniqueid": "1795999430.4", "Linkedid": "1795999430.4", "_received": 1795999477.371},
]  # fmt: skip

# ...0408: the client never answered; the PBX gave up after 20 s, then hung up his channel.
C2C_NEVER_ANSWERED = [
    {"Event": "Newchannel", "Channel": "PJSIP/101-00000000", "Uniqueid": "1795999430.0", "Linkedid": "1795999430.0", "_received": 1795999430.335},
    {"Event": "CEL", "EventName": "ANSWER", "Channel": "PJSIP/101-00000000", "EventTime": "2026-11-30 03:43:54", "UniqueID": "1795999430.0", "LinkedID": "1795999430.0", "_received": 1795999434.344},
    {"Event": "Newstate", "Channel": "PJSIP/101-00000000", "Uniqueid": "1795999430.0", "Linkedid": "1795999430.0", "ChannelState": "6", "_received": 1795999434.344},
    {"Event": "Newchannel", "Channel": "PJSIP/carrier-0000000a", "Uniqueid": "1795999434.10", "Linkedid": "1795999430.0", "_received": 1795999434.362},
    {"Event": "DialEnd", "Channel": "PJSIP/101-00000000", "Uniqueid": "1795999430.0", "Linkedid": "1795999430.0", "DestChannel": "PJSIP/carrier-0000000a", "DialStatus": "NOANSWER", "_received": 1795999454.357},
    {"Event": "Hangup", "Channel": "PJSIP/carrier-0000000a", "Uniqueid": "1795999434.10", "Linkedid": "1795999430.0", "_received": 1795999454.357},
    {"Event": "Cdr", "AccountCode": "101", "Source": "101", "Destination": "+79161230408", "DestinationContext": "from-managers", "CallerID": '"+79161230408" <101>', "Channel": "PJSIP/101-00000000", "DestinationChannel": "PJSIP/carrier-0000000a", "LastApplication": "Dial", "LastData": "PJSIP/+79161230408@carrier,20,b(trunk-cid^s^1)", "StartTime": "2026-11-30 03:43:50", "AnswerTime": "2026-11-30 03:43:54", "EndTime": "2026-11-30 03:44:14", "Duration": "24", "BillableSeconds": "20", "Disposition": "NO ANSWER", "UniqueID": "1795999430.0", "Direction": "outbound", "_received": 1795999454.358},
    {"Event": "Hangup", "Channel": "PJSIP/101-00000000", "Uniqueid": "1795999430.0", "Linkedid": "1795999430.0", "_received": 1795999454.359},
    {"Event": "Cdr", "AccountCode": "101", "Source": "101", "Destination": "+79161230408", "DestinationContext": "from-managers", "CallerID": '"+79161230408" <101>', "Channel": "PJSIP/101-00000000", "DestinationChannel": "", "LastApplication": "Hangup", "LastData": "", "StartTime": "2026-11-30 03:44:14", "AnswerTime": "2026-11-30 03:44:14", "EndTime": "2026-11-30 03:44:14", "Duration": "0", "BillableSeconds": "0", "Disposition": "ANSWERED", "UniqueID": "1795999430.0", "Direction": "outbound", "_received": 1795999454.359},
]  # fmt: skip


def _facts(record):
    return (
        record.external_id,
        record.started_at,
        record.direction,
        record.disposition,
        record.talk_seconds,
        record.ring_seconds,
        record.answered_at,
        record.account,
        record.their_number,
    )


def test_a_click_to_call_heard_live_talks_from_the_clients_answer_as_the_files_say(tmp_path):
    (live,) = events_to_records(C2C_ANSWERED, source="pbx", dialect=Dialect())
    assert (live.disposition, live.talk_seconds) == ("answered", 40)
    assert live.talk_seconds != 43  # the Cdr event's BillableSeconds counts the client's ringing
    assert live.answered_at == dt.datetime(2026, 11, 30, 3, 43, 57, tzinfo=MOSCOW)
    # The CDR file + CEL file of the same run give the very same facts.
    master, cel = tmp_path / "Master.csv", tmp_path / "cel.csv"
    master.write_text(C2C_MASTER_CSV)
    cel.write_text(C2C_CEL_CSV)
    files = {
        r.external_id: r
        for r in records_from_file(
            str(master), source="pbx", answers=answers_from_file(str(cel), zone=MOSCOW)
        )
    }
    assert _facts(files[live.external_id]) == _facts(live)


def test_without_cel_events_the_listener_times_the_clients_answer_itself():
    no_cel = [e for e in C2C_ANSWERED if e["Event"] != "CEL"]
    # By its own clock: the client's channel came up 3 s after the manager's.
    assembler = CallAssembler(source="pbx", dialect=Dialect(), grace=0)
    for event in no_cel:
        assembler.feed(event, event["_received"], received=event["_received"])
    (call,) = assembler.ready(float("inf"))
    assert (call.talk_seconds, call.answered_at.second) == (40, 57)
    # By the PBX's clock, when the AMI stamps its events (timestampevents = yes).
    stamped = [{**e, "Timestamp": str(e["_received"])} for e in no_cel]
    (call,) = events_to_records(stamped, source="pbx", dialect=Dialect())
    assert call.talk_seconds == 40
    # With no times at all (a bare replay) the Cdr's own billsec is all there is.
    bare = [{k: v for k, v in e.items() if k != "_received"} for e in no_cel]
    assert events_to_records(bare, source="pbx", dialect=Dialect())[0].talk_seconds == 43


def test_a_click_to_call_the_client_never_answered_is_no_answer_live():
    (call,) = events_to_records(C2C_NEVER_ANSWERED, source="pbx", dialect=Dialect())
    assert (call.disposition, call.talk_seconds, call.answered_at) == ("no_answer", 0, None)
    assert len(call.raw["rows"]) == 2  # the ANSWERED row of his channel did not make it answered


def test_answers_read_from_the_cel_after_a_reconnect_reach_calls_still_up():
    assembler = CallAssembler(source="pbx", dialect=Dialect(), grace=0)
    assembler.feed(C2C_ANSWERED[0], 0.0)  # then the listener lost the AMI
    assembler.begin_resync()
    for event in C2C_ANSWERED[:4:3]:  # both channels are up
        assembler.feed({**event, "Event": "CoreShowChannel"}, 1.0)
    assembler.learn_answers(
        {
            "1795999430.4": {
                "PJSIP/101-00000004": dt.datetime(2026, 11, 30, 3, 43, 54, tzinfo=MOSCOW),
                "PJSIP/carrier-0000000c": dt.datetime(2026, 11, 30, 3, 43, 57, tzinfo=MOSCOW),
            },
            "9.9": {"PJSIP/x-1": dt.datetime(2026, 11, 30, tzinfo=MOSCOW)},  # not ours: ignored
        }
    )
    assembler.end_resync()
    for event in C2C_ANSWERED[7:]:
        assembler.feed(event, 2.0)
    (call,) = assembler.ready(3.0)
    assert call.talk_seconds == 40
    assert "9.9" not in assembler.calls


# --- the catch-up reads only what was appended ------------------------------------------------

MASTER_LINES = MASTER_CSV.splitlines(keepends=True)


def _catch_up(path: Path, positions, *, live=frozenset(), report=None):
    read = read_cdr_appended(
        str(path),
        fmt="csv",
        position=positions.load(str(path)),
        source="pbx",
        dialect=Dialect(),
        live=live,
        answers_of=lambda _lid, _rows: {},
        report=report if report is not None else ParseReport(),
    )
    positions.save({str(path): read.position})  # as the listener does once they are stored
    return sorted(r.external_id for r in read.records)


def test_the_catch_up_reads_only_the_rows_appended_since_the_last_read(tmp_path):
    path, positions = tmp_path / "Master.csv", MemoryPositions()
    path.write_text("".join(MASTER_LINES[:3]))
    assert _catch_up(path, positions) == ["1795422119.6", "1795422124.18"]
    assert _catch_up(path, positions) == []  # nothing new: nothing re-read
    with path.open("a") as fh:
        fh.write("".join(MASTER_LINES[3:6]) + MASTER_LINES[6][:30])  # the PBX mid-line
    report = ParseReport()
    assert _catch_up(path, positions, report=report) == ["1795422123.16", "1795422125.20"]
    assert (report.rows, report.errors) == (3, [])  # the unfinished line was left, not broken
    with path.open("a") as fh:
        fh.write(MASTER_LINES[6][30:] + MASTER_LINES[7])
    assert _catch_up(path, positions) == ["1795422117.2", "1795422122.14"]


def test_a_restarted_listener_resumes_where_the_last_one_stopped(tmp_path):
    path, state = tmp_path / "Master.csv", tmp_path / "var" / "catch-up-pbx.json"
    path.write_text("".join(MASTER_LINES[:3]))
    assert len(_catch_up(path, PositionFile(state))) == 2
    with path.open("a") as fh:
        fh.write(MASTER_LINES[6])
    assert _catch_up(path, PositionFile(state)) == ["1795422117.2"]  # a new process, same file
    state.write_text("{not json")  # a damaged position file costs a full re-read, no more
    assert len(_catch_up(path, PositionFile(state))) == 3


def test_a_rotated_file_is_read_from_the_start_after_the_rest_of_the_old_one(tmp_path):
    path, positions = tmp_path / "Master.csv", MemoryPositions()
    path.write_text("".join(MASTER_LINES[:3]))
    assert len(_catch_up(path, positions)) == 2
    with path.open("a") as fh:
        fh.write(MASTER_LINES[6])  # written after our read, before the rotation
    path.rename(tmp_path / "Master.csv.1")
    path.write_text(MASTER_LINES[7])
    assert _catch_up(path, positions) == ["1795422117.2", "1795422122.14"]  # none lost
    assert _catch_up(path, positions) == []  # none doubled


def test_a_truncated_or_replaced_file_is_read_from_the_start(tmp_path):
    path, positions = tmp_path / "Master.csv", MemoryPositions()
    path.write_text("".join(MASTER_LINES[:6]))
    assert len(_catch_up(path, positions)) == 4
    # copytruncate: the old content copied aside, the file emptied in place, then refilled
    # past the old offset before the next read.
    (tmp_path / "Master.csv-20261124").write_text("".join(MASTER_LINES[:7]))
    path.write_text("".join(MASTER_LINES[7:] + MASTER_LINES[:5]))
    assert _catch_up(path, positions) == sorted(
        ["1795422117.2", "1795422122.14", "1795422119.6", "1795422124.18", "1795422125.20",
         "1795422123.16"]
    )  # fmt: skip
    assert _catch_up(path, positions) == []


def test_the_rows_of_a_call_still_up_are_read_again_next_time(tmp_path):
    path, positions = tmp_path / "Master.csv", MemoryPositions()
    path.write_text("".join(MASTER_LINES[:3]))
    assert _catch_up(path, positions, live=frozenset({"1795422119.6"})) == ["1795422124.18"]
    assert _catch_up(path, positions) == ["1795422119.6", "1795422124.18"]  # not lost
    assert _catch_up(path, positions) == []


def test_the_cel_catch_up_keeps_the_answers_of_calls_not_over(tmp_path):
    cel, positions = tmp_path / "cel.csv", MemoryPositions()
    lines = C2C_CEL_CSV.splitlines(keepends=True)
    cel.write_text("".join(lines[:7]))  # .4 answered on both legs, not over yet

    def read():
        got = read_cel_appended(
            str(cel),
            fmt="csv",
            position=positions.load(str(cel)),
            zone=MOSCOW,
            errors=[],
            hold=dt.timedelta(0),
        )
        positions.save({str(cel): got.position})
        return got.answers

    assert read()["1795999430.4"]["PJSIP/carrier-0000000c"].second == 57
    with cel.open("a") as fh:
        fh.write("".join(lines[7:]))  # ...it ends later
    again = read()  # a restart has forgotten what it heard: the answers are read again
    assert again["1795999430.4"]["PJSIP/carrier-0000000c"].second == 57
    assert "1795999433.5" not in again  # both legs answered in the same second: nothing to keep
    assert read() == {}  # all over: the next read starts after them


class _NoChannels:
    """An AMI session with no call up."""

    async def send_action(self, action, as_list=False):
        return []


def test_the_listener_moves_its_catch_up_position_only_once_the_calls_are_stored(tmp_path):
    path, positions = tmp_path / "Master.csv", MemoryPositions()
    path.write_text("".join(MASTER_LINES[:3]))
    first_end = path.stat().st_size
    batches: list[list[str]] = []
    offsets_while_storing: list[int | None] = []

    def ingest(records):
        position = positions.load(str(path))
        offsets_while_storing.append(position.offset if position else None)
        batches.append(sorted(r.external_id for r in records))

    listener = AmiListener(
        host="127.0.0.1",
        port=5038,
        username="crm",
        secret="x",
        source="pbx",
        dialect=Dialect(),
        ingest=ingest,
        catch_up=[CatchUp(str(path), "csv")],
        positions=positions,
    )

    async def two_logins() -> None:
        writer = asyncio.create_task(listener._writer())
        await listener._resync(_NoChannels())
        with path.open("a") as fh:
            fh.write(MASTER_LINES[6])  # a call ended while the AMI was down
        await listener._resync(_NoChannels())
        await listener._queue.put(("__end__", [], {}))
        await writer

    # On a fresh loop in its own thread: sync Playwright (the browser tests, earlier in the same
    # run) leaves a running loop in this one, and asyncio.run refuses to nest.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, two_logins()).result()
    assert batches == [["1795422119.6", "1795422124.18"], ["1795422117.2"]]  # none twice
    # Stored first, position moved after: a crash while storing re-reads, it never skips.
    assert offsets_while_storing == [None, first_end]
    assert positions.load(str(path)).offset == path.stat().st_size
