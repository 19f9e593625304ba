"""Planning pages: my day (plan in the morning, fact in the evening), a task with its script,
the head's daily review, campaigns and call scripts.

Views are thin: parse the request, call a selector or a service, render. A refusal
(DomainError) becomes a message; head-only pages do not exist (404) for anyone else.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from otdel.core import clock
from otdel.core.errors import DomainError
from otdel.people.models import OWNING_ROLES, User
from otdel.planning import policies, selectors, services
from otdel.planning.models import CallScript


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require_head(user: User) -> None:
    if not user.is_head_of_sales:
        raise Http404


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()]


def _date(value: str | None, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if value else default
    except ValueError:
        return default


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


# --- my day ----------------------------------------------------------------------------------


@login_required
@require_GET
def my_day(request: HttpRequest) -> HttpResponse:
    """Morning: today's tasks and suggested calls to commit; evening: the plan against the fact."""
    user = _user(request)
    today = clock.today()
    fact = selectors.day_fact(user, today)
    return render(
        request,
        "planning/my_day.html",
        {
            "today": today,
            "fact": fact,
            "tasks": list(selectors.tasks_for_day(user, today)),
            "upcoming": selectors.upcoming_tasks(user, today),
            "suggested": selectors.suggested_calls(user) if fact.plan is None else [],
            "items": selectors.planned_items(fact.plan) if fact.plan else [],
            "calls": list(selectors.calls_of_day(user, today)[:100]),
            "keeps_plan": policies.keeps_day_plan(user),
        },
    )


@login_required
@require_POST
def commit_plan(request: HttpRequest) -> HttpResponse:
    """Commit this morning's plan: the ticked tasks and clients, and a number of calls."""
    try:
        services.commit_day_plan(
            actor=_user(request),
            task_ids=_ids(request.POST.getlist("task")),
            client_ids=_ids(request.POST.getlist("client")),
            calls_target=_int(request.POST.get("calls_target"), 0),
        )
    except DomainError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, _("Today's plan is committed."))
    return redirect("planning:my_day")


# --- tasks -----------------------------------------------------------------------------------


@login_required
@require_GET
def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    """A task with why it exists, its client and the call script to follow during the call."""
    user = _user(request)
    try:
        task = selectors.task_for(user, task_id)
    except DomainError as err:
        raise Http404 from err
    return render(
        request,
        "planning/task_detail.html",
        {
            "task": task,
            "script": task.script or (task.campaign.script if task.campaign else None),
            "can_cancel": policies.can_cancel_task(user, task),
        },
    )


@login_required
@require_POST
def task_done(request: HttpRequest, task_id: int) -> HttpResponse:
    """Mark a task done by hand."""
    try:
        services.mark_task_done(task_id, actor=_user(request))
    except DomainError as err:
        if err.status == 404:
            raise Http404 from err
        messages.error(request, err.message)
    else:
        messages.success(request, _("The task is done."))
    return redirect(request.POST.get("next") or "planning:my_day")


@login_required
@require_POST
def task_cancel(request: HttpRequest, task_id: int) -> HttpResponse:
    """The head cancels a task."""
    try:
        services.cancel_task(task_id, actor=_user(request), reason=request.POST.get("reason", ""))
    except DomainError as err:
        if err.status == 404:
            raise Http404 from err
        messages.error(request, err.message)
    else:
        messages.success(request, _("The task is cancelled."))
    return redirect("planning:task_detail", task_id=task_id)


# --- the head's daily review -----------------------------------------------------------------


@login_required
@require_GET
def daily_review(request: HttpRequest) -> HttpResponse:
    """The планёрка: per person the plan, what is done, calls and effective calls; who is behind."""
    user = _user(request)
    _require_head(user)
    day = _date(request.GET.get("date"), clock.today())
    rows = selectors.daily_review(user, day)
    return render(
        request,
        "planning/daily_review.html",
        {
            "day": day,
            "rows": rows,
            "behind": sum(1 for r in rows if r.behind),
            "prev": day - dt.timedelta(days=1),
            "next": day + dt.timedelta(days=1),
        },
    )


# --- campaigns -------------------------------------------------------------------------------


@login_required
@require_GET
def campaigns(request: HttpRequest) -> HttpResponse:
    """The head's campaigns with their progress."""
    user = _user(request)
    _require_head(user)
    rows = [selectors.campaign_progress(c) for c in selectors.campaigns_for(user)[:100]]
    return render(request, "planning/campaigns.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest) -> HttpResponse:
    """Pick the team's dormant clients (not contacted for N days), a person and a deadline."""
    user = _user(request)
    _require_head(user)
    team_id = user.team_id
    if team_id is None:
        messages.error(request, _("Campaigns are run by the head of a team."))
        return redirect("planning:campaigns")
    data = request.POST if request.method == "POST" else request.GET
    days = max(_int(data.get("days"), 90), 1)
    assignee_id = _int(data.get("assignee"), 0) or None
    deadline = _date(data.get("deadline"), clock.today() + dt.timedelta(days=14))
    if request.method == "POST":
        try:
            campaign = services.create_campaign(
                actor=user,
                team_id=team_id,
                title=data.get("title", ""),
                assignee_id=assignee_id or 0,
                client_ids=_ids(request.POST.getlist("client")),
                deadline=deadline,
                script_id=_int(data.get("script"), 0) or None,
                dormant_days=days,
            )
        except DomainError as err:
            messages.error(request, err.message)
        else:
            messages.success(request, _("The campaign is started."))
            return redirect("planning:campaign_detail", campaign_id=campaign.pk)
    people = User.objects.filter(team_id=team_id, is_active=True, role__in=OWNING_ROLES).order_by(
        "last_name", "first_name"
    )
    clients = (
        selectors.dormant_clients(team_id, days=days, assignee_id=assignee_id)
        if assignee_id
        else []
    )
    return render(
        request,
        "planning/campaign_create.html",
        {
            "people": people,
            "clients": clients,
            "days": days,
            "assignee_id": assignee_id,
            "deadline": deadline,
            "title": data.get("title", ""),
            "scripts": selectors.team_scripts(team_id, active_only=True),
        },
    )


@login_required
@require_GET
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """A campaign's daily progress: tasks done of the total, calls and effective calls."""
    user = _user(request)
    try:
        campaign = selectors.campaign_for(user, campaign_id)
    except DomainError as err:
        raise Http404 from err
    progress = selectors.campaign_progress(campaign)
    tasks = campaign.tasks.select_related("client").order_by("status", "client__name")
    return render(
        request,
        "planning/campaign_detail.html",
        {"campaign": campaign, "progress": progress, "tasks": tasks},
    )


# --- call scripts ----------------------------------------------------------------------------


@login_required
@require_GET
def scripts(request: HttpRequest) -> HttpResponse:
    """The team's call scripts."""
    user = _user(request)
    _require_head(user)
    return render(
        request, "planning/scripts.html", {"scripts": selectors.team_scripts(user.team_id)}
    )


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _objections(text: str) -> list[dict[str, str]]:
    """One objection a line: "objection | answer"."""
    rows = []
    for line in _lines(text):
        objection, _sep, answer = line.partition("|")
        rows.append({"objection": objection.strip(), "answer": answer.strip()})
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def script_edit(request: HttpRequest, script_id: int | None = None) -> HttpResponse:
    """Write or edit a script: steps and questions one a line, objections as "objection | answer"."""
    user = _user(request)
    _require_head(user)
    script = None
    if script_id is not None:
        script = CallScript.objects.filter(pk=script_id).first()
        if script is None or not policies.can_edit_script(user, script):
            raise Http404
    if request.method == "POST":
        try:
            saved = services.save_script(
                actor=user,
                team_id=script.team_id if script else user.team_id or 0,
                title=request.POST.get("title", ""),
                steps=_lines(request.POST.get("steps", "")),
                questions=_lines(request.POST.get("questions", "")),
                objections=_objections(request.POST.get("objections", "")),
                active=request.POST.get("active") == "on",
                script_id=script.pk if script else None,
            )
        except DomainError as err:
            messages.error(request, err.message)
        else:
            messages.success(request, _("The script is saved."))
            return redirect("planning:script_edit", script_id=saved.pk)
    form = {
        "title": script.title if script else "",
        "steps": "\n".join(s["text"] for s in script.steps) if script else "",
        "questions": "\n".join(script.questions) if script else "",
        "objections": "\n".join(f"{o['objection']} | {o['answer']}" for o in script.objections)
        if script
        else "",
        "active": script.active if script else True,
    }
    if request.method == "POST":
        form.update(
            {k: request.POST.get(k, "") for k in ("title", "steps", "questions", "objections")}
        )
    return render(request, "planning/script_edit.html", {"script": script, "form": form})
