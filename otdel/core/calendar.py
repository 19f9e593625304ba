"""Russian working calendar: holidays, transferred days off and working Saturdays."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays

from otdel.core.clock import MOSCOW


@lru_cache(maxsize=64)
def _russian_calendar(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("RU", years=[year])


def is_working_day(day: dt.date) -> bool:
    """True when the day is a working day in Russia (weekends, holidays and transfers applied)."""
    return bool(_russian_calendar(day.year).is_working_day(day))


def add_working_days(day: dt.date, count: int) -> dt.date:
    """Return the date `count` working days after `day` (count >= 0; 0 means the next working
    day if `day` is not one)."""
    current = day
    while not is_working_day(current):
        current += dt.timedelta(days=1)
    remaining = count
    while remaining > 0:
        current += dt.timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_deadline(start: dt.datetime, working_days: int, tz: dt.tzinfo = MOSCOW) -> dt.datetime:
    """A deadline `working_days` working days after an aware moment, at the same local time.

    A request made on Friday evening with 2 working days is due on Tuesday evening; one made on
    a holiday counts from the next working day's start.
    """
    local = start.astimezone(tz)
    day = local.date()
    if not is_working_day(day):
        first = add_working_days(day, 0)
        local = dt.datetime.combine(first, dt.time(9, 0), tzinfo=tz)
        day = first
    due_day = add_working_days(day, working_days)
    return dt.datetime.combine(due_day, local.timetz().replace(tzinfo=None), tzinfo=tz).astimezone(
        dt.UTC
    )
