"""Page through a list: `page` (from 1) and `page_size` (at most 200)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.db.models import QuerySet
from ninja import Field, Schema

T = TypeVar("T")

MAX_PAGE_SIZE = 200


class PageParams(Schema):
    page: int = Field(1, ge=1, description="Page number, from 1")
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE, description="Rows per page")


def page_of(
    rows: QuerySet[Any] | Sequence[T], params: PageParams
) -> tuple[list[Any], dict[str, int]]:
    """One page of rows and the numbers a client needs to page on."""
    count = rows.count() if isinstance(rows, QuerySet) else len(rows)
    pages = max((count + params.page_size - 1) // params.page_size, 1)
    start = (params.page - 1) * params.page_size
    items = list(rows[start : start + params.page_size])
    return items, {
        "count": count,
        "page": params.page,
        "page_size": params.page_size,
        "pages": pages,
    }
