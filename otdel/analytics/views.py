"""Analytics pages: thin views over otdel.analytics selectors."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from otdel.analytics import sales
from otdel.core.errors import DomainError
from otdel.people.models import User
from otdel.sales import policies


@login_required
@require_GET
def sales_report(request: HttpRequest) -> HttpResponse:
    """Revenue without VAT, cost and gross margin by person × category for a month range: the
    head of sales sees his team, a manager himself."""
    user: User = request.user  # type: ignore[assignment]
    since = request.GET.get("since", "").strip()
    until = request.GET.get("until", "").strip()
    error = ""
    try:
        period = sales.period_of(since or None, until or None)
    except DomainError as err:
        error = err.message
        period = sales.period_of()
    tables = sales.sales_report(user, period)
    return render(
        request,
        "analytics/sales.html",
        {
            "period": period,
            "since": since or f"{period.first:%Y-%m}",
            "until": until or f"{period.last:%Y-%m}",
            "tables": tables,
            "sees_costs": policies.can_see_costs(user),
            "sees_team": "owner_id" not in sales.scope(user),
            "error": error,
        },
        status=400 if error else 200,
    )
