"""What a PBX appended to its CDR and CEL files since the listener last read them.

After every (re)login the listener reads these files for calls that ended while nobody was
listening (the AMI cannot replay them). It remembers, for each file, how far it has read (a byte
offset) and which file that was (device, inode and a digest of its first bytes), in a small JSON
file under the var dir, so a reconnect or a restart reads only what was appended since:
- a file rotated (renamed, a new one created), truncated (copytruncate) or replaced is read from
  its start, after the rest of the old file if it is still beside it (Master.csv.1, …);
- the saved position moves only once the calls read were stored: a crash in between re-reads
  them, and calls are idempotent by (source, external_id), so nothing is lost or doubled;
- the rows of a call still up (a transfer's first leg) and the CEL lines of a call not over yet
  are read again next time, not skipped: the position stops before them.
A lost position file only costs one full, harmless re-read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from otdel.telephony.providers.asterisk.cdr import (
    CdrFormatError,
    CdrRow,
    Dialect,
    ParseReport,
    build_record,
    group_calls,
    guess_format,
    parse_line,
)
from otdel.telephony.providers.asterisk.cel import (
    AnswerIndex,
    CelEvent,
    CelProgress,
    forget_if_plain,
    guess_cel_format,
    note_answer,
    parse_cel_line,
)
from otdel.telephony.records import CallRecord

log = logging.getLogger("otdel.telephony.asterisk")

HEAD_BYTES = 4096  # enough to tell two CDR files apart by their first rows
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip")


@dataclass(frozen=True)
class FilePosition:
    """How far one file was read, and which file it was."""

    device: int
    inode: int
    offset: int
    head_length: int
    head_sha256: str


class Positions(Protocol):
    def load(self, path: str) -> FilePosition | None: ...

    def save(self, positions: Mapping[str, FilePosition]) -> None: ...


@dataclass
class MemoryPositions:
    """Positions kept for the life of the process (reconnects only)."""

    known: dict[str, FilePosition] = field(default_factory=dict)

    def load(self, path: str) -> FilePosition | None:
        return self.known.get(path)

    def save(self, positions: Mapping[str, FilePosition]) -> None:
        self.known.update(positions)


@dataclass
class PositionFile:
    """Positions kept in a JSON file, so they survive a restart of the listener."""

    path: Path

    def _all(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning(
                "catch-up positions %s unreadable (%s): reading from the start", self.path, exc
            )
            return {}
        return data if isinstance(data, dict) else {}

    def load(self, path: str) -> FilePosition | None:
        entry = self._all().get(path)
        try:
            return FilePosition(**entry) if isinstance(entry, dict) else None
        except TypeError:
            return None

    def save(self, positions: Mapping[str, FilePosition]) -> None:
        """Write all positions at once (a new file renamed over the old: never half-written)."""
        data = self._all()
        data.update({path: asdict(position) for path, position in positions.items()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


# --- which bytes to read ----------------------------------------------------------------------


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _holds(path: str, position: FilePosition, *, same_inode: bool) -> bool:
    """The file still holds everything read before: as large, the same first bytes (and, if
    asked, the very same file rather than a copy)."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            head = fh.read(position.head_length)
    except OSError:
        return False
    if same_inode and (st.st_dev, st.st_ino) != (position.device, position.inode):
        return False
    return st.st_size >= position.offset and _digest(head) == position.head_sha256


def rotated_copy(path: str, position: FilePosition) -> str | None:
    """The old file beside a rotated one (Master.csv.1, Master.csv-20261130): renamed (the same
    inode) or copied before a truncation (the same first bytes)."""
    directory, base = os.path.split(path)
    try:
        names = sorted(os.listdir(directory or "."))
    except OSError:
        return None
    candidates = [
        os.path.join(directory, name)
        for name in names
        if name != base and name.startswith(base) and not name.endswith(_COMPRESSED)
    ]
    for same_inode in (True, False):
        for candidate in candidates:
            if _holds(candidate, position, same_inode=same_inode):
                return candidate
    return None


def reads_for(path: str, position: FilePosition | None) -> list[tuple[str, int]]:
    """(file, from byte) to read: the rest of the same file; after a rotation or truncation the
    rest of the old file, if found, then the new one from its start."""
    if position is None:
        return [(path, 0)]
    if _holds(path, position, same_inode=True):
        return [(path, position.offset)]
    old = rotated_copy(path, position)
    log.info("catch-up %s was rotated or truncated: reading it from the start", path)
    return ([(old, position.offset)] if old else []) + [(path, 0)]


class AppendedLines:
    """The complete lines of a file from byte `start` (an unfinished last line is left for the
    next read), with the file's identity taken from the same open handle."""

    def __init__(self, path: str, start: int) -> None:
        self.path = path
        self.start = start
        self.end = start
        self._identity = (0, 0)
        self._head = b""

    def __iter__(self) -> Iterator[tuple[int, str]]:
        with open(self.path, "rb") as fh:
            st = os.fstat(fh.fileno())
            self._identity = (st.st_dev, st.st_ino)
            self._head = fh.read(HEAD_BYTES)
            fh.seek(self.start)
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # being written right now
                yield self.end, raw.decode("utf-8", "replace")
                self.end += len(raw)

    def position(self, offset: int) -> FilePosition:
        """This file, read up to `offset`."""
        head = self._head[: min(offset, len(self._head))]
        return FilePosition(self._identity[0], self._identity[1], offset, len(head), _digest(head))


# --- CDR --------------------------------------------------------------------------------------

AnswersOf = Callable[[str, Sequence[CdrRow]], Mapping[str, dt.datetime]]


@dataclass
class CdrCatchUp:
    """The calls read from one CDR file and where the next read starts."""

    records: list[CallRecord]
    position: FilePosition


def _rows(
    lines: AppendedLines, fmt: str, dialect: Dialect, report: ParseReport
) -> Iterator[tuple[int, CdrRow]]:
    for offset, line in lines:
        if not line.strip():
            continue
        try:
            row = parse_line(line, fmt, dialect.zone)
        except CdrFormatError as exc:
            report.errors.append(f"byte {offset}: {exc}")
            continue
        report.rows += 1
        yield offset, row


def read_cdr_appended(
    path: str,
    *,
    fmt: str | None,
    position: FilePosition | None,
    source: str,
    dialect: Dialect,
    live: frozenset[str],
    answers_of: AnswersOf,
    report: ParseReport,
) -> CdrCatchUp:
    """The calls a CDR file gained since `position` (those still up are left for later)."""
    reads = reads_for(path, position)
    fmt = fmt or guess_format(path)
    current = AppendedLines(*reads[-1])
    first_live: list[int] = []

    def rows() -> Iterator[CdrRow]:
        for old_path, start in reads[:-1]:
            for _, row in _rows(AppendedLines(old_path, start), fmt, dialect, report):
                yield row
        for offset, row in _rows(current, fmt, dialect, report):
            if row.linkedid in live and not first_live:
                first_live.append(offset)  # offsets grow: the first is the smallest
            yield row

    records = [
        build_record(group, source=source, dialect=dialect, answered=answers_of(lid, group))
        for group in group_calls(rows())
        if (lid := group[0].linkedid) not in live
    ]
    return CdrCatchUp(records, current.position(first_live[0] if first_live else current.end))


# --- CEL --------------------------------------------------------------------------------------


@dataclass
class CelCatchUp:
    """When the channels of recent calls answered, and where the next read starts."""

    answers: AnswerIndex
    position: FilePosition


def read_cel_appended(
    path: str,
    *,
    fmt: str | None,
    position: FilePosition | None,
    zone: dt.tzinfo,
    errors: list[str],
    hold: dt.timedelta = dt.timedelta(minutes=5),
) -> CelCatchUp:
    """Answers logged since `position`; the next read starts at the first line of the calls
    not over yet, so their answers are read again (a restart forgets what it heard live)."""
    fmt = fmt or guess_cel_format(path)
    reads = reads_for(path, position)
    answers: AnswerIndex = {}
    progress = CelProgress(hold=hold)
    current = AppendedLines(*reads[-1])
    for lines in [AppendedLines(*read) for read in reads[:-1]] + [current]:
        for offset, event in _events(lines, fmt, zone, errors):
            note_answer(answers, event)
            if event.kind == "LINKEDID_END":
                forget_if_plain(answers, event.linkedid)
            if lines is current:
                progress.feed(offset, event)
    return CelCatchUp(answers, current.position(progress.resume_offset(current.end)))


def _events(
    lines: AppendedLines, fmt: str, zone: dt.tzinfo, errors: list[str]
) -> Iterator[tuple[int, CelEvent]]:
    for offset, line in lines:
        if not line.strip():
            continue
        try:
            yield offset, parse_cel_line(line, fmt, zone)
        except CdrFormatError as exc:
            errors.append(f"byte {offset}: {exc}")
