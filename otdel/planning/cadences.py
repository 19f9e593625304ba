"""Cadence rules: tasks the system creates by itself, set-based and idempotent.

Each rule is one query over the team's clients that returns the rows needing a task and are not
covered by one yet; the rows become tasks in one bulk insert that ignores conflicts with the
"one open task per (assignee, client, rule)" index. Running a rule twice, or on two machines at
once, therefore creates nothing twice. Due dates are on the Russian working calendar: a task
that would fall on a weekend or a holiday is due on the next working day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import override

from otdel.activities.models import Call
from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.calendar import add_working_days
from otdel.core.versioned import InForce, document_in_force
from otdel.ownership.models import EventKind, OwnershipEvent
from otdel.people.models import Team
from otdel.planning.document import CadenceDocument
from otdel.planning.models import CadencePolicy, CallScript, Task, TaskKind, TaskStatus

REACTIVATION = "reactivation_no_shipment"
FIRST_CALL = "first_call_after_claim"
FOLLOW_UP = "follow_up_after_shipment"
# Claims older than this are not looked at again (their first-call task is long due).
CLAIM_LOOKBACK = dt.timedelta(days=14)


def follow_up_rule(day: int) -> str:
    return f"{FOLLOW_UP}:{day}"


def is_cadence_rule(rule: str) -> bool:
    """Rules that belong to the client's owner (campaign and manual tasks do not)."""
    return rule in (REACTIVATION, FIRST_CALL) or rule.startswith(FOLLOW_UP + ":")


# The cadence rules in force: `.record` (the version, or None), `.doc`, `.version`.
CadenceInForce = InForce[CadencePolicy, CadenceDocument]


def cadence_in_force(team_id: int, at: dt.datetime | None = None) -> CadenceInForce:
    """The team's cadence rules in force at `at` (now by default); the defaults if none."""
    return document_in_force(CadencePolicy, CadenceDocument, team_id, at)


@lru_cache(maxsize=4096)
def working_on_or_after(day: dt.date) -> dt.date:
    """The day itself if it is a working day, else the next working day."""
    return add_working_days(day, 0)


@lru_cache(maxsize=4096)
def nth_working_day(day: dt.date, n: int) -> dt.date:
    """The n-th working day counting `day` itself when it is a working day (n >= 1)."""
    return add_working_days(day, n - 1)


def local_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(clock.MOSCOW).date()


@dataclass
class CadenceResult:
    """How many tasks one run created, per rule, and how many it closed."""

    created: dict[str, int] = field(default_factory=dict)
    missed: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return sum(self.created.values())


def _script_for(team_id: int, doc: CadenceDocument, rule: str) -> int | None:
    """The script the rules name for this rule (by its base code), if it is active in the team."""
    script_id = doc.scripts.get(rule) or doc.scripts.get(rule.split(":")[0])
    if script_id is None:
        return None
    exists = CallScript.objects.filter(pk=script_id, team_id=team_id, active=True).exists()
    return script_id if exists else None


def _insert(rows: list[Task], rule: str, now: dt.datetime) -> int:
    """One bulk insert; rows already covered by an open task are skipped by the unique index."""
    if not rows:
        return 0
    Task.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    client_ids = [row.client_id for row in rows]
    return Task.objects.filter(
        rule=rule, created_at=now, created_by__isnull=True, client_id__in=client_ids
    ).count()


def _owned(team_id: int) -> Q:
    return Q(
        team_id=team_id,
        owner__isnull=False,
        owner__is_active=True,
        merged_into__isnull=True,
    )


def generate_reactivation(team: Team, policy: CadenceInForce, now: dt.datetime) -> int:
    """A client in someone's base with no shipment for N days (never shipped: counted from
    "owned since") gets a reactivation call, at most once per N days."""
    doc = policy.doc
    if not doc.reactivation_enabled:
        return 0
    days = doc.reactivation_after_days
    today = local_date(now)
    # Whole local days: the anchor's day plus N days is today or earlier.
    cutoff = clock.start_of_day(today - dt.timedelta(days=days - 1))
    covered = Task.objects.filter(
        client_id=OuterRef("pk"), assignee_id=OuterRef("owner_id"), rule=REACTIVATION
    ).filter(Q(status=TaskStatus.OPEN) | Q(created_at__gt=cutoff))
    candidates = (
        Client.objects.filter(_owned(team.pk))
        .annotate(since=Coalesce(F("last_shipment_at"), F("owned_since")))
        .filter(since__lt=cutoff)
        .exclude(Exists(covered))
        .values_list("pk", "owner_id", "since", "last_shipment_at")
    )
    due = working_on_or_after(today)
    script_id = _script_for(team.pk, doc, REACTIVATION)
    rows = []
    for client_id, owner_id, since, shipped in candidates.iterator(chunk_size=2000):
        if shipped is None:
            why = _("Never shipped in %(n)s days in the base (since %(date)s).")
        else:
            why = _("No shipment for %(n)s days (the last one on %(date)s).")
        rows.append(
            Task(
                assignee_id=owner_id,
                client_id=client_id,
                kind=TaskKind.CALL,
                due_date=due,
                title=_("Reactivation call"),
                rule=REACTIVATION,
                why=why % {"n": days, "date": local_date(since).strftime("%d.%m.%Y")},
                anchor=local_date(since),
                script_id=script_id,
                created_at=now,
            )
        )
    return _insert(rows, REACTIVATION, now)


def generate_first_calls(team: Team, policy: CadenceInForce, now: dt.datetime) -> int:
    """A client claimed from the pool gets a first call within N working days (the claim day
    counts as the first), unless the new owner has called it since the claim."""
    doc = policy.doc
    if not doc.first_call_enabled:
        return 0
    already = Task.objects.filter(
        client_id=OuterRef("client_id"),
        assignee_id=OuterRef("to_user_id"),
        rule=FIRST_CALL,
        created_at__gte=OuterRef("at"),
    )
    called = Call.objects.filter(
        client_id=OuterRef("client_id"),
        user_id=OuterRef("to_user_id"),
        started_at__gte=OuterRef("at"),
    )
    # Only the claim that made the current owner: same person, same moment.
    candidates = (
        OwnershipEvent.objects.filter(
            kind=EventKind.CLAIM,
            at__gte=now - CLAIM_LOOKBACK,
            at__lte=now,
            client__team_id=team.pk,
            client__merged_into__isnull=True,
            client__owner_id=F("to_user_id"),
            client__owned_since=F("at"),
        )
        .exclude(Exists(already))
        .exclude(Exists(called))
        .values_list("client_id", "to_user_id", "at")
    )
    n = doc.first_call_within_working_days
    script_id = _script_for(team.pk, doc, FIRST_CALL)
    rows = []
    for client_id, user_id, at in candidates.iterator(chunk_size=2000):
        claimed = local_date(at)
        rows.append(
            Task(
                assignee_id=user_id,
                client_id=client_id,
                kind=TaskKind.CALL,
                due_date=nth_working_day(claimed, n),
                title=_("First call after the claim"),
                rule=FIRST_CALL,
                why=_("Claimed from the pool on %(date)s: first call within %(n)s working days.")
                % {"date": claimed.strftime("%d.%m.%Y"), "n": n},
                anchor=claimed,
                script_id=script_id,
                created_at=now,
            )
        )
    return _insert(rows, FIRST_CALL, now)


def generate_follow_ups(team: Team, policy: CadenceInForce, now: dt.datetime) -> int:
    """After a shipment, follow-up calls on day 3, 30 and 90 (by the rules in force); only the
    latest stage that came due is created, so a late run does not pile up old stages."""
    doc = policy.doc
    if not doc.follow_up_enabled or not doc.follow_up_days:
        return 0
    today = local_date(now)
    stages = doc.follow_up_days
    created = 0
    for index, day in enumerate(stages):
        rule = follow_up_rule(day)
        # Shipped on local day S with S + day <= today (< start of today - day + 1) ...
        q = Q(last_shipment_at__lt=clock.start_of_day(today - dt.timedelta(days=day - 1)))
        if index + 1 < len(stages):
            # ... and the next stage not due yet: S + next > today.
            nxt = stages[index + 1]
            q &= Q(last_shipment_at__gte=clock.start_of_day(today - dt.timedelta(days=nxt - 1)))
        covered = Task.objects.filter(
            client_id=OuterRef("pk"),
            assignee_id=OuterRef("owner_id"),
            rule=rule,
            created_at__gte=OuterRef("last_shipment_at"),
        )
        candidates = (
            Client.objects.filter(_owned(team.pk), q)
            .exclude(Exists(covered))
            .values_list("pk", "owner_id", "last_shipment_at")
        )
        script_id = _script_for(team.pk, doc, rule)
        rows = []
        for client_id, owner_id, shipped_at in candidates.iterator(chunk_size=2000):
            shipped = local_date(shipped_at)  # type: ignore[arg-type]  # filtered non-null
            rows.append(
                Task(
                    assignee_id=owner_id,
                    client_id=client_id,
                    kind=TaskKind.CALL,
                    due_date=working_on_or_after(shipped + dt.timedelta(days=day)),
                    title=_("Follow-up call after the shipment"),
                    rule=rule,
                    why=_("Shipped on %(date)s: follow-up on day %(n)s.")
                    % {"date": shipped.strftime("%d.%m.%Y"), "n": day},
                    anchor=shipped,
                    script_id=script_id,
                    created_at=now,
                )
            )
        created += _insert(rows, rule, now)
    return created


def close_stale_tasks(team: Team, policy: CadenceInForce, now: dt.datetime) -> tuple[int, int]:
    """Cadence tasks of a client that left the assignee's base are cancelled; tasks overdue for
    too long (campaign tasks: past the deadline) are missed."""
    today = local_date(now)
    open_tasks = Task.objects.filter(status=TaskStatus.OPEN, client__team_id=team.pk)
    cadence_rules = Q(rule__in=[REACTIVATION, FIRST_CALL]) | Q(rule__startswith=FOLLOW_UP + ":")
    cancelled = (
        open_tasks.filter(cadence_rules)
        .filter(Q(client__owner__isnull=True) | ~Q(client__owner_id=F("assignee_id")))
        .update(status=TaskStatus.CANCELLED, done_at=now)
    )
    limit = today - dt.timedelta(days=policy.doc.missed_after_days)
    missed = open_tasks.filter(
        Q(campaign__isnull=True, due_date__lt=limit)
        | Q(campaign__isnull=False, campaign__deadline__lt=today)
    ).update(status=TaskStatus.MISSED)
    return cancelled, missed


def generate_for_team(team: Team, *, now: dt.datetime | None = None) -> CadenceResult:
    """Run every cadence rule of one team once."""
    now = now or clock.now()
    policy = cadence_in_force(team.pk, now)
    result = CadenceResult()
    # The reason is stored as text in the department's language, like the ownership ledger.
    with override(settings.LANGUAGE_CODE), transaction.atomic():
        result.cancelled, result.missed = close_stale_tasks(team, policy, now)
        result.created[REACTIVATION] = generate_reactivation(team, policy, now)
        result.created[FIRST_CALL] = generate_first_calls(team, policy, now)
        result.created[FOLLOW_UP] = generate_follow_ups(team, policy, now)
    return result


def run_cadences(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Every team's rules; safe to run any number of times (a second run creates nothing)."""
    now = now or clock.now()
    totals = {"created": 0, "missed": 0, "cancelled": 0}
    for team in Team.objects.all():
        result = generate_for_team(team, now=now)
        totals["created"] += result.total
        totals["missed"] += result.missed
        totals["cancelled"] += result.cancelled
    return totals
