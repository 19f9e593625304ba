"""Proposal pages: the proposals block of a deal card (loaded by htmx), the proposal form (lines
as on the invoice form), the proposal's page with its lines, revisions and hold below the price
floor, and its actions (send, accept, decline, cancel, revise, issue the invoice).

Thin: forms are read into otdel.sales.proposals.ProposalIn (the invoice form's line reader is
reused) and handed to the services; a refusal is shown next to the form or as a message, and
nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pydantic import ValidationError

from otdel.core import clock
from otdel.core.errors import DomainError
from otdel.core.money import Money
from otdel.people.models import User
from otdel.sales import money_card, policies, proposals, services
from otdel.sales import tender_selectors as reads
from otdel.sales.models import Deal, Proposal, ProposalKind, ProposalStatus
from otdel.sales.money_views import FormProblem, _date, _invalid_input, _invoice_lines
from otdel.sales.proposals import ProposalIn, short_kind
from otdel.sales.views import deal_or_404

LINE_FIELDS = ("product", "quantity", "unit_price", "discount", "vat")


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _proposal_or_404(user: User, proposal_id: int) -> Proposal:
    try:
        return reads.proposal_for(user, proposal_id)
    except DomainError as err:
        raise Http404 from err


def _title(p: Proposal) -> str:
    return _("%(kind)s № %(number)s, revision %(revision)s") % {
        "kind": short_kind(p.kind),
        "number": p.number,
        "revision": p.revision,
    }


# --- the deal card's block ----------------------------------------------------------------------


@login_required
@require_GET
def deal_proposals(request: HttpRequest, deal_id: int) -> HttpResponse:
    """The deal's proposals with their statuses (a block of the deal card, loaded by htmx; a
    page of its own without JavaScript)."""
    user = _user(request)
    deal = deal_or_404(user, deal_id)
    context = {
        "deal": deal,
        "proposals": reads.deal_proposals(user, deal),
        "may_issue": policies.can_issue_proposal(user, deal) and not deal.is_closed,
    }
    template = "sales/_proposals.html" if _is_htmx(request) else "sales/proposal_list.html"
    return render(request, template, context)


# --- the form -----------------------------------------------------------------------------------


def _rows(post: Any) -> list[dict[str, str]]:
    """The lines typed, to show them again after a refusal."""
    if not hasattr(post, "getlist"):
        return [{}]
    columns = {n: post.getlist(n) for n in LINE_FIELDS}
    count = max((len(v) for v in columns.values()), default=0)
    rows = [
        {n: (columns[n][i] if i < len(columns[n]) else "") for n in LINE_FIELDS}
        for i in range(count)
    ]
    return rows or [{}]


def _rows_of(p: Proposal) -> list[dict[str, str]]:
    """A stored proposal's lines as form rows (editing a draft)."""
    out = []
    for ln in p.lines.order_by("position", "id"):
        out.append(
            {
                "product": str(ln.product_id or ""),
                "quantity": f"{ln.quantity.normalize():f}",
                "unit_price": f"{ln.unit_price:f}",
                "discount": f"{ln.discount_percent.normalize():f}" if ln.discount_percent else "",
                "vat": "none" if ln.vat_rate is None else f"{ln.vat_rate.normalize():f}",
            }
        )
    return out or [{}]


def _tender_choice(raw: str) -> tuple[int | None, int | None]:
    """ "<tender>:<lot>" (lot may be empty) → ids; empty: not for a tender."""
    raw = (raw or "").strip()
    if not raw:
        return None, None
    tender, _sep, lot = raw.partition(":")
    if not tender.isdigit() or (lot and not lot.isdigit()):
        raise FormProblem(_("Choose the tender and lot from the list."))
    return int(tender), int(lot) if lot else None


def _read_form(post: Any) -> ProposalIn:
    tender_id, lot_id = _tender_choice(post.get("tender_lot", ""))
    kind = post.get("kind", ProposalKind.COMMERCIAL)
    return ProposalIn(
        kind=kind if kind in ProposalKind.values else ProposalKind.COMMERCIAL,
        lines=_invoice_lines(post),
        valid_until=_date(post.get("valid_until"), _("valid until")),
        terms=post.get("terms", "").strip(),
        technical_part=post.get("technical_part", "").strip(),
        comment=post.get("comment", "").strip(),
        tender_id=tender_id,
        lot_id=lot_id,
    )


def _form(
    request: HttpRequest,
    deal: Deal,
    *,
    proposal: Proposal | None,
    values: dict[str, Any],
    rows: list[dict[str, str]],
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    tenders = reads.tenders_for_client(user, deal.client_id, deal.currency)
    choices: list[tuple[str, str]] = []
    for t in tenders:
        lots = list(t.lots.all())
        if not lots:
            choices.append((f"{t.pk}:", f"№ {t.registry_number} · {t.customer_name}"))
        for lot in lots:
            choices.append(
                (
                    f"{t.pk}:{lot.pk}",
                    _("№ %(number)s · %(customer)s · lot %(lot)s: %(name)s")
                    % {
                        "number": t.registry_number,
                        "customer": t.customer_name,
                        "lot": lot.number,
                        "name": lot.name,
                    },
                )
            )
    return render(
        request,
        "sales/proposal_form.html",
        {
            "deal": deal,
            "proposal": proposal,
            "title": _title(proposal) if proposal else "",
            "values": values,
            "invoice_rows": rows,
            "products": money_card.products(),
            "vat_choices": money_card.vat_choices(),
            "kinds": ProposalKind.choices,
            "tender_choices": choices,
            "error": error,
        },
        status=status,
    )


def _submit(
    request: HttpRequest, deal: Deal, proposal: Proposal | None, write: Any
) -> HttpResponse:
    """Read the form, run the service; a refusal re-renders the form with what was typed."""
    post = request.POST
    try:
        saved = write(_read_form(post))
    except FormProblem as err:
        message = err.message
    except ValidationError as err:
        message = _invalid_input(err)
    except DomainError as err:
        if err.status == 404:
            raise Http404 from err
        if err.status == 403:
            raise PermissionDenied(err.message) from err
        message = err.message
    else:
        hold = getattr(saved, "floor_approval", None)
        if hold is not None and hold.status == "pending":
            messages.warning(
                request,
                _(
                    "Proposal № %(number)s is saved. It is below the price floor: it can be "
                    "sent once the head of sales approves the prices."
                )
                % {"number": saved.number},
            )
        else:
            messages.success(
                request,
                _("Proposal № %(number)s for %(total)s is saved as a draft.")
                % {"number": saved.number, "total": Money(saved.total, saved.currency)},
            )
        return redirect("sales:proposal_detail", proposal_id=saved.pk)
    return _form(
        request,
        deal,
        proposal=proposal,
        values=post,
        rows=_rows(post),
        error=message,
        status=422,
    )


@login_required
@require_http_methods(["GET", "POST"])
def proposal_create(request: HttpRequest, deal_id: int) -> HttpResponse:
    """A new proposal on the deal."""
    user = _user(request)
    deal = deal_or_404(user, deal_id)
    if not policies.can_issue_proposal(user, deal):
        raise PermissionDenied(
            _(
                "Proposals of a deal are written by its responsible person, the client's owner, "
                "order managers, document clerks and the head of sales."
            )
        )
    if request.method == "POST":
        return _submit(
            request,
            deal,
            None,
            lambda data: services.create_proposal(deal.pk, data, actor=user),
        )
    tender_id = request.GET.get("tender", "")
    values = {
        "kind": ProposalKind.COMMERCIAL,
        "valid_until": f"{clock.today() + dt.timedelta(days=proposals.DEFAULT_VALIDITY_DAYS):%Y-%m-%d}",
        "tender_lot": f"{tender_id}:" if tender_id.isdigit() else "",
    }
    return _form(request, deal, proposal=None, values=values, rows=[{}])


@login_required
@require_http_methods(["GET", "POST"])
def proposal_edit(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """A draft's new content (a sent proposal is revised instead)."""
    user = _user(request)
    proposal = _proposal_or_404(user, proposal_id)
    if not policies.can_issue_proposal(user, proposal.deal):
        raise PermissionDenied
    if proposal.status != ProposalStatus.DRAFT:
        messages.error(request, _("A sent proposal is never changed: make a new revision of it."))
        return redirect("sales:proposal_detail", proposal_id=proposal.pk)
    if request.method == "POST":
        return _submit(
            request,
            proposal.deal,
            proposal,
            lambda data: services.update_proposal(proposal.pk, data, actor=user),
        )
    values = {
        "kind": proposal.kind,
        "valid_until": f"{proposal.valid_until:%Y-%m-%d}",
        "terms": proposal.terms,
        "technical_part": proposal.technical_part,
        "comment": proposal.comment,
        "tender_lot": f"{proposal.tender_id}:{proposal.lot_id or ''}" if proposal.tender_id else "",
    }
    return _form(request, proposal.deal, proposal=proposal, values=values, rows=_rows_of(proposal))


@login_required
@require_GET
def proposal_line(request: HttpRequest, deal_id: int) -> HttpResponse:
    """One more empty line of the proposal form (htmx)."""
    user = _user(request)
    deal = deal_or_404(user, deal_id)
    if not policies.can_issue_proposal(user, deal):
        raise PermissionDenied
    return render(
        request,
        "sales/_invoice_line.html",
        {
            "deal": deal,
            "row": {},
            "products": money_card.products(),
            "vat_choices": money_card.vat_choices(),
        },
    )


# --- the proposal's page and its actions --------------------------------------------------------


@login_required
@require_GET
def proposal_detail(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """The proposal: lines and totals, status and hold, revisions, what may be done next."""
    user = _user(request)
    proposal = _proposal_or_404(user, proposal_id)
    card = reads.proposal_card(user, proposal)
    return render(
        request,
        "sales/proposal_detail.html",
        {
            "p": proposal,
            "card": card,
            "title": _title(proposal),
            "kind_short": short_kind(proposal.kind),
        },
    )


# action → (the service call, the message when it is done)
_ACTIONS: dict[str, tuple[Callable[[int, User, Any], Any], Any]] = {
    "send": (
        lambda pk, user, post: services.send_proposal(pk, actor=user),
        gettext_lazy("The proposal is sent."),
    ),
    "accept": (
        lambda pk, user, post: services.accept_proposal(pk, actor=user, note=post.get("note", "")),
        gettext_lazy("The client accepted the proposal: issue the invoice."),
    ),
    "decline": (
        lambda pk, user, post: services.decline_proposal(
            pk, actor=user, reason=post.get("reason", "")
        ),
        gettext_lazy("The client declined the proposal."),
    ),
    "cancel": (
        lambda pk, user, post: services.cancel_proposal(
            pk, actor=user, reason=post.get("reason", "")
        ),
        gettext_lazy("The draft is cancelled."),
    ),
}


@login_required
@require_POST
def proposal_action(request: HttpRequest, proposal_id: int, action: str) -> HttpResponse:
    """Send, accept, decline (with the client's reason) or cancel a proposal."""
    user = _user(request)
    if action not in _ACTIONS:
        raise Http404
    do, done = _ACTIONS[action]
    try:
        do(proposal_id, user, request.POST)
    except DomainError as err:
        if err.status == 404:
            raise Http404 from err
        messages.error(request, err.message)
    else:
        messages.success(request, str(done))
    return redirect("sales:proposal_detail", proposal_id=proposal_id)


@login_required
@require_POST
def proposal_revise(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """The next revision of a sent proposal, as a draft copy to change."""
    user = _user(request)
    try:
        new = services.revise_proposal(proposal_id, actor=user)
    except DomainError as err:
        if err.status == 404:
            raise Http404 from err
        messages.error(request, err.message)
        if err.code == "already_revised" and err.details.get("revision_id"):
            return redirect("sales:proposal_detail", proposal_id=err.details["revision_id"])
        return redirect("sales:proposal_detail", proposal_id=proposal_id)
    messages.success(
        request,
        _("Revision %(revision)s is a draft: change it and send it; it replaces the previous one.")
        % {"revision": new.revision},
    )
    return redirect("sales:proposal_edit", proposal_id=new.pk)


@login_required
@require_POST
def proposal_invoice(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """The invoice from an accepted proposal, with its lines."""
    user = _user(request)
    try:
        invoice = services.invoice_from_proposal(
            proposal_id,
            actor=user,
            number=request.POST.get("number", ""),
            issued_on=_date(request.POST.get("issued_on"), _("date")),
        )
    except FormProblem as err:
        messages.error(request, err.message)
        return redirect("sales:proposal_detail", proposal_id=proposal_id)
    except DomainError as err:
        if err.status == 404:
            raise Http404 from err
        messages.error(request, err.message)
        return redirect("sales:proposal_detail", proposal_id=proposal_id)
    messages.success(
        request,
        _("Invoice № %(number)s for %(total)s is issued.")
        % {"number": invoice.number, "total": Money(invoice.total, invoice.currency)},
    )
    return redirect(reverse("sales:deal_detail", args=[invoice.deal_id]) + "#invoices")
