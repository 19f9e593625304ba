"""Routing waiting requests: under the team's lock, build the candidates once, decide each
waiting request oldest first (otdel.inbound.routing.choose) and write each assignment with its
reason. Every assignment of a team goes through `route_waiting`, so capacity and the round
robin hold however many requests arrive at once."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from otdel.core import clock
from otdel.core.versioned import InForce, document_in_force
from otdel.inbound import availability
from otdel.inbound.models import (
    OPEN_STATUSES,
    EventKind,
    InboundRequest,
    RequestEvent,
    RoutingPolicy,
    RoutingState,
    Specialist,
    Status,
)
from otdel.inbound.policy_document import RoutingPolicyDocument
from otdel.inbound.routing import Candidate, Owner, RequestFacts, choose, explain
from otdel.people.models import OWNING_ROLES, User
from otdel.people.services import notify

# At most this many waiting requests are decided in one pass (the next pass takes the rest).
BATCH = 500

RoutingInForce = InForce[RoutingPolicy, RoutingPolicyDocument]


def routing_policy_in_force(team_id: int, at: dt.datetime | None = None) -> RoutingInForce:
    """The team's routing policy in force at `at` (now by default); the defaults if none."""
    return document_in_force(RoutingPolicy, RoutingPolicyDocument, team_id, at)


def request_url(request_id: int) -> str:
    from django.urls import reverse

    return reverse("inbound:detail", args=[request_id])


def lock_team(team_id: int) -> None:
    """Take the team's routing lock for the rest of the transaction (a row lock on PostgreSQL;
    SQLite's write transactions are serial already)."""
    locked = RoutingState.objects.select_for_update().filter(team_id=team_id).values_list("pk")
    if not locked.exists():
        RoutingState.objects.get_or_create(team_id=team_id)
        list(locked)


def next_turn(team_id: int) -> int:
    """The round robin's next turn number: after the last one given in the team (under the
    lock, so two assignments never share a turn)."""
    last = Specialist.objects.filter(team_id=team_id).aggregate(m=Max("last_turn"))["m"]
    return (last or 0) + 1


def ensure_specialists(team_id: int) -> None:
    """Everyone in the team who owns clients takes requests unless the head of sales has
    switched him off (a row with takes_requests=False); newcomers are added as they appear."""
    missing = User.objects.filter(
        team_id=team_id, is_active=True, role__in=list(OWNING_ROLES), specialist__isnull=True
    )
    rows = [Specialist(user=u, team_id=team_id) for u in missing]
    if rows:
        Specialist.objects.bulk_create(rows, ignore_conflicts=True)


def _profiles(team_id: int) -> list[Specialist]:
    """Who takes the team's requests, with users and skills: read BEFORE the team's lock (these
    change rarely; the counters that change with every assignment are read under it)."""
    ensure_specialists(team_id)
    return list(
        Specialist.objects.filter(team_id=team_id, takes_requests=True, user__team_id=team_id)
        .select_related("user")
        .prefetch_related("categories")
    )


def _live_counts(team_id: int, ids: list[int]) -> dict[int, tuple[int, int, int]]:
    """Under the lock, in one query: each specialist's round-robin turn, total and open load."""
    open_load = (
        InboundRequest.objects.filter(assignee_id=OuterRef("user_id"), status__in=OPEN_STATUSES)
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    rows = (
        Specialist.objects.filter(team_id=team_id, user_id__in=ids)
        .annotate(open=Coalesce(Subquery(open_load), 0))
        .values_list("user_id", "last_turn", "assigned_total", "open")
    )
    return {user_id: (turn, total, n) for user_id, turn, total, n in rows}


def _caught_up(ids: list[int], now: dt.datetime) -> dict[int, int]:
    """How many requests that waited while they were away each got in the last hour."""
    if not ids:
        return {}
    return dict(
        RequestEvent.objects.filter(
            to_user_id__in=ids,
            kind=EventKind.ASSIGNED,
            at__gte=now - dt.timedelta(hours=1),
            data__catch_up=True,
        )
        .values_list("to_user_id")
        .annotate(n=Count("id"))
        .values_list("to_user_id", "n")
    )


def candidates(
    team_id: int,
    policy: RoutingPolicyDocument,
    now: dt.datetime,
    profiles: list[Specialist] | None = None,
) -> list[Candidate]:
    """The team's specialists as the decision sees them now: availability, open load,
    capacity, skills, and how many waited-for requests each got in the last hour."""
    specialists = _profiles(team_id) if profiles is None else profiles
    ids = [s.user_id for s in specialists]
    live = _live_counts(team_id, ids)
    # Only people back on shift within the hour can be catching up: usually nobody, no query.
    back = [
        s.user_id
        for s in specialists
        if s.user.availability_changed_at is not None
        and s.user.availability_changed_at > now - dt.timedelta(hours=1)
    ]
    caught_up = _caught_up(back, now)
    found = []
    for s in specialists:
        user = s.user
        turn, total, open_count = live.get(user.pk, (s.last_turn, s.assigned_total, 0))
        found.append(
            Candidate(
                user_id=user.pk,
                name=user.short_name,
                unavailable=availability.unavailable_because(user, now),
                open_count=open_count,
                capacity=s.capacity or policy.default_capacity,
                weight=s.weight,
                assigned_total=total,
                last_turn=turn,
                categories=frozenset(c.pk for c in s.categories.all()),
                regions=frozenset(str(r).casefold() for r in s.regions),
                languages=frozenset(str(x).casefold() for x in s.languages),
                caught_up_last_hour=caught_up.get(user.pk, 0),
                back_since=user.availability_changed_at,
            )
        )
    return found


def _owner(request: InboundRequest, now: dt.datetime) -> Owner | None:
    client = request.client
    if client is None or client.owner_id is None or client.owner is None:
        return None
    owner = client.owner
    return Owner(owner.pk, owner.short_name, availability.unavailable_because(owner, now))


def facts_of(request: InboundRequest, now: dt.datetime) -> RequestFacts:
    """What the decision needs to know of a request."""
    return RequestFacts(
        created_at=request.created_at,
        owner=_owner(request, now),
        category_id=request.category_id,
        region=request.region,
        language=request.language,
        passed_by=frozenset(int(x) for x in request.passed_by),
    )


def _write_assignment(
    request: InboundRequest,
    *,
    user_id: int,
    why: dict[str, Any],
    policy: RoutingPolicyDocument,
    now: dt.datetime,
    owner_first: bool,
    catch_up: bool,
    turn: int,
    actor: User | None = None,
    kind: str = EventKind.ASSIGNED,
) -> bool:
    owner_due = availability.due_after(now, policy.owner_response_minutes) if owner_first else None
    written = InboundRequest.objects.filter(
        pk=request.pk, status=Status.NEW, assignee__isnull=True
    ).update(
        status=Status.ASSIGNED,
        assignee_id=user_id,
        assigned_at=now,
        assigned_why=why,
        owner_due_at=owner_due,
        updated_at=now,
    )
    if not written:
        return False
    Specialist.objects.filter(user_id=user_id).update(
        last_assigned_at=now, last_turn=turn, assigned_total=F("assigned_total") + 1
    )
    data: dict[str, Any] = {"why": why, "text": explain(why)}
    if catch_up:
        data["catch_up"] = True
    if owner_due:
        data["owner_due_at"] = owner_due.isoformat()
    RequestEvent.objects.create(
        request=request, kind=kind, at=now, actor=actor, to_user_id=user_id, data=data
    )
    transaction.on_commit(
        partial(
            notify,
            [user_id],
            kind="inbound_assigned",
            client_id=request.client_id,
            url=request_url(request.pk),
            text=_("New request №%(number)s: %(who)s")
            % {
                "number": request.number,
                "who": request.name or request.company or request.email or request.phone,
            },
        )
    )
    return True


def _note_queued(request: InboundRequest, why: dict[str, Any], now: dt.datetime) -> None:
    """Say once (and again only when the reason changes) why a request waits."""
    if request.assigned_why == why:
        return
    InboundRequest.objects.filter(pk=request.pk, status=Status.NEW).update(assigned_why=why)
    RequestEvent.objects.create(
        request=request, kind=EventKind.QUEUED, at=now, data={"why": why, "text": explain(why)}
    )


def _room_left(people: list[Candidate]) -> bool:
    return any(c.unavailable is None and c.has_room for c in people)


def route_waiting(
    team_id: int,
    *,
    now: dt.datetime | None = None,
    fresh_id: int | None = None,
    policy: RoutingPolicyDocument | None = None,
) -> int:
    """Offer the team's waiting requests, oldest first, to whoever the policy picks; the ones
    nobody can take stay in the queue with the reason (`fresh_id`: the request just received,
    which is told why it waits even when nobody has room). Returns how many were assigned."""
    now = now or clock.now()
    assigned = 0
    policy = policy or routing_policy_in_force(team_id, now).doc
    # Inside the caller's transaction (a request just received) no savepoint is needed: an
    # error here rolls the whole receipt back anyway.
    with transaction.atomic(savepoint=False):
        profiles = _profiles(team_id)
        lock_team(team_id)
        people = candidates(team_id, policy, now, profiles)
        turn = max((c.last_turn for c in people), default=0)
        waiting_qs = InboundRequest.objects.filter(
            team_id=team_id, status=Status.NEW, assignee__isnull=True
        )
        if not _room_left(people):
            # Only an available owner can take anything now: look at his clients' requests
            # (and the fresh one, to say why it waits), not at the whole queue.
            only = Q(pk=fresh_id) if fresh_id else Q(pk__in=[])
            if policy.owner_first:
                only |= Q(client__owner__isnull=False)
            waiting_qs = waiting_qs.filter(only)
        waiting = list(
            waiting_qs.select_related("client__owner").order_by("created_at", "id")[:BATCH]
        )
        by_id = {c.user_id: c for c in people}
        for request in waiting:
            if request.client_id is None and request.pk != fresh_id and not _room_left(people):
                continue  # nobody has room: it keeps waiting for the reason it already has
            decision = choose(facts_of(request, now), people, policy)
            if decision.user_id is None:
                _note_queued(request, decision.why, now)
                continue
            if not _write_assignment(
                request,
                user_id=decision.user_id,
                why=decision.why,
                policy=policy,
                now=now,
                owner_first=decision.owner_first,
                catch_up=decision.catch_up,
                turn=turn + 1,
            ):
                continue
            turn += 1
            assigned += 1
            chosen = by_id.get(decision.user_id)
            if chosen is not None:
                # The next decision in this pass sees this one.
                chosen.open_count += 1
                chosen.assigned_total += 1
                chosen.last_turn = turn
                if decision.catch_up:
                    chosen.caught_up_last_hour += 1
    return assigned
