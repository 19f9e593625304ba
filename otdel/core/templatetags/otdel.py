"""Shared template filters and tags: phones, countdowns, money, sortable headers, paging links."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django import template
from django.http import QueryDict
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from otdel.clients.normalize import format_phone
from otdel.core import clock
from otdel.core.money import Money

register = template.Library()


@register.filter
def phone(value: str | None) -> str:
    """+74951234567 → +7 495 123-45-67."""
    return format_phone(value) if value else ""


@register.filter
def days(value: int | None) -> str:
    """A number of days, pluralised: «1 день», «3 дня», «5 дней»."""
    if value is None:
        return ""
    n = int(value)
    return ngettext("%(n)s day", "%(n)s days", n) % {"n": n}


@register.filter
def days_left(value: dt.datetime | int | None) -> str:
    """Days until a moment (or a count of days), said the way people say it."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        seconds = (value - clock.now()).total_seconds()
        if seconds <= 0:
            return _("due now")
        n = int(seconds // 86400)
        if n == 0:
            return _("today")
    else:
        n = int(value)
        if n <= 0:
            return _("today")
    return ngettext("in %(n)s day", "in %(n)s days", n) % {"n": n}


@register.filter
def money(value: Money | Decimal | int | str | None, currency: str = "RUB") -> str:
    """1234.5 → «1 234,50 ₽»."""
    if value is None or value == "":
        return ""
    if isinstance(value, Money):
        return str(value)
    try:
        return str(Money(Decimal(str(value)), currency))
    except (InvalidOperation, ValueError):
        return str(value)


@register.filter
def talk_time(seconds: int | None) -> str:
    """125 → «2:05»."""
    if seconds is None:
        return ""
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _query_with(request: Any, **changes: Any) -> str:
    params: QueryDict = request.GET.copy()
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    encoded = params.urlencode()
    return "?" + encoded if encoded else "?"


@register.simple_tag(takes_context=True)
def query_with(context: dict[str, Any], **changes: Any) -> str:
    """The current query string with some parameters replaced: `?{% query_with page=2 %}`."""
    return _query_with(context["request"], **changes)


@register.simple_tag(takes_context=True)
def sort_link(context: dict[str, Any], key: str, label: str, default: str = "") -> SafeString:
    """A sortable column header: click sorts by `key`, a second click reverses it."""
    request = context["request"]
    current = request.GET.get("sort") or default
    if current == key:
        css, target = "sort asc", "-" + key
    elif current == "-" + key:
        css, target = "sort desc", key
    else:
        css, target = "sort", key
    return format_html(
        '<a class="{}" href="{}">{}</a>', css, _query_with(request, sort=target, page=None), label
    )


@register.simple_tag
def page_range(page_obj: Any) -> list[Any]:
    """Page numbers around the current page, with «…» gaps."""
    return list(
        page_obj.paginator.get_elided_page_range(page_obj.number, on_each_side=2, on_ends=1)
    )


@register.filter
def verdict_reasons(call: Any) -> list[str]:
    """A call's verdict reasons as sentences in the viewer's language."""
    from otdel.activities.verdicts import reasons_of, render_reason

    return [render_reason(r.code, r.params) for r in reasons_of(call)]
