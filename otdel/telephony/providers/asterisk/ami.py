"""The live Asterisk listener: AMI events → the same CallRecords the CDR files give.

Asterisk's `Cdr` AMI event (cdr_manager) is the CDR row the files get, minus the linkedid: the
listener learns each channel's linkedid from Newchannel/CoreShowChannel, keeps a call's rows
until its last channel hangs up (a failed dial sends two rows), and then builds the record with
the very code the file importer uses, so both paths give the same facts.

Talk time starts when the client's leg answered: a click-to-call answers the manager's phone
first, and the CDR's billsec counts from there (see cdr.py). When each channel answered comes
from the AMI `CEL` events (cel_manager), exactly as the CEL file has it; without them, from a
`Timestamp` on Newstate (manager.conf `timestampevents = yes`); without that, from how much
later than the manager's channel the listener saw the client's channel come up.

Never losing or doubling a call:
- re-sending is harmless: (source, external_id) is unique and record_calls skips known calls;
- after every (re)login the listener re-reads the live channels (CoreShowChannels), so a call
  that was up during a disconnect is still recognised, and reads what the PBX appended to its
  CDR file(s) (`catch_up`) since the last read, for calls that ended while nobody was listening
  — the AMI cannot replay them — and to its CEL file (`cel`), for when the legs of those calls
  and of the calls still up answered (catchup.py: positions, rotation, nothing lost or doubled);
- a batch the database refused is retried with back-off, never dropped;
- reconnects back off 1 s, 2 s, 4 s … up to `max_backoff`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otdel.telephony.providers.asterisk.catchup import (
    FilePosition,
    MemoryPositions,
    Positions,
    read_cdr_appended,
    read_cel_appended,
)
from otdel.telephony.providers.asterisk.cdr import (
    CdrFormatError,
    CdrRow,
    Dialect,
    ParseReport,
    build_record,
    row_from_ami,
)
from otdel.telephony.providers.asterisk.cel import AnswerIndex, event_from_mapping
from otdel.telephony.records import CallRecord

log = logging.getLogger("otdel.telephony.asterisk")

# How long a call whose channels are all gone waits for a late Cdr event. On Asterisk 22 the
# last Cdr arrives within a few milliseconds of the last Hangup (measured in the lab); a call
# that waited longer would only delay every fact.
GRACE = 0.2
# How often finished calls are handed to the writer.
TICK = 0.1

Ingest = Callable[[list[CallRecord]], Any]


@dataclass
class _Call:
    rows: list[CdrRow] = field(default_factory=list)
    channels: set[str] = field(default_factory=set)
    dialstatus: str = ""
    touched: float = 0.0
    answered: dict[str, dt.datetime] = field(default_factory=dict)  # channel → PBX's clock
    came_up: dict[str, float] = field(default_factory=dict)  # channel → listener's clock


def answers_for(
    rows: Sequence[CdrRow], answered: Mapping[str, dt.datetime], came_up: Mapping[str, float]
) -> dict[str, dt.datetime]:
    """When each channel answered: the PBX's own times, else a peer placed after the row's own
    answer by how much later the listener saw it come up than the row's channel."""
    result = dict(answered)
    for row in rows:
        peer, own = row.dstchannel, row.channel
        if row.answer and peer and peer not in result and peer in came_up and own in came_up:
            late = round(came_up[peer] - came_up[own])
            result[peer] = row.answer + dt.timedelta(seconds=late)
    return result


class CallAssembler:
    """AMI events in, finished calls out; no network, no database (tested on its own)."""

    def __init__(self, *, source: str, dialect: Dialect, grace: float = GRACE) -> None:
        self.source = source
        self.dialect = dialect
        self.grace = grace
        self.calls: dict[str, _Call] = {}
        self.linked: dict[str, str] = {}  # uniqueid → linkedid
        self.resyncing = False
        self._gone_during_resync: set[str] = set()
        # external id → when the call's last event arrived (monotonic), to report how long a
        # finished call took to become a stored fact.
        self.last_event: dict[str, float] = {}

    def _call(self, linkedid: str, now: float) -> _Call:
        call = self.calls.setdefault(linkedid, _Call())
        call.touched = now
        return call

    def feed(self, event: Mapping[str, Any], now: float, received: float | None = None) -> None:
        """Take one AMI event (name → value, keys in any case); `received`: when it arrived by
        the listener's clock (None in a replay without times)."""
        ev = {str(k).lower(): v for k, v in event.items()}
        name = str(ev.get("event", "")).lower()
        uniqueid = str(ev.get("uniqueid", ""))
        if name in ("newchannel", "coreshowchannel"):
            linkedid = str(ev.get("linkedid") or uniqueid)
            if name == "coreshowchannel" and uniqueid in self._gone_during_resync:
                return  # the snapshot is older than this channel's Hangup
            self.linked[uniqueid] = linkedid
            self._call(linkedid, now).channels.add(uniqueid)
        elif name == "hangup":
            linkedid = str(ev.get("linkedid") or self.linked.get(uniqueid, uniqueid))
            if self.resyncing:
                self._gone_during_resync.add(uniqueid)
            self._call(linkedid, now).channels.discard(uniqueid)
        elif name == "dialend":
            linkedid = str(ev.get("linkedid") or self.linked.get(uniqueid, uniqueid))
            status = str(ev.get("dialstatus", "")).upper()
            call = self._call(linkedid, now)
            if status and call.dialstatus != "ANSWER":
                call.dialstatus = status
        elif name == "cdr":
            linkedid = self.linked.get(uniqueid, uniqueid)
            try:
                row = row_from_ami(event, self.dialect.zone, linkedid)
            except CdrFormatError as exc:
                log.error("unreadable Cdr event %s: %s", uniqueid, exc)
                return
            self._call(linkedid, now).rows.append(row)
        elif name == "cel":
            self._note_cel(ev, now)
        elif name == "newstate" and str(ev.get("channelstate")) == "6":
            self._note_up(ev, now, received)

    def _note_cel(self, ev: Mapping[str, Any], now: float) -> None:
        try:
            event = event_from_mapping(ev, self.dialect.zone)
        except CdrFormatError:
            return
        if event.kind == "ANSWER" and event.channel:
            self._call(event.linkedid, now).answered.setdefault(event.channel, event.at)

    def _note_up(self, ev: Mapping[str, Any], now: float, received: float | None) -> None:
        """A channel answered: with the PBX's timestamp if the AMI sends one, else by our clock."""
        uniqueid, channel = str(ev.get("uniqueid", "")), str(ev.get("channel", ""))
        call = self._call(str(ev.get("linkedid") or self.linked.get(uniqueid, uniqueid)), now)
        stamp = str(ev.get("timestamp") or "")
        if stamp.replace(".", "", 1).isdigit():
            at = dt.datetime.fromtimestamp(float(stamp), tz=dt.UTC).replace(microsecond=0)
            call.answered.setdefault(channel, at)
        elif received is not None:
            call.came_up.setdefault(channel, received)

    def learn_answers(self, answers: AnswerIndex) -> None:
        """Answers read from the CEL file, for calls up now whose answers we did not hear (they
        came while the listener was away)."""
        for linkedid, channels in answers.items():
            call = self.calls.get(linkedid)
            if call is not None:
                for channel, at in channels.items():
                    call.answered.setdefault(channel, at)

    def answers_snapshot(self) -> dict[str, tuple[dict[str, dt.datetime], dict[str, float]]]:
        """What the listener heard of each call's answers (a copy, for a catch-up thread)."""
        return {lid: (dict(call.answered), dict(call.came_up)) for lid, call in self.calls.items()}

    def begin_resync(self) -> None:
        """After a (re)connect nothing is known to be up until CoreShowChannels says so."""
        self.resyncing = True
        self._gone_during_resync = set()
        for call in self.calls.values():
            call.channels.clear()

    def end_resync(self) -> None:
        self.resyncing = False
        self._gone_during_resync = set()

    def live_calls(self) -> set[str]:
        """Linkedids with a channel still up (their CDR rows are not all written yet)."""
        return {lid for lid, call in self.calls.items() if call.channels}

    def ready(self, now: float, *, force: bool = False) -> list[CallRecord]:
        """Calls whose channels are all gone and which were quiet for `grace` seconds
        (`force`: without waiting, at shutdown)."""
        if self.resyncing:
            return []
        done: list[CallRecord] = []
        for linkedid, call in list(self.calls.items()):
            if call.channels:
                continue
            quiet = now - call.touched
            if call.rows and (force or quiet >= self.grace):
                record = build_record(
                    call.rows,
                    source=self.source,
                    dialect=self.dialect,
                    dialstatus=call.dialstatus,
                    answered=answers_for(call.rows, call.answered, call.came_up),
                )
                self.last_event[record.external_id] = call.touched
                done.append(record)
            elif call.rows or quiet < 60:
                continue  # a Cdr may still come for a call that just hung up
            del self.calls[linkedid]
            for uid in [u for u, lid in self.linked.items() if lid == linkedid]:
                del self.linked[uid]
        return done


@dataclass
class CatchUp:
    """A CDR (or CEL) file of this PBX read after every login from where the last read ended."""

    path: str
    fmt: str | None = None


Batch = tuple[str, list[CallRecord], dict[str, FilePosition]]


class AmiListener:
    """Connects to the AMI with panoramisk, turns the stream into calls and hands them to
    `ingest` (record_calls) from one worker thread; runs until `stop()`."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        source: str,
        dialect: Dialect,
        ingest: Ingest,
        catch_up: Sequence[CatchUp] = (),
        cel: CatchUp | None = None,
        positions: Positions | None = None,
        grace: float = GRACE,
        max_backoff: float = 30.0,
    ) -> None:
        self.config = {"host": host, "port": port, "username": username, "secret": secret}
        self.source = source
        self.dialect = dialect
        self.ingest = ingest
        self.catch_up = list(catch_up)
        self.cel = cel
        self.positions: Positions = positions if positions is not None else MemoryPositions()
        # Where this process's last read of each file ended. Its calls are queued and the writer
        # never drops a batch, so the next catch-up goes on from there even before they are
        # stored; only the saved position (moved once stored) survives a restart.
        self._read_to: dict[str, FilePosition] = {}
        self.assembler = CallAssembler(source=source, dialect=dialect, grace=grace)
        self.max_backoff = max_backoff
        self.backoff = 1.0
        self.logins = 0
        self.stats = {"ami": 0, "catch_up": 0, "created": 0, "already_known": 0}
        self.fatal: str = ""
        self._queue: asyncio.Queue[Batch] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._manager: Any = None
        self._resync_task: asyncio.Future | None = None

    # --- connection ---------------------------------------------------------------------

    def next_delay(self) -> float:
        delay = self.backoff
        self.backoff = min(self.backoff * 2, self.max_backoff)
        return delay

    def _make_manager(self) -> Any:
        from panoramisk import Manager

        listener = self

        class _Manager(Manager):
            """panoramisk with back-off between reconnects and a refused login made fatal."""

            def connection_made(self, f: asyncio.Future) -> None:
                if not f.cancelled() and f.exception() is not None:
                    self.reconnect_timeout = listener.next_delay()
                    log.warning(
                        "AMI %s:%s unreachable (%s); next try in %.0f s",
                        listener.config["host"],
                        listener.config["port"],
                        f.exception(),
                        self.reconnect_timeout,
                    )
                super().connection_made(f)

            def connection_lost(self, exc: Any) -> None:
                self.reconnect_timeout = listener.next_delay()
                log.warning("AMI connection lost; reconnecting in %.0f s", self.reconnect_timeout)
                super().connection_lost(exc)

            def login(self, future: asyncio.Future) -> bool:
                ok = bool(super().login(future))
                if not ok:
                    listener.fatal = "the AMI refused the login (user/secret?)"
                    listener.stop()
                return ok

        manager = _Manager(
            host=self.config["host"],
            port=self.config["port"],
            username=self.config["username"],
            secret=self.config["secret"],
            events="on",
            ping_delay=10,
            ping_interval=10,
            reconnect_timeout=1,
            on_login=self._on_login,
        )
        manager.register_event("*", self._on_event)
        return manager

    def _on_event(self, _manager: Any, event: Any) -> None:
        now = time.monotonic()
        self.assembler.feed(dict(event), now, received=now)

    def _on_login(self, manager: Any) -> None:
        self.backoff = 1.0
        self.logins += 1
        log.info("AMI login #%d accepted", self.logins)
        self._resync_task = asyncio.ensure_future(self._resync(manager))

    async def _resync(self, manager: Any) -> None:
        """Learn which calls are up now and when their legs answered, then read what the CDR
        files gained while we were away."""
        loop = asyncio.get_running_loop()
        self.assembler.begin_resync()
        cel_answers: AnswerIndex = {}
        cel_position: dict[str, FilePosition] = {}
        try:
            await self._learn_channels(manager)
            if self.cel is not None:
                cel_answers, cel_position = await loop.run_in_executor(
                    None, self._read_cel, self.cel
                )
                self.assembler.learn_answers(cel_answers)
        finally:
            # Calls that end meanwhile wait until their answers are known.
            self.assembler.end_resync()
        live = frozenset(self.assembler.live_calls())
        heard = self.assembler.answers_snapshot()

        def answers_of(linkedid: str, rows: Sequence[CdrRow]) -> Mapping[str, dt.datetime]:
            answered, came_up = heard.get(linkedid, ({}, {}))
            return answers_for(rows, {**cel_answers.get(linkedid, {}), **answered}, came_up)

        for item in self.catch_up:
            records, position = await loop.run_in_executor(
                None, self._read_catch_up, item, live, answers_of
            )
            await self._queue.put(("catch-up", records, position))
        if cel_position:  # after the CDR batches: moved once they are stored
            await self._queue.put(("catch-up", [], cel_position))

    async def _learn_channels(self, manager: Any) -> None:
        """The calls up right now (CoreShowChannels)."""
        try:
            reply = await asyncio.wait_for(
                manager.send_action({"Action": "CoreShowChannels"}, as_list=True), 15
            )
        except (TimeoutError, OSError) as exc:
            log.warning("CoreShowChannels failed (%s): going on without it", exc)
            return
        for message in reply if isinstance(reply, list) else [reply]:
            if str(message.get("Event", "")).lower() == "coreshowchannel":
                self.assembler.feed(dict(message), time.monotonic())

    def _position(self, path: str) -> FilePosition | None:
        return self._read_to.get(path) or self.positions.load(path)

    def _read_cel(self, item: CatchUp) -> tuple[AnswerIndex, dict[str, FilePosition]]:
        errors: list[str] = []
        try:
            read = read_cel_appended(
                item.path,
                fmt=item.fmt,
                position=self._position(item.path),
                zone=self.dialect.zone,
                errors=errors,
            )
        except OSError as exc:
            log.warning("catch-up CEL file %s unreadable: %s", item.path, exc)
            return {}, {}
        for error in errors:
            log.warning("catch-up %s: %s", item.path, error)
        log.info("catch-up %s: answers of %d calls", item.path, len(read.answers))
        self._read_to[item.path] = read.position
        return read.answers, {item.path: read.position}

    def _read_catch_up(
        self,
        item: CatchUp,
        live: frozenset[str],
        answers_of: Callable[[str, Sequence[CdrRow]], Mapping[str, dt.datetime]],
    ) -> tuple[list[CallRecord], dict[str, FilePosition]]:
        report = ParseReport()
        try:
            read = read_cdr_appended(
                item.path,
                fmt=item.fmt,
                position=self._position(item.path),
                source=self.source,
                dialect=self.dialect,
                live=live,
                answers_of=answers_of,
                report=report,
            )
        except OSError as exc:
            log.warning("catch-up file %s unreadable: %s", item.path, exc)
            return [], {}
        for error in report.errors:
            log.warning("catch-up %s: %s", item.path, error)
        log.info(
            "catch-up %s: %d new rows, %d calls (%d live skipped)",
            item.path,
            report.rows,
            len(read.records),
            len(live),
        )
        self._read_to[item.path] = read.position
        return read.records, {item.path: read.position}

    # --- the loop -------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    async def _tick(self) -> None:
        while not self._stop.is_set():
            records = self.assembler.ready(time.monotonic())
            if records:
                await self._queue.put(("ami", records, {}))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), TICK)

    def _write(self, records: list[CallRecord]) -> Any:
        from django.db import close_old_connections

        close_old_connections()
        return self.ingest(records)

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            origin, records, positions = await self._queue.get()
            if origin == "__end__":
                return
            if records:
                await self._store(origin, records)
            if positions:
                await loop.run_in_executor(None, self._save_positions, positions)

    def _save_positions(self, positions: dict[str, FilePosition]) -> None:
        """Move the catch-up positions past what was just stored (if this fails, the next
        catch-up reads it again: harmless)."""
        try:
            self.positions.save(positions)
        except OSError as exc:
            log.warning("catch-up positions not saved (%s): the next catch-up re-reads", exc)

    async def _store(self, origin: str, records: list[CallRecord]) -> None:
        loop = asyncio.get_running_loop()
        delay = 1.0
        while True:
            try:
                result = await loop.run_in_executor(None, self._write, records)
                break
            except Exception:  # the database may be restarting: retry, never drop
                log.exception("storing %d calls failed; retrying in %.0f s", len(records), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        stored_at = time.monotonic()
        self.stats["ami" if origin == "ami" else "catch_up"] += len(records)
        self.stats["created"] += getattr(result, "created", 0)
        self.stats["already_known"] += getattr(result, "already_known", 0)
        for record in records:
            heard = self.assembler.last_event.pop(record.external_id, None)
            if heard is not None:
                log.info(
                    "call %s stored %.3f s after its last event",
                    record.external_id,
                    stored_at - heard,
                )
            log.info(
                "call %s via %s: %s %s %s talk=%ss account=%s number=%s",
                record.external_id,
                origin,
                record.direction,
                record.disposition,
                record.started_at.isoformat(),
                record.talk_seconds,
                record.account,
                record.their_number,
            )
        log.info(
            "stored via %s: %s created, %s already known",
            origin,
            getattr(result, "created", "?"),
            getattr(result, "already_known", "?"),
        )

    async def run(self) -> int:
        """Listen until stop(); on the way out store every call that has ended."""
        self._manager = self._make_manager()
        self._manager.loop = asyncio.get_running_loop()
        self._manager.connect()
        writer = asyncio.create_task(self._writer())
        await self._tick()
        self._manager.close()
        final = self.assembler.ready(time.monotonic(), force=True)
        if final:
            await self._queue.put(("ami", final, {}))
        await self._queue.put(("__end__", [], {}))
        await writer
        pending = self.assembler.live_calls()
        if pending:
            log.warning(
                "stopped with %d calls still up; the next start's catch-up stores them",
                len(pending),
            )
        log.info("listener stopped: %s", self.stats)
        if self.fatal:
            log.error(self.fatal)
            return 2
        return 0


def events_to_records(
    events: Iterable[Mapping[str, Any]], *, source: str, dialect: Dialect
) -> list[CallRecord]:
    """Replay a recorded AMI stream (e.g. the lab's ami-events.jsonl) into calls."""
    assembler = CallAssembler(source=source, dialect=dialect, grace=50)  # in events
    records: list[CallRecord] = []
    for index, event in enumerate(events):
        # The lab's recordings keep when each event arrived (`_received`).
        received = event.get("_received")
        assembler.feed(event, float(index), None if received is None else float(received))
        records.extend(assembler.ready(float(index)))
    records.extend(assembler.ready(float("inf"), force=True))
    return records
