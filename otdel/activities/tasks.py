"""Periodic work on calls, as django-tasks; idempotent, safe to run on several machines."""

from __future__ import annotations

import datetime as dt

from django_tasks import task

from otdel.activities.models import CallOutcome
from otdel.activities.outcomes import reverify_outcomes
from otdel.core import clock


@task()
def reverify_pending_outcomes() -> int:
    """Outcomes marked in the last three days that the data has not confirmed yet are checked
    again (a mobile added, a presentation e-mail logged); a closed window refutes them."""
    since = clock.now() - dt.timedelta(days=3)
    call_ids = list(
        CallOutcome.objects.filter(verified__isnull=True, marked_at__gte=since)
        .values_list("call_id", flat=True)
        .distinct()
    )
    return reverify_outcomes(call_ids)
