"""Asterisk CDR rows → CallRecords.

What a real Asterisk 22 writes, and what this module does about it:
- talk time is `billsec`; `duration` includes ringing (→ ring_seconds = duration − talk);
- `billsec` runs from the answer of the row's first channel. In a click-to-call (an AMI
  Originate) that is the manager's own phone, answered before the client's number is even
  dialled, so billsec counts the client's ringing and a client who never answered still leaves an
  ANSWERED row (the dialplan after the failed Dial, on the manager's answered channel). So a call
  is answered only if a row that connected two parties (a peer channel, `dstchannel`) was
  ANSWERED, and its talk time runs from when the peer answered, if that was later (the peer's
  answer comes from CEL or the AMI: see cel.py and `answered` below) to the hang-up;
- there is no direction: it comes from the dialplan context the call entered (managers' phones vs
  the trunk), or from which channel is the trunk; an explicit `direction` variable wins;
- a failed dial writes two rows for one call (the Dial, then the rest of the dialplan), so rows
  are grouped by `linkedid`, the id of the whole call, which is the call's external id;
- `dst` is the number as the manager typed it (+7…, 8…, 7…) and is kept so;
- CSV times are local with no offset: they are read in the PBX's zone (a setting);
- an inbound call the caller hung up before anyone answered is "abandoned" (DIALSTATUS=CANCEL,
  or — where no dialstatus was logged — a lone Dial row shorter than the dial timeout).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from otdel.activities.models import CallDirection, CallDisposition
from otdel.telephony.records import CallRecord

DEFAULT_TZ = "Europe/Moscow"

# cdr_csv writes no header; its columns are fixed by the source (cdr/cdr_csv.c): 16 always,
# then uniqueid (loguniqueid), userfield (loguserfield), peeraccount/linkedid/sequence
# (newcdrcolumns).
CSV_BASE = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
)
CSV_NEW = ("peeraccount", "linkedid", "sequence")

# The legacy cdr_custom mapping most installations (and the lab) use; override with `columns`.
CUSTOM_CSV_COLUMNS = (
    "clid",
    "src",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "accountcode",
    "uniqueid",
    "linkedid",
    "direction",
    "client_e164",
    "dialstatus",
    "recording",
    "sequence",
)

# The AMI `Cdr` event (cdr_manager) names the same fields differently.
AMI_FIELDS = {
    "accountcode": "accountcode",
    "source": "src",
    "destination": "dst",
    "destinationcontext": "dcontext",
    "callerid": "clid",
    "channel": "channel",
    "destinationchannel": "dstchannel",
    "lastapplication": "lastapp",
    "lastdata": "lastdata",
    "starttime": "start",
    "answertime": "answer",
    "endtime": "end",
    "duration": "duration",
    "billableseconds": "billsec",
    "disposition": "disposition",
    "uniqueid": "uniqueid",
    "userfield": "userfield",
    "direction": "direction",
    "recording": "recording",
    "dialstatus": "dialstatus",
    "linkedid": "linkedid",
    "sequence": "sequence",
    "peeraccount": "peeraccount",
}

_DISPOSITIONS = {
    "ANSWERED": CallDisposition.ANSWERED,
    "BUSY": CallDisposition.BUSY,
    "NO ANSWER": CallDisposition.NO_ANSWER,
    "FAILED": CallDisposition.FAILED,
    "CONGESTION": CallDisposition.FAILED,
}
_DIRECTIONS = {
    "outbound": CallDirection.OUTBOUND,
    "out": CallDirection.OUTBOUND,
    "inbound": CallDirection.INBOUND,
    "in": CallDirection.INBOUND,
    "internal": CallDirection.INTERNAL,
}
_UNIQUEID = re.compile(r"^\d+\.\d+$")
_DIAL_TIMEOUT = re.compile(r"^[^,]*,\s*(\d+)")


class CdrFormatError(ValueError):
    """A CDR line that cannot be read (wrong column count, bad time, bad JSON)."""


@dataclass(frozen=True)
class Dialect:
    """How this PBX's dialplan is laid out: which contexts are the managers' phones and which the
    trunk, which endpoints are trunks, and how long an internal extension is."""

    tz: str = DEFAULT_TZ
    outbound_contexts: frozenset[str] = frozenset({"from-managers", "from-internal"})
    inbound_contexts: frozenset[str] = frozenset({"from-trunk", "from-pstn"})
    trunks: frozenset[str] = frozenset({"carrier"})
    max_extension_length: int = 5
    recording_base_url: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


@dataclass(frozen=True)
class CdrRow:
    """One CDR record, whatever wrote it (cdr_csv, cdr_custom, the AMI Cdr event)."""

    linkedid: str
    uniqueid: str
    sequence: int | None
    accountcode: str
    src: str
    dst: str
    dcontext: str
    clid: str
    channel: str
    dstchannel: str
    lastapp: str
    lastdata: str
    start: dt.datetime
    answer: dt.datetime | None
    end: dt.datetime | None
    duration: int
    billsec: int
    disposition: str
    peeraccount: str = ""
    direction: str = ""
    dialstatus: str = ""
    recording: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


# --- reading one row ---------------------------------------------------------------------------


def parse_time(value: str, zone: dt.tzinfo) -> dt.datetime | None:
    """A CDR time: with an offset (JSON, %z) as written, without one in the PBX's zone."""
    value = (value or "").strip()
    if not value:
        return None
    if value.replace(".", "", 1).isdigit():  # epoch seconds (some custom mappings)
        return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CdrFormatError(f"not a time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment


def _int(value: Any) -> int:
    try:
        return int(str(value).strip() or 0)
    except ValueError:
        raise CdrFormatError(f"not a number: {value!r}") from None


def row_from_mapping(values: Mapping[str, Any], zone: dt.tzinfo) -> CdrRow:
    """Build a CdrRow from named fields (lower-case CDR variable names)."""

    def get(key: str) -> str:
        return str(values.get(key) or "").strip()

    start = parse_time(get("start"), zone)
    if start is None:
        raise CdrFormatError("a CDR row without a start time")
    uniqueid = get("uniqueid")
    linkedid = get("linkedid") or uniqueid
    if not linkedid:
        # No ids logged at all: the call's own start and channel identify it.
        linkedid = f"{start.isoformat()}/{get('channel')}"
    sequence = get("sequence")
    return CdrRow(
        linkedid=linkedid,
        uniqueid=uniqueid,
        sequence=_int(sequence) if sequence else None,
        accountcode=get("accountcode"),
        src=get("src"),
        dst=get("dst"),
        dcontext=get("dcontext"),
        clid=get("clid"),
        channel=get("channel"),
        dstchannel=get("dstchannel"),
        lastapp=get("lastapp"),
        lastdata=get("lastdata"),
        start=start,
        answer=parse_time(get("answer"), zone),
        end=parse_time(get("end"), zone),
        duration=_int(get("duration")),
        billsec=_int(get("billsec")),
        disposition=get("disposition").upper(),
        peeraccount=get("peeraccount"),
        direction=get("direction").lower(),
        dialstatus=get("dialstatus").upper(),
        recording=get("recording"),
        raw={k: v for k, v in values.items() if v not in ("", None)},
    )


def csv_columns(count: int, sample: Sequence[str]) -> tuple[str, ...]:
    """The cdr_csv columns for a line of `count` fields (which optional groups were on)."""
    extra = count - len(CSV_BASE)
    with_uid = ("uniqueid",)
    if extra == 0:
        return CSV_BASE
    if extra == 1:  # loguniqueid or loguserfield
        return CSV_BASE + (with_uid if _UNIQUEID.match(sample[16]) else ("userfield",))
    if extra == 2:
        return (*CSV_BASE, "uniqueid", "userfield")
    if extra == 3:
        return CSV_BASE + CSV_NEW
    if extra == 4:
        one = with_uid if _UNIQUEID.match(sample[16]) else ("userfield",)
        return CSV_BASE + one + CSV_NEW
    if extra == 5:
        return (*CSV_BASE, "uniqueid", "userfield", *CSV_NEW)
    raise CdrFormatError(f"a cdr_csv line has {count} fields; expected 16 to 21")


def row_from_csv(fields: Sequence[str], zone: dt.tzinfo) -> CdrRow:
    """One cdr_csv Master.csv line (no header, Asterisk's fixed column order)."""
    return row_from_mapping(dict(zip(csv_columns(len(fields), fields), fields, strict=True)), zone)


def row_from_custom_csv(
    fields: Sequence[str], zone: dt.tzinfo, columns: Sequence[str] = CUSTOM_CSV_COLUMNS
) -> CdrRow:
    """One cdr_custom CSV line, its columns as the [mappings] line of cdr_custom.conf names them."""
    if len(fields) != len(columns):
        raise CdrFormatError(f"a cdr_custom line has {len(fields)} fields; expected {len(columns)}")
    return row_from_mapping(dict(zip(columns, fields, strict=True)), zone)


def row_from_json(line: str, zone: dt.tzinfo) -> CdrRow:
    """One cdr_custom JSON line (res_cdrel_custom `format = json`)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CdrFormatError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CdrFormatError("a JSON CDR line must be an object")
    return row_from_mapping({k.lower(): v for k, v in data.items()}, zone)


def row_from_ami(event: Mapping[str, Any], zone: dt.tzinfo, linkedid: str = "") -> CdrRow:
    """One AMI `Cdr` event; it carries no linkedid, the listener supplies it from the channels."""
    values: dict[str, Any] = {}
    for key, value in event.items():
        name = AMI_FIELDS.get(key.lower().replace("_", ""))
        if name:
            values[name] = value
    if linkedid:
        values["linkedid"] = linkedid
    return row_from_mapping(values, zone)


# --- one call from its rows --------------------------------------------------------------------


def endpoint_of(channel: str) -> str:
    """The endpoint of a channel name: PJSIP/101-0000000a → 101, Local/101@ctx-… → 101."""
    if "/" not in channel:
        return ""
    rest = channel.split("/", 1)[1]
    if channel.startswith("Local/"):
        return rest.split("@", 1)[0]
    return rest.rsplit("-", 1)[0] if "-" in rest else rest


def _is_extension(number: str, dialect: Dialect) -> bool:
    return number.isdigit() and len(number) <= dialect.max_extension_length


def direction_of(row: CdrRow, dialect: Dialect) -> str:
    """Outbound, inbound or internal: the dialplan's own marker, else the context, else the
    side the trunk is on."""
    if row.direction in _DIRECTIONS:
        return _DIRECTIONS[row.direction]
    to_trunk = endpoint_of(row.dstchannel) in dialect.trunks
    from_trunk = endpoint_of(row.channel) in dialect.trunks
    if row.dcontext in dialect.inbound_contexts or from_trunk:
        return CallDirection.INBOUND
    if to_trunk:
        return CallDirection.OUTBOUND
    if row.dcontext in dialect.outbound_contexts:
        return CallDirection.INTERNAL if _is_extension(row.dst, dialect) else CallDirection.OUTBOUND
    return CallDirection.INTERNAL if _is_extension(row.dst, dialect) else CallDirection.OUTBOUND


def _connected(row: CdrRow) -> bool:
    """A row where two parties talked: answered, with a peer. The dialplan going on alone on an
    answered channel (after a click-to-call's failed Dial) is no conversation."""
    return row.disposition == "ANSWERED" and bool(row.dstchannel)


def connected_at(row: CdrRow, answered: Mapping[str, dt.datetime]) -> dt.datetime | None:
    """When both sides of a row were on the line: its own answer, or its peer's answer if that
    came later (a click-to-call's client answers after the manager)."""
    if row.answer is None:
        return None
    peer = answered.get(row.dstchannel)
    return max(row.answer, peer) if peer else row.answer


def talk_seconds(row: CdrRow, answered: Mapping[str, dt.datetime]) -> int:
    """Talk time runs from the moment both sides were connected to the hang-up: billsec less the
    seconds the peer still rang after the row's own channel had answered."""
    connected = connected_at(row, answered)
    if connected is None or row.answer is None:
        return row.billsec
    late = int((connected - row.answer).total_seconds())
    return max(row.billsec - late, 0)


def _main_row(rows: Sequence[CdrRow]) -> CdrRow:
    """The row that describes the call: the conversation, else the Dial, else the first."""
    for row in rows:
        if _connected(row):
            return row
    for row in rows:
        if row.dstchannel or row.lastapp.lower() == "dial":
            return row
    return rows[0]


def _abandoned(rows: Sequence[CdrRow], main: CdrRow, dialstatus: str) -> bool:
    """The caller hung up while it rang: DIALSTATUS=CANCEL; without it, the dialplan never went
    on after Dial (one row) and the ringing was shorter than the dial timeout."""
    if dialstatus:
        return dialstatus == "CANCEL"
    if len(rows) != 1 or main.lastapp.lower() != "dial":
        return False
    timeout = _DIAL_TIMEOUT.match(main.lastdata)
    return bool(timeout) and main.duration < int(timeout.group(1))  # type: ignore[union-attr]


def build_record(
    rows: Sequence[CdrRow],
    *,
    source: str,
    dialect: Dialect,
    dialstatus: str = "",
    answered: Mapping[str, dt.datetime] | None = None,
) -> CallRecord:
    """One CallRecord from all CDR rows of one linkedid (in the order Asterisk wrote them);
    `answered`: when each channel of the call answered (CEL, AMI), by channel name."""
    if not rows:
        raise ValueError("a call needs at least one CDR row")
    answered = answered or {}
    ordered = sorted(rows, key=lambda r: (r.sequence is None, r.sequence or 0))
    main = _main_row(ordered)
    direction = direction_of(main, dialect)
    connected = [r for r in ordered if _connected(r)]
    status = dialstatus or next((r.dialstatus for r in ordered if r.dialstatus), "")
    if connected:
        disposition: str = CallDisposition.ANSWERED
    elif direction == CallDirection.INBOUND and _abandoned(ordered, main, status):
        disposition = CallDisposition.ABANDONED
    else:
        disposition = _DISPOSITIONS.get(main.disposition, CallDisposition.FAILED)
        if disposition == CallDisposition.ANSWERED:
            # Only the PBX answered (an IVR; a click-to-call's manager whose Dial never ran):
            # nobody talked to anybody.
            inbound = direction == CallDirection.INBOUND
            disposition = CallDisposition.ABANDONED if inbound else CallDisposition.FAILED
    # The longest conversation of the call: never more talk than one leg really had.
    talk = max((talk_seconds(r, answered) for r in connected), default=0)
    main_talk = talk_seconds(main, answered) if connected else 0
    if direction == CallDirection.INBOUND:
        account = endpoint_of(main.dstchannel) or main.peeraccount or main.dst
        their = main.src
    else:
        account = endpoint_of(main.channel)
        if not account or account in dialect.trunks:
            account = main.accountcode or main.src
        their = main.dst
    recording = next((r.recording for r in ordered if r.recording), "")
    if recording and dialect.recording_base_url:
        recording = dialect.recording_base_url.rstrip("/") + "/" + recording.lstrip("/")
    ends = [r.end for r in ordered if r.end is not None]
    return CallRecord(
        source=source,
        external_id=main.linkedid,
        started_at=min(r.start for r in ordered),
        direction=direction,
        disposition=disposition,
        talk_seconds=talk,
        ring_seconds=max(main.duration - main_talk, 0),
        answered_at=connected_at(main, answered) if connected else None,
        ended_at=max(ends) if ends else None,
        account=account,
        their_number=their,
        recording_url=recording,
        raw={"rows": [r.raw for r in ordered]},
    )


# --- whole files -------------------------------------------------------------------------------

FORMATS = ("csv", "custom-csv", "jsonl")


@dataclass
class ParseReport:
    """What reading a file met: lines read and the lines skipped, with why."""

    rows: int = 0
    errors: list[str] = field(default_factory=list)


def guess_format(path: str) -> str:
    """jsonl for *.json/*.jsonl; custom-csv when the lines carry a direction column; else csv."""
    if path.endswith((".json", ".jsonl")):
        return "jsonl"
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = next(csv.reader(io.StringIO(fh.readline())), [])
    if first and len(first) == len(CUSTOM_CSV_COLUMNS) and first[18] in _DIRECTIONS | {"": ""}:
        return "custom-csv"
    return "csv"


def parse_line(line: str, fmt: str, zone: dt.tzinfo) -> CdrRow:
    """One line of a CDR file in one of FORMATS."""
    if fmt == "jsonl":
        return row_from_json(line, zone)
    fields = next(csv.reader([line]))
    return row_from_csv(fields, zone) if fmt == "csv" else row_from_custom_csv(fields, zone)


def read_rows(
    stream: TextIO, fmt: str, zone: dt.tzinfo, report: ParseReport | None = None
) -> Iterator[CdrRow]:
    """Rows of a CDR file; a broken line is reported and skipped, and an unfinished last line
    (the PBX still writing it) is left for the next read."""
    report = report if report is not None else ParseReport()
    if fmt not in FORMATS:
        raise ValueError(f"unknown CDR format {fmt!r}; one of {', '.join(FORMATS)}")
    for number, line in enumerate(stream, start=1):
        if not line.endswith("\n"):
            break  # being written right now
        if not line.strip():
            continue
        try:
            row = parse_line(line, fmt, zone)
        except CdrFormatError as exc:
            report.errors.append(f"line {number}: {exc}")
            continue
        report.rows += 1
        yield row


def group_calls(rows: Iterable[CdrRow], *, window: int = 5000) -> Iterator[list[CdrRow]]:
    """Rows grouped by linkedid. Asterisk writes a call's rows together, so a call not seen for
    `window` rows is complete: a million-row file streams in bounded memory."""
    open_calls: OrderedDict[str, list[CdrRow]] = OrderedDict()
    last_seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        open_calls.setdefault(row.linkedid, []).append(row)
        last_seen[row.linkedid] = index
        while open_calls:
            oldest = next(iter(open_calls))
            if index - last_seen[oldest] < window:
                break
            del last_seen[oldest]
            yield open_calls.pop(oldest)
    yield from open_calls.values()


def records_from_file(
    path: str,
    *,
    fmt: str | None = None,
    source: str = "asterisk",
    dialect: Dialect | None = None,
    report: ParseReport | None = None,
    skip: frozenset[str] = frozenset(),
    answers: Mapping[str, Mapping[str, dt.datetime]] | None = None,
) -> Iterator[CallRecord]:
    """Every call in a CDR file, one CallRecord per linkedid (except the linkedids in `skip`);
    `answers`: linkedid → channel → when it answered (from the PBX's CEL, cel.answers_from_file),
    without which a click-to-call's talk time counts the client's ringing."""
    dialect = dialect or Dialect()
    fmt = fmt or guess_format(path)
    answers = answers or {}
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        for rows in group_calls(read_rows(fh, fmt, dialect.zone, report)):
            linkedid = rows[0].linkedid
            if linkedid in skip:
                continue
            yield build_record(rows, source=source, dialect=dialect, answered=answers.get(linkedid))
