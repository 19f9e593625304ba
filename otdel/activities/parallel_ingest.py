"""A large set of call records (a CDR file, a backfill) stored by several processes at once.

Storing a call is mostly the database's work, one statement after another on one core; a
machine has several. The records are split by the lock partition of the client their number
belongs to (verdicts_sql.client_partition), so each process judges its own clients' calls and
holds only its own partitions' locks: the processes do not wait for each other. Where the
routing guessed wrong (a number shared by clients, a contact moved since), the locks keep the
judging of that client serial, so the verdicts are those of one process storing everything in
order. Each process commits its share of a chunk on its own: re-sending a chunk after a failure
stores what is missing and changes nothing else.

PostgreSQL only (SQLite has one writer at a time): elsewhere, and for one job, it is
record_calls, one chunk after another.
"""

from __future__ import annotations

import multiprocessing
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from itertools import islice

from django.db import connection, connections

from otdel.activities import ingest_sql, verdicts_sql
from otdel.activities.calls import IngestResult, match_numbers, record_calls
from otdel.activities.models import CallDirection
from otdel.telephony.records import CallRecord

# Chunks handed out before the oldest is waited for: the next chunk is routed while the
# processes store the previous one.
IN_FLIGHT = 2


def _partition_of_text(value: str) -> int:
    """A partition for a call with no client (judged alone): any, but always the same."""
    return zlib.crc32(value.encode()) % verdicts_sql.CLIENT_PARTITIONS


class _Router:
    """The partition of each record's client, from its number (remembered across chunks)."""

    def __init__(self) -> None:
        self.partition_of: dict[str, int] = {}

    def partitions(self, records: Sequence[CallRecord]) -> list[int]:
        typed = ingest_sql.typed_numbers(records)
        unseen = {e164 for e164, _ in typed.values() if e164 and e164 not in self.partition_of}
        if unseen:
            # The lowest client id per number: the matching's choice but for a number shared
            # by clients (rare; the locks cover it).
            found = match_numbers(unseen)
            for e164 in unseen:
                self.partition_of[e164] = (
                    verdicts_sql.client_partition(found[e164][0].client_id)
                    if e164 in found
                    else _partition_of_text(e164)
                )
        internal = CallDirection.INTERNAL
        return [
            _partition_of_text(r.account)
            if r.direction == internal or not typed[r.their_number][0]
            else self.partition_of[typed[r.their_number][0]]
            for r in records
        ]


def chunked(records: Iterable[CallRecord], size: int) -> Iterator[list[CallRecord]]:
    """The records in lists of `size` (the last shorter)."""
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _store(records: list[CallRecord]) -> IngestResult:
    """In a worker process: its share of a chunk, in one transaction."""
    return record_calls(records)


def _forget_connections() -> None:
    """In a new worker: the parent's connections are the parent's (a socket shared by two
    processes would interleave their messages); each worker opens its own."""
    for conn in connections.all(initialized_only=True):
        conn.connection = None  # dropped without closing the parent's socket
        conn.close()


def _merge(results: Iterable[IngestResult]) -> IngestResult:
    merged = IngestResult()
    for r in results:
        merged.created += r.created
        merged.already_known += r.already_known
        merged.unknown_numbers += r.unknown_numbers
        merged.call_ids.extend(r.call_ids)
    return merged


class ParallelIngester:
    """Stores chunks of records with `jobs` processes, one per group of client partitions."""

    def __init__(self, workers: list[ProcessPoolExecutor]) -> None:
        self.workers = workers
        self.jobs = max(len(workers), 1)
        self.router = _Router()

    def _submit(self, records: Sequence[CallRecord]) -> list[Future[IngestResult]]:
        shares: list[list[CallRecord]] = [[] for _ in range(self.jobs)]
        for record, partition in zip(records, self.router.partitions(records), strict=True):
            shares[partition % self.jobs].append(record)
        # A share always goes to the same process, so a process's shares of two chunks in
        # flight are stored in order and never wait for each other's locks.
        return [self.workers[n].submit(_store, s) for n, s in enumerate(shares) if s]

    def record_all(
        self, chunks: Iterable[Sequence[CallRecord]]
    ) -> Iterator[tuple[Sequence[CallRecord], IngestResult]]:
        """Each chunk with what storing it did, in order."""
        if not self.workers:
            for chunk in chunks:
                yield chunk, record_calls(chunk)
            return
        pending: deque[tuple[Sequence[CallRecord], list[Future[IngestResult]]]] = deque()
        for chunk in chunks:
            pending.append((chunk, self._submit(chunk)))
            if len(pending) >= IN_FLIGHT:
                done, futures = pending.popleft()
                yield done, _merge(f.result() for f in futures)
        while pending:
            done, futures = pending.popleft()
            yield done, _merge(f.result() for f in futures)


@contextmanager
def parallel_ingester(jobs: int) -> Iterator[ParallelIngester]:
    """`jobs` worker processes for the duration of an import (PostgreSQL, outside a
    transaction); otherwise the chunks are stored here, one after another."""
    if jobs <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
        yield ParallelIngester([])
        return
    # Forked: a worker starts with the settings, the caches and the clock of this process.
    context = multiprocessing.get_context("fork")
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                ProcessPoolExecutor(1, mp_context=context, initializer=_forget_connections)
            )
            for _ in range(jobs)
        ]
        yield ParallelIngester(workers)
