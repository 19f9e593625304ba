"""The deadline sweep: an owner who did not respond in time loses the request to the next
specialist; a missed first response or resolution is escalated to the head of sales; a call to
the client counts as the first response; waiting requests are offered again. Idempotent: safe
to run every minute on several workers."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from otdel.activities.models import Call, CallDirection
from otdel.core import clock
from otdel.core.errors import Conflict
from otdel.inbound.assign import route_waiting
from otdel.inbound.models import (
    OPEN_STATUSES,
    UNRESOLVED_STATUSES,
    Channel,
    EventKind,
    InboundRequest,
    RequestEvent,
    Status,
)
from otdel.inbound.services import pass_on
from otdel.people.selectors import heads_of_team
from otdel.people.services import notify

# An owner's or a specialist's call of at least this long to the client is a response.
RESPONSE_CALL_SECONDS = 1


def note_responses_by_call(now: dt.datetime) -> int:
    """An assigned request whose assignee called the client (or the number it came from) after
    the assignment has had its first response: the phone system says so, not the person."""
    called = Call.objects.filter(
        Q(client_id=OuterRef("client_id")) | Q(their_e164=OuterRef("phone_e164")),
        user_id=OuterRef("assignee_id"),
        direction=CallDirection.OUTBOUND,
        talk_seconds__gte=RESPONSE_CALL_SECONDS,
        started_at__gte=OuterRef("assigned_at"),
        started_at__lte=now,
    )
    return (
        InboundRequest.objects.filter(
            status__in=OPEN_STATUSES, first_response_at__isnull=True, assignee__isnull=False
        )
        .filter(Exists(called))
        .update(first_response_at=now, owner_due_at=None, updated_at=now)
    )


def pass_on_overdue_owners(now: dt.datetime) -> int:
    """Owner first has a deadline: an owner who did not respond in time loses the request."""
    overdue = list(
        InboundRequest.objects.filter(
            status=Status.ASSIGNED,
            owner_due_at__lte=now,
            first_response_at__isnull=True,
        ).select_related("assignee")
    )
    passed = 0
    for request in overdue:
        try:
            pass_on(request, now=now, why="owner_no_response")
        except Conflict:
            continue  # taken or closed in the meantime
        passed += 1
    return passed


def _escalate(
    qs: QuerySet[InboundRequest], *, field: str, deadline: str, kind_text: str, now: dt.datetime
) -> int:
    with transaction.atomic():
        rows = list(
            qs.select_for_update(skip_locked=True).values_list("pk", "team_id", "assignee_id")
        )
        if not rows:
            return 0
        ids = [pk for pk, _t, _a in rows]
        InboundRequest.objects.filter(pk__in=ids).update(**{field: now})
        RequestEvent.objects.bulk_create(
            [
                RequestEvent(
                    request_id=pk,
                    kind=EventKind.ESCALATED,
                    at=now,
                    to_user_id=assignee,
                    data={"deadline": deadline},
                )
                for pk, _t, assignee in rows
            ]
        )
        per_team = Counter(team for _p, team, _a in rows)
        for team_id, count in per_team.items():
            heads = heads_of_team(team_id)
            text = kind_text % {"count": count}
            transaction.on_commit(
                lambda heads=heads, text=text: notify(heads, kind="inbound_escalated", text=text)
            )
    return len(rows)


def escalate_breaches(now: dt.datetime) -> dict[str, int]:
    """Missed deadlines go to the head of sales once each (set-based)."""
    first = _escalate(
        InboundRequest.objects.filter(
            status__in=UNRESOLVED_STATUSES,
            first_response_at__isnull=True,
            first_response_due_at__lte=now,
            escalated_at__isnull=True,
        ),
        field="escalated_at",
        deadline="first_response",
        kind_text=_("Inbound requests without a first response in time: %(count)s"),
        now=now,
    )
    resolution = _escalate(
        InboundRequest.objects.filter(
            status__in=UNRESOLVED_STATUSES,
            resolution_due_at__lte=now,
            resolution_escalated_at__isnull=True,
        ),
        field="resolution_escalated_at",
        deadline="resolution",
        kind_text=_("Inbound requests not resolved in time: %(count)s"),
        now=now,
    )
    return {"first_response": first, "resolution": resolution}


def retry_acknowledgements(now: dt.datetime, *, limit: int = 200) -> int:
    """Acknowledgements that failed (the mail server was down) are tried again for a day;
    the sender claims each request first, so a customer never gets two."""
    from otdel.inbound.assign import routing_policy_in_force
    from otdel.inbound.tasks import acknowledge_request

    rows = list(
        InboundRequest.objects.filter(
            acknowledged_at__isnull=True,
            created_at__gte=now - dt.timedelta(days=1),
            created_at__lte=now - dt.timedelta(minutes=5),
            status__in=UNRESOLVED_STATUSES,
        )
        .exclude(email="")
        .exclude(channel=Channel.PHONE)
        .values_list("pk", "team_id")[:limit]
    )
    wanted: dict[int, bool] = {}
    queued = 0
    for pk, team_id in rows:
        if team_id not in wanted:
            wanted[team_id] = routing_policy_in_force(team_id, now).doc.acknowledge_by_email
        if wanted[team_id]:
            acknowledge_request.enqueue(pk)
            queued += 1
    return queued


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """One round of the deadline work for every team."""
    now = now or clock.now()
    responded = note_responses_by_call(now)
    passed = pass_on_overdue_owners(now)
    escalated = escalate_breaches(now)
    assigned = 0
    teams = (
        InboundRequest.objects.filter(status=Status.NEW, assignee__isnull=True)
        .values_list("team_id", flat=True)
        .distinct()
    )
    for team_id in list(teams):
        assigned += route_waiting(team_id, now=now)
    acknowledgements = retry_acknowledgements(now)
    return {
        "responded_by_call": responded,
        "passed_on": passed,
        **escalated,
        "assigned": assigned,
        "acknowledgements_retried": acknowledgements,
    }
