"""Deal pages: the pipeline board (drag-and-drop or a form per card), the deal card with its
timeline, the move form (the handoff brief, the reason a deal is lost), the handoffs inbox and
a client's deals on the client card.

Views are thin: parse the request, call a selector or a service, render. A refusal
(DomainError) becomes a message next to what was tried; nothing is half-done.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

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
from otdel.ownership.policies import manages_team
from otdel.ownership.selectors import my_base
from otdel.people.models import User
from otdel.sales import money_card, policies, selectors, services
from otdel.sales.brief import BRIEF_FIELDS
from otdel.sales.forms import DealForm, HandoffForm, LostForm
from otdel.sales.models import Deal, DealSource, Handoff, Pipeline, Stage
from otdel.sales.schemas import DealIn


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def deal_or_404(user: User, deal_id: int) -> Deal:
    try:
        return selectors.deal_for(user, deal_id)
    except DomainError as err:
        raise Http404 from err


# --- the board -------------------------------------------------------------------------------


def _board_context(request: HttpRequest, user: User, pipeline: Pipeline) -> dict[str, Any]:
    mine = request.GET.get("mine") == "1" or request.POST.get("mine") == "1"
    columns = selectors.board(user, pipeline, responsible_id=user.pk if mine else None)
    moves = selectors.moves_by_stage(pipeline)
    for column in columns:
        for deal in column.deals:
            deal.moves = moves.get(deal.stage_id, [])  # type: ignore[attr-defined]
            deal.movable = (  # type: ignore[attr-defined]
                policies.can_move_deal(user, deal) and deal.pending is None  # type: ignore[attr-defined]
            )
    return {
        "pipeline": pipeline,
        "pipelines": list(selectors.pipelines_for(user, pipeline.team_id)),
        "columns": columns,
        "mine": mine,
        "now": clock.now(),
        "inline_messages": _is_htmx(request),
        # Where a move started on the board comes back to (a board re-rendered after an htmx
        # move was requested from /deals/<id>/move/, so the request's own path will not do).
        "board_url": f"{reverse('sales:board')}?pipeline={pipeline.pk}{'&mine=1' if mine else ''}",
    }


def _pipeline_from(request: HttpRequest, user: User) -> Pipeline | None:
    wanted = _int(request.GET.get("pipeline") or request.POST.get("pipeline"))
    if wanted is not None:
        try:
            return selectors.pipeline_for(user, wanted)
        except DomainError as err:
            raise Http404 from err
    return selectors.pipelines_for(user).first()


@login_required
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    """A pipeline's board: a column per stage; a card moves by dragging it or by its form."""
    user = _user(request)
    pipeline = _pipeline_from(request, user)
    if pipeline is None:
        return render(
            request,
            "sales/board.html",
            {"pipeline": None, "can_setup": user.team_id and user.is_head_of_sales},
        )
    context = _board_context(request, user, pipeline)
    template = "sales/_board.html" if _is_htmx(request) else "sales/board.html"
    return render(request, template, context)


@login_required
@require_POST
def setup_pipeline(request: HttpRequest) -> HttpResponse:
    """The head of sales gives his team the standard conveyor."""
    user = _user(request)
    if user.team_id is None or not policies.can_edit_pipelines(user, user.team_id):
        raise Http404
    services.ensure_default_pipeline(user.team_id, actor=user)
    messages.success(request, _("The team's pipeline is ready."))
    return redirect("sales:board")


# --- opening a deal --------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def deal_create(request: HttpRequest) -> HttpResponse:
    """Open a deal on a client of my base (the head of sales: on any owned client, for its
    owner or someone of the team)."""
    user = _user(request)
    fixed = _int(request.GET.get("client") or request.POST.get("fixed_client"))
    client = None
    team_id: int | None
    if fixed:
        try:
            client = client_selectors.client_for(user, fixed)
        except DomainError as err:
            raise Http404 from err
        clients = [(client.pk, client.name)]
        team_id = client.team_id
    else:
        clients = list(my_base(user, sort="name").values_list("pk", "name")[:2000])
        team_id = user.team_id
    pipelines = [(p.pk, p.name) for p in selectors.pipelines_for(user, team_id)]
    people = None
    if team_id is not None and policies.can_edit_pipelines(user, team_id):
        people = list(
            User.objects.filter(team_id=team_id, is_active=True).order_by("last_name", "first_name")
        )
    form = DealForm(
        request.POST or None,
        clients=clients,
        pipelines=pipelines,
        people=people,
        initial={"client": fixed} if fixed else None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            data = DealIn(
                client_id=form.cleaned_data["client"],
                title=form.cleaned_data["title"],
                amount_estimate=form.cleaned_data["amount_estimate"],
                pipeline_id=form.cleaned_data.get("pipeline") or None,
                responsible_id=form.cleaned_data.get("responsible") or None,
                inbound=form.cleaned_data["inbound"],
            )
            deal = services.create_deal(data, actor=user)
        except ValidationError as err:
            form.add_error(None, "; ".join(str(e["msg"]) for e in err.errors()))
        except DomainError as err:
            field = {"responsible_id": "responsible", "pipeline_id": "pipeline"}.get(
                str(err.details.get("field", ""))
            )
            form.add_error(field if field in form.fields else None, err.message)
        else:
            messages.success(
                request,
                _("The deal is opened; its source: %(source)s.")
                % {"source": DealSource(deal.source).label},
            )
            return redirect("sales:deal_detail", deal_id=deal.pk)
    return render(request, "sales/deal_create.html", {"form": form, "client": client})


# --- the deal card ---------------------------------------------------------------------------


@login_required
@require_GET
def deal_detail(request: HttpRequest, deal_id: int) -> HttpResponse:
    """The deal card: where it stands, the pending handoff, the moves, the timeline and who
    held each stage, and its invoices, payments and shipments."""
    user = _user(request)
    return deal_card(request, user, deal_or_404(user, deal_id))


def deal_card(
    request: HttpRequest, user: User, deal: Deal, *, money: dict[str, Any] | None = None
) -> HttpResponse:
    """Render the deal card; `money` reopens a money form with what was typed and why it was
    refused (see money_views)."""
    events = selectors.timeline(deal)
    _name_receivers(events)
    pending = selectors.pending_handoff(deal)
    may_move = policies.can_move_deal(user, deal) and pending is None
    moves = [
        (stage, selectors.move_kind(deal.responsible, stage))
        for stage in selectors.allowed_moves(deal.stage)
    ]
    redirect_people: list[User] = []
    if pending is not None and policies.can_redirect_handoff(user, pending):
        redirect_people = [
            p
            for p in selectors.receivers_for(
                deal.team_id, pending.to_stage, exclude_id=pending.sender_id
            )
            if p.pk != pending.offered_to_id
        ]
    return render(
        request,
        "sales/deal_detail.html",
        {
            "deal": deal,
            "events": events,
            "tenures": selectors.stage_tenures(events),
            "stages": list(Stage.objects.filter(pipeline_id=deal.pipeline_id).order_by("position")),
            "pending": pending,
            "may_accept": pending is not None and policies.can_accept_handoff(user, pending),
            "may_redirect": pending is not None and policies.can_redirect_handoff(user, pending),
            "redirect_people": redirect_people,
            "may_move": may_move,
            "moves": moves if may_move else [],
            "may_change_source": policies.can_change_source(user, deal),
            "sources": DealSource.choices,
            "brief_labels": BRIEF_FIELDS,
            "now": clock.now(),
            **money_card.money_context(user, deal, **(money or {})),
        },
    )


def _name_receivers(events: list[Any]) -> None:
    """The names of the people handoffs were offered to, for the timeline (one query)."""
    ids = {e.data.get("offered_to") for e in events if e.data.get("offered_to")}
    names = dict((u.pk, u.display_name) for u in User.objects.filter(pk__in=ids)) if ids else {}
    for e in events:
        e.offered_name = names.get(e.data.get("offered_to"), "")


@login_required
@require_POST
def change_source(request: HttpRequest, deal_id: int) -> HttpResponse:
    """The head of sales sets the deal's source, with a reason."""
    user = _user(request)
    try:
        services.change_source(
            deal_id,
            source=request.POST.get("source", ""),
            actor=user,
            reason=request.POST.get("reason", ""),
        )
    except DomainError as err:
        if err.status == 404:
            raise Http404 from err
        messages.error(request, err.message)
    else:
        messages.success(request, _("The source is changed."))
    return redirect("sales:deal_detail", deal_id=deal_id)


# --- moving a deal ---------------------------------------------------------------------------


def _move_form_url(deal_id: int, stage_id: int, next_url: str) -> str:
    query = urlencode({"to_stage": stage_id, "next": next_url})
    return f"{reverse('sales:deal_move', args=[deal_id])}?{query}"


def _board_reply(request: HttpRequest, user: User, deal: Deal) -> HttpResponse:
    """For a move from the board (htmx): the board again, with the outcome as a message."""
    pipeline = selectors.pipeline_for(user, deal.pipeline_id)
    return render(request, "sales/_board.html", _board_context(request, user, pipeline))


@login_required
@require_http_methods(["GET", "POST"])
def deal_move(request: HttpRequest, deal_id: int) -> HttpResponse:
    """Move a deal to a stage. A plain move happens at once; a handoff (another role's stage)
    and a lost deal first ask for the brief / the reason on a form of their own."""
    user = _user(request)
    deal = deal_or_404(user, deal_id)
    data = request.POST if request.method == "POST" else request.GET
    target = Stage.objects.filter(
        pk=_int(data.get("to_stage")), pipeline_id=deal.pipeline_id
    ).first()
    fallback = reverse("sales:deal_detail", args=[deal.pk])
    next_url = _safe_next(request, fallback)
    if target is None:
        messages.error(request, _("Choose a stage to move the deal to."))
        return redirect(next_url)
    kind = selectors.move_kind(deal.responsible, target)
    needs_form = kind in ("handoff", "lost")
    from_form = request.method == "POST" and request.POST.get("form") == "1"
    if request.method == "POST" and not (needs_form and not from_form):
        return _do_move(request, user, deal, target, kind, next_url)
    if needs_form and request.method == "POST":
        # Dropped on another role's column: the brief comes first.
        url = _move_form_url(deal.pk, target.pk, next_url)
        if _is_htmx(request):
            response = HttpResponse("")
            response["HX-Redirect"] = url
            return response
        return redirect(url)
    if not policies.can_move_deal(user, deal):
        raise Http404
    return render(request, "sales/deal_move.html", _move_context(deal, target, kind, next_url))


def _move_context(
    deal: Deal, target: Stage, kind: str, next_url: str, form: Any = None
) -> dict[str, Any]:
    people = selectors.receivers_for(deal.team_id, target, exclude_id=deal.responsible_id)
    if form is None and kind in ("handoff", "lost"):
        if kind == "handoff":
            back = selectors.last_holder(deal, target)
            initial = {"receiver": str(back)} if back and back in {p.pk for p in people} else {}
            form = HandoffForm(initial=initial, stage=target, people=people)
        else:
            form = LostForm()
    return {"deal": deal, "target": target, "kind": kind, "form": form, "next": next_url}


def _do_move(
    request: HttpRequest, user: User, deal: Deal, target: Stage, kind: str, next_url: str
) -> HttpResponse:
    from_board = _is_htmx(request) and request.POST.get("from") == "board"
    form: Any = None
    brief: dict[str, str] | None = None
    offer_to: int | None = None
    offer_role: str | None = None
    comment = request.POST.get("comment", "")
    if request.POST.get("form") == "1":
        if kind == "handoff":
            people = selectors.receivers_for(deal.team_id, target, exclude_id=deal.responsible_id)
            form = HandoffForm(request.POST, stage=target, people=people)
        else:
            form = LostForm(request.POST)
        if not form.is_valid():
            return render(
                request, "sales/deal_move.html", _move_context(deal, target, kind, next_url, form)
            )
        comment = form.cleaned_data.get("comment", "")
        if kind == "handoff":
            brief = form.brief()
            offer_to, offer_role = form.offer()
    try:
        services.move_deal(
            deal.pk,
            to_stage=target.pk,
            actor=user,
            brief=brief,
            offer_to=offer_to,
            offer_role=offer_role,
            comment=comment,
            expected_stage=_int(request.POST.get("expected_stage")),
        )
    except DomainError as err:
        if err.status == 404:
            raise Http404 from err
        if form is not None:
            missing = err.details.get("missing") or []
            for name in missing:
                form.add_error(f"brief_{name}", _("This field is required."))
            field = {"offer_to": "receiver", "offer_role": "receiver", "comment": "comment"}.get(
                str(err.details.get("field", ""))
            )
            if not missing:
                form.add_error(field if field in form.fields else None, err.message)
            return render(
                request, "sales/deal_move.html", _move_context(deal, target, kind, next_url, form)
            )
        messages.error(request, err.message)
    else:
        messages.success(request, _success_message(kind, target))
    if from_board:
        return _board_reply(request, user, deal)
    return redirect(next_url)


def _success_message(kind: str, target: Stage) -> str:
    if kind == "handoff":
        return _("The deal is handed over to «%(stage)s»; it is yours until it is accepted.") % {
            "stage": target.name
        }
    if kind == "won":
        return _("The deal is completed; the client's account manager has the summary.")
    return _("The deal is moved to «%(stage)s».") % {"stage": target.name}


# --- handoffs --------------------------------------------------------------------------------


@login_required
@require_GET
def handoffs(request: HttpRequest) -> HttpResponse:
    """My handoffs: waiting for me (to accept or return), sent by me; overdue ones for the head."""
    user = _user(request)
    box = request.GET.get("box", "inbox")
    tabs = [("inbox", _("Waiting for me")), ("sent", _("Sent by me"))]
    if user.is_head_of_sales:
        tabs.append(("overdue", _("Overdue")))
    if box not in dict(tabs):
        box = "inbox"
    if box == "sent":
        rows: list[Handoff] = selectors.handoffs_sent(user)
    elif box == "overdue":
        rows = list(selectors.handoffs_overdue(user)[:200])
    else:
        rows = list(selectors.handoff_inbox(user)[:200])
    return render(
        request,
        "sales/handoffs.html",
        {
            "rows": rows,
            "box": box,
            "tabs": tabs,
            "now": clock.now(),
            "brief_labels": BRIEF_FIELDS,
        },
    )


def _answer(request: HttpRequest, handoff_id: int, action: str) -> HttpResponse:
    user = _user(request)
    try:
        if action == "accept":
            handoff = services.accept_handoff(handoff_id, actor=user)
            messages.success(request, _("The deal is yours now."))
        elif action == "return":
            handoff = services.return_handoff(
                handoff_id, actor=user, reason=request.POST.get("reason", "")
            )
            messages.success(request, _("The deal is returned to its sender."))
        else:
            receiver = request.POST.get("receiver", "")
            offer_to = _int(receiver)
            offer_role = receiver.removeprefix("role:") if offer_to is None else None
            handoff = services.redirect_handoff(
                handoff_id, actor=user, offer_to=offer_to, offer_role=offer_role or None
            )
            messages.success(request, _("The handoff is offered anew."))
    except DomainError as err:
        if err.status == 404:
            raise Http404 from err
        messages.error(request, err.message)
        return redirect(_safe_next(request, reverse("sales:handoffs")))
    fallback = reverse("sales:deal_detail", args=[handoff.deal_id])
    return redirect(_safe_next(request, fallback))


@login_required
@require_POST
def handoff_accept(request: HttpRequest, handoff_id: int) -> HttpResponse:
    """The receiver takes the deal."""
    return _answer(request, handoff_id, "accept")


@login_required
@require_POST
def handoff_return(request: HttpRequest, handoff_id: int) -> HttpResponse:
    """The receiver gives the deal back with a reason."""
    return _answer(request, handoff_id, "return")


@login_required
@require_POST
def handoff_redirect(request: HttpRequest, handoff_id: int) -> HttpResponse:
    """The sender or the head offers the handoff to someone else."""
    return _answer(request, handoff_id, "redirect")


# --- a client's deals (on the client card) ---------------------------------------------------


@login_required
@require_GET
def client_deals(request: HttpRequest, client_id: int) -> HttpResponse:
    """The client's deals as a block of the client card (loaded by htmx)."""
    user = _user(request)
    try:
        client = client_selectors.client_for(user, client_id)
    except DomainError as err:
        raise Http404 from err
    deals = list(selectors.client_deals(user, client.pk)[:20])
    return render(
        request,
        "sales/_client_deals.html" if _is_htmx(request) else "sales/client_deals.html",
        {
            "client": client,
            "deals": deals,
            "may_open": policies.can_create_deal(user, client),
            "manages": manages_team(user, client.team_id),
        },
    )
