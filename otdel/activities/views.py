"""Call pages: the call log, the post-call card, unknown callers and the head's effective-call
policy editor.

Views are thin: they parse the request, call a selector or a service and render. A refusal
(DomainError) becomes a message or a form error.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlparse

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pydantic.fields import FieldInfo

from otdel.activities import selectors
from otdel.activities.call_policy import EffectiveCallPolicyDocument
from otdel.activities.call_policy_services import call_policy_in_force, publish_call_policy
from otdel.activities.models import (
    CallDirection,
    CallOutcomeKind,
    EffectiveCallPolicy,
)
from otdel.activities.outcomes import MARK_WINDOW, mark_outcomes
from otdel.activities.unknown import may_resolve_unknown, resolve_unknown_number
from otdel.activities.verdicts import reasons_of
from otdel.clients.models import Client
from otdel.clients.selectors import search_clients
from otdel.core import clock
from otdel.core.errors import DomainError, Invalid
from otdel.core.paging import page_without_count, query_without
from otdel.core.policy_forms import PolicyDocumentForm
from otdel.ownership import policies
from otdel.people.models import Team, User

PAGE_SIZE = 50

# The policy document's field descriptions are the editor's labels; listed so makemessages
# extracts them (tests/activities/test_views.py checks the list against the document).
DESCRIPTION_MSGIDS = (
    gettext_noop("Minimum talk time, in seconds (answered time as the phone system measured it)"),
    gettext_noop(
        "Directions that count: outbound calls only, or inbound calls too (internal calls between colleagues never count)"
    ),
    gettext_noop(
        "Only calls reported by the phone system count; calls logged by hand are shown but never effective"
    ),
    gettext_noop(
        "Whose clients count: only clients in the caller's base at the time of the call, or also pool clients (clients in a colleague's base never count)"
    ),
    gettext_noop(
        "Outcomes the call must have, all of them (decision maker reached, mobile obtained, e-mail obtained, presentation sent); none by default"
    ),
    gettext_noop(
        "Count one effective call per client and person in N calendar days: a call is not counted when the same person's effective call to the client was counted on the same day or in the N-1 days before (1: once a day; 0: every call counts)"
    ),
    gettext_noop(
        "A callback is an outbound call to a client whose last contact was an inbound call (the client called us and nobody has talked to him at least the minimum talk time since). A callback within N calendar days is judged like any call; a callback to an older inbound call is stale"
    ),
    gettext_noop(
        "Inbound calls older than this many days are forgotten: a call to such a client is ordinary work on the base, not a callback"
    ),
    gettext_noop(
        "Stale callbacks are excluded (never effective), or counted as a separate measure (never effective, but reported as callbacks when they pass every other rule)"
    ),
)
CHOICE_LABELS = {
    "counted_directions": [("out", gettext_lazy("outbound")), ("in", gettext_lazy("inbound"))],
    "client_scope": [
        ("own_base", gettext_lazy("only the caller's base")),
        ("own_base_or_pool", gettext_lazy("the caller's base or the pool")),
    ],
    "stale_callbacks": [
        ("exclude", gettext_lazy("excluded")),
        ("separate", gettext_lazy("counted as a separate measure")),
    ],
}


# --- helpers ---------------------------------------------------------------------------------


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _viewer(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def is_playable(url: str) -> bool:
    """A recording the browser can play itself: an http(s) link (else it is a PBX file name)."""
    return urlparse(url).scheme in ("http", "https") if url else False


def decorate(call: Any, viewer: User, now: dt.datetime) -> Any:
    """What a row or card shows besides the fact: the reasons in the viewer's language, a
    playable recording, whether the viewer may still mark outcomes."""
    call.reason_texts = [r.text for r in reasons_of(call)]
    call.playable = is_playable(call.recording_url)
    call.recording_name = call.recording_url.rsplit("/", 1)[-1] if call.recording_url else ""
    call.may_mark = call.user_id == viewer.pk and now - call.started_at <= MARK_WINDOW
    return call


# --- the call log ----------------------------------------------------------------------------


@login_required
@require_GET
def call_log(request: HttpRequest) -> HttpResponse:
    """The viewer's calls with their verdicts; the head of sales sees the team's."""
    user = _viewer(request)
    is_head = user.is_head_of_sales
    period = request.GET.get("period", "week")
    if period not in selectors.PERIODS:
        period = "week"
    effective_raw = request.GET.get("effective", "")
    effective = {"yes": True, "no": False}.get(effective_raw)
    # "Callbacks": stale callbacks the team's policy counts as a separate measure.
    measure = "callback" if effective_raw == "callback" else ""
    direction = request.GET.get("direction", "")
    sort = request.GET.get("sort", "-time")
    if sort not in selectors.SORTS:
        sort = "-time"
    person_raw = request.GET.get("person", "")
    person_id = int(person_raw) if person_raw.isdigit() else None
    scope = "team" if is_head and request.GET.get("scope", "team") == "team" else "mine"
    qs = selectors.call_log(
        user,
        scope=scope,
        person_id=person_id,
        period=period,
        effective=effective,
        direction=direction,
        sort=sort,
        measure=measure,
    )
    rows, number, has_next = page_without_count(request, qs, size=PAGE_SIZE)
    now = clock.now()
    for call in rows:
        decorate(call, user, now)
    return render(
        request,
        "activities/call_log.html",
        {
            "calls": rows,
            "is_head": is_head,
            "scope": scope,
            "people": selectors.team_people(user) if is_head else [],
            "person_id": person_id,
            "period": period,
            "periods": [
                ("today", _("Today")),
                ("week", _("This week")),
                ("month", _("This month")),
                ("all", _("All time")),
            ],
            "effective": effective_raw,
            "direction": direction,
            "directions": CallDirection.choices,
            "sort": sort,
            "page": number,
            "has_next": has_next,
            "query": query_without(request, "page"),
            "sort_query": query_without(request, "page", "sort"),
        },
    )


# --- the post-call card ----------------------------------------------------------------------


def _card_context(call: Any, user: User) -> dict[str, Any]:
    decorate(call, user, clock.now())
    marked = {o.kind: o for o in call.outcomes.all()}
    return {
        "call": call,
        "outcomes": [
            {"kind": kind, "label": label, "marked": marked.get(kind)}
            for kind, label in CallOutcomeKind.choices
        ],
        "required": set(
            (call.verdict_policy.document or {}).get("required_outcomes", [])
            if call.verdict_policy
            else []
        ),
    }


@login_required
@require_http_methods(["GET", "POST"])
def call_card(request: HttpRequest, call_id: int) -> HttpResponse:
    """The caller's post-call card: the facts, the verdict and why, the outcomes he marks;
    saving judges the call again. Anyone else gets 404."""
    user = _viewer(request)
    try:
        call = selectors.own_call(user, call_id)
    except DomainError:
        raise Http404 from None
    if request.method == "POST":
        try:
            call = mark_outcomes(call.pk, actor=user, kinds=request.POST.getlist("outcomes"))
        except DomainError as err:
            messages.error(request, err.message)
        else:
            messages.success(request, _("Outcomes saved: the call is judged again."))
        if not _is_htmx(request):
            return redirect(reverse("activities:call_card", args=[call_id]))
        call = selectors.own_call(user, call_id)
    context = _card_context(call, user)
    if _is_htmx(request):
        return render(request, "activities/_card.html", {**context, "in_panel": True})
    return render(request, "activities/card.html", context)


# --- unknown callers -------------------------------------------------------------------------


def _require_resolver(user: User) -> None:
    """The unknown-callers pages do not exist for anyone who may not resolve numbers."""
    if not may_resolve_unknown(user):
        raise Http404


@login_required
@require_GET
def unknown_callers(request: HttpRequest) -> HttpResponse:
    """Numbers that called (or were called) and belong to no client, grouped by number."""
    user = _viewer(request)
    _require_resolver(user)
    q = request.GET.get("q", "").strip()
    rows, number, has_next = page_without_count(
        request, selectors.unknown_callers(user, q=q), size=PAGE_SIZE
    )
    return render(
        request,
        "activities/unknown.html",
        {
            "rows": rows,
            "q": q,
            "page": number,
            "has_next": has_next,
            "query": query_without(request, "page"),
        },
    )


@login_required
@require_GET
def unknown_client_choices(request: HttpRequest) -> HttpResponse:
    """Clients matching a name or ИНН, with their contacts, as choices for the resolve form."""
    user = _viewer(request)
    _require_resolver(user)
    q = request.GET.get("q", "").strip()
    found: list[Client] = []
    if len(q) >= 2:
        found = list(search_clients(user, q=q).prefetch_related("contacts")[:15])
    return render(
        request,
        "activities/_client_choices.html",
        {"clients": found, "q": q, "e164": request.GET.get("e164", "")},
    )


@login_required
@require_POST
def unknown_resolve(request: HttpRequest) -> HttpResponse:
    """Attach an unknown number to a contact (or a new contact on a client)."""
    user = _viewer(request)
    _require_resolver(user)
    target = request.POST.get("target", "")
    kind, _sep, raw_id = target.partition(":")
    contact_id = int(raw_id) if kind == "contact" and raw_id.isdigit() else None
    client_id = int(raw_id) if kind == "client" and raw_id.isdigit() else None
    try:
        if contact_id is None and client_id is None:
            raise Invalid(_("Choose a contact, or a client to add a new contact to."))
        done = resolve_unknown_number(
            request.POST.get("e164", ""),
            actor=user,
            contact_id=contact_id,
            client_id=client_id,
            full_name=request.POST.get("full_name", ""),
            position=request.POST.get("position", ""),
        )
    except DomainError as err:
        messages.error(request, err.message)
    else:
        messages.success(
            request,
            _("The number is on %(contact)s (%(client)s); %(n)s calls moved to the client.")
            % {
                "contact": done.contact.full_name,
                "client": done.contact.client.name,
                "n": done.calls_matched,
            },
        )
    return redirect(reverse("activities:unknown_callers"))


# --- the effective-call policy ---------------------------------------------------------------


class CallPolicyForm(PolicyDocumentForm):
    """Every field of the effective-call policy; pydantic has the last word on what is valid."""

    document_class = EffectiveCallPolicyDocument

    def document_field(self, name: str, info: FieldInfo) -> forms.Field:
        if name == "required_outcomes":
            return forms.MultipleChoiceField(
                label=self.label(name),
                choices=CallOutcomeKind.choices,
                widget=forms.CheckboxSelectMultiple,
                required=False,
            )
        if name == "counted_directions":
            return forms.MultipleChoiceField(
                label=self.label(name),
                choices=CHOICE_LABELS[name],
                widget=forms.CheckboxSelectMultiple,
                required=False,
            )
        if name in CHOICE_LABELS:
            return forms.ChoiceField(label=self.label(name), choices=CHOICE_LABELS[name])
        return super().document_field(name, info)


def _policy_team(request: HttpRequest, user: User) -> tuple[Team, list[Team]]:
    """The team whose policy is edited: the head's own, or one chosen by a director."""
    teams = [t for t in Team.objects.order_by("name") if policies.can_edit_policy(user, t.pk)]
    if not teams:
        raise Http404
    wanted = request.POST.get("team") or request.GET.get("team")
    chosen = next((t for t in teams if str(t.pk) == wanted), None)
    if chosen is None:
        chosen = next((t for t in teams if t.pk == user.team_id), teams[0])
    return chosen, teams


@login_required
@require_http_methods(["GET", "POST"])
def call_policy(request: HttpRequest) -> HttpResponse:
    """The team's effective-call policy in force and its versions; publishing a new version,
    never editing one."""
    user = _viewer(request)
    if not user.is_head_of_sales:
        raise Http404
    team, teams = _policy_team(request, user)
    in_force = call_policy_in_force(team.pk)
    if request.method == "POST":
        form = CallPolicyForm(request.POST)
        if form.is_valid():
            try:
                version = publish_call_policy(
                    team.pk,
                    document=form.document(),
                    effective_from=form.effective_moment(),
                    actor=user,
                    comment=form.cleaned_data["comment"],
                )
            except DomainError as err:
                form.add_policy_errors(err)
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
                return redirect(f"{reverse('activities:call_policy')}?team={team.pk}")
    else:
        form = CallPolicyForm(initial=CallPolicyForm.initial_from(in_force.doc))
    versions = (
        EffectiveCallPolicy.objects.filter(team=team)
        .select_related("approved_by")
        .order_by("-version")
    )
    return render(
        request,
        "activities/call_policy.html",
        {
            "form": form,
            "team": team,
            "teams": teams,
            "in_force": in_force,
            "versions": versions,
            "now": clock.now(),
        },
    )
