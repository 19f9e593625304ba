"""Asterisk CDR files → call facts: the traps a real Asterisk 22 sets (rows from a lab run)."""

from __future__ import annotations

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
    Dialect,
    ParseReport,
    read_rows,
    records_from_file,
)
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
