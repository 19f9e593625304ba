"""Who can take a request now: on shift, within his working hours, on a working day of the
Russian calendar; and the deadlines counted in working time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from otdel.core.calendar import add_working_hours, is_working_day
from otdel.core.clock import MOSCOW
from otdel.people.models import Availability, User

# Why a person is not available, as data (shown in an assignment's reason).
OFF_SHIFT = "off"
AWAY = "away"
OUTSIDE_HOURS = "outside_hours"
DAY_OFF = "day_off"
INACTIVE = "inactive"


def _zone(user: User) -> dt.tzinfo:
    try:
        return ZoneInfo(user.timezone or "Europe/Moscow")
    except (KeyError, ValueError):
        return MOSCOW


def unavailable_because(user: User, at: dt.datetime) -> str | None:
    """None when the person can take a request at `at`; otherwise why not."""
    if not user.is_active:
        return INACTIVE
    if user.availability == Availability.AWAY:
        return AWAY
    if user.availability == Availability.OFF:
        return OFF_SHIFT
    local = at.astimezone(_zone(user))
    if not is_working_day(local.date()):
        return DAY_OFF
    if not (user.work_starts <= local.time() < user.work_ends):
        return OUTSIDE_HOURS
    return None


def is_available(user: User, at: dt.datetime) -> bool:
    """The person is on shift, within his hours, on a working day."""
    return unavailable_because(user, at) is None


def due_after(start: dt.datetime, minutes: int) -> dt.datetime:
    """A deadline `minutes` working minutes after `start` (09:00–18:00, Russian calendar)."""
    return add_working_hours(start, minutes / 60)
