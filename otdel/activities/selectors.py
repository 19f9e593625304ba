"""Reads of calls, always for a viewer: a person sees his own calls, the head of sales his
team's; unknown callers are for those who resolve them."""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.utils.translation import gettext as _

from otdel.activities.models import Call, CallDirection, CallMeasure, EffectiveCallPolicy
from otdel.activities.unknown import may_resolve_unknown
from otdel.core import clock
from otdel.core.errors import NotFound
from otdel.ownership import policies
from otdel.people.models import Role, User

PERIODS = ("today", "week", "month", "all")
SORTS = {
    "time": ("started_at", "id"),
    "-time": ("-started_at", "-id"),
    "talk": ("talk_seconds", "id"),
    "-talk": ("-talk_seconds", "-id"),
}


def sees_everyone(viewer: User) -> bool:
    """Directors, admins and a head of sales without a team see every team's calls."""
    return bool(
        viewer.is_superuser
        or viewer.role in (Role.DIRECTOR, Role.ADMIN)
        or (viewer.role == Role.HEAD_OF_SALES and viewer.team_id is None)
    )


def _team_scope(viewer: User) -> Q:
    """The calls of the viewer's team: its people's calls, and unmatched-person calls to its
    clients."""
    if sees_everyone(viewer):
        return Q()
    return Q(user__team_id=viewer.team_id) | Q(user__isnull=True, client__team_id=viewer.team_id)


def visible_calls(viewer: User) -> QuerySet[Call]:
    """Every call the viewer may see: his own; the head of sales also his team's."""
    qs = Call.objects.all()
    if viewer.is_head_of_sales:
        return qs.filter(_team_scope(viewer))
    return qs.filter(user=viewer)


def period_start(period: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """The start of today / this week (Monday) / this month in Moscow; None for all time."""
    moment = (now or clock.now()).astimezone(clock.MOSCOW)
    day = moment.date()
    if period == "today":
        return clock.start_of_day(day)
    if period == "week":
        return clock.start_of_day(day - dt.timedelta(days=day.weekday()))
    if period == "month":
        return clock.start_of_day(day.replace(day=1))
    return None


def call_log(
    viewer: User,
    *,
    scope: str = "mine",
    person_id: int | None = None,
    period: str = "all",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    effective: bool | None = None,
    direction: str = "",
    client_id: int | None = None,
    sort: str = "-time",
    measure: str = "",
) -> QuerySet[Call]:
    """The call log: the viewer's calls ("mine"), or for the head of sales the team's ("team"),
    optionally one person's; filtered by period, verdict, the measure a call counts in
    ("effective" or "callback"), direction and client."""
    if scope == "team" and viewer.is_head_of_sales:
        qs = visible_calls(viewer)
        if person_id is not None:
            qs = qs.filter(user_id=person_id)
    else:
        qs = Call.objects.filter(user=viewer)
    start = period_start(period)
    if start is not None:
        qs = qs.filter(started_at__gte=start)
    if since is not None:
        qs = qs.filter(started_at__gte=since)
    if until is not None:
        qs = qs.filter(started_at__lt=until)
    if effective is not None:
        qs = qs.filter(effective=effective)
    if measure in CallMeasure.values:
        qs = qs.filter(measure=measure)
    if direction in CallDirection.values:
        qs = qs.filter(direction=direction)
    if client_id is not None:
        qs = qs.filter(client_id=client_id)
    return qs.select_related("user", "client", "contact").order_by(*SORTS.get(sort, SORTS["-time"]))


def call_for(viewer: User, call_id: int) -> Call:
    """One call the viewer may see (the caller, or the head of sales of his team); any other
    looks missing."""
    call = Call.objects.select_related("user", "client", "contact").filter(pk=call_id).first()
    if call is None or not can_view_call(viewer, call):
        raise NotFound(_("Call not found."), code="call_not_found")
    return call


def can_view_call(viewer: User, call: Call) -> bool:
    """The caller sees his call; the head of sales sees the calls of his team."""
    if call.user_id is not None and call.user_id == viewer.pk:
        return True
    if call.user is not None:
        return policies.manages_team(viewer, call.user.team_id)
    return policies.manages_team(viewer, call.client.team_id if call.client else None)


def own_call(viewer: User, call_id: int) -> Call:
    """A call made by the viewer himself (the post-call card is the caller's); any other looks
    missing."""
    call = call_for(viewer, call_id)
    if call.user_id != viewer.pk:
        raise NotFound(_("Call not found."), code="call_not_found")
    return call


def calls_today(viewer: User, person: User | None = None) -> list[Call]:
    """A person's calls since the start of today, latest first (the viewer's own by default;
    another person's only for his head of sales)."""
    person = person or viewer
    if person.pk != viewer.pk and not policies.manages_team(viewer, person.team_id):
        raise NotFound(_("Person not found."), code="user_not_found")
    return list(
        Call.objects.filter(user=person, started_at__gte=period_start("today"))
        .select_related("client")
        .order_by("-started_at", "-id")
    )


def team_people(viewer: User) -> QuerySet[User]:
    """The people whose calls the head of sales may filter by."""
    qs = User.objects.filter(is_active=True)
    if not sees_everyone(viewer):
        qs = qs.filter(team_id=viewer.team_id)
    return qs.order_by("last_name", "first_name", "username")


def unknown_callers(viewer: User, *, q: str = "") -> QuerySet[Any]:
    """Numbers with calls and no client, one row per number: how many calls, the last one,
    the number as the phone system had it; the latest first. Only for those who resolve them."""
    if not may_resolve_unknown(viewer):
        raise NotFound(_("Page not found."), code="not_found")
    qs = Call.objects.filter(client__isnull=True).exclude(their_e164="")
    qs = qs.exclude(direction=CallDirection.INTERNAL)
    digits = "".join(ch for ch in q if ch.isdigit())
    if digits:
        qs = qs.filter(their_e164__contains=digits[-10:])
    return (
        qs.values("their_e164")
        .annotate(
            calls=Count("id"),
            last_call=Max("started_at"),
            their_number=Max("their_number"),
            inbound=Count("id", filter=Q(direction=CallDirection.INBOUND)),
        )
        .order_by("-last_call", "their_e164")
    )


def calls_of_number(viewer: User, e164: str, *, limit: int = 20) -> list[Call]:
    """The latest calls from one unknown number (who took them, when)."""
    if not may_resolve_unknown(viewer):
        raise NotFound(_("Page not found."), code="not_found")
    return list(
        Call.objects.filter(their_e164=e164, client__isnull=True)
        .select_related("user")
        .order_by("-started_at")[:limit]
    )


def with_verdict_policies(calls: list[Call]) -> list[Call]:
    """Give each call of a page the policy version its verdict was given under (the team's
    version in force when it started, as Call.verdict_policy says), reading each team's
    versions once instead of one query per call."""

    teams = {c.judging_team_id for c in calls if c.effective is not None} - {None}
    versions: dict[int, list[EffectiveCallPolicy]] = defaultdict(list)
    for version in EffectiveCallPolicy.objects.filter(team_id__in=teams).order_by(
        "team_id", "effective_from", "version"
    ):
        versions[version.team_id].append(version)
    starts = {team: [v.effective_from for v in vs] for team, vs in versions.items()}
    for call in calls:
        team = call.judging_team_id if call.effective is not None else None
        found = None
        if team in versions:
            # The last version effective at or before the call (the highest of a tie).
            index = bisect.bisect_right(starts[team], call.started_at)
            found = versions[team][index - 1] if index else None
        call.__dict__["verdict_policy"] = found  # what the cached property would compute
    return calls
