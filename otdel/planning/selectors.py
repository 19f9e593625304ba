"""Reads about tasks, day plans, the daily review and campaigns, always for a viewer.

The fact of a day is computed from the facts (done tasks, Call rows), never typed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from otdel.activities.models import Call, CallDirection, CallDisposition, CallMeasure
from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.calendar import is_working_day
from otdel.core.errors import NotFound
from otdel.ownership.policies import manages_team
from otdel.people.models import OWNING_ROLES, Role, User
from otdel.planning import policies
from otdel.planning.models import (
    CadencePolicy,
    CallScript,
    Campaign,
    DayPlan,
    DayPlanItem,
    Task,
    TaskStatus,
)

WORKDAY_START = dt.time(9, 0)
WORKDAY_HOURS = 9

OUT_ANSWERED = Q(direction=CallDirection.OUTBOUND, disposition=CallDisposition.ANSWERED)


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The aware start and end of a Moscow day."""
    return clock.start_of_day(day), clock.start_of_day(day + dt.timedelta(days=1))


def elapsed_share(day: dt.date, now: dt.datetime | None = None) -> float:
    """How much of the working day (09:00–18:00) is behind us: 0 before, 1 after."""
    now = now or clock.now()
    start = dt.datetime.combine(day, WORKDAY_START, tzinfo=clock.MOSCOW)
    share = (now - start) / dt.timedelta(hours=WORKDAY_HOURS)
    return min(max(share, 0.0), 1.0)


# --- tasks -----------------------------------------------------------------------------------


def tasks_for_day(user: User, day: dt.date) -> QuerySet[Task]:
    """The person's open tasks due by the day (overdue first), with client and script."""
    return (
        Task.objects.filter(assignee=user, status=TaskStatus.OPEN, due_date__lte=day)
        .select_related("client", "script", "campaign")
        .order_by("due_date", "id")
    )


def upcoming_tasks(user: User, day: dt.date, limit: int = 20) -> list[Task]:
    """Open tasks due after the day."""
    return list(
        Task.objects.filter(assignee=user, status=TaskStatus.OPEN, due_date__gt=day)
        .select_related("client")
        .order_by("due_date", "id")[:limit]
    )


def task_for(viewer: User, task_id: int) -> Task:
    """One task with its script, for the assignee or the head."""
    task = (
        Task.objects.select_related("client", "script", "assignee", "campaign", "done_by_call")
        .filter(pk=task_id)
        .first()
    )
    if task is None or not policies.can_view_task(viewer, task):
        raise NotFound("task", code="task_not_found")
    return task


def suggested_calls(user: User, limit: int = 10) -> list[Client]:
    """Clients of the person's base without an open task, least recently worked first (the
    ones closest to going back to the pool)."""
    has_task = Task.objects.filter(assignee=user, client_id=OuterRef("pk"), status=TaskStatus.OPEN)
    return list(
        Client.objects.live()
        .filter(owner=user)
        .exclude(Exists(has_task))
        .order_by("activity_clock_at", "name")[:limit]
    )


# --- the day plan and its fact ---------------------------------------------------------------


@dataclass
class DayFact:
    """A person's day: what he committed to and what the facts say he did."""

    person: User
    day: dt.date
    plan: DayPlan | None = None
    planned_items: int = 0
    items_done: int = 0
    calls_target: int = 0
    calls: int = 0
    answered: int = 0
    effective: int = 0
    # Stale callbacks the team's policy counts as a separate measure (never effective).
    callbacks: int = 0
    talk_seconds: int = 0
    tasks_done: int = 0
    overdue: int = 0
    behind: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def committed(self) -> bool:
        return self.plan is not None


def _item_done(day: dt.date) -> Q:
    """A plan item is done when its task was done that day, or the person made an answered
    outbound call to its client that day."""
    start, end = day_bounds(day)
    called = Call.objects.filter(
        OUT_ANSWERED,
        user_id=OuterRef("plan__person_id"),
        client_id=OuterRef("client_id"),
        started_at__gte=start,
        started_at__lt=end,
    )
    return Q(Exists(called)) | Q(
        task__status=TaskStatus.DONE, task__done_at__gte=start, task__done_at__lt=end
    )


def team_facts(people: list[User], day: dt.date, now: dt.datetime | None = None) -> list[DayFact]:
    """Plan and fact of several people for a day, in a fixed number of grouped queries."""
    from django.utils.translation import gettext as _

    now = now or clock.now()
    ids = [p.pk for p in people]
    start, end = day_bounds(day)
    plans = {p.person_id: p for p in DayPlan.objects.filter(person_id__in=ids, date=day)}
    items: dict[int, dict[str, Any]] = {
        row["plan__person_id"]: dict(row)
        for row in DayPlanItem.objects.filter(plan__person_id__in=ids, plan__date=day)
        .values("plan__person_id")
        .annotate(total=Count("pk"), done=Count("pk", filter=_item_done(day)))
    }
    calls: dict[int, dict[str, Any]] = {
        row["user_id"]: dict(row)
        for row in Call.objects.filter(user_id__in=ids, started_at__gte=start, started_at__lt=end)
        .values("user_id")
        .annotate(
            calls=Count("pk", filter=Q(direction=CallDirection.OUTBOUND)),
            answered=Count("pk", filter=OUT_ANSWERED),
            effective=Count("pk", filter=Q(effective=True)),
            callbacks=Count("pk", filter=Q(measure=CallMeasure.CALLBACK)),
            talk=Sum("talk_seconds", filter=Q(direction=CallDirection.OUTBOUND)),
        )
    }
    done = dict(
        Task.objects.filter(
            assignee_id__in=ids, status=TaskStatus.DONE, done_at__gte=start, done_at__lt=end
        )
        .values("assignee_id")
        .annotate(n=Count("pk"))
        .values_list("assignee_id", "n")
    )
    overdue = dict(
        Task.objects.filter(assignee_id__in=ids, status=TaskStatus.OPEN, due_date__lt=day)
        .values("assignee_id")
        .annotate(n=Count("pk"))
        .values_list("assignee_id", "n")
    )
    share = elapsed_share(day, now)
    facts = []
    for person in people:
        c = calls.get(person.pk, {})
        i = items.get(person.pk, {})
        plan = plans.get(person.pk)
        fact = DayFact(
            person=person,
            day=day,
            plan=plan,
            planned_items=i.get("total", 0),
            items_done=i.get("done", 0),
            calls_target=plan.calls_target if plan else 0,
            calls=c.get("calls", 0),
            answered=c.get("answered", 0),
            effective=c.get("effective", 0),
            callbacks=c.get("callbacks", 0),
            talk_seconds=c.get("talk") or 0,
            tasks_done=done.get(person.pk, 0),
            overdue=overdue.get(person.pk, 0),
        )
        if is_working_day(day) and share > 0:
            if plan is None:
                fact.reasons.append(_("no plan committed"))
            if fact.items_done < int(fact.planned_items * share):
                fact.reasons.append(
                    _("%(done)s of %(planned)s planned done")
                    % {"done": fact.items_done, "planned": fact.planned_items}
                )
            if fact.calls < int(fact.calls_target * share):
                fact.reasons.append(
                    _("%(calls)s of %(target)s calls")
                    % {"calls": fact.calls, "target": fact.calls_target}
                )
        fact.behind = bool(fact.reasons)
        facts.append(fact)
    return facts


def day_fact(person: User, day: dt.date) -> DayFact:
    """One person's plan and fact for a day."""
    return team_facts([person], day)[0]


def planned_items(plan: DayPlan) -> list[DayPlanItem]:
    """The items of a plan, each marked `.done` from the facts."""
    return list(
        DayPlanItem.objects.filter(plan=plan)
        .select_related("client", "task")
        .annotate(done=_item_done(plan.date))
        .order_by("client__name")
    )


def calls_of_day(person: User, day: dt.date) -> QuerySet[Call]:
    """The person's calls of the day, as the phone system reported them."""
    start, end = day_bounds(day)
    return (
        Call.objects.filter(user=person, started_at__gte=start, started_at__lt=end)
        .select_related("client")
        .order_by("-started_at")
    )


def daily_review(viewer: User, day: dt.date) -> list[DayFact]:
    """The планёрка: plan and fact of every person who keeps a base in the viewer's teams."""
    people = User.objects.filter(is_active=True, role__in=OWNING_ROLES).select_related("team")
    if not (viewer.is_superuser or viewer.team_id is None):
        people = people.filter(team_id=viewer.team_id)
    visible = [
        p for p in people.order_by("last_name", "first_name") if manages_team(viewer, p.team_id)
    ]
    return team_facts(visible, day)


# --- campaigns -------------------------------------------------------------------------------


@dataclass
class CampaignProgress:
    """Tasks done of the total, and calls made on the campaign's clients since its start."""

    campaign: Campaign
    total: int
    done: int
    open: int
    missed: int
    calls: int
    effective: int
    by_day: list[dict[str, Any]]

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def campaigns_for(viewer: User) -> QuerySet[Campaign]:
    """Campaigns the viewer runs (head) or works (assignee)."""
    qs = Campaign.objects.select_related("assignee", "team").order_by("-created_at")
    if viewer.is_superuser or (viewer.team_id is None and viewer.is_head_of_sales):
        return qs
    if viewer.is_head_of_sales:
        return qs.filter(team_id=viewer.team_id)
    return qs.filter(assignee=viewer)


def campaign_for(viewer: User, campaign_id: int) -> Campaign:
    campaign = Campaign.objects.select_related("assignee", "team", "script").filter(pk=campaign_id)
    found = campaign.first()
    if found is None or not policies.can_view_campaign(viewer, found):
        raise NotFound("campaign", code="campaign_not_found")
    return found


def campaign_progress(campaign: Campaign) -> CampaignProgress:
    """Progress from the facts: task statuses, and the assignee's calls to the campaign's
    clients since it started (effective ones by the effective-call policy's verdict)."""
    tasks = Task.objects.filter(campaign=campaign)
    counts = tasks.aggregate(
        total=Count("pk"),
        done=Count("pk", filter=Q(status=TaskStatus.DONE)),
        open=Count("pk", filter=Q(status=TaskStatus.OPEN)),
        missed=Count("pk", filter=Q(status=TaskStatus.MISSED)),
    )
    calls = Call.objects.filter(
        user_id=campaign.assignee_id,
        client_id__in=tasks.values("client_id"),
        started_at__gte=campaign.created_at,
        direction=CallDirection.OUTBOUND,
    )
    call_counts = calls.aggregate(
        calls=Count("pk"), effective=Count("pk", filter=Q(effective=True))
    )
    done_by_day = dict(
        tasks.filter(status=TaskStatus.DONE, done_at__isnull=False)
        .annotate(day=TruncDate("done_at", tzinfo=clock.MOSCOW))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    calls_by_day: dict[dt.date, dict[str, Any]] = {
        row["day"]: dict(row)
        for row in calls.annotate(day=TruncDate("started_at", tzinfo=clock.MOSCOW))
        .values("day")
        .annotate(calls=Count("pk"), effective=Count("pk", filter=Q(effective=True)))
    }
    by_day = []
    cumulative = 0
    day = campaign.created_at.astimezone(clock.MOSCOW).date()
    last = max(min(clock.today(), campaign.deadline), day)
    while day <= last:
        cumulative += done_by_day.get(day, 0)
        c = calls_by_day.get(day, {})
        by_day.append(
            {
                "day": day,
                "done": done_by_day.get(day, 0),
                "cumulative": cumulative,
                "calls": c.get("calls", 0),
                "effective": c.get("effective", 0),
            }
        )
        day += dt.timedelta(days=1)
    return CampaignProgress(
        campaign=campaign,
        total=counts["total"],
        done=counts["done"],
        open=counts["open"],
        missed=counts["missed"],
        calls=call_counts["calls"],
        effective=call_counts["effective"],
        by_day=by_day,
    )


def dormant_clients(
    team_id: int, *, days: int, assignee_id: int | None, limit: int = 500
) -> list[Client]:
    """Live clients of the team, in the pool or the assignee's base, nobody called or worked on
    for `days` days (or ever), longest silent first; `last_contact` is annotated."""
    since = clock.now() - dt.timedelta(days=days)
    owners = Q(owner__isnull=True)
    if assignee_id:
        owners |= Q(owner_id=assignee_id)
    return list(
        Client.objects.live()
        .filter(owners, team_id=team_id)
        .annotate(last_call=Max("calls__started_at"), last_activity=Max("activities__occurred_at"))
        .filter(Q(last_call__isnull=True) | Q(last_call__lt=since))
        .filter(Q(last_activity__isnull=True) | Q(last_activity__lt=since))
        .select_related("owner")
        .order_by("last_call", "name")[:limit]
    )


def team_scripts(team_id: int | None, *, active_only: bool = False) -> QuerySet[CallScript]:
    qs = CallScript.objects.filter(team_id=team_id).order_by("-active", "title")
    return qs.filter(active=True) if active_only else qs


def script_for(viewer: User, script_id: int) -> CallScript:
    """One call script; everyone in the department may read scripts (they are shown in calls)."""
    script = CallScript.objects.filter(pk=script_id).first()
    if script is None or not (viewer.is_authenticated and viewer.is_active):
        raise NotFound("script", code="script_not_found")
    return script


def sees_all_teams(viewer: User) -> bool:
    """The director, an admin, or a head of sales without a team see every team's planning."""
    return (
        viewer.is_superuser
        or viewer.role in (Role.DIRECTOR, Role.ADMIN)
        or (viewer.is_head_of_sales and viewer.team_id is None)
    )


def task_list(
    viewer: User,
    *,
    scope: str = "mine",
    person_id: int | None = None,
    status: str | None = None,
    rule: str = "",
    due_from: dt.date | None = None,
    due_to: dt.date | None = None,
) -> QuerySet[Task]:
    """The viewer's tasks; with scope "team" (the head) every task on his team's clients.

    `rule` matches the code itself or its family ("campaign" finds "campaign:12")."""
    qs = Task.objects.select_related("client", "assignee", "script", "campaign")
    if scope == "team" and viewer.is_head_of_sales:
        if not sees_all_teams(viewer):
            qs = qs.filter(client__team_id=viewer.team_id)
        if person_id:
            qs = qs.filter(assignee_id=person_id)
    else:
        qs = qs.filter(assignee=viewer)
    if status:
        qs = qs.filter(status=status)
    if rule:
        qs = qs.filter(Q(rule=rule) | Q(rule__startswith=f"{rule}:"))
    if due_from:
        qs = qs.filter(due_date__gte=due_from)
    if due_to:
        qs = qs.filter(due_date__lte=due_to)
    return qs.order_by("due_date", "id")


def cadence_versions(team_id: int) -> QuerySet[CadencePolicy]:
    """Every approved version of a team's cadence rules, newest first (read-only history)."""
    return (
        CadencePolicy.objects.filter(team_id=team_id)
        .select_related("approved_by")
        .order_by("-version")
    )
