"""Revenue and margin by month, person and product category, for a viewer.

The numbers come from shipment lines, as the money facts store them (otdel/sales/models/money.py):
revenue without VAT, the cost frozen at the moment of shipment, gross margin = revenue − cost.
A return is a reversal shipment with negative lines dated when the goods came back, so it
lowers the month of the return; a correction from a 1С re-import carries the difference, dated
as its original. Summing every line of every kind as stored therefore gives the net figures,
and a later change of a product's cost price changes nothing already shipped. A credit note
is an invoice fact (it lowers what the client owes, not what was shipped), so it is not in
these figures.

The person of a shipment is the client's owner (the base the person is responsible for);
shipments of clients in the pool are shown under "the pool". One grouped query does the work
(`_grouped`); the pivot into persons × categories with totals is done on its few hundred rows.

Who sees what: the head of sales his team (a director or an admin every team), everyone else
only his own clients' rows; costs and margins only for those who may see costs
(sales.policies.can_see_costs).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import DateField, QuerySet, Sum, Value
from django.db.models.functions import Trunc
from django.utils.translation import gettext as _

from otdel.core import clock
from otdel.core.errors import Invalid
from otdel.ownership.policies import manages_team
from otdel.people.models import User
from otdel.sales import policies
from otdel.sales.models import ProductCategory, ShipmentLine

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MAX_MONTHS = 36
_MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})$")


# --- the period ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole calendar months, Moscow time: from the first day of `first` to the end of `last`."""

    first: dt.date
    last: dt.date

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(), tzinfo=clock.MOSCOW)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.combine(_next_month(self.last), dt.time(), tzinfo=clock.MOSCOW)

    @property
    def months(self) -> list[dt.date]:
        months, month = [], self.first
        while month <= self.last:
            months.append(month)
            month = _next_month(month)
        return months


def _next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _month(text: str, field_name: str) -> dt.date:
    found = _MONTH_RE.match(text.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 2000:
        raise Invalid(
            _("Enter a month as YYYY-MM, e.g. 2026-03."), code="invalid_month", field=field_name
        )
    return dt.date(int(found.group(1)), int(found.group(2)), 1)


def period_of(since: str | None = None, until: str | None = None) -> Period:
    """A month range from "YYYY-MM" strings; either missing: the current month (Moscow)."""
    today = clock.today()
    current = dt.date(today.year, today.month, 1)
    first = _month(since, "since") if since else None
    last = _month(until, "until") if until else None
    first = first or last or current
    last = last or (first if since else current)
    if last < first:
        raise Invalid(
            _("The last month is before the first one."), code="invalid_period", field="until"
        )
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
        raise Invalid(
            _("Choose at most %(n)s months.") % {"n": MAX_MONTHS},
            code="invalid_period",
            field="since",
        )
    return Period(first, last)


# --- the aggregate -------------------------------------------------------------------------------


@dataclass
class Figures:
    """Revenue without VAT, cost and gross margin; cost and margin are None for a viewer who
    may not see costs."""

    revenue: Decimal = ZERO
    cost: Decimal | None = ZERO
    margin: Decimal | None = ZERO

    def add(self, other: Figures) -> None:
        self.revenue += other.revenue
        if self.cost is not None and other.cost is not None:
            self.cost += other.cost
        if self.margin is not None and other.margin is not None:
            self.margin += other.margin

    @property
    def margin_percent(self) -> Decimal | None:
        if self.margin is None or not self.revenue:
            return None
        return (self.margin * 100 / self.revenue).quantize(Decimal("0.1"))


@dataclass
class Row:
    """One group of the aggregate: a month, a person (None: the pool), a category, a currency."""

    month: dt.date
    person_id: int | None
    category_id: int
    currency: str
    figures: Figures


def scope(viewer: User, team_id: int | None = None) -> dict[str, Any]:
    """The shipment lines a viewer may see, as filter arguments: the head of sales his team,
    a director or an admin every team (or the one asked for), anyone else what is credited to
    him (shipped while he owned the client)."""
    if not viewer.is_authenticated or not viewer.is_active:
        return {"pk__in": []}
    if manages_team(viewer, None):
        return {"team_id": team_id} if team_id else {}
    if viewer.team_id is not None and manages_team(viewer, viewer.team_id):
        return {"team_id": viewer.team_id}
    return {"owner_id": viewer.pk}


def lines_in(viewer: User, period: Period, *, team_id: int | None = None) -> QuerySet[Any]:
    """The shipment lines (originals, returns, corrections) dated in the period, for a viewer."""
    return ShipmentLine.objects.filter(
        shipped_at__gte=period.start, shipped_at__lt=period.end, **scope(viewer, team_id)
    )


def _grouped(viewer: User, period: Period, *, team_id: int | None) -> QuerySet[Any]:
    """One statement over the lines alone (they carry their date, team, currency, the person
    credited and the category, copied when written): SUM of revenue, cost and margin GROUP BY
    month (Moscow), person, category and currency. A one-month period is one group of months
    already, so the month is not computed for every line then."""
    month: Any = Value(period.first, output_field=DateField())
    if period.last != period.first:
        month = Trunc("shipped_at", "month", output_field=DateField(), tzinfo=clock.MOSCOW)
    return (
        lines_in(viewer, period, team_id=team_id)
        .annotate(month=month)
        .values_list("month", "owner_id", "category_id", "currency")
        .annotate(revenue=Sum("revenue"), cost=Sum("cost"), margin=Sum("margin"))
        .order_by()
    )


def _kopecks(value: Decimal | None) -> Decimal:
    # Sums of two-place amounts are exact; SQLite returns them with more places, shown as such.
    return (value or ZERO).quantize(CENT)


def revenue_and_margin(viewer: User, period: Period, *, team_id: int | None = None) -> list[Row]:
    """The grouped figures the viewer may see (costs and margins only for those who may see
    costs), in no particular order."""
    costs = policies.can_see_costs(viewer)
    return [
        Row(
            month=month if isinstance(month, dt.date) else dt.date.fromisoformat(str(month)[:10]),
            person_id=person_id,
            category_id=category_id,
            currency=currency,
            figures=Figures(
                revenue=_kopecks(revenue),
                cost=_kopecks(cost) if costs else None,
                margin=_kopecks(margin) if costs else None,
            ),
        )
        for month, person_id, category_id, currency, revenue, cost, margin in _grouped(
            viewer, period, team_id=team_id
        )
    ]


# --- the table: persons × categories -------------------------------------------------------------


@dataclass
class PersonLine:
    """A person's figures per category and in total (person None: clients in the pool)."""

    person_id: int | None
    name: str
    cells: list[Figures]
    total: Figures


@dataclass
class Table:
    """The report of one currency: persons × categories with totals, and the months."""

    currency: str
    categories: list[ProductCategory]
    people: list[PersonLine] = field(default_factory=list)
    category_totals: list[Figures] = field(default_factory=list)
    total: Figures = field(default_factory=Figures)
    months: list[tuple[dt.date, Figures]] = field(default_factory=list)


def sales_report(viewer: User, period: Period, *, team_id: int | None = None) -> list[Table]:
    """The revenue-and-margin table for the period, one per currency (roubles first): a line
    per person (by revenue, highest first), a column per category, totals both ways and per
    month."""
    rows = revenue_and_margin(viewer, period, team_id=team_id)
    costs = policies.can_see_costs(viewer)

    def empty() -> Figures:
        return Figures() if costs else Figures(cost=None, margin=None)

    used = {r.category_id for r in rows}
    categories = [
        c for c in ProductCategory.objects.order_by("position", "name") if c.active or c.pk in used
    ]
    index = {c.pk: i for i, c in enumerate(categories)}
    names = {
        u.pk: u.display_name
        for u in User.objects.filter(pk__in={r.person_id for r in rows if r.person_id})
    }
    by_currency: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_currency[r.currency].append(r)
    tables = []
    for currency in sorted(by_currency, key=lambda c: (c != "RUB", c)):
        table = Table(currency=currency, categories=categories, total=empty())
        table.category_totals = [empty() for _ in categories]
        people: dict[int | None, PersonLine] = {}
        months = {m: empty() for m in period.months}
        for r in by_currency[currency]:
            line = people.get(r.person_id)
            if line is None:
                name = names.get(r.person_id, "") if r.person_id else _("Pool (no owner)")
                line = PersonLine(r.person_id, name, [empty() for _ in categories], empty())
                people[r.person_id] = line
            line.cells[index[r.category_id]].add(r.figures)
            line.total.add(r.figures)
            table.category_totals[index[r.category_id]].add(r.figures)
            table.total.add(r.figures)
            months.setdefault(r.month, empty()).add(r.figures)
        table.people = sorted(
            people.values(), key=lambda p: (p.person_id is None, -p.total.revenue, p.name)
        )
        table.months = sorted(months.items())
        tables.append(table)
    return tables
