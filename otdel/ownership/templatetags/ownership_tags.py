"""Template questions about ownership: which actions this viewer may take on a client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import template
from django.db.models import QuerySet

from otdel.clients.models import Client
from otdel.ownership import policies
from otdel.people.models import OWNING_ROLES, User

register = template.Library()

# Names a template may ask about, mapped to the policy that answers.
QUESTIONS: dict[str, Callable[[User, Any], bool]] = {
    "claim": policies.can_claim,
    "release": policies.can_release,
    "assign": policies.can_assign,
    "request_transfer": policies.can_request_transfer,
    "lock": policies.can_assign,
    "answer_transfer": policies.can_answer_transfer,
    "decide_transfer": policies.can_decide_transfer,
    "cancel_transfer": policies.can_cancel_transfer,
}


@register.simple_tag
def can(question: str, user: User, obj: Any) -> bool:
    """`{% can "claim" user client as may_claim %}` asks ownership.policies."""
    if obj is None or user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(QUESTIONS[question](user, obj))


@register.simple_tag
def can_claim(user: User, client: Client) -> bool:
    return can("claim", user, client)


@register.simple_tag
def can_release(user: User, client: Client) -> bool:
    return can("release", user, client)


@register.simple_tag
def can_assign(user: User, client: Client) -> bool:
    return can("assign", user, client)


@register.simple_tag
def can_request_transfer(user: User, client: Client) -> bool:
    return can("request_transfer", user, client)


@register.simple_tag
def assignable_people(client: Client) -> QuerySet[User]:
    """People who keep a base and may be given this client (its team first, then everyone)."""
    qs = User.objects.filter(is_active=True, role__in=OWNING_ROLES)
    if client.team_id:
        qs = qs.filter(team_id=client.team_id)
    return qs.exclude(pk=client.owner_id or 0).order_by("last_name", "first_name")
