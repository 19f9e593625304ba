"""The availability switch in the header of every page (for people of a team)."""

from __future__ import annotations

from typing import Any

from django import template

from otdel.inbound import view_helpers
from otdel.people.models import User

register = template.Library()


@register.inclusion_tag("inbound/_availability.html", takes_context=True)
def availability_switch(context: template.Context) -> dict[str, Any]:
    """The signed-in person's availability: on shift, away or off, and why he gets nothing
    although on shift (outside his hours, a day off)."""
    request = context.get("request")
    user: User = getattr(request, "user", None) or context["user"]
    next_url = request.get_full_path() if request is not None else "/"
    return {
        **view_helpers.availability_switch(user, next_url=next_url),
        "csrf_token": context.get("csrf_token"),
    }
