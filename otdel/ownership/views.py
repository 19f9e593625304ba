"""Ownership pages: my base, the pool, transfer requests, the head's dashboard and policy.

Views are thin: they parse the request, call a selector or a service and render. Every change
goes through otdel.ownership.services; a refusal (DomainError) becomes a message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pydantic import ValidationError

from otdel.clients import services as client_services
from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.errors import DomainError
from otdel.core.paging import page_without_count, query_without
from otdel.ownership import policies, selectors, services
from otdel.ownership.forms import PolicyForm
from otdel.ownership.models import TransferRequest, TransferStatus
from otdel.ownership.policy import policy_in_force
from otdel.people.models import Team, User

PAGE_SIZE = 50


# --- helpers ---------------------------------------------------------------------------------


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    """Back to where the form was (a safe `next`, else the referrer), else the fallback."""
    for target in (request.POST.get("next"), request.headers.get("Referer")):
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return redirect(target)
    return redirect(fallback)


def _card_url(client_id: int) -> str:
    return reverse("clients:detail", args=[client_id])


def _act(
    request: HttpRequest, action: Callable[[], Any], success: str, fallback: str
) -> HttpResponseRedirect:
    """Run a service; report success or the rule that refused; go back."""
    try:
        action()
    except DomainError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, success)
    return _back(request, fallback)


def _require_head(user: User) -> None:
    """Head-only pages do not exist for anyone else."""
    if not user.is_head_of_sales:
        raise Http404


def _days_left(returns_at: dt.datetime | None, now: dt.datetime) -> int | None:
    return selectors.days_until(returns_at, now)


# --- my base and the pool --------------------------------------------------------------------


@login_required
@require_GET
def my_base(request: HttpRequest) -> HttpResponse:
    """The viewer's own clients, soonest return to the pool first, with his cap usage."""
    user: User = request.user  # type: ignore[assignment]
    q = request.GET.get("q", "").strip()
    sort = request.GET.get("sort", "returns")
    rows, number, has_next = page_without_count(
        request, selectors.my_base(user, q=q, sort=sort).select_related("team"), size=PAGE_SIZE
    )
    now = clock.now()
    policy = policy_in_force(user.team_id) if user.team_id else None
    warn_days = policy.doc.warn_days_before if policy else 3
    for client in rows:
        client.days_left = _days_left(client.returns_at, now)
        client.is_protected = bool(client.protected_until and client.protected_until > now)
        client.is_warned = client.days_left is not None and client.days_left <= warn_days
    return render(
        request,
        "ownership/my_base.html",
        {
            "clients": rows,
            "usage": services.cap_usage(user, policy),
            "q": q,
            "sort": sort,
            "page": number,
            "has_next": has_next,
            "query": query_without(request, "page"),
            "sort_query": query_without(request, "page", "sort"),
        },
    )


def _pool_choices(field: str) -> list[str]:
    """Distinct regions or industries for the filters; cached, the pool may be huge."""
    key = f"ownership:pool-choices:{field}"
    values = cache.get(key)
    if values is None:
        values = sorted(
            v for v in Client.objects.in_pool().values_list(field, flat=True).distinct()[:500] if v
        )
        cache.set(key, values, 600)
    return values


@login_required
@require_GET
def pool(request: HttpRequest) -> HttpResponse:
    """Clients nobody owns, with filters and a claim button per row."""
    user: User = request.user  # type: ignore[assignment]
    q = request.GET.get("q", "").strip()
    region = request.GET.get("region", "")
    industry = request.GET.get("industry", "")
    sort = request.GET.get("sort", "name")
    qs = selectors.pool(user, q=q, region=region, industry=industry, sort=sort)
    rows, number, has_next = page_without_count(request, qs, size=PAGE_SIZE)
    return render(
        request,
        "ownership/pool.html",
        {
            "clients": rows,
            "may_claim": user.owns_clients,
            "usage": services.cap_usage(user) if user.owns_clients else None,
            "q": q,
            "region": region,
            "industry": industry,
            "sort": sort,
            "regions": _pool_choices("region"),
            "industries": _pool_choices("industry"),
            "page": number,
            "has_next": has_next,
            "query": query_without(request, "page"),
            "sort_query": query_without(request, "page", "sort"),
        },
    )


# --- actions on one client -------------------------------------------------------------------


@login_required
@require_POST
def claim(request: HttpRequest, client_id: int) -> HttpResponse:
    """Take a pool client; from the pool table (htmx) the row answers in place."""
    user: User = request.user  # type: ignore[assignment]
    if _is_htmx(request):
        try:
            services.claim(client_id, actor=user)
        except DomainError as err:
            return render(
                request, "ownership/_claim_result.html", {"ok": False, "message": err.message}
            )
        return render(request, "ownership/_claim_result.html", {"ok": True, "client_id": client_id})
    return _act(
        request,
        lambda: services.claim(client_id, actor=user),
        _("The client is yours now."),
        _card_url(client_id),
    )


@login_required
@require_POST
def release(request: HttpRequest, client_id: int) -> HttpResponse:
    """The owner or the head of sales returns a client to the pool, with a reason."""
    user: User = request.user  # type: ignore[assignment]
    reason = request.POST.get("reason", "")
    return _act(
        request,
        lambda: services.release_to_pool(client_id, actor=user, reason=reason),
        _("The client is back in the pool."),
        _card_url(client_id),
    )


@login_required
@require_POST
def assign(request: HttpRequest, client_id: int) -> HttpResponse:
    """The head of sales gives a client to a person, possibly over his cap."""
    user: User = request.user  # type: ignore[assignment]
    raw = request.POST.get("to_user", "")
    to_user = User.objects.filter(pk=int(raw), is_active=True).first() if raw.isdigit() else None
    if to_user is None:
        messages.error(request, _("Choose who gets the client."))
        return _back(request, _card_url(client_id))
    return _act(
        request,
        lambda: services.assign(
            client_id,
            to_user=to_user,
            actor=user,
            reason=request.POST.get("reason", "").strip(),
            override_cap=bool(request.POST.get("override_cap")),
        ),
        _("Assigned to %(name)s.") % {"name": to_user.display_name},
        _card_url(client_id),
    )


@login_required
@require_POST
def request_transfer(request: HttpRequest, client_id: int) -> HttpResponse:
    """Another manager asks for an owned client: "I have an order from this client"."""
    user: User = request.user  # type: ignore[assignment]
    return _act(
        request,
        lambda: services.request_transfer(
            client_id, requester=user, reason=request.POST.get("reason", "")
        ),
        _("Request sent: the owner has until the deadline to answer."),
        _card_url(client_id),
    )


@login_required
@require_POST
def lock(request: HttpRequest, client_id: int) -> HttpResponse:
    """The head of sales locks a client against automatic return, or unlocks it."""
    user: User = request.user  # type: ignore[assignment]
    locked = request.POST.get("locked", "1") == "1"
    return _act(
        request,
        lambda: client_services.set_locked(client_id, locked=locked, actor=user),
        _("The client is locked.") if locked else _("The client is unlocked."),
        _card_url(client_id),
    )


# --- transfer requests -----------------------------------------------------------------------


@login_required
@require_GET
def transfers(request: HttpRequest) -> HttpResponse:
    """Transfer requests I am part of; the head of sales also sees those awaiting his decision."""
    user: User = request.user  # type: ignore[assignment]
    tabs = [("open", _("Open")), ("closed", _("Closed"))]
    if user.is_head_of_sales:
        tabs.insert(0, ("decision", _("Awaiting decision")))
    box = request.GET.get("box") or tabs[0][0]
    if box not in dict(tabs):
        box = tabs[0][0]
    if box == "decision":
        qs = selectors.transfers_for(user, box="open").filter(
            status=TransferStatus.AWAITING_DECISION
        )
    else:
        qs = selectors.transfers_for(user, box=box)
    rows, number, has_next = page_without_count(request, qs, size=PAGE_SIZE)
    return render(
        request,
        "ownership/transfers.html",
        {
            "transfers": rows,
            "tabs": tabs,
            "box": box,
            "page": number,
            "has_next": has_next,
            "query": query_without(request, "page"),
            "now": clock.now(),
        },
    )


def _load_transfer(user: User, transfer_id: int) -> TransferRequest:
    transfer = (
        TransferRequest.objects.select_related("client", "requester", "owner", "decided_by")
        .filter(pk=transfer_id)
        .first()
    )
    if transfer is None or not policies.can_view_transfer(user, transfer):
        raise Http404
    return transfer


@login_required
@require_GET
def transfer_detail(request: HttpRequest, transfer_id: int) -> HttpResponse:
    """The steps of one request, and the form for whoever has to act next."""
    user: User = request.user  # type: ignore[assignment]
    transfer = _load_transfer(user, transfer_id)
    now = clock.now()
    is_open = transfer.is_open
    return render(
        request,
        "ownership/transfer_detail.html",
        {
            "t": transfer,
            "now": now,
            "deadline_passed": transfer.owner_deadline <= now,
            "may_answer": is_open
            and transfer.status == TransferStatus.AWAITING_OWNER
            and policies.can_answer_transfer(user, transfer),
            "may_decide": is_open and policies.can_decide_transfer(user, transfer),
            "may_cancel": is_open and policies.can_cancel_transfer(user, transfer),
        },
    )


@login_required
@require_POST
def transfer_answer(request: HttpRequest, transfer_id: int) -> HttpResponse:
    """The owner agrees (the client moves now) or objects (the head of sales decides)."""
    user: User = request.user  # type: ignore[assignment]
    agree = request.POST.get("answer") == "agree"
    return _act(
        request,
        lambda: services.answer_transfer(
            transfer_id, actor=user, agree=agree, comment=request.POST.get("comment", "").strip()
        ),
        _("You agreed: the client is handed over.")
        if agree
        else _("Your objection goes to the head of sales."),
        reverse("ownership:transfer_detail", args=[transfer_id]),
    )


@login_required
@require_POST
def transfer_decide(request: HttpRequest, transfer_id: int) -> HttpResponse:
    """The head of sales approves or denies a request."""
    user: User = request.user  # type: ignore[assignment]
    approve = request.POST.get("decision") == "approve"
    return _act(
        request,
        lambda: services.decide_transfer(
            transfer_id,
            actor=user,
            approve=approve,
            comment=request.POST.get("comment", "").strip(),
            override_cap=bool(request.POST.get("override_cap")),
        ),
        _("Approved: the client is handed over.") if approve else _("The request is denied."),
        reverse("ownership:transfer_detail", args=[transfer_id]),
    )


@login_required
@require_POST
def transfer_cancel(request: HttpRequest, transfer_id: int) -> HttpResponse:
    """The requester withdraws his request."""
    user: User = request.user  # type: ignore[assignment]
    return _act(
        request,
        lambda: services.cancel_transfer(transfer_id, actor=user),
        _("The request is cancelled."),
        reverse("ownership:transfer_detail", args=[transfer_id]),
    )


# --- the head of sales -----------------------------------------------------------------------


@login_required
@require_GET
def head_dashboard(request: HttpRequest) -> HttpResponse:
    """Owners against their caps, clients returning this week, pool flows, pending decisions."""
    user: User = request.user  # type: ignore[assignment]
    _require_head(user)
    flows = selectors.pool_flows(user, days=30)
    peak = max([max(r["inflow"], r["outflow"]) for r in flows] or [1]) or 1
    for row in flows:
        row["in_pct"] = round(100 * row["inflow"] / peak)
        row["out_pct"] = round(100 * row["outflow"] / peak)
    returning: list[Any] = list(selectors.returning_within(user, days=7)[:100])
    now = clock.now()
    for client in returning:
        client.days_left = _days_left(client.returns_at, now)
    decisions = list(
        selectors.transfers_for(user, box="open").filter(status=TransferStatus.AWAITING_DECISION)[
            :50
        ]
    )
    return render(
        request,
        "ownership/head_dashboard.html",
        {
            "owners": selectors.owners_usage(user),
            "returning": returning,
            "flows": flows,
            "flow_totals": {
                "inflow": sum(r["inflow"] for r in flows),
                "outflow": sum(r["outflow"] for r in flows),
            },
            "decisions": decisions,
        },
    )


@login_required
@require_POST
def set_cap(request: HttpRequest, user_id: int) -> HttpResponse:
    """The head of sales sets (or clears, with an empty value) one person's own cap."""
    user: User = request.user  # type: ignore[assignment]
    raw = request.POST.get("cap", "").strip()
    if raw and not raw.isdigit():
        messages.error(request, _("A cap is a whole number from 0 to 100000."))
        return _back(request, reverse("ownership:head_dashboard"))
    return _act(
        request,
        lambda: services.set_personal_cap(user_id, cap=int(raw) if raw else None, actor=user),
        _("The cap is saved."),
        reverse("ownership:head_dashboard"),
    )


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
def policy(request: HttpRequest) -> HttpResponse:
    """The team's policy in force and its history; publishing a new version, never editing."""
    user: User = request.user  # type: ignore[assignment]
    _require_head(user)
    team, teams = _policy_team(request, user)
    in_force = policy_in_force(team.pk)
    if request.method == "POST":
        form = PolicyForm(request.POST)
        if form.is_valid():
            try:
                version = services.publish_policy(
                    team.pk,
                    document=form.document(),
                    effective_from=form.effective_moment(),
                    actor=user,
                    comment=form.cleaned_data["comment"],
                )
            except ValidationError as err:
                form.add_validation_errors(err)
            except DomainError as err:
                form.add_error(None, err.message)
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
                return redirect(f"{reverse('ownership:policy')}?team={team.pk}")
    else:
        form = PolicyForm(initial=PolicyForm.initial_from(in_force.doc))
    # Versions are read-only history; listed newest first.
    versions = selectors.policy_versions(user, team.pk)
    return render(
        request,
        "ownership/policy.html",
        {
            "form": form,
            "team": team,
            "teams": teams,
            "in_force": in_force,
            "versions": versions,
            "now": clock.now(),
        },
    )
