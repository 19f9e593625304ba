"""Planning over HTTP: my day (plan and fact), tasks, the daily review, campaigns, call scripts
and the team's cadence rules.

Reads go through otdel.planning.selectors, every change through otdel.planning.services; these
endpoints only parse, call and render. A refusal is the service's DomainError as JSON.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from otdel.api.auth import viewer
from otdel.api.errors import READ_ERRORS, WRITE_ERRORS, ErrorOut
from otdel.api.paging import PageParams, page_of
from otdel.api.schemas import PageMeta, UserRef, person, user_ref
from otdel.clients import selectors as client_selectors
from otdel.core import clock
from otdel.core.errors import Forbidden, Invalid, NotFound
from otdel.people.models import Team, User
from otdel.planning import policies, selectors, services
from otdel.planning.cadences import cadence_in_force
from otdel.planning.document import CadenceDocument
from otdel.planning.models import CallScript, Campaign, DayPlanItem, Task

router = Router(tags=["planning"])

TaskKindIn = Literal["call", "meeting", "email", "other"]
TaskStatusIn = Literal["open", "done", "cancelled", "missed"]


# --- schemas --------------------------------------------------------------------------------


class ClientRef(Schema):
    id: int
    name: str


class ScriptRef(Schema):
    id: int
    title: str


class TaskOut(Schema):
    """A task and why it exists (`rule` is the code, `why` the reason in words)."""

    id: int
    kind: str
    title: str
    due_date: dt.date
    status: str
    rule: str
    why: str
    client: ClientRef
    assignee: UserRef
    script: ScriptRef | None
    campaign_id: int | None
    done_at: dt.datetime | None
    done_by_call_id: int | None = Field(description="The call fact that completed it, if any")
    overdue: bool
    created_at: dt.datetime


class TaskPage(Schema):
    items: list[TaskOut]
    meta: PageMeta


def _task_out(task: Task) -> TaskOut:
    return TaskOut(
        id=task.pk,
        kind=task.kind,
        title=task.title,
        due_date=task.due_date,
        status=task.status,
        rule=task.rule,
        why=task.why,
        client=ClientRef(id=task.client_id, name=task.client.name),
        assignee=person(task.assignee),
        script=ScriptRef(id=task.script.pk, title=task.script.title) if task.script else None,
        campaign_id=task.campaign_id,
        done_at=task.done_at,
        done_by_call_id=task.done_by_call_id,
        overdue=task.status == "open" and task.due_date < clock.today(),
        created_at=task.created_at,
    )


class PlanItemOut(Schema):
    client: ClientRef
    task_id: int | None
    done: bool = Field(description="From the facts: the task done or a call answered that day")


class PlanOut(Schema):
    """What the person committed to in the morning."""

    committed_at: dt.datetime
    calls_target: int
    items: list[PlanItemOut]


class FactOut(Schema):
    """The day's fact, computed from the facts (calls, done tasks), never typed in."""

    person: UserRef
    date: dt.date
    committed: bool
    planned_items: int
    items_done: int
    calls_target: int
    calls: int = Field(description="Outbound calls")
    answered: int
    effective: int
    callbacks: int = Field(
        description="Stale callbacks the policy counts as a separate measure (never effective)"
    )
    talk_seconds: int
    tasks_done: int
    overdue: int = Field(description="Open tasks due before the day")
    behind: bool
    reasons: list[str] = Field(description="Why the person is behind, in the request's language")


class MyDayOut(Schema):
    date: dt.date
    tasks: list[TaskOut] = Field(description="Open tasks due today or earlier")
    suggested: list[ClientRef] = Field(
        description="Clients of my base without a task, worked on longest ago (before I commit)"
    )
    plan: PlanOut | None
    fact: FactOut


def _fact_out(fact: selectors.DayFact) -> FactOut:
    return FactOut(
        person=person(fact.person),
        date=fact.day,
        committed=fact.committed,
        planned_items=fact.planned_items,
        items_done=fact.items_done,
        calls_target=fact.calls_target,
        calls=fact.calls,
        answered=fact.answered,
        effective=fact.effective,
        callbacks=fact.callbacks,
        talk_seconds=fact.talk_seconds,
        tasks_done=fact.tasks_done,
        overdue=fact.overdue,
        behind=fact.behind,
        reasons=fact.reasons,
    )


def _item_out(item: DayPlanItem) -> PlanItemOut:
    return PlanItemOut(
        client=ClientRef(id=item.client_id, name=item.client.name),
        task_id=item.task_id,
        done=bool(getattr(item, "done", False)),
    )


def _my_day(me: User) -> MyDayOut:
    today = clock.today()
    fact = selectors.day_fact(me, today)
    plan = None
    if fact.plan is not None:
        plan = PlanOut(
            committed_at=fact.plan.committed_at,
            calls_target=fact.plan.calls_target,
            items=[_item_out(i) for i in selectors.planned_items(fact.plan)],
        )
    suggested = selectors.suggested_calls(me) if fact.plan is None else []
    return MyDayOut(
        date=today,
        tasks=[_task_out(t) for t in selectors.tasks_for_day(me, today).select_related("assignee")],
        suggested=[ClientRef(id=c.pk, name=c.name) for c in suggested],
        plan=plan,
        fact=_fact_out(fact),
    )


# --- my day ---------------------------------------------------------------------------------


@router.get("/my-day", response={200: MyDayOut, **READ_ERRORS})
def get_my_day(request: HttpRequest) -> MyDayOut:
    """Today's open tasks, the plan I committed (if any) and the fact so far."""
    return _my_day(viewer(request))


class CommitIn(Schema):
    task_ids: list[int] = Field(default_factory=list, max_length=500)
    client_ids: list[int] = Field(
        default_factory=list, max_length=500, description="Calls to clients of my base"
    )
    calls_target: int = Field(0, ge=0, le=1000, description="Calls I will make today")


@router.post("/my-day/commit", response={201: MyDayOut, **WRITE_ERRORS})
def commit_my_day(request: HttpRequest, payload: CommitIn) -> Status[MyDayOut]:
    """Commit this morning's plan; a committed plan is not changed later (409)."""
    me = viewer(request)
    services.commit_day_plan(
        actor=me,
        task_ids=payload.task_ids,
        client_ids=payload.client_ids,
        calls_target=payload.calls_target,
    )
    return Status(201, _my_day(me))


# --- tasks ----------------------------------------------------------------------------------


class TaskFilters(Schema):
    scope: Literal["mine", "team"] = Field(
        "mine", description="`team`: every task on the team's clients (head of sales only)"
    )
    person_id: int | None = Field(None, description="One person's tasks (with scope=team)")
    status: TaskStatusIn | None = None
    rule: str = Field(
        "", max_length=64, description="A rule code or its family (`campaign`, `manual`…)"
    )
    due_from: dt.date | None = None
    due_to: dt.date | None = None


@router.get("/tasks", response={200: TaskPage, 403: ErrorOut, **READ_ERRORS})
def list_tasks(
    request: HttpRequest, filters: Query[TaskFilters], paging: Query[PageParams]
) -> TaskPage:
    """My tasks, soonest due first; the head of sales may ask for the team's (scope=team)."""
    me = viewer(request)
    if filters.scope == "team" and not me.is_head_of_sales:
        raise Forbidden(
            _("Only the head of sales sees the team's tasks."), code="not_head_of_sales"
        )
    qs = selectors.task_list(
        me,
        scope=filters.scope,
        person_id=filters.person_id,
        status=filters.status,
        rule=filters.rule.strip(),
        due_from=filters.due_from,
        due_to=filters.due_to,
    )
    items, meta = page_of(qs, paging)
    return TaskPage(items=[_task_out(t) for t in items], meta=PageMeta(**meta))


class TaskIn(Schema):
    """A task added by hand; a due date on a weekend or a holiday moves to the next working day."""

    client_id: int
    due_date: dt.date = Field(description="Today or later")
    kind: TaskKindIn = "call"
    title: str = Field(min_length=1, max_length=300)
    why: str = Field("", max_length=500, description="Empty: «Added by <me>»")
    script_id: int | None = None
    assignee_id: int | None = Field(None, description="Empty: me (the head may pick anyone)")


@router.post("/tasks", response={201: TaskOut, **WRITE_ERRORS})
def create_task(request: HttpRequest, payload: TaskIn) -> Status[TaskOut]:
    """A person adds a task on a client of his base; the head, for anyone in his team."""
    me = viewer(request)
    try:
        client = client_selectors.client_for(me, payload.client_id)
    except NotFound as err:
        raise Invalid(
            _("There is no such client."), code="invalid_client", field="client_id"
        ) from err
    assignee = me
    if payload.assignee_id is not None and payload.assignee_id != me.pk:
        found = User.objects.filter(pk=payload.assignee_id).first()
        if found is None:
            raise Invalid(
                _("There is no such person."), code="invalid_assignee", field="assignee_id"
            )
        assignee = found
    task = services.create_manual_task(
        actor=me,
        assignee=assignee,
        client=client,
        kind=payload.kind,
        due_date=payload.due_date,
        title=payload.title,
        why=payload.why,
        script_id=payload.script_id,
    )
    return Status(201, _task_out(selectors.task_for(me, task.pk)))


@router.get("/tasks/{int:task_id}", response={200: TaskOut, **READ_ERRORS})
def get_task(request: HttpRequest, task_id: int) -> TaskOut:
    """One task (the assignee's or, for the head, any on his team's clients)."""
    return _task_out(selectors.task_for(viewer(request), task_id))


@router.post("/tasks/{int:task_id}/done", response={200: TaskOut, **WRITE_ERRORS})
def mark_task_done(request: HttpRequest, task_id: int) -> TaskOut:
    """Mark an open task done by hand (a matching call completes a call task by itself)."""
    me = viewer(request)
    services.mark_task_done(task_id, actor=me)
    return _task_out(selectors.task_for(me, task_id))


class CancelIn(Schema):
    reason: str = Field("", max_length=500)


@router.post("/tasks/{int:task_id}/cancel", response={200: TaskOut, **WRITE_ERRORS})
def cancel_task(request: HttpRequest, task_id: int, payload: CancelIn) -> TaskOut:
    """The head of sales cancels a task; the reason goes to the audit trail."""
    me = viewer(request)
    services.cancel_task(task_id, actor=me, reason=payload.reason)
    return _task_out(selectors.task_for(me, task_id))


# --- the daily review -----------------------------------------------------------------------


class ReviewOut(Schema):
    """The планёрка: every person's plan and fact for the day, and how many are behind."""

    date: dt.date
    behind: int
    people: list[FactOut]


@router.get("/daily-review", response={200: ReviewOut, 403: ErrorOut, **READ_ERRORS})
def get_daily_review(request: HttpRequest, date: dt.date | None = None) -> ReviewOut:
    """Plan and fact of everyone who keeps a base in my team (head of sales)."""
    me = viewer(request)
    if not me.is_head_of_sales:
        raise Forbidden(
            _("Only the head of sales sees the daily review."), code="not_head_of_sales"
        )
    rows = selectors.daily_review(me, date or clock.today())
    return ReviewOut(
        date=date or clock.today(),
        behind=sum(1 for r in rows if r.behind),
        people=[_fact_out(r) for r in rows],
    )


# --- campaigns ------------------------------------------------------------------------------


class CampaignOut(Schema):
    """A campaign and its progress from the facts."""

    id: int
    team_id: int
    title: str
    assignee: UserRef
    script: ScriptRef | None
    deadline: dt.date
    dormant_days: int
    created_by: UserRef | None
    created_at: dt.datetime
    total: int
    done: int
    open: int
    missed: int
    percent: int
    calls: int
    effective: int


class CampaignDayOut(Schema):
    day: dt.date
    done: int = Field(description="Tasks done that day")
    cumulative: int
    calls: int
    effective: int


class CampaignDetailOut(CampaignOut):
    by_day: list[CampaignDayOut]


def _campaign_out(campaign: Campaign) -> dict[str, Any]:
    progress = selectors.campaign_progress(campaign)
    script = campaign.script
    return {
        "id": campaign.pk,
        "team_id": campaign.team_id,
        "title": campaign.title,
        "assignee": person(campaign.assignee),
        "script": ScriptRef(id=script.pk, title=script.title) if script else None,
        "deadline": campaign.deadline,
        "dormant_days": campaign.dormant_days,
        "created_by": user_ref(campaign.created_by),
        "created_at": campaign.created_at,
        "total": progress.total,
        "done": progress.done,
        "open": progress.open,
        "missed": progress.missed,
        "percent": progress.percent,
        "calls": progress.calls,
        "effective": progress.effective,
        "by_day": [CampaignDayOut(**d) for d in progress.by_day],
    }


@router.get("/campaigns", response={200: list[CampaignOut], **READ_ERRORS})
def list_campaigns(request: HttpRequest) -> list[CampaignOut]:
    """Campaigns I run (head of sales) or work on, newest first (the latest 100)."""
    rows = selectors.campaigns_for(viewer(request)).select_related("script", "created_by")[:100]
    return [CampaignOut(**_campaign_out(c)) for c in rows]


@router.get("/campaigns/{int:campaign_id}", response={200: CampaignDetailOut, **READ_ERRORS})
def get_campaign(request: HttpRequest, campaign_id: int) -> CampaignDetailOut:
    """A campaign's progress day by day: tasks done, calls and effective calls."""
    return CampaignDetailOut(**_campaign_out(selectors.campaign_for(viewer(request), campaign_id)))


class CampaignIn(Schema):
    title: str = Field("", max_length=200, description="Empty: «Shake up the base»")
    assignee_id: int = Field(description="A person of the team who keeps a base")
    client_ids: list[int] = Field(min_length=1, max_length=5000)
    deadline: dt.date = Field(description="A holiday moves to the next working day")
    script_id: int | None = None
    dormant_days: int = Field(90, ge=1, le=3650)
    team_id: int | None = Field(None, description="Empty: my team")


@router.post("/campaigns", response={201: CampaignDetailOut, **WRITE_ERRORS})
def create_campaign(request: HttpRequest, payload: CampaignIn) -> Status[CampaignDetailOut]:
    """The head of sales gives a set of clients to a person with a deadline; each becomes a
    call task."""
    me = viewer(request)
    team_id = payload.team_id or me.team_id
    if not policies.can_plan_for_team(me, team_id):
        raise Forbidden(_("Only the head of sales runs campaigns."), code="not_head_of_sales")
    if team_id is None:
        raise Invalid(_("Say which team the campaign is for."), code="team_required")
    campaign = services.create_campaign(
        actor=me,
        team_id=team_id,
        title=payload.title,
        assignee_id=payload.assignee_id,
        client_ids=payload.client_ids,
        deadline=payload.deadline,
        script_id=payload.script_id,
        dormant_days=payload.dormant_days,
    )
    return Status(201, CampaignDetailOut(**_campaign_out(selectors.campaign_for(me, campaign.pk))))


# --- call scripts ---------------------------------------------------------------------------


class StepOut(Schema):
    step: int
    text: str


class Objection(Schema):
    objection: str = Field(min_length=1, max_length=1000)
    answer: str = Field("", max_length=2000)


class ScriptOut(Schema):
    id: int
    team_id: int
    title: str
    steps: list[StepOut]
    questions: list[str]
    objections: list[Objection]
    active: bool
    can_edit: bool
    updated_at: dt.datetime


def _script_out(me: User, script: CallScript) -> ScriptOut:
    return ScriptOut(
        id=script.pk,
        team_id=script.team_id,
        title=script.title,
        steps=[StepOut(**s) for s in script.steps],
        questions=list(script.questions),
        objections=[Objection(**o) for o in script.objections],
        active=script.active,
        can_edit=policies.can_edit_script(me, script),
        updated_at=script.updated_at,
    )


@router.get("/scripts", response={200: list[ScriptOut], **READ_ERRORS})
def list_scripts(
    request: HttpRequest, team_id: int | None = None, active_only: bool = False
) -> list[ScriptOut]:
    """A team's call scripts (mine by default); everyone may read them."""
    me = viewer(request)
    scripts = selectors.team_scripts(team_id or me.team_id, active_only=active_only)
    return [_script_out(me, s) for s in scripts]


class ScriptIn(Schema):
    title: str = Field(min_length=1, max_length=200)
    steps: list[str] = Field(default_factory=list, max_length=100, description="In order")
    questions: list[str] = Field(default_factory=list, max_length=100)
    objections: list[Objection] = Field(default_factory=list, max_length=100)
    active: bool = True
    team_id: int | None = Field(None, description="Empty: my team")


@router.post("/scripts", response={201: ScriptOut, **WRITE_ERRORS})
def create_script(request: HttpRequest, payload: ScriptIn) -> Status[ScriptOut]:
    """The head of sales writes a call script for his team."""
    me = viewer(request)
    script = services.save_script(
        actor=me,
        team_id=payload.team_id or me.team_id or 0,
        title=payload.title,
        steps=payload.steps,
        questions=payload.questions,
        objections=[o.model_dump() for o in payload.objections],
        active=payload.active,
    )
    return Status(201, _script_out(me, script))


class ScriptPatch(Schema):
    """Only the fields sent change."""

    title: str | None = Field(None, min_length=1, max_length=200)
    steps: list[str] | None = Field(None, max_length=100)
    questions: list[str] | None = Field(None, max_length=100)
    objections: list[Objection] | None = Field(None, max_length=100)
    active: bool | None = None


@router.patch("/scripts/{int:script_id}", response={200: ScriptOut, **WRITE_ERRORS})
def update_script(request: HttpRequest, script_id: int, payload: ScriptPatch) -> ScriptOut:
    """The head of sales edits his team's script."""
    me = viewer(request)
    script = selectors.script_for(me, script_id)
    saved = services.save_script(
        actor=me,
        team_id=script.team_id,
        title=payload.title if payload.title is not None else script.title,
        steps=payload.steps if payload.steps is not None else [s["text"] for s in script.steps],
        questions=payload.questions if payload.questions is not None else script.questions,
        objections=[o.model_dump() for o in payload.objections]
        if payload.objections is not None
        else script.objections,
        active=payload.active if payload.active is not None else script.active,
        script_id=script.pk,
    )
    return _script_out(me, saved)


# --- the cadence rules ----------------------------------------------------------------------


class CadenceVersionOut(Schema):
    id: int
    version: int
    effective_from: dt.datetime
    document: dict[str, Any]
    comment: str
    approved_by: UserRef | None
    created_at: dt.datetime


class CadencePolicyOut(Schema):
    """The rules in force now (version 0: the defaults) and every version, newest first."""

    team_id: int
    version_in_force: int
    document: dict[str, Any]
    can_edit: bool
    versions: list[CadenceVersionOut]


def _cadence_policy(me: User, team_id: int) -> CadencePolicyOut:
    if not Team.objects.filter(pk=team_id).exists():
        raise NotFound(_("Team not found."), code="team_not_found")
    in_force = cadence_in_force(team_id)
    return CadencePolicyOut(
        team_id=team_id,
        version_in_force=in_force.version,
        document=in_force.doc.model_dump(),
        can_edit=policies.can_plan_for_team(me, team_id),
        versions=[
            CadenceVersionOut(
                id=v.pk,
                version=v.version,
                effective_from=v.effective_from,
                document=v.document,
                comment=v.comment,
                approved_by=user_ref(v.approved_by),
                created_at=v.created_at,
            )
            for v in selectors.cadence_versions(team_id)
        ],
    )


@router.get(
    "/teams/{team_id}/cadence-policy",
    response={200: CadencePolicyOut, **READ_ERRORS},
    tags=["planning", "policy"],
)
def get_cadence_policy(request: HttpRequest, team_id: int) -> CadencePolicyOut:
    """The team's cadence rules in force and every version (everyone may read them)."""
    return _cadence_policy(viewer(request), team_id)


class CadencePolicyIn(Schema):
    document: CadenceDocument
    effective_from: dt.datetime | None = Field(None, description="Empty: now")
    comment: str = Field("", max_length=500)


@router.post(
    "/teams/{team_id}/cadence-policy",
    response={201: CadencePolicyOut, **WRITE_ERRORS},
    tags=["planning", "policy"],
)
def publish_cadence_policy(
    request: HttpRequest, team_id: int, payload: CadencePolicyIn
) -> Status[CadencePolicyOut]:
    """The head of sales approves a new version of the cadence rules, effective from a date;
    tasks already created stay."""
    me = viewer(request)
    if not Team.objects.filter(pk=team_id).exists():
        raise NotFound(_("Team not found."), code="team_not_found")
    effective = payload.effective_from or clock.now()
    if effective.tzinfo is None:
        effective = effective.replace(tzinfo=clock.MOSCOW)
    services.publish_cadence_policy(
        team_id,
        document=payload.document.model_dump(),
        effective_from=effective,
        actor=me,
        comment=payload.comment,
    )
    return Status(201, _cadence_policy(me, team_id))
