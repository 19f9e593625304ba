"""Paging big tables without counting them: fetch one row more than a page to know if there is
a next one (a COUNT over a million-row pool would cost more than the page itself)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def page_without_count(
    request: HttpRequest, qs: Any, *, size: int = 50
) -> tuple[list[Any], int, bool]:
    """The rows of the requested page (?page=N), its number and whether another page follows."""
    try:
        number = max(int(request.GET.get("page", "1")), 1)
    except ValueError:
        number = 1
    start = (number - 1) * size
    rows = list(qs[start : start + size + 1])
    return rows[:size], number, len(rows) > size


def query_without(request: HttpRequest, *names: str) -> str:
    """The current query string without some parameters (to build paging and sorting links)."""
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()
