"""The one clock of otdel: aware, UTC inside, movable by tests and the demo."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from django.utils import timezone

MOSCOW = ZoneInfo("Europe/Moscow")

_frozen: dt.datetime | None = None
_offset = dt.timedelta(seconds=float(os.environ.get("OTDEL_CLOCK_OFFSET_SECONDS", "0")))


def now() -> dt.datetime:
    """Return the current aware time (UTC), honouring a test freeze or a configured offset."""
    if _frozen is not None:
        return _frozen
    return timezone.now() + _offset


def local_now(tz: dt.tzinfo = MOSCOW) -> dt.datetime:
    """Return the current time in a zone (Moscow by default)."""
    return now().astimezone(tz)


def today(tz: dt.tzinfo = MOSCOW) -> dt.date:
    """Return today's date in a zone (Moscow by default)."""
    return local_now(tz).date()


def start_of_day(day: dt.date, tz: dt.tzinfo = MOSCOW) -> dt.datetime:
    """Return the aware moment a local day starts."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz)


def freeze(moment: dt.datetime) -> None:
    """Stop the clock at an aware moment (tests)."""
    global _frozen
    if timezone.is_naive(moment):
        raise ValueError("the clock takes aware datetimes only")
    _frozen = moment


def advance(delta: dt.timedelta) -> None:
    """Move a frozen clock forward (tests)."""
    global _frozen
    if _frozen is None:
        raise RuntimeError("freeze the clock before advancing it")
    _frozen = _frozen + delta


def unfreeze() -> None:
    """Let the clock run again."""
    global _frozen
    _frozen = None


@contextmanager
def frozen_at(moment: dt.datetime) -> Iterator[None]:
    """Freeze the clock for the duration of a block."""
    previous = _frozen
    freeze(moment)
    try:
        yield
    finally:
        globals()["_frozen"] = previous
