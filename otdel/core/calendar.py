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


# The working day deadlines in working hours count in (the same hours the daily review uses).
WORKDAY_START = dt.time(9, 0)
WORKDAY_END = dt.time(18, 0)


def add_working_hours(start: dt.datetime, hours: float, tz: dt.tzinfo = MOSCOW) -> dt.datetime:
    """The aware moment `hours` working hours (09:00–18:00 on working days) after `start`.

    Time outside working hours does not count: a handoff offered on Friday at 17:00 with
    4 working hours is due on Monday at 12:00 (Tuesday, if Monday is a holiday).
    """
    if hours < 0:
        raise ValueError("working hours are counted forward only")
    remaining = dt.timedelta(hours=hours)
    local = start.astimezone(tz)
    while True:
        day = local.date()
        opens = dt.datetime.combine(day, WORKDAY_START, tzinfo=tz)
        closes = dt.datetime.combine(day, WORKDAY_END, tzinfo=tz)
        if not is_working_day(day) or local >= closes:
            next_day = add_working_days(day + dt.timedelta(days=1), 0)
            local = dt.datetime.combine(next_day, WORKDAY_START, tzinfo=tz)
            continue
        local = max(local, opens)
        if local + remaining <= closes:
            return (local + remaining).astimezone(dt.UTC)
        remaining -= closes - local
        local = closes
