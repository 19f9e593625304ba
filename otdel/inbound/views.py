"""Inbound pages: my requests, the team queue, the request card with its actions, the head of
sales' board, the routing policy, the specialists and the web forms, manual entry, the
availability switch in the header, and the public form a site embeds.

Views are thin: they parse the request, call a selector or a service and render. Every change
goes through otdel.inbound.services; a refusal (DomainError) becomes a message and changes
nothing. The lists refresh themselves by htmx polling a partial (every 10 s by default)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from otdel.clients.dedup import REASON_LABELS
from otdel.core import clock
from otdel.core.errors import DomainError, Invalid, NotFound
from otdel.inbound import policies, selectors, services, view_helpers, webform
from otdel.inbound.assign import routing_policy_in_force
from otdel.inbound.forms import (
    ConvertForm,
    RequestForm,
    RoutingPolicyForm,
    WebFormForm,
    parse_specialists,
)
from otdel.inbound.models import (
    OPEN_STATUSES,
    UNRESOLVED_STATUSES,
    InboundRequest,
    RequestAttachment,
    Status,
)
from otdel.inbound.routing import explain
from otdel.people.models import Availability, Team, User
from otdel.telephony.admission import RateLimited, address_subject, client_address

# How many rows a list shows (the board's own lists are bounded by the selector).
LIST_ROWS = 200


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _poll_seconds() -> int:
    return int(getattr(settings, "OTDEL_INBOUND_POLL_SECONDS", 10))


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    """Back to where the form was (a safe `next`), else the fallback."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


def _card(request_id: int) -> str:
    return reverse("inbound:detail", args=[request_id])


def _live(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A polled partial: a signed-out poll sends the whole page to the login form (htmx follows
    HX-Redirect) instead of swapping the login page into the list."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            if _is_htmx(request):
                response = HttpResponse(status=204)
                response["HX-Redirect"] = resolve_url(settings.LOGIN_URL)
                return response
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapped


def _managed_team(request: HttpRequest, user: User) -> tuple[Team, list[Team]]:
    """The team whose inbound desk a head-of-sales page shows: his own, or one a director
    picks (?team=). Nobody else has these pages."""
    teams = view_helpers.teams_managed(user)
    if not teams:
        raise Http404
    wanted = request.POST.get("team") or request.GET.get("team")
    chosen = next((t for t in teams if str(t.pk) == wanted), None)
    if chosen is None:
        chosen = next((t for t in teams if t.pk == user.team_id), teams[0])
    return chosen, teams


def _team_query(team: Team, user: User) -> str:
    return "" if team.pk == user.team_id else f"?team={team.pk}"


# --- my requests and the team queue --------------------------------------------------------------


def _my_context(user: User) -> dict[str, Any]:
    now = clock.now()
    rows = view_helpers.with_deadlines(selectors.my_requests(user)[:LIST_ROWS], now)
    waiting = 0
    if user.team_id:
        waiting = InboundRequest.objects.filter(team_id=user.team_id, status=Status.NEW).count()
    return {
        "rows": rows,
        "waiting": waiting,
        "now": now,
        "poll_seconds": _poll_seconds(),
        "convert_form": ConvertForm(),
    }


@login_required
@require_GET
def my_requests(request: HttpRequest) -> HttpResponse:
    """My open requests, the nearest deadline first, counting down; the list refreshes itself."""
    user = _user(request)
    context = _my_context(user)
    context["finished"] = list(selectors.my_requests(user, resolved=True)[:10])
    context["may_enter"] = bool(user.team_id and policies.can_enter_request(user, user.team_id))
    return render(request, "inbound/my_requests.html", context)


@_live
@require_GET
def my_requests_list(request: HttpRequest) -> HttpResponse:
    """The list of my requests alone (polled by the page)."""
    return render(request, "inbound/_my_requests.html", _my_context(_user(request)))


def _queue_context(request: HttpRequest, user: User) -> dict[str, Any]:
    team_id = None
    wanted = request.GET.get("team", "")
    if wanted.isdigit() and policies.can_reassign(user, int(wanted)):
        team_id = int(wanted)
    try:
        qs = selectors.team_queue(user, team_id)
    except DomainError as err:
        raise Http404 from err
    now = clock.now()
    rows = view_helpers.with_deadlines(qs[:LIST_ROWS], now)
    for row in rows:
        row.may_take = policies.can_take_from_queue(user, row)  # type: ignore[attr-defined]
    team = team_id or user.team_id or 0
    return {
        "rows": rows,
        "total": qs.count(),
        "now": now,
        "team_id": team,
        "team_query": f"?team={team}" if team_id else "",
        "page_url": reverse("inbound:queue") + (f"?team={team}" if team_id else ""),
        "poll_seconds": _poll_seconds(),
        "may_reassign": policies.can_reassign(user, team),
        "people": view_helpers.reassign_choices(user, team),
    }


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """The team's waiting requests, oldest first, with why each waits; anyone of the team
    takes one."""
    return render(request, "inbound/queue.html", _queue_context(request, _user(request)))


@_live
@require_GET
def queue_list(request: HttpRequest) -> HttpResponse:
    """The queue alone (polled by the page)."""
    return render(request, "inbound/_queue.html", _queue_context(request, _user(request)))


# --- the request card and its actions --------------------------------------------------------------


def _load(user: User, request_id: int) -> InboundRequest:
    try:
        return selectors.request_for(user, request_id)
    except DomainError as err:
        raise Http404 from err


@login_required
@require_GET
def detail(request: HttpRequest, request_id: int) -> HttpResponse:
    """One request: what the customer wrote (escaped), who it is, where it is and why, its
    deadlines, its story and messages, and what the viewer may do with it."""
    user = _user(request)
    item = _load(user, request_id)
    now = clock.now()
    works_on = policies.can_work_on(user, item)
    unresolved = item.status in UNRESOLVED_STATUSES
    may_reassign = unresolved and policies.can_reassign(user, item.team_id)
    return render(
        request,
        "inbound/detail.html",
        {
            "item": item,
            "why": explain(item.assigned_why),
            "matched_by": [str(REASON_LABELS.get(r, r)) for r in item.match_reasons],
            "countdowns": view_helpers.deadlines_of(item, now),
            "story": selectors.story_of(item),
            "thread": view_helpers.thread_of(item),
            "status_badge": view_helpers.status_badge(item.status),
            "may_take": item.status == Status.ASSIGNED and item.assignee_id == user.pk,
            "may_take_from_queue": item.status == Status.NEW
            and policies.can_take_from_queue(user, item),
            "may_close": works_on and unresolved,
            "may_convert": works_on and item.status in OPEN_STATUSES,
            "may_reassign": may_reassign,
            "people": view_helpers.reassign_choices(user, item.team_id) if may_reassign else [],
            "may_reply": view_helpers.may_reply(user, item),
            "convert_form": ConvertForm(initial={"title": item.subject}),
            "now": now,
        },
    )


def _act(
    request: HttpRequest, request_id: int, action: Callable[[], Any], success: str
) -> HttpResponse:
    """Run a service; report success or the rule that refused; go back."""
    try:
        action()
    except DomainError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, success)
    return _back(request, _card(request_id))


@login_required
@require_POST
def take(request: HttpRequest, request_id: int) -> HttpResponse:
    """The assignee takes the request in work (his first response)."""
    user = _user(request)
    return _act(
        request,
        request_id,
        lambda: services.take(request_id, actor=user),
        _("The request is in your work."),
    )


@login_required
@require_POST
def take_from_queue(request: HttpRequest, request_id: int) -> HttpResponse:
    """A specialist takes a waiting request himself; it opens for him."""
    user = _user(request)
    try:
        services.take_from_queue(request_id, actor=user)
    except DomainError as err:
        messages.error(request, err.message)
        return _back(request, reverse("inbound:queue"))
    messages.success(request, _("The request is yours now."))
    return redirect(_card(request_id))


@login_required
@require_POST
def close(request: HttpRequest, request_id: int) -> HttpResponse:
    """Close a request that will not become a deal, with the reason."""
    user = _user(request)
    reason = request.POST.get("reason", "")
    return _act(
        request,
        request_id,
        lambda: services.close(request_id, actor=user, reason=reason),
        _("The request is closed."),
    )


@login_required
@require_POST
def convert(request: HttpRequest, request_id: int) -> HttpResponse:
    """The request becomes a deal (source: inbound); the deal's page opens."""
    user = _user(request)
    form = ConvertForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return _back(request, _card(request_id))
    try:
        item = services.convert_to_deal(
            request_id,
            actor=user,
            title=form.cleaned_data["title"],
            amount_estimate=form.cleaned_data["amount"],
        )
    except DomainError as err:
        messages.error(request, err.message)
        return _back(request, _card(request_id))
    messages.success(
        request,
        _("Request №%(number)s became this deal; the source is an inbound request.")
        % {"number": item.number},
    )
    return redirect(reverse("sales:deal_detail", args=[item.deal_id]))


@login_required
@require_POST
def reassign(request: HttpRequest, request_id: int) -> HttpResponse:
    """The head of sales gives the request to someone else, with a reason."""
    user = _user(request)
    raw = request.POST.get("to_user", "")
    if not raw.isdigit():
        messages.error(request, _("Pick the person to give it to."))
        return _back(request, _card(request_id))
    reason = request.POST.get("reason", "")
    return _act(
        request,
        request_id,
        lambda: services.reassign(request_id, to_user_id=int(raw), actor=user, reason=reason),
        _("The request is reassigned."),
    )


@login_required
@require_POST
def reply(request: HttpRequest, request_id: int) -> HttpResponse:
    """Answer the customer by e-mail, in the request's thread."""
    user = _user(request)
    body = request.POST.get("body", "").strip()
    if not body:
        messages.error(request, _("Write the answer first."))
        return _back(request, _card(request_id))

    def send() -> None:
        # The mail channel is loaded only when someone answers (it pulls in SMTP and IMAP).
        from otdel.inbound import mail

        mail.reply(request_id, actor=user, body=body)

    return _act(request, request_id, send, _("The answer is sent."))


@login_required
@require_GET
def attachment(request: HttpRequest, request_id: int, attachment_id: int) -> FileResponse:
    """A file that came with the customer's e-mail, always downloaded (never shown inline: it
    was written by a stranger)."""
    item = _load(_user(request), request_id)
    found = RequestAttachment.objects.filter(pk=attachment_id, message__request=item).first()
    if found is None or not found.file:
        raise Http404
    try:
        handle = found.file.open("rb")
    except OSError as err:
        raise Http404 from err
    return FileResponse(
        handle,
        as_attachment=True,
        filename=found.name,
        content_type="application/octet-stream",
    )


# --- manual entry -------------------------------------------------------------------------------------


def _category_choices() -> list[tuple[int, str]]:
    return [(c.pk, c.name) for c in view_helpers.categories()]


@login_required
@require_http_methods(["GET", "POST"])
def enter(request: HttpRequest) -> HttpResponse:
    """A coordinator types in a request that came by another way; it is routed like any other."""
    user = _user(request)
    if not (user.team_id and policies.can_enter_request(user, user.team_id)):
        raise Http404
    form = RequestForm(request.POST or None, categories=_category_choices())
    if request.method == "POST" and form.is_valid():
        try:
            data = services.parse_request(form.payload())
            received = services.enter_request(data, team_id=user.team_id, actor=user)
        except Invalid as err:
            form.add_request_errors(err)
        except DomainError as err:
            form.add_error(None, err.message)
        else:
            item = received.request
            if received.joined:
                text = _(
                    "The same customer has an open request №%(number)s: this one joined it."
                ) % {"number": item.number}
            elif item.assignee_id:
                text = _("Request №%(number)s is with %(name)s: %(why)s") % {
                    "number": item.number,
                    "name": item.assignee.display_name if item.assignee else "",
                    "why": explain(item.assigned_why),
                }
            else:
                text = _("Request №%(number)s waits in the team queue.") % {"number": item.number}
            messages.success(request, text)
            return redirect(_card(item.pk))
    return render(request, "inbound/enter.html", {"form": form})


# --- availability -----------------------------------------------------------------------------


@login_required
@require_POST
def set_availability(request: HttpRequest) -> HttpResponse:
    """The switch in the header (or the head of sales for someone of his team, from the board)."""
    user = _user(request)
    raw = request.POST.get("person", "")
    person_id = int(raw) if raw.isdigit() else user.pk
    status = request.POST.get("status", "")
    next_url = request.POST.get("next") or reverse("inbound:my_requests")
    try:
        person = services.set_availability(person_id, status=status, actor=user)
    except DomainError as err:
        if _is_htmx(request) and person_id == user.pk:
            return render(
                request,
                "inbound/_availability.html",
                view_helpers.availability_switch(user, next_url=next_url, error=err.message),
            )
        messages.error(request, err.message)
        return _back(request, reverse("inbound:my_requests"))
    if _is_htmx(request) and person.pk == user.pk:
        response = render(
            request,
            "inbound/_availability.html",
            view_helpers.availability_switch(person, next_url=next_url),
        )
        # The lists on the page refresh at once (coming back on shift may bring requests).
        response["HX-Trigger"] = "availabilityChanged"
        return response
    if person.pk != user.pk:
        messages.success(
            request,
            _("%(name)s: %(state)s.")
            % {"name": person.display_name, "state": person.get_availability_display()},
        )
    return _back(request, reverse("inbound:my_requests"))


# --- the head of sales --------------------------------------------------------------------------


def _board_context(request: HttpRequest, user: User, team: Team) -> dict[str, Any]:
    try:
        board = selectors.board(user, team.pk)
    except DomainError as err:
        raise Http404 from err
    now = clock.now()
    users = {u.pk: u for u in User.objects.filter(pk__in=[p.user_id for p in board.people])}
    people = []
    for p in board.people:
        person = users.get(p.user_id)
        people.append(
            {
                "load": p,
                "user": person,
                "status": person.availability if person else "",
                "why": view_helpers.unavailable_label(p.unavailable, person),
                "percent": min(100, round(100 * p.open / p.capacity)) if p.capacity else 0,
            }
        )
    return {
        "board": board,
        "team": team,
        "people": people,
        "breaches": view_helpers.with_deadlines(board.breaches, now),
        "waiting_rows": view_helpers.with_deadlines(board.waiting_rows, now),
        "oldest": view_helpers.waited(board.oldest_waiting_at, now)
        if board.oldest_waiting_at
        else "",
        "choices": view_helpers.reassign_choices(user, team.pk),
        "availabilities": Availability.choices,
        "team_query": _team_query(team, user),
        "page_url": reverse("inbound:board") + _team_query(team, user),
        "poll_seconds": _poll_seconds(),
        "now": now,
    }


@login_required
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    """Load per person, breaches and waiting requests, refreshing itself."""
    user = _user(request)
    team, teams = _managed_team(request, user)
    context = _board_context(request, user, team)
    context["teams"] = teams
    return render(request, "inbound/board.html", context)


@_live
@require_GET
def board_live(request: HttpRequest) -> HttpResponse:
    """The board alone (polled by the page)."""
    user = _user(request)
    team, _teams = _managed_team(request, user)
    return render(request, "inbound/_board.html", _board_context(request, user, team))


@login_required
@require_http_methods(["GET", "POST"])
def routing_policy(request: HttpRequest) -> HttpResponse:
    """The team's routing policy in force and its versions; publishing a new version, never
    editing one."""
    user = _user(request)
    team, teams = _managed_team(request, user)
    in_force = routing_policy_in_force(team.pk)
    if request.method == "POST":
        form = RoutingPolicyForm(request.POST)
        if form.is_valid():
            try:
                version = services.publish_routing_policy(
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
                return redirect(f"{reverse('inbound:policy')}?team={team.pk}")
    else:
        form = RoutingPolicyForm(initial=RoutingPolicyForm.initial_from(in_force.doc))
    return render(
        request,
        "inbound/policy.html",
        {
            "form": form,
            "team": team,
            "teams": teams,
            "in_force": in_force,
            "versions": view_helpers.policy_versions(user, team.pk),
            "now": clock.now(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def specialists(request: HttpRequest) -> HttpResponse:
    """Who takes requests, how many at most, his weight and skills: the whole team in one
    table, saved together (nothing is saved while a row has an error)."""
    user = _user(request)
    team, teams = _managed_team(request, user)
    rows = view_helpers.specialist_rows(user, team.pk)
    categories = view_helpers.categories()
    inputs = {}
    if request.method == "POST":
        parsed = parse_specialists(request.POST, rows, {c.pk for c in categories})
        inputs = {p.user_id: p for p in parsed}
        if not any(p.errors for p in parsed):
            changed = [p for p, row in zip(parsed, rows, strict=True) if p.differs(row)]
            try:
                # One table, one decision: a refusal for one person saves nobody.
                with transaction.atomic():
                    for p in changed:
                        services.set_specialist(
                            p.user_id,
                            actor=user,
                            takes_requests=p.takes_requests,
                            capacity=p.capacity,
                            weight=p.weight,
                            category_ids=p.category_ids,
                            regions=p.regions,
                            languages=p.languages,
                        )
            except DomainError as err:
                messages.error(request, err.message)
            else:
                messages.success(
                    request,
                    _("Saved: %(n)s changed.") % {"n": len(changed)}
                    if changed
                    else _("Nothing changed."),
                )
                return redirect(f"{reverse('inbound:specialists')}?team={team.pk}")
        else:
            messages.error(request, _("Fix the marked rows: nothing was saved."))
    policy = routing_policy_in_force(team.pk).doc
    return render(
        request,
        "inbound/specialists.html",
        {
            "team": team,
            "teams": teams,
            "rows": [(row, inputs.get(row.user.pk)) for row in rows],
            "categories": categories,
            "default_capacity": policy.default_capacity,
            "nobody_set_up": not any(row.stored for row in rows),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def web_forms(request: HttpRequest) -> HttpResponse:
    """The team's web forms: create one, switch one off, the snippet to embed it."""
    user = _user(request)
    team, teams = _managed_team(request, user)
    form = WebFormForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.create_web_form(
                team.pk,
                name=form.cleaned_data["name"],
                actor=user,
                allowed_origins=form.origins(),
            )
        except DomainError as err:
            form.add_error(None, err.message)
        else:
            messages.success(request, _("The form “%(name)s” is created.") % {"name": created.name})
            return redirect(f"{reverse('inbound:web_forms')}?team={team.pk}#form-{created.pk}")
    base = request.build_absolute_uri("/").rstrip("/")
    return render(
        request,
        "inbound/web_forms.html",
        {
            "form": form,
            "team": team,
            "teams": teams,
            "web_forms": view_helpers.web_forms(user, team.pk),
            "base_url": base,
        },
    )


@login_required
@require_POST
def web_form_active(request: HttpRequest, form_id: int) -> HttpResponse:
    """Switch a form off (its posts are refused) or on again."""
    user = _user(request)
    active = request.POST.get("active") == "1"
    try:
        found = services.set_web_form_active(form_id, active=active, actor=user)
    except DomainError as err:
        messages.error(request, err.message)
    else:
        messages.success(
            request,
            (
                _("The form “%(name)s” accepts requests.")
                if active
                else _("The form “%(name)s” is switched off: its posts are refused.")
            )
            % {"name": found.name},
        )
    return _back(request, reverse("inbound:web_forms"))


# --- the public form a site embeds -----------------------------------------------------------------

PUBLIC_FIELDS = (
    ("name", "text", "name"),
    ("company", "text", "organization"),
    ("phone", "tel", "tel"),
    ("email", "email", "email"),
    ("message", "textarea", "off"),
)


# What a post to the public form may carry: its fields, the honeypot, the submission's id.
PUBLIC_KEYS = (
    *(name for name, _kind, _auto in PUBLIC_FIELDS),
    "subject",
    webform.HONEYPOT,
    "submission_id",
)


def _public_labels() -> dict[str, str]:
    return {
        "name": _("Your name"),
        "company": _("Company"),
        "phone": _("Phone"),
        "email": _("E-mail"),
        "message": _("What do you need?"),
    }


def _public_page(
    request: HttpRequest,
    key: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    general: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    labels = _public_labels()
    values = values or {}
    errors = errors or {}
    fields = [
        {
            "name": name,
            "type": kind,
            "autocomplete": autocomplete,
            "label": labels[name],
            "value": values.get(name, ""),
            "errors": errors.get(name, []),
        }
        for name, kind, autocomplete in PUBLIC_FIELDS
    ]
    return render(
        request,
        "inbound/public_form.html",
        {
            "key": key,
            "fields": fields,
            "general": general or [],
            "honeypot": webform.HONEYPOT,
            # A re-sent post (a double click, a refresh) carries the same id and changes nothing.
            "submission_id": values.get("submission_id") or secrets.token_urlsafe(16),
        },
        status=status,
    )


def _public_language(request: HttpRequest) -> str:
    wanted = request.GET.get("lang", "")
    supported = {code for code, _name in settings.LANGUAGES}
    return wanted if wanted in supported else translation.get_language() or "ru"


# A site's form is posted from the visitor's browser on another site, which has no CSRF token
# of ours (and must not have one); what protects it is the key, the honeypot, the per-address
# rate limit and the size limit — and it changes nothing but adding a request.
@csrf_exempt
@xframe_options_exempt
@require_http_methods(["GET", "POST"])
def public_form(request: HttpRequest, key: str) -> HttpResponse:
    """The form a visitor fills on a site (embedded in an iframe): a request with a number, or
    the errors with what he typed kept; floods get 429, an unknown key 404."""
    with translation.override(_public_language(request)):
        try:
            form = webform.form_by_key(key)
        except NotFound:
            return render(request, "inbound/public_missing.html", status=404)
        if request.method == "GET":
            return _public_page(request, key)
        # Only what this form asks for: an id of ours (a product category) typed into a post
        # from outside would point at nothing.
        payload = {name: request.POST.get(name, "") for name in PUBLIC_KEYS}
        try:
            accepted = webform.accept_post(
                form, payload, address=address_subject(client_address(request))
            )
        except RateLimited as err:
            response = render(
                request, "inbound/public_limited.html", {"message": err.message}, status=429
            )
            response["Retry-After"] = str(err.retry_after)
            return response
        except webform.TooLarge as err:
            return render(
                request,
                "inbound/public_missing.html",
                {"heading": _("The request is too large"), "message": err.message},
                status=413,
            )
        except Invalid as err:
            per_field, general = view_helpers.request_errors(
                err.details.get("errors") or [], payload
            )
            shown = {name for name, _kind, _auto in PUBLIC_FIELDS}
            for name, items in per_field.items():
                if name not in shown:
                    general.extend(items)
            return _public_page(
                request,
                key,
                values=payload,
                errors=per_field,
                general=general or [_("Check the fields marked below.")],
                status=422,
            )
        return render(
            request,
            "inbound/public_thanks.html",
            {"number": accepted.number, "key": key},
        )
