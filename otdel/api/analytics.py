"""Analytics over HTTP: read-only figures, through the same selectors as the pages
(otdel.analytics). Amounts are exact decimal strings; costs and margins are null for those who
may not see costs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from otdel.analytics import sales
from otdel.api.auth import viewer
from otdel.api.errors import READ_ERRORS

router = Router(tags=["analytics"])


class SalesFilters(Schema):
    since: str | None = Field(None, description="first month, YYYY-MM (default: this month)")
    until: str | None = Field(None, description="last month, YYYY-MM (default: `since`)")
    team_id: int | None = Field(None, description="one team (a director or an admin only)")


class SalesRowOut(Schema):
    """One group: a month, a person (null: clients in the pool), a category, a currency."""

    month: dt.date
    person_id: int | None
    category_id: int
    currency: str
    revenue: Decimal
    cost: Decimal | None
    margin: Decimal | None


class SalesTotalOut(Schema):
    currency: str
    revenue: Decimal
    cost: Decimal | None
    margin: Decimal | None


class SalesReportOut(Schema):
    since: str
    until: str
    rows: list[SalesRowOut]
    totals: list[SalesTotalOut]


@router.get("/analytics/sales", response={200: SalesReportOut, **READ_ERRORS})
def sales_report(request: HttpRequest, filters: Query[SalesFilters]) -> SalesReportOut:
    """Revenue without VAT, cost at shipment and gross margin by month × person × category, from
    shipments net of returns and corrections; the head of sales sees his team, anyone else his
    own clients."""
    me = viewer(request)
    period = sales.period_of(filters.since, filters.until)
    rows = sorted(
        sales.revenue_and_margin(me, period, team_id=filters.team_id),
        key=lambda r: (r.month, r.currency, r.person_id or 0, r.category_id),
    )
    totals: dict[str, sales.Figures] = {}
    for r in rows:
        totals.setdefault(
            r.currency,
            sales.Figures(
                cost=None if r.figures.cost is None else sales.ZERO,
                margin=None if r.figures.margin is None else sales.ZERO,
            ),
        ).add(r.figures)
    return SalesReportOut(
        since=f"{period.first:%Y-%m}",
        until=f"{period.last:%Y-%m}",
        rows=[
            SalesRowOut(
                month=r.month,
                person_id=r.person_id,
                category_id=r.category_id,
                currency=r.currency,
                revenue=r.figures.revenue,
                cost=r.figures.cost,
                margin=r.figures.margin,
            )
            for r in rows
        ],
        totals=[
            SalesTotalOut(currency=c, revenue=f.revenue, cost=f.cost, margin=f.margin)
            for c, f in sorted(totals.items())
        ],
    )
