"""Asterisk CEL (channel event logging) → when each leg of a call answered.

Why the CDR alone is not enough: a CDR row's `answer` and `billsec` belong to its first channel.
In a click-to-call the PBX rings the manager's phone first and dials the client only once he
picks up, so that channel answered before the client's phone even rang: `billsec` counts the
client's ringing as talk, and a client who never answered still leaves an ANSWERED row. CEL logs
an ANSWER event for every channel, the trunk leg included; the importer and the listener read it
to start talk time when the client's leg answered (see cdr.build_record).

Times are whole seconds, as the CDR's (cel_custom JSON writes `%T`, the AMI `CEL` event a local
time, the cel_custom CSV sample an epoch with microseconds that is cut to the second), so every
source gives the same talk time for the same call.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from otdel.telephony.providers.asterisk.cdr import CdrFormatError, parse_time

# linkedid → channel name → the moment that channel answered (whole seconds, aware)
AnswerIndex = dict[str, dict[str, dt.datetime]]

# The [mappings] line of Asterisk's cel_custom.conf sample (the lab uses it as is).
CEL_CSV_COLUMNS = (
    "eventtype",
    "eventtime",
    "name",
    "num",
    "ani",
    "rdnis",
    "dnid",
    "exten",
    "context",
    "channame",
    "appname",
    "appdata",
    "amaflags",
    "accountcode",
    "uniqueid",
    "linkedid",
    "peer",
    "userfield",
    "userdeftype",
    "eventextra",
)
CEL_FORMATS = ("csv", "jsonl")
# The AMI CEL event and res_cdrel_custom name some fields differently from the CSV sample.
_ALIASES = {"eventname": "eventtype", "channel": "channame"}
_ENDS = frozenset({"CHAN_END", "LINKEDID_END"})


@dataclass(frozen=True)
class CelEvent:
    """One CEL record: what happened to which channel of which call, when."""

    kind: str
    at: dt.datetime
    channel: str
    uniqueid: str
    linkedid: str


def event_from_mapping(values: Mapping[str, Any], zone: dt.tzinfo) -> CelEvent:
    """A CelEvent from named fields (any case: a JSON line, an AMI `CEL` event)."""
    named = {_ALIASES.get(str(k).lower(), str(k).lower()): v for k, v in values.items()}

    def get(key: str) -> str:
        return str(named.get(key) or "").strip()

    at = parse_time(get("eventtime"), zone)
    if at is None or not get("eventtype"):
        raise CdrFormatError("a CEL record needs an event type and a time")
    return CelEvent(
        kind=get("eventtype").upper(),
        at=at.replace(microsecond=0),
        channel=get("channame"),
        uniqueid=get("uniqueid"),
        linkedid=get("linkedid") or get("uniqueid"),
    )


def parse_cel_line(line: str, fmt: str, zone: dt.tzinfo) -> CelEvent:
    """One line of a cel_custom file: the sample CSV mapping or JSON (`format = json`)."""
    if fmt == "jsonl":
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CdrFormatError(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise CdrFormatError("a JSON CEL line must be an object")
        return event_from_mapping(data, zone)
    fields = next(csv.reader([line]))
    if len(fields) != len(CEL_CSV_COLUMNS):
        raise CdrFormatError(
            f"a CEL line has {len(fields)} fields; expected {len(CEL_CSV_COLUMNS)}"
        )
    return event_from_mapping(dict(zip(CEL_CSV_COLUMNS, fields, strict=True)), zone)


def guess_cel_format(path: str) -> str:
    """jsonl for *.json/*.jsonl, else the sample CSV mapping."""
    return "jsonl" if path.endswith((".json", ".jsonl")) else "csv"


def note_answer(index: AnswerIndex, event: CelEvent) -> None:
    """Remember when a channel answered (its first ANSWER: a channel answers once)."""
    if event.kind == "ANSWER" and event.channel:
        index.setdefault(event.linkedid, {}).setdefault(event.channel, event.at)


def forget_if_plain(index: AnswerIndex, linkedid: str) -> None:
    """A finished call whose legs all answered in the same second needs no correction: drop it,
    so a file of a million calls keeps in memory only the ones that rang one side first."""
    moments = set(index.get(linkedid, {}).values())
    if len(moments) <= 1:
        index.pop(linkedid, None)


def cel_lines(
    stream: Iterable[str], fmt: str, zone: dt.tzinfo, errors: list[str] | None = None
) -> Iterator[CelEvent]:
    """Events of CEL lines; a broken line is noted and skipped, an unfinished last one left."""
    for number, line in enumerate(stream, start=1):
        if not line.endswith("\n"):
            break  # being written right now
        if not line.strip():
            continue
        try:
            yield parse_cel_line(line, fmt, zone)
        except CdrFormatError as exc:
            if errors is not None:
                errors.append(f"line {number}: {exc}")


def answers_from_file(
    path: str, *, fmt: str | None = None, zone: dt.tzinfo, errors: list[str] | None = None
) -> AnswerIndex:
    """When each channel answered, for the calls of a CEL file where it matters."""
    fmt = fmt or guess_cel_format(path)
    if fmt not in CEL_FORMATS:
        raise ValueError(f"unknown CEL format {fmt!r}; one of {', '.join(CEL_FORMATS)}")
    index: AnswerIndex = {}
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        for event in cel_lines(fh, fmt, zone, errors):
            note_answer(index, event)
            if event.kind == "LINKEDID_END":
                forget_if_plain(index, event.linkedid)
    return index


@dataclass
class CelProgress:
    """Which calls of a CEL file are not over yet, so an incremental read resumes before their
    first line: an ANSWER logged before the last read may belong to a call still going."""

    hold: dt.timedelta = dt.timedelta(minutes=5)
    first_offset: dict[str, int] = field(default_factory=dict)
    open_channels: dict[str, set[str]] = field(default_factory=dict)
    last_seen: dict[str, dt.datetime] = field(default_factory=dict)
    newest: dt.datetime | None = None
    _limit: int = field(default=1000, init=False, repr=False)

    def feed(self, offset: int, event: CelEvent) -> None:
        lid = event.linkedid
        self.first_offset.setdefault(lid, offset)
        channels = self.open_channels.setdefault(lid, set())
        if event.kind == "LINKEDID_END":
            channels.clear()
        elif event.kind == "CHAN_END":
            channels.discard(event.uniqueid)
        else:
            channels.add(event.uniqueid)
        self.last_seen[lid] = event.at
        self.newest = max(self.newest, event.at) if self.newest else event.at
        if len(self.first_offset) > self._limit:
            self._forget_finished()

    def _pending(self, lid: str) -> bool:
        recent = self.newest - self.hold if self.newest else None
        return bool(self.open_channels.get(lid)) or bool(recent and self.last_seen[lid] > recent)

    def _forget_finished(self) -> None:
        for lid in [lid for lid in self.first_offset if not self._pending(lid)]:
            del self.first_offset[lid], self.open_channels[lid], self.last_seen[lid]
        # Pruning again only after the set has doubled keeps a long file linear.
        self._limit = max(1000, 2 * len(self.first_offset))

    def resume_offset(self, end: int) -> int:
        """Where the next read starts: the first line of the earliest call still up or ended
        within `hold` (its CDR row may be written a moment after its last CEL line)."""
        return min(
            (offset for lid, offset in self.first_offset.items() if self._pending(lid)),
            default=end,
        )
