"""Reads and small formatting the inbound pages need beyond otdel.inbound.selectors: deadlines
as "in 12 min" / "overdue by 5 min", the people a request may be reassigned to with their
load, the specialists table, the web forms and policy versions of a team, and the request
input's errors in the user's language. Every read takes the viewer and asks the policies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from annotated_types import MaxLen
from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from otdel.core import clock
from otdel.core.errors import NotFound
from otdel.inbound import availability, policies
from otdel.inbound.assign import routing_policy_in_force
from otdel.inbound.models import (
    OPEN_STATUSES,
    UNRESOLVED_STATUSES,
    InboundRequest,
    RequestMessage,
    RoutingPolicy,
    Specialist,
    Status,
    WebForm,
)
from otdel.inbound.routing import explain
from otdel.inbound.schemas import RequestIn
from otdel.people.models import OWNING_ROLES, Availability, Team, User
from otdel.sales.models import ProductCategory

# A deadline this close (or closer) is shown as urgent.
SOON = dt.timedelta(minutes=15)

# Why someone cannot take a request now, beyond the switch itself (away / off show the switch).
UNAVAILABLE_LABELS = {
    availability.OUTSIDE_HOURS: gettext_lazy("outside his working hours"),
    availability.DAY_OFF: gettext_lazy("a day off in the working calendar"),
    availability.INACTIVE: gettext_lazy("deactivated"),
}


def _span(seconds: float) -> str:
    """A span of time the way a clock on the wall says it: 12 min, 2 h 5 min, 3 d 4 h."""
    minutes = max(int(seconds // 60), 1)
    if minutes < 60:
        return _("%(m)s min") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        if minutes:
            return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
        return _("%(h)s h") % {"h": hours}
    days, hours = divmod(hours, 24)
    if hours:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours}
    return _("%(d)s d") % {"d": days}


@dataclass
class Countdown:
    """A deadline as a person reads it, computed on the server at render time."""

    label: str
    due: dt.datetime
    text: str
    state: str  # "ok", "soon" or "late"


def countdown(label: str, due: dt.datetime, now: dt.datetime) -> Countdown:
    left = (due - now).total_seconds()
    if left < 0:
        return Countdown(label, due, _("overdue by %(time)s") % {"time": _span(-left)}, "late")
    state = "soon" if left <= SOON.total_seconds() else "ok"
    return Countdown(label, due, _("in %(time)s") % {"time": _span(left)}, state)


def deadlines_of(request: InboundRequest, now: dt.datetime) -> list[Countdown]:
    """The deadlines still running on a request: the owner's answer (owner first), the first
    response, the resolution."""
    if request.status not in UNRESOLVED_STATUSES:
        return []
    found = []
    if request.owner_due_at and not request.first_response_at:
        found.append(countdown(_("owner's answer"), request.owner_due_at, now))
    if request.first_response_due_at and not request.first_response_at:
        found.append(countdown(_("first response"), request.first_response_due_at, now))
    if request.resolution_due_at:
        found.append(countdown(_("resolution"), request.resolution_due_at, now))
    return found


def waited(since: dt.datetime, now: dt.datetime) -> str:
    """How long something has waited: "25 min"."""
    return _span((now - since).total_seconds())


def with_deadlines(rows: Iterable[InboundRequest], now: dt.datetime) -> list[InboundRequest]:
    """Rows for a list: each gets its running deadlines, the reason of its assignment as a
    sentence and how long it has waited."""
    result = []
    for row in rows:
        row.countdowns = deadlines_of(row, now)  # type: ignore[attr-defined]
        row.why_text = explain(row.assigned_why)  # type: ignore[attr-defined]
        row.waited = waited(row.created_at, now)  # type: ignore[attr-defined]
        row.is_late = any(c.state == "late" for c in row.countdowns)  # type: ignore[attr-defined]
        result.append(row)
    return result


def unavailable_label(code: str | None, person: User | None = None) -> str:
    """Why a person cannot take a request now, in words (empty: he can)."""
    if not code:
        return ""
    if code in (availability.AWAY, availability.OFF_SHIFT) and person is not None:
        return str(person.get_availability_display())
    label = UNAVAILABLE_LABELS.get(code)
    if label is None:
        return code
    if code == availability.OUTSIDE_HOURS and person is not None:
        return _("outside his working hours (%(start)s–%(end)s)") % {
            "start": person.work_starts.strftime("%H:%M"),
            "end": person.work_ends.strftime("%H:%M"),
        }
    return str(label)


def availability_of(person: User) -> dict[str, Any]:
    """The header switch's state: the switch, and why he gets nothing although on shift."""
    code = availability.unavailable_because(person, clock.now())
    note = ""
    if person.availability == Availability.ON_SHIFT and code:
        note = unavailable_label(code, person)
    return {"status": person.availability, "label": person.get_availability_display(), "note": note}


def availability_switch(person: User, *, next_url: str, error: str = "") -> dict[str, Any]:
    """What the header switch (inbound/_availability.html) renders."""
    return {
        "state": availability_of(person),
        "choices": Availability.choices,
        "next": next_url,
        "error": error,
    }


# --- the team behind a head-of-sales page ------------------------------------------------------


def teams_managed(viewer: User) -> list[Team]:
    """The teams whose inbound desk the viewer runs (his own; every team for a director)."""
    return [t for t in Team.objects.order_by("name") if policies.can_edit_routing(viewer, t.pk)]


def open_load(user_ids: Iterable[int]) -> dict[int, int]:
    """Open requests (assigned or in work) per person."""
    return dict(
        InboundRequest.objects.filter(assignee_id__in=list(user_ids), status__in=OPEN_STATUSES)
        .values_list("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )


@dataclass
class Person:
    """Someone a request may be given to, with his load right now."""

    user: User
    open: int
    capacity: int
    unavailable: str

    @property
    def label(self) -> str:
        text = _("%(name)s — %(open)s of %(capacity)s") % {
            "name": self.user.display_name,
            "open": self.open,
            "capacity": self.capacity,
        }
        if self.unavailable:
            text += f" ({self.unavailable})"
        return text


def reassign_choices(viewer: User, team_id: int) -> list[Person]:
    """The active people of the team, with their load, for the head of sales' reassign form."""
    if not policies.can_reassign(viewer, team_id):
        return []
    now = clock.now()
    policy = routing_policy_in_force(team_id, now).doc
    people = list(User.objects.filter(team_id=team_id, is_active=True).order_by("last_name"))
    capacity = dict(Specialist.objects.filter(user__in=people).values_list("user_id", "capacity"))
    load = open_load(p.pk for p in people)
    return [
        Person(
            user=p,
            open=load.get(p.pk, 0),
            capacity=capacity.get(p.pk) or policy.default_capacity,
            unavailable=unavailable_label(availability.unavailable_because(p, now), p),
        )
        for p in people
    ]


# --- the request card --------------------------------------------------------------------------


def thread_of(request: InboundRequest) -> QuerySet[RequestMessage]:
    """The request's messages, oldest first, with their attachments (the viewer may see the
    request: the caller read it through selectors.request_for)."""
    return request.messages.prefetch_related("attachments").order_by("at", "id")


def may_reply(viewer: User, request: InboundRequest) -> bool:
    """Answering the customer by e-mail: the person working on it, when he left an address."""
    return bool(request.email) and policies.can_work_on(viewer, request)


# --- specialists, forms, policy versions -------------------------------------------------------


@dataclass
class SpecialistRow:
    """One person of the team on the specialists page, as routing sees him now."""

    user: User
    stored: bool
    takes_requests: bool
    capacity: int | None
    weight: int
    category_ids: list[int] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    open: int = 0

    @property
    def regions_text(self) -> str:
        return ", ".join(self.regions)

    @property
    def languages_text(self) -> str:
        return ", ".join(self.languages)


def specialist_rows(viewer: User, team_id: int) -> list[SpecialistRow]:
    """Every active person of the team with his routing settings. A team that has set nobody up
    yet routes to everyone who owns clients (assign.ensure_specialists), so they are shown so."""
    if not policies.can_edit_routing(viewer, team_id):
        raise NotFound(_("No such team."), code="team_not_found")
    people = list(
        User.objects.filter(team_id=team_id, is_active=True).order_by("last_name", "first_name")
    )
    stored = {
        s.user_id: s
        for s in Specialist.objects.filter(team_id=team_id).prefetch_related("categories")
    }
    nobody_set_up = not stored
    load = open_load(p.pk for p in people)
    rows = []
    for person in people:
        spec = stored.get(person.pk)
        if spec is not None:
            rows.append(
                SpecialistRow(
                    user=person,
                    stored=True,
                    takes_requests=spec.takes_requests,
                    capacity=spec.capacity,
                    weight=spec.weight,
                    category_ids=sorted(c.pk for c in spec.categories.all()),
                    regions=list(spec.regions),
                    languages=list(spec.languages),
                    open=load.get(person.pk, 0),
                )
            )
        else:
            rows.append(
                SpecialistRow(
                    user=person,
                    stored=False,
                    takes_requests=nobody_set_up and person.role in OWNING_ROLES,
                    capacity=None,
                    weight=1,
                    open=load.get(person.pk, 0),
                )
            )
    return rows


def categories() -> list[ProductCategory]:
    """The product categories a request or a specialist may name."""
    return list(ProductCategory.objects.order_by("name"))


def web_forms(viewer: User, team_id: int) -> QuerySet[WebForm]:
    """The team's web forms (head of sales)."""
    if not policies.can_edit_routing(viewer, team_id):
        raise NotFound(_("No such team."), code="team_not_found")
    return WebForm.objects.filter(team_id=team_id).select_related("created_by").order_by("name")


def policy_versions(viewer: User, team_id: int) -> QuerySet[RoutingPolicy]:
    """The team's routing policy versions, newest first."""
    if not policies.can_edit_routing(viewer, team_id):
        raise NotFound(_("No such team."), code="team_not_found")
    return (
        RoutingPolicy.objects.filter(team_id=team_id)
        .select_related("approved_by")
        .order_by("-version")
    )


# --- the request input's errors ----------------------------------------------------------------


def _max_length(name: str) -> int | None:
    info = RequestIn.model_fields.get(name)
    if info is None:
        return None
    for item in info.metadata:
        if isinstance(item, MaxLen):
            return int(item.max_length)
    return None


def request_errors(
    items: Iterable[dict[str, Any]], payload: dict[str, Any]
) -> tuple[dict[str, list[str]], list[str]]:
    """A rejected request's errors (pydantic's list, as services.parse_request gives it) in the
    user's language: per field, and the ones about the whole request."""
    per_field: dict[str, list[str]] = {}
    general: list[str] = []
    for item in items:
        loc = item.get("loc") or ()
        name = str(loc[0]) if loc else ""
        kind = item.get("type", "")
        if kind == "string_too_long":
            limit = _max_length(name)
            message = (
                _("Too long: at most %(n)s characters.") % {"n": limit} if limit else _("Too long.")
            )
        elif kind in ("int_parsing", "int_type"):
            message = _("Pick a value from the list.")
        elif not name and not (
            str(payload.get("phone") or "").strip() or str(payload.get("email") or "").strip()
        ):
            message = _("Leave a phone or an e-mail: otherwise we cannot answer.")
        else:
            message = str(item.get("msg", "")).removeprefix("Value error, ")
        if name:
            per_field.setdefault(name, []).append(message)
        else:
            general.append(message)
    return per_field, general


def status_badge(status: str) -> str:
    """The badge colour of a request status."""
    return {
        Status.NEW: "badge-warn",
        Status.ASSIGNED: "badge-info",
        Status.IN_WORK: "badge-accent",
        Status.CONVERTED: "badge-ok",
        Status.CLOSED: "badge-muted",
    }.get(Status(status), "")
