"""Named yes/no questions about inbound requests; views, the API and services ask the same."""

from __future__ import annotations

from otdel.inbound.models import InboundRequest
from otdel.ownership.policies import manages_team
from otdel.people.models import Role, User


def _member(user: User, team_id: int) -> bool:
    return bool(user.is_authenticated and user.is_active and user.team_id == team_id)


def can_view_request(user: User, request: InboundRequest) -> bool:
    """The team sees its requests (the queue is shared work); the head of sales sees all his."""
    return manages_team(user, request.team_id) or _member(user, request.team_id)


def can_work_on(user: User, request: InboundRequest) -> bool:
    """The person the request is assigned to works on it (takes it, replies, converts, closes);
    so does the head of sales."""
    return manages_team(user, request.team_id) or (
        _member(user, request.team_id) and request.assignee_id == user.pk
    )


def can_take_from_queue(user: User, request: InboundRequest) -> bool:
    """A specialist of the team takes a waiting request himself; it is not assigned to anyone."""
    return _member(user, request.team_id) and request.assignee_id is None


def can_reassign(user: User, team_id: int) -> bool:
    """Only the head of sales reassigns requests and sees the board."""
    return manages_team(user, team_id)


def can_edit_routing(user: User, team_id: int) -> bool:
    """The head of sales edits the routing policy, the specialists and the web forms."""
    return manages_team(user, team_id)


def can_enter_request(user: User, team_id: int) -> bool:
    """A coordinator (or anyone of the team) types in a request that came by another way."""
    return manages_team(user, team_id) or (_member(user, team_id) and user.role != Role.DOC_CLERK)


def can_set_availability(user: User, person: User) -> bool:
    """A person switches his own availability; the head of sales switches his team's."""
    return user.pk == person.pk or (
        person.team_id is not None and manages_team(user, person.team_id)
    )
