"""The live Asterisk listener: AMI events → the same CallRecords the CDR files give.

Asterisk's `Cdr` AMI event (cdr_manager) is the CDR row the files get, minus the linkedid: the
listener learns each channel's linkedid from Newchannel/CoreShowChannel, keeps a call's rows
until its last channel hangs up (a failed dial sends two rows), and then builds the record with
the very code the file importer uses, so both paths give the same facts.

Never losing or doubling a call:
- re-sending is harmless: (source, external_id) is unique and record_calls skips known calls;
- after every (re)login the listener re-reads the live channels (CoreShowChannels), so a call
  that was up during a disconnect is still recognised, and re-reads the PBX's CDR file(s)
  (`catch_up`) for calls that ended while nobody was listening — the AMI cannot replay them;
- a batch the database refused is retried with back-off, never dropped;
- reconnects back off 1 s, 2 s, 4 s … up to `max_backoff`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otdel.telephony.providers.asterisk.cdr import (
    CdrFormatError,
    CdrRow,
    Dialect,
    ParseReport,
    build_record,
    records_from_file,
    row_from_ami,
)
from otdel.telephony.records import CallRecord

log = logging.getLogger("otdel.telephony.asterisk")

Ingest = Callable[[list[CallRecord]], Any]


@dataclass
class _Call:
    rows: list[CdrRow] = field(default_factory=list)
    channels: set[str] = field(default_factory=set)
    dialstatus: str = ""
    touched: float = 0.0


class CallAssembler:
    """AMI events in, finished calls out; no network, no database (tested on its own)."""

    def __init__(self, *, source: str, dialect: Dialect, grace: float = 1.0) -> None:
        self.source = source
        self.dialect = dialect
        self.grace = grace
        self.calls: dict[str, _Call] = {}
        self.linked: dict[str, str] = {}  # uniqueid → linkedid
        self.resyncing = False
        self._gone_during_resync: set[str] = set()

    def _call(self, linkedid: str, now: float) -> _Call:
        call = self.calls.setdefault(linkedid, _Call())
        call.touched = now
        return call

    def feed(self, event: Mapping[str, Any], now: float) -> None:
        """Take one AMI event (name → value, keys in any case)."""
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
                done.append(
                    build_record(
                        call.rows,
                        source=self.source,
                        dialect=self.dialect,
                        dialstatus=call.dialstatus,
                    )
                )
            elif call.rows or quiet < 60:
                continue  # a Cdr may still come for a call that just hung up
            del self.calls[linkedid]
            for uid in [u for u, lid in self.linked.items() if lid == linkedid]:
                del self.linked[uid]
        return done


@dataclass
class CatchUp:
    """A CDR file of this PBX re-read after every login (calls that ended while disconnected)."""

    path: str
    fmt: str | None = None


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
        grace: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.config = {"host": host, "port": port, "username": username, "secret": secret}
        self.source = source
        self.dialect = dialect
        self.ingest = ingest
        self.catch_up = list(catch_up)
        self.assembler = CallAssembler(source=source, dialect=dialect, grace=grace)
        self.max_backoff = max_backoff
        self.backoff = 1.0
        self.logins = 0
        self.stats = {"ami": 0, "catch_up": 0, "created": 0, "already_known": 0}
        self.fatal: str = ""
        self._queue: asyncio.Queue[tuple[str, list[CallRecord]]] = asyncio.Queue()
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
        self.assembler.feed(dict(event), time.monotonic())

    def _on_login(self, manager: Any) -> None:
        self.backoff = 1.0
        self.logins += 1
        log.info("AMI login #%d accepted", self.logins)
        self._resync_task = asyncio.ensure_future(self._resync(manager))

    async def _resync(self, manager: Any) -> None:
        """Learn which calls are up now, then re-read the CDR files for what was missed."""
        self.assembler.begin_resync()
        try:
            reply = await asyncio.wait_for(
                manager.send_action({"Action": "CoreShowChannels"}, as_list=True), 15
            )
            for message in reply if isinstance(reply, list) else [reply]:
                if str(message.get("Event", "")).lower() == "coreshowchannel":
                    self.assembler.feed(dict(message), time.monotonic())
        except (TimeoutError, OSError) as exc:
            log.warning("CoreShowChannels failed (%s): going on without it", exc)
        finally:
            self.assembler.end_resync()
        live = frozenset(self.assembler.live_calls())
        for item in self.catch_up:
            records = await asyncio.get_running_loop().run_in_executor(
                None, self._read_catch_up, item, live
            )
            if records:
                await self._queue.put(("catch-up", records))

    def _read_catch_up(self, item: CatchUp, live: frozenset[str]) -> list[CallRecord]:
        report = ParseReport()
        try:
            records = list(
                records_from_file(
                    item.path,
                    fmt=item.fmt,
                    source=self.source,
                    dialect=self.dialect,
                    report=report,
                    skip=live,
                )
            )
        except OSError as exc:
            log.warning("catch-up file %s unreadable: %s", item.path, exc)
            return []
        for error in report.errors:
            log.warning("catch-up %s: %s", item.path, error)
        log.info("catch-up %s: %d calls (%d live skipped)", item.path, len(records), len(live))
        return records

    # --- the loop -------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    async def _tick(self) -> None:
        while not self._stop.is_set():
            records = self.assembler.ready(time.monotonic())
            if records:
                await self._queue.put(("ami", records))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.25)

    def _write(self, records: list[CallRecord]) -> Any:
        from django.db import close_old_connections

        close_old_connections()
        return self.ingest(records)

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            origin, records = await self._queue.get()
            if origin == "__end__":
                return
            delay = 1.0
            while True:
                try:
                    result = await loop.run_in_executor(None, self._write, records)
                    break
                except Exception:  # the database may be restarting: retry, never drop
                    log.exception(
                        "storing %d calls failed; retrying in %.0f s", len(records), delay
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_backoff)
            self.stats["ami" if origin == "ami" else "catch_up"] += len(records)
            self.stats["created"] += getattr(result, "created", 0)
            self.stats["already_known"] += getattr(result, "already_known", 0)
            for record in records:
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
            await self._queue.put(("ami", final))
        await self._queue.put(("__end__", []))
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
        assembler.feed(event, float(index))
        records.extend(assembler.ready(float(index)))
    records.extend(assembler.ready(float("inf"), force=True))
    return records
