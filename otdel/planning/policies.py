"""Named yes/no questions about tasks, scripts, campaigns and day plans."""

from __future__ import annotations

from otdel.ownership.policies import manages_team
from otdel.people.models import User
from otdel.planning.models import CallScript, Campaign, Task


def can_plan_for_team(user: User, team_id: int | None) -> bool:
    """The head of sales runs campaigns, scripts and cadence rules of his team."""
    return manages_team(user, team_id)


def can_view_task(user: User, task: Task) -> bool:
    """The assignee and the head of the client's team."""
    return user.pk == task.assignee_id or manages_team(user, task.client.team_id)


def can_close_task(user: User, task: Task) -> bool:
    """The assignee marks his task done; the head may also cancel it."""
    return can_view_task(user, task)


def can_cancel_task(user: User, task: Task) -> bool:
    """Only the head cancels a task (a person cannot make his own work disappear)."""
    return manages_team(user, task.client.team_id)


def can_edit_script(user: User, script: CallScript) -> bool:
    """The head of sales edits his team's scripts."""
    return manages_team(user, script.team_id)


def can_view_campaign(user: User, campaign: Campaign) -> bool:
    """The head of the team and the person who works the campaign."""
    return user.pk == campaign.assignee_id or manages_team(user, campaign.team_id)


def keeps_day_plan(user: User) -> bool:
    """People who keep a base plan their day."""
    return user.is_authenticated and user.is_active and user.owns_clients
