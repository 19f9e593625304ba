"""Template filters of the sales pages: roles, sources and brief fields in the viewer's language."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

from otdel.people.models import Role
from otdel.sales.brief import BRIEF_FIELDS
from otdel.sales.models import DealSource

register = template.Library()


@register.filter
def role_label(value: str | None) -> str:
    """ "order_manager" → «Менеджер по заказам»."""
    if not value:
        return ""
    try:
        return str(Role(value).label)
    except ValueError:
        return value


@register.filter
def source_label(value: str | None) -> str:
    """ "new_hunt" → «новая охота»."""
    if not value:
        return ""
    try:
        return str(DealSource(value).label)
    except ValueError:
        return value


@register.filter
def brief_items(brief: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A brief's filled fields as (label, text), in the form's order."""
    brief = brief or {}
    return [
        (str(label), str(brief[name])) for name, label in BRIEF_FIELDS.items() if brief.get(name)
    ]


@register.filter(expects_localtime=False)
def as_datetime(value: str | None) -> dt.datetime | None:
    """An ISO moment kept in an event's data, as a datetime the `date` filter can show."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
