"""Planning pages: my day (plan in the morning, fact in the evening), a task with its script,
a task added by hand, the head's daily review, campaigns, call scripts and cadence rules.

Views are thin: parse the request, call a selector or a service, render. A refusal
(DomainError) becomes a message; head-only pages do not exist (404) for anyone else.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pydantic import ValidationError

from otdel.clients import selectors as client_selectors
from otdel.core import clock
from otdel.core.errors import DomainError
from otdel.ownership.selectors import my_base
from otdel.people.models import OWNING_ROLES, Team, User
from otdel.planning import policies, selectors, services
from otdel.planning.cadences import cadence_in_force
from otdel.planning.forms import CadenceForm, NewTaskForm
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
            "new_task_form": NewTaskForm(
                initial=NewTaskForm.initial_for(),
                scripts=list(selectors.team_scripts(user.team_id, active_only=True))
                if user.team_id
                else [],
                clients=_my_clients(user),
            )
            if user.owns_clients
            else None,
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


# --- a task added by hand --------------------------------------------------------------------


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _my_clients(user: User) -> list[tuple[int, str]]:
    return list(my_base(user, sort="name").values_list("pk", "name")[:2000])


@login_required
@require_http_methods(["GET", "POST"])
def task_create(request: HttpRequest) -> HttpResponse:
    """Add a task by hand: on a client of my base for me; the head, on any client of his team
    (for its owner, or for himself when it is in the pool)."""
    user = _user(request)
    data = request.POST if request.method == "POST" else None
    fixed = _int((request.POST or request.GET).get("fixed_client"), 0)
    clients = None if fixed else _my_clients(user)
    team_id = user.team_id
    client = None
    if fixed:
        try:
            client = client_selectors.client_for(user, fixed)
        except DomainError as err:
            raise Http404 from err
        team_id = client.team_id
    scripts = list(selectors.team_scripts(team_id, active_only=True)) if team_id else []
    initial = NewTaskForm.initial_for(fixed or _int(request.GET.get("client"), 0) or None)
    form = NewTaskForm(data, initial=initial, scripts=scripts, clients=clients)
    next_url = _safe_next(request, reverse("planning:my_day"))
    if data is not None and form.is_valid():
        try:
            client = client_selectors.client_for(user, form.cleaned_data["client"])
            assignee = user
            if client.owner is not None and policies.can_plan_for_team(user, client.team_id):
                assignee = client.owner
            task = services.create_manual_task(
                actor=user,
                assignee=assignee,
                client=client,
                kind=form.cleaned_data["kind"],
                due_date=form.cleaned_data["due_date"],
                title=form.cleaned_data["title"],
                script_id=form.cleaned_data["script"],
            )
        except DomainError as err:
            field = err.details.get("field", "")
            field = {"due_date": "due_date", "script_id": "script", "client_id": "client"}.get(
                field
            )
            form.add_error(field if field in form.fields else None, err.message)
        else:
            messages.success(
                request,
                _("The task is added, due %(date)s.")
                % {"date": task.due_date.strftime("%d.%m.%Y")},
            )
            return redirect(next_url)
    return render(
        request,
        "planning/task_create.html",
        {"form": form, "client": client, "next": next_url},
    )


# --- the cadence rules editor ----------------------------------------------------------------


def _cadence_team(request: HttpRequest, user: User) -> tuple[Team, list[Team]]:
    """The team whose rules are edited: the head's own, or one chosen by a director."""
    teams = [t for t in Team.objects.order_by("name") if policies.can_plan_for_team(user, t.pk)]
    if not teams:
        raise Http404
    wanted = request.POST.get("team") or request.GET.get("team")
    chosen = next((t for t in teams if str(t.pk) == wanted), None)
    if chosen is None:
        chosen = next((t for t in teams if t.pk == user.team_id), teams[0])
    return chosen, teams


@login_required
@require_http_methods(["GET", "POST"])
def cadences(request: HttpRequest) -> HttpResponse:
    """The team's cadence rules in force and their history; saving publishes a new version,
    effective from a date, and never changes an old one."""
    user = _user(request)
    _require_head(user)
    team, teams = _cadence_team(request, user)
    in_force = cadence_in_force(team.pk)
    scripts = list(selectors.team_scripts(team.pk))
    if request.method == "POST":
        form = CadenceForm(request.POST, scripts=scripts)
        if form.is_valid():
            try:
                version = services.publish_cadence_policy(
                    team.pk,
                    document=form.document(),
                    effective_from=form.effective_moment(),
                    actor=user,
                    comment=form.cleaned_data["comment"],
                )
            except ValidationError as err:
                form.add_validation_errors(err)
            except DomainError as err:
                field = err.details.get("field")
                form.add_error(None if field not in form.fields else field, err.message)
            else:
                messages.success(
                    request,
                    _("Version %(version)s published, in force from %(date)s.")
                    % {
                        "version": version.version,
                        "date": version.effective_from.astimezone(clock.MOSCOW).strftime(
                            "%d.%m.%Y"
                        ),
                    },
                )
                return redirect(f"{reverse('planning:cadences')}?team={team.pk}")
    else:
        form = CadenceForm(initial=CadenceForm.initial_from(in_force.doc), scripts=scripts)
    return render(
        request,
        "planning/cadences.html",
        {
            "form": form,
            "team": team,
            "teams": teams,
            "in_force": in_force,
            "versions": list(selectors.cadence_versions(team.pk)),
            "now": clock.now(),
        },
    )
