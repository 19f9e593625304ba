"""Asterisk CDR files → call facts: the traps a real Asterisk 22 sets (rows from a lab run)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from otdel.activities.models import Activity, Call
from otdel.telephony.models import PhoneAccount
from otdel.telephony.providers.asterisk.cdr import (
    CUSTOM_CSV_COLUMNS,
    Dialect,
    ParseReport,
    build_record,
    read_rows,
    records_from_file,
)
from otdel.telephony.providers.asterisk.cel import answers_from_file
from tests.factories import make_client

MOSCOW = ZoneInfo("Europe/Moscow")

# cdr_csv Master.csv as Asterisk 22 wrote it (loguniqueid, loguserfield, newcdrcolumns).
MASTER_CSV = '''\
"102","102","84951110486","from-managers","""Petrova Anna"" <102>","PJSIP/102-00000006","PJSIP/carrier-00000007","Dial","PJSIP/+74951110486@carrier,20,b(trunk-cid^s^1)","2026-11-23 11:21:59",,"2026-11-23 11:21:59",0,0,"BUSY","DOCUMENTATION","1795422119.6","","102","1795422119.6",6
"102","102","84951110486","from-managers","""Petrova Anna"" <102>","PJSIP/102-00000006","","Hangup","","2026-11-23 11:21:59",,"2026-11-23 11:21:59",0,0,"BUSY","DOCUMENTATION","1795422119.6","","","1795422119.6",8
"","84951120408","74950000103","from-trunk",""""" <84951120408>","PJSIP/carrier-00000010","PJSIP/103-00000011","Dial","PJSIP/103,15","2026-11-23 11:22:04",,"2026-11-23 11:22:10",6,0,"NO ANSWER","DOCUMENTATION","1795422124.18","","103","1795422124.18",17
"101","101","102","from-managers","""Ivanov Ivan"" <101>","PJSIP/101-00000012","PJSIP/102-00000013","Dial","PJSIP/102,20","2026-11-23 11:22:05","2026-11-23 11:22:09","2026-11-23 11:22:17",12,8,"ANSWERED","DOCUMENTATION","1795422125.20","","101","1795422125.20",19
"","79161120408","74950000102","from-trunk",""""" <79161120408>","PJSIP/carrier-0000000e","PJSIP/102-0000000f","Dial","PJSIP/102,15","2026-11-23 11:22:03",,"2026-11-23 11:22:18",15,0,"NO ANSWER","DOCUMENTATION","1795422123.16","","102","1795422123.16",15
"","79161120408","74950000102","from-trunk",""""" <79161120408>","PJSIP/carrier-0000000e","","Hangup","","2026-11-23 11:22:18",,"2026-11-23 11:22:18",0,0,"FAILED","DOCUMENTATION","1795422123.16","","","1795422123.16",21
"101","101","89161110002","from-managers","""Ivanov Ivan"" <101>","PJSIP/101-00000002","PJSIP/carrier-00000003","Dial","PJSIP/+79161110002@carrier,20,b(trunk-cid^s^1)","2026-11-23 11:21:57","2026-11-23 11:22:00","2026-11-23 11:24:35",158,155,"ANSWERED","DOCUMENTATION","1795422117.2","","101","1795422117.2",2
"","+79161110001","74950000101","from-trunk",""""" <+79161110001>","PJSIP/carrier-0000000c","PJSIP/101-0000000d","Dial","PJSIP/101,15","2026-11-23 11:22:02","2026-11-23 11:22:06","2026-11-23 11:24:46",164,160,"ANSWERED","DOCUMENTATION","1795422122.14","","101","1795422122.14",13
'''

# The same calls as cdr_custom JSON lines (res_cdrel_custom, times with an offset).
JSONL_ROWS = [
    {
        "linkedid": "1795422119.6",
        "uniqueid": "1795422119.6",
        "sequence": 6,
        "direction": "outbound",
        "accountcode": "102",
        "src": "102",
        "dst": "84951110486",
        "dcontext": "from-managers",
        "channel": "PJSIP/102-00000006",
        "dstchannel": "PJSIP/carrier-00000007",
        "lastapp": "Dial",
        "lastdata": "PJSIP/+74951110486@carrier,20,b(trunk-cid^s^1)",
        "start": "2026-11-23T11:21:59+0300",
        "answer": "",
        "end": "2026-11-23T11:21:59+0300",
        "duration": 0,
        "billsec": 0,
        "disposition": "BUSY",
        "dialstatus": "",
        "recording": "out-102.wav",
    },
    {
        "linkedid": "1795422119.6",
        "uniqueid": "1795422119.6",
        "sequence": 8,
        "direction": "outbound",
        "accountcode": "102",
        "src": "102",
        "dst": "84951110486",
        "dcontext": "from-managers",
        "channel": "PJSIP/102-00000006",
        "dstchannel": "",
        "lastapp": "Hangup",
        "lastdata": "",
        "start": "2026-11-23T11:21:59+0300",
        "answer": "",
        "end": "2026-11-23T11:21:59+0300",
        "duration": 0,
        "billsec": 0,
        "disposition": "BUSY",
        "dialstatus": "BUSY",
        "recording": "out-102.wav",
    },
    {
        "linkedid": "1795422124.18",
        "uniqueid": "1795422124.18",
        "sequence": 17,
        "direction": "inbound",
        "accountcode": "",
        "src": "84951120408",
        "dst": "74950000103",
        "dcontext": "from-trunk",
        "channel": "PJSIP/carrier-00000010",
        "dstchannel": "PJSIP/103-00000011",
        "lastapp": "Dial",
        "lastdata": "PJSIP/103,15",
        "start": "2026-11-23T11:22:04+0300",
        "answer": "",
        "end": "2026-11-23T11:22:10+0300",
        "duration": 6,
        "billsec": 0,
        "disposition": "NO ANSWER",
        "dialstatus": "CANCEL",
        "recording": "in-103.wav",
    },
    {
        "linkedid": "1795422125.20",
        "uniqueid": "1795422125.20",
        "sequence": 19,
        "direction": "internal",
        "accountcode": "101",
        "src": "101",
        "dst": "102",
        "dcontext": "from-managers",
        "channel": "PJSIP/101-00000012",
        "dstchannel": "PJSIP/102-00000013",
        "lastapp": "Dial",
        "lastdata": "PJSIP/102,20",
        "start": "2026-11-23T11:22:05+0300",
        "answer": "2026-11-23T11:22:09+0300",
        "end": "2026-11-23T11:22:17+0300",
        "duration": 12,
        "billsec": 8,
        "disposition": "ANSWERED",
        "dialstatus": "ANSWER",
        "recording": "",
    },
    {
        "linkedid": "1795422123.16",
        "uniqueid": "1795422123.16",
        "sequence": 15,
        "direction": "inbound",
        "accountcode": "",
        "src": "79161120408",
        "dst": "74950000102",
        "dcontext": "from-trunk",
        "channel": "PJSIP/carrier-0000000e",
        "dstchannel": "PJSIP/102-0000000f",
        "lastapp": "Dial",
        "lastdata": "PJSIP/102,15",
        "start": "2026-11-23T11:22:03+0300",
        "answer": "",
        "end": "2026-11-23T11:22:18+0300",
        "duration": 15,
        "billsec": 0,
        "disposition": "NO ANSWER",
        "dialstatus": "",
        "recording": "in-102.wav",
    },
    {
        "linkedid": "1795422123.16",
        "uniqueid": "1795422123.16",
        "sequence": 21,
        "direction": "inbound",
        "accountcode": "",
        "src": "79161120408",
        "dst": "74950000102",
        "dcontext": "from-trunk",
        "channel": "PJSIP/carrier-0000000e",
        "dstchannel": "",
        "lastapp": "Hangup",
        "lastdata": "",
        "start": "2026-11-23T11:22:18+0300",
        "answer": "",
        "end": "2026-11-23T11:22:18+0300",
        "duration": 0,
        "billsec": 0,
        "disposition": "FAILED",
        "dialstatus": "NOANSWER",
        "recording": "in-102.wav",
    },
    {
        "linkedid": "1795422117.2",
        "uniqueid": "1795422117.2",
        "sequence": 2,
        "direction": "outbound",
        "accountcode": "101",
        "src": "101",
        "dst": "89161110002",
        "dcontext": "from-managers",
        "channel": "PJSIP/101-00000002",
        "dstchannel": "PJSIP/carrier-00000003",
        "lastapp": "Dial",
        "lastdata": "PJSIP/+79161110002@carrier,20,b(trunk-cid^s^1)",
        "start": "2026-11-23T11:21:57+0300",
        "answer": "2026-11-23T11:22:00+0300",
        "end": "2026-11-23T11:24:35+0300",
        "duration": 158,
        "billsec": 155,
        "disposition": "ANSWERED",
        "dialstatus": "ANSWER",
        "recording": "out-101.wav",
    },
    {
        "linkedid": "1795422122.14",
        "uniqueid": "1795422122.14",
        "sequence": 13,
        "direction": "inbound",
        "accountcode": "",
        "src": "+79161110001",
        "dst": "74950000101",
        "dcontext": "from-trunk",
        "channel": "PJSIP/carrier-0000000c",
        "dstchannel": "PJSIP/101-0000000d",
        "lastapp": "Dial",
        "lastdata": "PJSIP/101,15",
        "start": "2026-11-23T11:22:02+0300",
        "answer": "2026-11-23T11:22:06+0300",
        "end": "2026-11-23T11:24:46+0300",
        "duration": 164,
        "billsec": 160,
        "disposition": "ANSWERED",
        "dialstatus": "ANSWER",
        "recording": "in-101.wav",
    },
]


def _facts(records):
    return {
        r.external_id: (
            r.started_at,
            r.direction,
            r.disposition,
            r.talk_seconds,
            r.account,
            r.their_number,
        )
        for r in records
    }


@pytest.fixture
def cdr_files(tmp_path: Path) -> dict[str, Path]:
    csv_path = tmp_path / "Master.csv"
    csv_path.write_text(MASTER_CSV)
    jsonl_path = tmp_path / "cdr.jsonl"
    jsonl_path.write_text("".join(json.dumps(row) + "\n" for row in JSONL_ROWS))
    return {"csv": csv_path, "jsonl": jsonl_path}


def _by_id(path: Path, fmt: str, **kw):
    return {r.external_id: r for r in records_from_file(str(path), fmt=fmt, source="pbx", **kw)}


def test_a_failed_dial_written_as_two_rows_is_one_call(cdr_files):
    calls = _by_id(cdr_files["csv"], "csv")
    assert len(calls) == 6  # 8 rows, 6 linkedids
    assert calls["1795422119.6"].disposition == "busy"
    assert calls["1795422123.16"].disposition == "no_answer"  # not the second row's FAILED
    assert len(calls["1795422123.16"].raw["rows"]) == 2


def test_talk_time_is_billsec_not_duration(cdr_files):
    call = _by_id(cdr_files["csv"], "csv")["1795422117.2"]
    assert call.talk_seconds == 155  # duration 158 includes 3 s of ringing
    assert call.ring_seconds == 3


def test_csv_times_are_read_in_the_pbx_zone(cdr_files):
    moscow = _by_id(cdr_files["csv"], "csv")["1795422117.2"]
    assert moscow.started_at == dt.datetime(2026, 11, 23, 8, 21, 57, tzinfo=dt.UTC)
    novosibirsk = _by_id(cdr_files["csv"], "csv", dialect=Dialect(tz="Asia/Novosibirsk"))
    assert novosibirsk["1795422117.2"].started_at == dt.datetime(
        2026, 11, 23, 4, 21, 57, tzinfo=dt.UTC
    )
    # JSON lines carry their offset: the zone setting does not move them.
    json_call = _by_id(cdr_files["jsonl"], "jsonl", dialect=Dialect(tz="Asia/Novosibirsk"))
    assert json_call["1795422117.2"].started_at == moscow.started_at


def test_direction_comes_from_the_context_and_the_trunk(cdr_files):
    calls = _by_id(cdr_files["csv"], "csv")
    assert calls["1795422117.2"].direction == "out"
    assert calls["1795422122.14"].direction == "in"
    assert calls["1795422125.20"].direction == "internal"


def test_our_side_is_the_managers_extension_and_their_number_is_kept_as_typed(cdr_files):
    calls = _by_id(cdr_files["csv"], "csv")
    outbound, inbound = calls["1795422117.2"], calls["1795422122.14"]
    assert (outbound.account, outbound.their_number) == ("101", "89161110002")
    assert (inbound.account, inbound.their_number) == ("101", "+79161110001")
    assert calls["1795422124.18"].account == "103"  # the phone that rang, though unanswered


def test_inbound_call_the_caller_hung_up_while_ringing_is_abandoned(cdr_files):
    # cdr_csv has no dialstatus: one Dial row shorter than the dial timeout (6 s < 15 s) tells it.
    assert _by_id(cdr_files["csv"], "csv")["1795422124.18"].disposition == "abandoned"
    assert _by_id(cdr_files["jsonl"], "jsonl")["1795422124.18"].disposition == "abandoned"
    # The PBX giving up after the full 15 s is "no answer", not abandoned.
    assert _by_id(cdr_files["csv"], "csv")["1795422123.16"].disposition == "no_answer"


def test_all_formats_give_the_same_facts(cdr_files):
    from_csv = _facts(records_from_file(str(cdr_files["csv"]), fmt="csv"))
    from_json = _facts(records_from_file(str(cdr_files["jsonl"]), fmt="jsonl"))
    assert from_csv == from_json


def test_custom_csv_is_read_by_its_mapping(tmp_path):
    line = (
        '"""Ivanov Ivan"" <101>","101","+79161110001","from-managers","PJSIP/101-00000000",'
        '"PJSIP/carrier-00000001","Dial","PJSIP/+79161110001@carrier,20","2026-11-23 11:21:56",'
        '"2026-11-23 11:21:59","2026-11-23 11:24:34","158","155","ANSWERED","DOCUMENTATION","101",'
        '"1795422116.0","1795422116.0","outbound","+79161110001","ANSWER","out-1.wav",0\n'
    )
    path = tmp_path / "Master.csv"
    path.write_text(line)
    (call,) = records_from_file(str(path))  # the format is recognised by its columns
    assert (call.external_id, call.direction, call.talk_seconds) == ("1795422116.0", "out", 155)
    assert call.recording_url == "out-1.wav"
    assert call.started_at == dt.datetime(2026, 11, 23, 11, 21, 56, tzinfo=MOSCOW)


def test_a_broken_line_is_reported_and_skipped_and_an_unfinished_last_line_is_left():
    good = MASTER_CSV.splitlines()[6]
    text = '"only","three","fields"\n' + good + "\n" + good[:40]
    report = ParseReport()
    rows = list(read_rows(io.StringIO(text), "csv", MOSCOW, report))
    assert len(rows) == 1
    assert report.rows == 1
    assert report.errors == ["line 1: a cdr_csv line has 3 fields; expected 16 to 21"]


@pytest.fixture
def lab_people(team, head, manager, other_manager):
    PhoneAccount.objects.create(source="pbx", account="101", user=manager)
    PhoneAccount.objects.create(source="pbx", account="102", user=other_manager)
    client = make_client(head, team=team, owner=manager, phones=["+7 916 111-00-01"])
    return manager, other_manager, client


def test_import_matches_extension_to_user_and_number_to_client_and_reimport_changes_nothing(
    cdr_files, lab_people
):
    manager, other_manager, client = lab_people
    out = io.StringIO()
    call_command("asterisk_import_cdr", str(cdr_files["csv"]), "--source", "pbx", stdout=out)
    assert "6 new, 0 already known" in out.getvalue()
    inbound = Call.objects.get(source="pbx", external_id="1795422122.14")
    assert (inbound.user, inbound.client, inbound.their_e164) == (
        manager,
        client,
        "+79161110001",
    )
    assert Call.objects.get(external_id="1795422119.6").user == other_manager
    snapshot = list(Call.objects.order_by("id").values())
    activities = Activity.objects.count()

    out = io.StringIO()
    call_command("asterisk_import_cdr", str(cdr_files["jsonl"]), "--source", "pbx", stdout=out)
    assert "0 new, 6 already known" in out.getvalue()
    assert list(Call.objects.order_by("id").values()) == snapshot
    assert Activity.objects.count() == activities


def test_import_refuses_an_unknown_time_zone(cdr_files, db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown time zone"):
        call_command("asterisk_import_cdr", str(cdr_files["csv"]), "--tz", "Mars/Olympus")
    assert not Call.objects.exists()


# --- click-to-call: the PBX rings the manager's phone, then dials the client ------------------
# Recorded by the lab (full mode) with a hook sending click_to_call's Originate for extension
# 101: ...0777 answers after ringing 3 s and hangs up after 40 s (.4), ...0408 never answers and
# the PBX gives up after 20 s (.0), ...0486 is busy (.2); for comparison 102 dialled ...0777
# from his own phone (.5). The manager's phone answered at 03:43:54 in every click-to-call, so
# the CDR's answer and billsec are his: .4 says billsec 43, .0 says billsec 20 and then ANSWERED.
C2C_MASTER_CSV = '''\
"101","101","+79161230486","from-managers","""+79161230486"" <101>","PJSIP/101-00000002","PJSIP/carrier-00000009","Dial","PJSIP/+79161230486@carrier,20,b(trunk-cid^s^1)","2026-11-30 03:43:50","2026-11-30 03:43:54","2026-11-30 03:43:54",4,0,"BUSY","DOCUMENTATION","1795999430.2","","101","1795999430.2",2
"101","101","+79161230486","from-managers","""+79161230486"" <101>","PJSIP/101-00000002","","Hangup","","2026-11-30 03:43:54","2026-11-30 03:43:54","2026-11-30 03:43:54",0,0,"ANSWERED","DOCUMENTATION","1795999430.2","","","1795999430.2",13
"101","101","+79161230408","from-managers","""+79161230408"" <101>","PJSIP/101-00000000","PJSIP/carrier-0000000a","Dial","PJSIP/+79161230408@carrier,20,b(trunk-cid^s^1)","2026-11-30 03:43:50","2026-11-30 03:43:54","2026-11-30 03:44:14",24,20,"NO ANSWER","DOCUMENTATION","1795999430.0","","101","1795999430.0",0
"101","101","+79161230408","from-managers","""+79161230408"" <101>","PJSIP/101-00000000","","Hangup","","2026-11-30 03:44:14","2026-11-30 03:44:14","2026-11-30 03:44:14",0,0,"ANSWERED","DOCUMENTATION","1795999430.0","","","1795999430.0",14
"102","102","+79161110777","from-managers","""Petrova Anna"" <102>","PJSIP/102-00000005","PJSIP/carrier-00000006","Dial","PJSIP/+79161110777@carrier,20,b(trunk-cid^s^1)","2026-11-30 03:43:53","2026-11-30 03:43:56","2026-11-30 03:44:36",43,40,"ANSWERED","DOCUMENTATION","1795999433.5","","102","1795999433.5",5
"101","101","+79161230777","from-managers","""+79161230777"" <101>","PJSIP/101-00000004","PJSIP/carrier-0000000c","Dial","PJSIP/+79161230777@carrier,20,b(trunk-cid^s^1)","2026-11-30 03:43:50","2026-11-30 03:43:54","2026-11-30 03:44:37",47,43,"ANSWERED","DOCUMENTATION","1795999430.4","","101","1795999430.4",4
'''

# The same run's CEL (cel_custom, the sample CSV mapping; epoch times): the ANSWER of every
# channel of these calls and their ends. The trunk leg of .4 answered at 03:43:57.
C2C_CEL_CSV = """\
"ANSWER","1795999434.341416","+79161230408","101","101","","","s","from-managers","PJSIP/101-00000000","AppDial2","(Outgoing Line)","3","101","1795999430.0","1795999430.0","","","",""
"ANSWER","1795999434.343599","+79161230486","101","101","","","s","from-managers","PJSIP/101-00000002","AppDial2","(Outgoing Line)","3","101","1795999430.2","1795999430.2","","","",""
"ANSWER","1795999434.351464","+79161230777","101","101","","","s","from-managers","PJSIP/101-00000004","AppDial2","(Outgoing Line)","3","101","1795999430.4","1795999430.4","","","",""
"LINKEDID_END","1795999434.365283","+79161230486","101","101","","","h","from-managers","PJSIP/101-00000002","AppDial2","(Outgoing Line)","3","101","1795999430.2","1795999430.2","","","",""
"ANSWER","1795999436.242839","","+74951234567","","","","+79161110777","from-trunk","PJSIP/carrier-00000006","AppDial","(Outgoing Line)","3","102","1795999433.6","1795999433.5","","","",""
"ANSWER","1795999436.243606","Petrova Anna","102","102","","+79161110777","+79161110777","from-managers","PJSIP/102-00000005","Dial","PJSIP/+79161110777@carrier,20,b(trunk-cid^s^1)","3","102","1795999433.5","1795999433.5","","","",""
"ANSWER","1795999437.366018","","+74951234567","","","","+79161230777","from-trunk","PJSIP/carrier-0000000c","AppDial","(Outgoing Line)","3","101","1795999434.12","1795999430.4","","","",""
"LINKEDID_END","1795999454.356900","+79161230408","101","101","","","h","from-managers","PJSIP/101-00000000","AppDial2","(Outgoing Line)","3","101","1795999430.0","1795999430.0","","","",""
"LINKEDID_END","1795999476.746448","Petrova Anna","102","102","","+79161110777","h","from-managers","PJSIP/102-00000005","","","3","102","1795999433.5","1795999433.5","","","",""
"LINKEDID_END","1795999477.370238","+79161230777","101","101","","","h","from-managers","PJSIP/101-00000004","AppDial2","(Outgoing Line)","3","101","1795999430.4","1795999430.4","","","",""
"""


def _cel_json(kind, time, channel, uniqueid, linkedid):
    """A cel_custom JSON line (format = json, EventTime(%FT%T%z)) as the lab's cel.jsonl has it."""
    return {
        "eventtype": kind,
        "eventtime": time,
        "channame": channel,
        "uniqueid": uniqueid,
        "linkedid": linkedid,
        "eventextra": "",
    }


C2C_CEL_JSONL = [
    _cel_json("ANSWER", "2026-11-30T03:43:54+0300", "PJSIP/101-00000000", "1795999430.0", "1795999430.0"),
    _cel_json("ANSWER", "2026-11-30T03:43:54+0300", "PJSIP/101-00000002", "1795999430.2", "1795999430.2"),
    _cel_json("ANSWER", "2026-11-30T03:43:54+0300", "PJSIP/101-00000004", "1795999430.4", "1795999430.4"),
    _cel_json("LINKEDID_END", "2026-11-30T03:43:54+0300", "PJSIP/101-00000002", "1795999430.2", "1795999430.2"),
    _cel_json("ANSWER", "2026-11-30T03:43:56+0300", "PJSIP/carrier-00000006", "1795999433.6", "1795999433.5"),
    _cel_json("ANSWER", "2026-11-30T03:43:56+0300", "PJSIP/102-00000005", "1795999433.5", "1795999433.5"),
    _cel_json("ANSWER", "2026-11-30T03:43:57+0300", "PJSIP/carrier-0000000c", "1795999434.12", "1795999430.4"),
    _cel_json("LINKEDID_END", "2026-11-30T03:44:14+0300", "PJSIP/101-00000000", "1795999430.0", "1795999430.0"),
    _cel_json("LINKEDID_END", "2026-11-30T03:44:36+0300", "PJSIP/102-00000005", "1795999433.5", "1795999433.5"),
    _cel_json("LINKEDID_END", "2026-11-30T03:44:37+0300", "PJSIP/101-00000004", "1795999430.4", "1795999430.4"),
]  # fmt: skip

# The .4 click-to-call as it would be had the client's phone rung 20 s (the lab's client always
# answers after 3 s): the trunk leg answers at 03:44:14, the client talks 40 s, hangs up at
# 03:44:54; the CDR still counts from the manager's answer: billsec 60.
C2C_RANG_20_CSV = (
    '"101","101","+79161230777","from-managers","""+79161230777"" <101>","PJSIP/101-00000004",'
    '"PJSIP/carrier-0000000c","Dial","PJSIP/+79161230777@carrier,20,b(trunk-cid^s^1)",'
    '"2026-11-30 03:43:50","2026-11-30 03:43:54","2026-11-30 03:44:54",64,60,"ANSWERED",'
    '"DOCUMENTATION","1795999430.4","","101","1795999430.4",4\n'
)
C2C_RANG_20_CEL = [
    _cel_json("ANSWER", "2026-11-30T03:43:54+0300", "PJSIP/101-00000004", "1795999430.4", "1795999430.4"),
    _cel_json("ANSWER", "2026-11-30T03:44:14+0300", "PJSIP/carrier-0000000c", "1795999434.12", "1795999430.4"),
    _cel_json("LINKEDID_END", "2026-11-30T03:44:54+0300", "PJSIP/101-00000004", "1795999430.4", "1795999430.4"),
]  # fmt: skip


def _write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def c2c_files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "Master.csv").write_text(C2C_MASTER_CSV)
    (tmp_path / "cel.csv").write_text(C2C_CEL_CSV)
    return {
        "csv": tmp_path / "Master.csv",
        "cel-csv": tmp_path / "cel.csv",
        "cel-jsonl": _write_jsonl(tmp_path / "cel.jsonl", C2C_CEL_JSONL),
    }


def _c2c(files, cel="cel-jsonl"):
    answers = answers_from_file(str(files[cel]), zone=MOSCOW) if cel else None
    return _by_id(files["csv"], "csv", answers=answers)


def test_click_to_call_talk_time_starts_when_the_client_answered(c2c_files):
    call = _c2c(c2c_files)["1795999430.4"]
    assert (call.disposition, call.talk_seconds) == ("answered", 40)
    assert call.talk_seconds != 43  # not billsec: the client's 3 s of ringing are no talk
    assert call.answered_at == dt.datetime(2026, 11, 30, 3, 43, 57, tzinfo=MOSCOW)  # not :54
    assert call.ring_seconds == 7  # his phone 4 s, then the client's 3 s
    # The CDR alone cannot tell when the client answered: that is what the CEL is for.
    assert _c2c(c2c_files, cel=None)["1795999430.4"].talk_seconds == 43


def test_a_client_who_rang_20_s_and_talked_40_s_has_40_s_of_talk(tmp_path):
    master = tmp_path / "Master.csv"
    master.write_text(C2C_RANG_20_CSV)
    cel = _write_jsonl(tmp_path / "cel.jsonl", C2C_RANG_20_CEL)
    (call,) = records_from_file(str(master), answers=answers_from_file(str(cel), zone=MOSCOW))
    assert (call.disposition, call.talk_seconds, call.ring_seconds) == ("answered", 40, 24)
    assert call.talk_seconds != 60  # the CDR's billsec counts the 20 s of ringing
    assert call.answered_at == dt.datetime(2026, 11, 30, 3, 44, 14, tzinfo=MOSCOW)


@pytest.mark.parametrize("cel", ["cel-jsonl", "cel-csv", None])
def test_a_click_to_call_the_client_never_answered_is_no_answer_with_no_talk(c2c_files, cel):
    calls = _c2c(c2c_files, cel)
    never = calls["1795999430.0"]
    # The manager's answered channel left an ANSWERED row and the Dial row billsec 20: neither
    # makes it a conversation (the CDR alone is enough here).
    assert (never.disposition, never.talk_seconds, never.answered_at) == ("no_answer", 0, None)
    assert never.ring_seconds == 24  # his phone 4 s, the client's 20 s
    busy = calls["1795999430.2"]
    assert (busy.disposition, busy.talk_seconds, busy.answered_at) == ("busy", 0, None)
    assert "answered" not in {never.disposition, busy.disposition}


def test_a_call_dialled_from_the_phone_keeps_its_billsec_when_the_cel_is_read(c2c_files):
    own = _c2c(c2c_files)["1795999433.5"]
    assert (own.disposition, own.talk_seconds, own.ring_seconds) == ("answered", 40, 3)
    assert own.answered_at == dt.datetime(2026, 11, 30, 3, 43, 56, tzinfo=MOSCOW)
    # Both of its legs answered in the same second: the CEL index does not even keep it.
    assert "1795999433.5" not in answers_from_file(str(c2c_files["cel-jsonl"]), zone=MOSCOW)


def test_both_cel_formats_and_every_cdr_format_give_the_same_click_to_call_facts(
    c2c_files, tmp_path
):
    custom = tmp_path / "custom.csv"
    custom.write_text(_as_custom_csv(C2C_MASTER_CSV))
    jsonl = _write_jsonl(tmp_path / "cdr.jsonl", _as_json_rows(C2C_MASTER_CSV))
    expected = _facts(_c2c(c2c_files).values())
    for cel in ("cel-jsonl", "cel-csv"):
        answers = answers_from_file(str(c2c_files[cel]), zone=MOSCOW)
        for path, fmt in ((c2c_files["csv"], "csv"), (custom, "custom-csv"), (jsonl, "jsonl")):
            got = _facts(records_from_file(str(path), fmt=fmt, answers=answers))
            assert got == expected, (cel, fmt)
    assert expected["1795999430.4"][3] == 40


def _as_custom_csv(master_csv: str) -> str:
    """The same rows in the lab's cdr_custom CSV mapping."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for row in read_rows(io.StringIO(master_csv), "csv", MOSCOW):
        values = {**row.raw, "direction": "outbound"}
        writer.writerow([values.get(column, "") for column in CUSTOM_CSV_COLUMNS])
    return out.getvalue()


def _as_json_rows(master_csv: str) -> list[dict]:
    """The same rows as cdr_custom JSON lines (times with the offset)."""
    rows = []
    for row in read_rows(io.StringIO(master_csv), "csv", MOSCOW):
        values = dict(row.raw)
        for key in ("start", "answer", "end"):
            moment = getattr(row, key)
            values[key] = moment.strftime("%Y-%m-%dT%H:%M:%S%z") if moment else ""
        rows.append(values)
    return rows


def test_a_row_answered_without_a_peer_is_no_conversation():
    # Only the second row of the never-answered click-to-call: his channel answered, nobody
    # else was ever on the line.
    hangup_row = C2C_MASTER_CSV.splitlines()[3]
    (row,) = read_rows(io.StringIO(hangup_row + "\n"), "csv", MOSCOW)
    call = build_record([row], source="pbx", dialect=Dialect())
    assert (call.disposition, call.talk_seconds, call.answered_at) == ("failed", 0, None)


def test_import_with_the_cel_stores_the_clients_talk_time_and_reimport_changes_nothing(
    c2c_files, lab_people
):
    out = io.StringIO()
    call_command(
        "asterisk_import_cdr",
        str(c2c_files["csv"]),
        "--cel",
        str(c2c_files["cel-csv"]),
        "--source",
        "pbx",
        stdout=out,
    )
    assert "4 new, 0 already known" in out.getvalue()
    stored = Call.objects.get(source="pbx", external_id="1795999430.4")
    assert (stored.talk_seconds, stored.disposition) == (40, "answered")
    never = Call.objects.get(source="pbx", external_id="1795999430.0")
    assert (never.talk_seconds, never.disposition) == (0, "no_answer")
    snapshot = list(Call.objects.order_by("id").values())

    call_command("asterisk_import_cdr", str(c2c_files["csv"]), "--source", "pbx", stdout=out)
    assert list(Call.objects.order_by("id").values()) == snapshot  # not overwritten with 43 s
