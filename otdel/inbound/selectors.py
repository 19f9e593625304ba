"""Every read of inbound requests for a viewer: my requests, the team queue, one request with
its story, the head of sales' board (load per person, breaches, waiting) as set-based SQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.utils.translation import gettext as _

from otdel.core import clock
from otdel.core.errors import Forbidden, NotFound
from otdel.inbound import availability, policies
from otdel.inbound.assign import routing_policy_in_force
from otdel.inbound.models import (
    BREACHED,
    OPEN_STATUSES,
    UNRESOLVED_STATUSES,
    EventKind,
    InboundRequest,
    RequestEvent,
    Specialist,
    Status,
)
from otdel.inbound.routing import explain
from otdel.people.models import User

LIST_RELATED = ("assignee", "client", "client__owner")


def _team_of(viewer: User, team_id: int | None) -> int:
    team = team_id or viewer.team_id
    if team is None:
        raise NotFound(_("You are in no team."), code="no_team")
    return int(team)


def my_requests(viewer: User, *, resolved: bool = False) -> QuerySet[InboundRequest]:
    """The requests assigned to me: open ones with the nearest deadline first."""
    qs = InboundRequest.objects.filter(assignee=viewer).select_related(*LIST_RELATED)
    if resolved:
        return qs.exclude(status__in=UNRESOLVED_STATUSES).order_by("-resolved_at", "-id")
    return qs.filter(status__in=OPEN_STATUSES).order_by("first_response_due_at", "created_at")


def team_queue(viewer: User, team_id: int | None = None) -> QuerySet[InboundRequest]:
    """The team's waiting requests, oldest first (the order they are offered in)."""
    team = _team_of(viewer, team_id)
    if not (viewer.team_id == team or policies.can_reassign(viewer, team)):
        raise Forbidden(_("This is another team's queue."), code="not_in_team")
    return (
        InboundRequest.objects.filter(team_id=team, status=Status.NEW)
        .select_related(*LIST_RELATED)
        .order_by("created_at", "id")
    )


def team_requests(
    viewer: User,
    *,
    team_id: int | None = None,
    status: str = "",
    assignee_id: int | None = None,
    breached: bool = False,
) -> QuerySet[InboundRequest]:
    """All of the team's requests with filters (the head of sales' list)."""
    team = _team_of(viewer, team_id)
    if not (viewer.team_id == team or policies.can_reassign(viewer, team)):
        raise Forbidden(_("This is another team's list."), code="not_in_team")
    qs = InboundRequest.objects.filter(team_id=team).select_related(*LIST_RELATED)
    if status:
        qs = qs.filter(status=status)
    if assignee_id:
        qs = qs.filter(assignee_id=assignee_id)
    if breached:
        qs = qs.filter(Q(escalated_at__isnull=False) | Q(resolution_escalated_at__isnull=False))
    return qs.order_by("-created_at", "-id")


def request_for(viewer: User, request_id: int) -> InboundRequest:
    """One request with its client, for someone who may see it."""
    request = (
        InboundRequest.objects.select_related(
            "assignee", "client", "client__owner", "contact", "deal", "category", "web_form"
        )
        .filter(pk=request_id)
        .first()
    )
    if request is None or not policies.can_view_request(viewer, request):
        raise NotFound(_("No such request."), code="request_not_found")
    return request


def story_of(request: InboundRequest) -> list[dict[str, Any]]:
    """The request's events with the reasons as text, oldest first."""
    rows = []
    for event in request.events.select_related("actor", "to_user"):
        data = event.data or {}
        text = data.get("text") or (explain(data["why"]) if data.get("why") else "")
        rows.append(
            {
                "at": event.at,
                "kind": event.kind,
                "label": event.get_kind_display(),
                "actor": event.actor.short_name if event.actor else "",
                "to_user": event.to_user.short_name if event.to_user else "",
                "text": text or data.get("reason", ""),
            }
        )
    return rows


@dataclass
class PersonLoad:
    """One specialist on the board."""

    user_id: int
    name: str
    availability: str
    unavailable: str | None
    takes_requests: bool
    open: int
    in_work: int
    capacity: int
    overdue: int
    assigned_today: int

    @property
    def full(self) -> bool:
        return self.open >= self.capacity


@dataclass
class Board:
    """The head of sales' picture of the inbound desk right now."""

    team_id: int
    people: list[PersonLoad] = field(default_factory=list)
    waiting: int = 0
    oldest_waiting_at: dt.datetime | None = None
    breached_first_response: int = 0
    breached_resolution: int = 0
    open_total: int = 0
    breaches: list[InboundRequest] = field(default_factory=list)
    waiting_rows: list[InboundRequest] = field(default_factory=list)


def board(viewer: User, team_id: int | None = None, *, rows: int = 20) -> Board:
    """Load per person, breaches and waiting requests; a handful of aggregate queries whatever
    the number of requests."""
    team = _team_of(viewer, team_id)
    if not policies.can_reassign(viewer, team):
        raise Forbidden(_("Only the head of sales sees the board."), code="not_head_of_sales")
    now = clock.now()
    policy = routing_policy_in_force(team, now).doc
    start_of_today = clock.start_of_day(clock.today())
    unresolved = InboundRequest.objects.filter(team_id=team, status__in=UNRESOLVED_STATUSES)
    open_ = Q(status__in=OPEN_STATUSES)
    # One pass over the team's unresolved requests, grouped by person (the waiting ones are the
    # group without one), read from the covering index `inbound_unresolved_cover`; the team's
    # totals are the sums of the groups. Counting the status, not the id: the id is not in the index.
    groups = list(
        unresolved.values("assignee_id")
        .annotate(
            waiting=Count("status", filter=Q(status=Status.NEW)),
            oldest=Min("created_at", filter=Q(status=Status.NEW)),
            first=Count(
                "status", filter=Q(escalated_at__isnull=False, first_response_at__isnull=True)
            ),
            resolution=Count("status", filter=Q(resolution_escalated_at__isnull=False)),
            open=Count("status", filter=open_),
            in_work=Count("status", filter=Q(status=Status.IN_WORK)),
            overdue=Count(
                "status",
                filter=open_
                & (
                    Q(first_response_at__isnull=True, first_response_due_at__lte=now)
                    | Q(resolution_due_at__lte=now)
                ),
            ),
        )
        .order_by()
    )
    per_person: dict[int, dict[str, Any]] = {
        row["assignee_id"]: row for row in groups if row["assignee_id"] and row["open"]
    }
    oldest = [row["oldest"] for row in groups if row["oldest"] is not None]
    specialists = {
        s.user_id: s for s in Specialist.objects.filter(team_id=team).select_related("user")
    }
    people_ids = set(specialists) | {pk for pk in per_person if pk}
    # Assignments today from the events (indexed by person, kind and time), not a scan of
    # every request the team ever had.
    today = dict(
        RequestEvent.objects.filter(
            to_user_id__in=list(people_ids),
            kind__in=(EventKind.ASSIGNED, EventKind.REASSIGNED),
            at__gte=start_of_today,
        )
        .values_list("to_user_id")
        .annotate(n=Count("id"))
        .values_list("to_user_id", "n")
    )
    users = {u.pk: u for u in User.objects.filter(pk__in=people_ids)}
    result = Board(
        team_id=team,
        waiting=sum(row["waiting"] for row in groups),
        oldest_waiting_at=min(oldest, default=None),
        breached_first_response=sum(row["first"] for row in groups),
        breached_resolution=sum(row["resolution"] for row in groups),
        open_total=sum(row["open"] for row in groups),
    )
    for pk in sorted(people_ids, key=lambda p: users[p].display_name if p in users else ""):
        user = users.get(pk)
        if user is None:
            continue
        spec = specialists.get(pk)
        load = per_person.get(pk, {})
        result.people.append(
            PersonLoad(
                user_id=pk,
                name=user.display_name,
                availability=user.get_availability_display(),
                unavailable=availability.unavailable_because(user, now),
                takes_requests=bool(spec and spec.takes_requests),
                open=load.get("open", 0),
                in_work=load.get("in_work", 0),
                capacity=(spec.capacity if spec and spec.capacity else policy.default_capacity),
                overdue=load.get("overdue", 0),
                assigned_today=today.get(pk, 0),
            )
        )
    result.breaches = list(
        unresolved.filter(BREACHED)
        .select_related(*LIST_RELATED)
        .order_by("first_response_due_at")[:rows]
    )
    result.waiting_rows = list(
        unresolved.filter(status=Status.NEW)
        .select_related(*LIST_RELATED)
        .order_by("created_at")[:rows]
    )
    return result
