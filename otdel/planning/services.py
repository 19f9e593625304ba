"""Every write about tasks, scripts, campaigns, cadence rules and day plans.

Each service checks who may act (a refusal writes nothing), runs in one transaction and writes
the audit event with the change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils.translation import gettext as _

from otdel.activities.models import Call, CallDirection, CallDisposition
from otdel.audit.services import record
from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
from otdel.core.versioned import publish_version
from otdel.people.models import User
from otdel.planning import policies
from otdel.planning.cadences import working_on_or_after
from otdel.planning.document import CadenceDocument
from otdel.planning.models import (
    CadencePolicy,
    CallScript,
    Campaign,
    DayPlan,
    DayPlanItem,
    Task,
    TaskKind,
    TaskStatus,
)

MANUAL = "manual"


# --- completing tasks ------------------------------------------------------------------------


def complete_tasks_for_calls(call_ids: Sequence[int]) -> int:
    """An answered outbound call by the assignee to the task's client, made after the task
    appeared, completes his open call tasks for that client. Set-based; safe to repeat.

    Called by the call ingestion (otdel.activities.calls) with the ids of new call facts."""
    if not call_ids:
        return 0
    if connection.vendor == "postgresql":
        return _complete_tasks_postgresql(list(call_ids))
    matching = Call.objects.filter(
        pk__in=list(call_ids),
        user_id=OuterRef("assignee_id"),
        client_id=OuterRef("client_id"),
        direction=CallDirection.OUTBOUND,
        disposition=CallDisposition.ANSWERED,
        started_at__gte=OuterRef("created_at"),
    ).order_by("started_at", "pk")
    clients = Call.objects.filter(pk__in=list(call_ids), client__isnull=False).values("client_id")
    with transaction.atomic():
        return (
            Task.objects.filter(status=TaskStatus.OPEN, kind=TaskKind.CALL, client_id__in=clients)
            .filter(Exists(matching))
            .update(
                status=TaskStatus.DONE,
                done_at=Subquery(matching.values("started_at")[:1]),
                done_by_call_id=Subquery(matching.values("pk")[:1]),
            )
        )


def _complete_tasks_postgresql(call_ids: list[int]) -> int:
    """The same in one statement, the calls passed as one array (a batch holds thousands)."""
    tasks, calls = Task._meta.db_table, Call._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {tasks} AS t SET status = %(done)s, done_at = m.started_at,
                done_by_call_id = m.call_id
            FROM (
                SELECT DISTINCT ON (o.id) o.id AS task_id, c.id AS call_id, c.started_at
                FROM {calls} c
                JOIN {tasks} o ON o.client_id = c.client_id AND o.assignee_id = c.user_id
                    AND o.status = %(open)s AND o.kind = %(call)s AND c.started_at >= o.created_at
                WHERE c.id = ANY(%(ids)s::bigint[]) AND c.direction = %(out)s
                  AND c.disposition = %(answered)s
                ORDER BY o.id, c.started_at, c.id
            ) AS m
            WHERE t.id = m.task_id AND t.status = %(open)s
            """,  # noqa: S608 - table names are ours, every value is a parameter
            {
                "done": TaskStatus.DONE,
                "open": TaskStatus.OPEN,
                "call": TaskKind.CALL,
                "ids": call_ids,
                "out": CallDirection.OUTBOUND,
                "answered": CallDisposition.ANSWERED,
            },
        )
        return cursor.rowcount


def _load_task(task_id: int, actor: User) -> Task:
    task = Task.objects.select_related("client").filter(pk=task_id).first()
    if task is None or not policies.can_view_task(actor, task):
        raise NotFound(_("Task not found."), code="task_not_found")
    return task


def mark_task_done(task_id: int, *, actor: User) -> Task:
    """The assignee (or his head) marks an open task done by hand."""
    with transaction.atomic():
        task = _load_task(task_id, actor)
        if not policies.can_close_task(actor, task):
            raise Forbidden(_("You may not close this task."), code="forbidden")
        now = clock.now()
        if not Task.objects.filter(pk=task.pk, status=TaskStatus.OPEN).update(
            status=TaskStatus.DONE, done_at=now
        ):
            raise Conflict(_("This task is no longer open."), code="task_not_open")
        record(actor=actor, verb="task.done", obj=task, data={"by": "hand"})
        task.status, task.done_at = TaskStatus.DONE, now
    return task


def cancel_task(task_id: int, *, actor: User, reason: str = "") -> Task:
    """Only the head of sales cancels a task; the reason is kept in the audit trail."""
    with transaction.atomic():
        task = _load_task(task_id, actor)
        if not policies.can_cancel_task(actor, task):
            raise Forbidden(_("Only the head of sales cancels tasks."), code="not_head_of_sales")
        now = clock.now()
        if not Task.objects.filter(pk=task.pk, status=TaskStatus.OPEN).update(
            status=TaskStatus.CANCELLED, done_at=now
        ):
            raise Conflict(_("This task is no longer open."), code="task_not_open")
        record(actor=actor, verb="task.cancelled", obj=task, data={"reason": reason})
        task.status = TaskStatus.CANCELLED
    return task


def create_manual_task(
    *,
    actor: User,
    assignee: User,
    client: Client,
    kind: str,
    due_date: dt.date,
    title: str,
    why: str = "",
    script_id: int | None = None,
) -> Task:
    """A person adds a task on a client of his base for himself; the head, for anyone in his
    team. The due date moves to a working day."""
    is_head = policies.can_plan_for_team(actor, client.team_id)
    if not is_head and not (assignee.pk == actor.pk and client.owner_id == actor.pk):
        raise Forbidden(_("You may add tasks only for your own clients."), code="forbidden")
    if kind not in TaskKind.values:
        raise Invalid(_("Unknown task kind."), code="invalid_kind")
    if due_date < clock.today():
        raise Invalid(_("A task cannot be due in the past."), code="due_in_past", field="due_date")
    if assignee.pk != actor.pk and not (
        assignee.is_active and assignee.owns_clients and assignee.team_id == client.team_id
    ):
        raise Invalid(
            _("Pick a person of the client's team who keeps a base."),
            code="invalid_assignee",
            field="assignee_id",
        )
    if script_id is not None and not CallScript.objects.filter(
        pk=script_id, team_id=client.team_id
    ):
        raise Invalid(_("Unknown script."), code="invalid_script", field="script_id")
    with transaction.atomic():
        if Task.objects.filter(
            assignee=assignee, client=client, rule=MANUAL, status=TaskStatus.OPEN
        ).exists():
            raise Conflict(_("There is already an open task for this client."), code="task_exists")
        task = Task.objects.create(
            assignee=assignee,
            client=client,
            kind=kind,
            due_date=working_on_or_after(due_date),
            title=title.strip() or _("Task"),
            rule=MANUAL,
            why=why.strip() or _("Added by %(name)s.") % {"name": actor.display_name},
            script_id=script_id,
            created_by=actor,
            created_at=clock.now(),
        )
        record(actor=actor, verb="task.created", obj=task, data={"assignee": assignee.pk})
    return task


# --- day plans -------------------------------------------------------------------------------


def commit_day_plan(
    *,
    actor: User,
    task_ids: Iterable[int] = (),
    client_ids: Iterable[int] = (),
    calls_target: int = 0,
) -> DayPlan:
    """In the morning a person commits today's plan: his open tasks and calls to clients of his
    base. A committed plan is not changed later: the evening compares the fact with it."""
    if not policies.keeps_day_plan(actor):
        raise Forbidden(_("Only people who keep a base plan their day."), code="forbidden")
    if calls_target < 0 or calls_target > 1000:
        raise Invalid(_("The number of calls is out of range."), code="invalid_calls_target")
    today = clock.today()
    task_ids, client_ids = set(task_ids), set(client_ids)
    tasks = list(
        Task.objects.filter(pk__in=task_ids, assignee=actor, status=TaskStatus.OPEN).values_list(
            "pk", "client_id"
        )
    )
    if len(tasks) != len(task_ids):
        raise Invalid(_("Some tasks are not yours or no longer open."), code="invalid_tasks")
    owned = set(
        Client.objects.live().filter(pk__in=client_ids, owner=actor).values_list("pk", flat=True)
    )
    if owned != client_ids:
        raise Invalid(_("Some clients are not in your base."), code="invalid_clients")
    if not tasks and not client_ids and not calls_target:
        raise Invalid(_("The plan is empty."), code="empty_plan")
    with transaction.atomic():
        if DayPlan.objects.filter(person=actor, date=today).exists():
            raise Conflict(_("Today's plan is already committed."), code="plan_committed")
        plan = DayPlan.objects.create(
            person=actor,
            date=today,
            committed_at=clock.now(),
            calls_target=max(calls_target, len({c for _, c in tasks} | client_ids)),
        )
        items: dict[int, DayPlanItem] = {}
        for task_id, client_id in tasks:
            items.setdefault(
                client_id, DayPlanItem(plan=plan, task_id=task_id, client_id=client_id)
            )
        for client_id in client_ids:
            items.setdefault(client_id, DayPlanItem(plan=plan, client_id=client_id))
        DayPlanItem.objects.bulk_create(items.values())
        record(
            actor=actor,
            verb="day_plan.committed",
            obj=plan,
            data={"items": len(items), "calls_target": plan.calls_target},
        )
    return plan


# --- campaigns -------------------------------------------------------------------------------


def create_campaign(
    *,
    actor: User,
    team_id: int,
    title: str,
    assignee_id: int,
    client_ids: Iterable[int],
    deadline: dt.date,
    script_id: int | None = None,
    dormant_days: int = 90,
) -> Campaign:
    """The head of sales gives a set of his team's clients (in the pool or the person's own base)
    to a person with a deadline; each client becomes a call task due by the deadline."""
    if not policies.can_plan_for_team(actor, team_id):
        raise Forbidden(_("Only the head of sales runs campaigns."), code="not_head_of_sales")
    assignee = User.objects.filter(pk=assignee_id, team_id=team_id, is_active=True).first()
    if assignee is None or not assignee.owns_clients:
        raise Invalid(_("Pick a person of the team who keeps a base."), code="invalid_assignee")
    if deadline < clock.today():
        raise Invalid(_("The deadline is in the past."), code="deadline_in_past")
    ids = set(client_ids)
    if not ids:
        raise Invalid(_("Pick at least one client."), code="no_clients")
    clients = list(
        Client.objects.live().filter(pk__in=ids, team_id=team_id).values_list("pk", "owner_id")
    )
    if len(clients) != len(ids):
        raise Invalid(_("Some clients are not in your team."), code="invalid_clients")
    foreign = [pk for pk, owner in clients if owner not in (None, assignee.pk)]
    if foreign:
        raise Conflict(
            _(
                "%(n)s of the clients belong to someone else's base; reassign them first or "
                "leave them out."
            )
            % {"n": len(foreign)},
            code="owned_by_other",
            client_ids=foreign,
        )
    if script_id is not None and not CallScript.objects.filter(pk=script_id, team_id=team_id):
        raise Invalid(_("Unknown script."), code="invalid_script")
    due = working_on_or_after(deadline)
    now = clock.now()
    with transaction.atomic():
        campaign = Campaign.objects.create(
            team_id=team_id,
            title=title.strip() or _("Shake up the base"),
            assignee=assignee,
            script_id=script_id,
            deadline=due,
            dormant_days=dormant_days,
            created_by=actor,
            created_at=now,
        )
        why = _("Campaign «%(title)s» by %(head)s, until %(date)s.") % {
            "title": campaign.title,
            "head": actor.display_name,
            "date": due.strftime("%d.%m.%Y"),
        }
        Task.objects.bulk_create(
            [
                Task(
                    assignee=assignee,
                    client_id=pk,
                    kind=TaskKind.CALL,
                    due_date=due,
                    title=campaign.title,
                    rule=campaign.rule,
                    why=why,
                    script_id=script_id,
                    campaign=campaign,
                    created_by=actor,
                    created_at=now,
                )
                for pk, _owner in clients
            ],
            batch_size=1000,
        )
        record(
            actor=actor,
            verb="campaign.created",
            obj=campaign,
            data={"assignee": assignee.pk, "clients": len(clients), "deadline": due.isoformat()},
        )
    return campaign


# --- scripts and cadence rules ---------------------------------------------------------------


def save_script(
    *,
    actor: User,
    team_id: int,
    title: str,
    steps: list[str],
    questions: list[str],
    objections: list[dict[str, str]],
    active: bool = True,
    script_id: int | None = None,
) -> CallScript:
    """The head of sales writes or edits his team's call script."""
    if not policies.can_plan_for_team(actor, team_id):
        raise Forbidden(_("Only the head of sales edits scripts."), code="not_head_of_sales")
    if not title.strip():
        raise Invalid(_("The script needs a title."), code="invalid", field="title")
    values: dict[str, Any] = {
        "title": title.strip(),
        "steps": [{"step": i, "text": t} for i, t in enumerate(steps, start=1)],
        "questions": questions,
        "objections": objections,
        "active": active,
        "updated_at": clock.now(),
    }
    with transaction.atomic():
        if script_id is None:
            script = CallScript.objects.create(team_id=team_id, created_at=clock.now(), **values)
        else:
            script = CallScript.objects.filter(pk=script_id, team_id=team_id).first()  # type: ignore[assignment]
            if script is None:
                raise NotFound(_("Script not found."), code="script_not_found")
            for name, value in values.items():
                setattr(script, name, value)
            script.save()
        record(actor=actor, verb="call_script.saved", obj=script, data={"title": script.title})
    return script


def publish_cadence_policy(
    team_id: int,
    *,
    document: dict[str, Any],
    effective_from: dt.datetime,
    actor: User,
    comment: str = "",
) -> CadencePolicy:
    """The head of sales approves a new version of the team's cadence rules."""
    if not policies.can_plan_for_team(actor, team_id):
        raise Forbidden(_("Only the head of sales edits the rules."), code="not_head_of_sales")
    parsed = CadenceDocument.model_validate(document)
    script_ids = set(parsed.scripts.values())
    known = set(
        CallScript.objects.filter(pk__in=script_ids, team_id=team_id).values_list("pk", flat=True)
    )
    if known != script_ids:
        raise Invalid(_("Unknown script."), code="invalid_script", field="scripts")
    with transaction.atomic():
        policy: CadencePolicy = publish_version(
            CadencePolicy,
            team_id=team_id,
            document=parsed,
            effective_from=effective_from,
            actor=actor,
            comment=comment,
            verb="cadence_policy.published",
        )
    return policy
