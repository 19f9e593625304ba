"""Tender pages: the list, registering a tender, and the tender card with its lots,
participants, lead manager, conflict banner, per-participant floors and linked proposals, and
the forms that change them (each for those the policies allow; the service refuses the rest).

Thin: a form becomes the service's input; a refusal is a message on the card and nothing is
written.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pydantic import ValidationError

from otdel.core import clock
from otdel.core.errors import DomainError
from otdel.ownership.selectors import my_base
from otdel.people.models import User
from otdel.sales import policies, services
from otdel.sales import tender_selectors as reads
from otdel.sales.models import CURRENCIES, TenderOutcome
from otdel.sales.money_views import FormProblem, _invalid_input
from otdel.sales.tenders import LotIn, OutcomeIn, TenderFloorIn, TenderIn, TenderPatch

# Platforms people pick most (the field takes any name).
PLATFORMS = (
    "ЕИС (zakupki.gov.ru)",
    "РТС-тендер",
    "Сбербанк-АСТ",
    "Росэлторг",
    "ЭТП ГПБ",
    "B2B-Center",
    "Фабрикант",
    "ТЭК-Торг",
)


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _tender_or_404(user: User, tender_id: int) -> Any:
    try:
        return reads.tender_for(user, tender_id)
    except DomainError as err:
        raise Http404 from err


def _amount(text: str | None, label: str) -> Decimal | None:
    raw = (text or "").strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise FormProblem(
            _("«%(value)s» is not a number (%(field)s).") % {"value": text, "field": label}
        ) from None
    if not value.is_finite():
        raise FormProblem(
            _("«%(value)s» is not a number (%(field)s).") % {"value": text, "field": label}
        )
    return value


def _deadline(text: str | None) -> dt.datetime | None:
    """«2026-12-01T10:00» (a datetime-local input) or «01.12.2026 10:00», Moscow time."""
    raw = (text or "").strip()
    if not raw:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M", "%Y-%m-%d", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(raw, fmt).replace(tzinfo=clock.MOSCOW)
        except ValueError:
            continue
    raise FormProblem(
        _("«%(value)s» is not a date and time (%(field)s).")
        % {"value": raw, "field": _("bids are accepted until")}
    )


def _refusal(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return _invalid_input(err)
    return str(getattr(err, "message", err))


# --- the list and registering -------------------------------------------------------------------


@login_required
@require_GET
def tender_list(request: HttpRequest) -> HttpResponse:
    """Tenders of the team by deadline: open ones, or all; mine; a search."""
    user = _user(request)
    query = request.GET.get("q", "").strip()
    mine = request.GET.get("mine") == "1"
    closed = request.GET.get("closed") == "1"
    rows = list(reads.tender_list(user, query=query, mine=mine, include_closed=closed)[:300])
    now = clock.now()
    for t in rows:
        left = t.submission_deadline - now
        t.closing_soon = dt.timedelta(0) < left <= dt.timedelta(days=2)  # type: ignore[attr-defined]
        t.closed = left <= dt.timedelta(0)  # type: ignore[attr-defined]
    return render(
        request,
        "sales/tender_list.html",
        {
            "rows": rows,
            "q": query,
            "mine": mine,
            "closed": closed,
            "may_create": user.team_id is not None
            and policies.can_create_tender(user, user.team_id),
        },
    )


def _lots(post: Any) -> list[LotIn]:
    names = post.getlist("lot_name")
    prices = post.getlist("lot_max_price")
    lots = []
    for i, name in enumerate(names):
        price_text = prices[i] if i < len(prices) else ""
        if not name.strip() and not price_text.strip():
            continue
        if not name.strip():
            raise FormProblem(_("Lot %(n)s: name what is bought.") % {"n": i + 1})
        lots.append(
            LotIn(
                name=name.strip(),
                max_price=_amount(price_text, _("lot %(n)s, maximum price") % {"n": i + 1}),
            )
        )
    return lots


@login_required
@require_http_methods(["GET", "POST"])
def tender_create(request: HttpRequest) -> HttpResponse:
    """Register a tender: its number, platform, customer, deadline, lots, and my client in it."""
    user = _user(request)
    if user.team_id is None or not policies.can_create_tender(user, user.team_id):
        raise Http404
    error = ""
    post = request.POST
    if request.method == "POST":
        try:
            client = post.get("client", "")
            deadline = _deadline(post.get("submission_deadline"))
            if deadline is None:
                raise FormProblem(
                    _("Fill in: %(field)s.") % {"field": _("bids are accepted until")}
                )
            data = TenderIn(
                registry_number=post.get("registry_number", "").strip(),
                title=post.get("title", "").strip(),
                platform=post.get("platform", "").strip(),
                customer_name=post.get("customer_name", "").strip(),
                customer_inn=post.get("customer_inn", "").strip(),
                submission_deadline=deadline,
                currency=post.get("currency", "RUB"),
                url=post.get("url", "").strip(),
                lots=_lots(post),
                participants=[int(client)] if client.isdigit() else [],
            )
            tender = services.create_tender(data, actor=user)
        except (FormProblem, ValidationError, DomainError) as err:
            if isinstance(err, DomainError) and err.code == "tender_exists":
                messages.info(request, err.message)
                existing = err.details.get("tender_id")
                if existing:
                    return redirect("sales:tender_detail", tender_id=existing)
            error = _refusal(err)
        else:
            messages.success(
                request,
                _("Tender № %(number)s is registered.") % {"number": tender.registry_number},
            )
            return redirect("sales:tender_detail", tender_id=tender.pk)
    lot_rows = list(zip(post.getlist("lot_name"), post.getlist("lot_max_price"), strict=False))
    return render(
        request,
        "sales/tender_form.html",
        {
            "values": post,
            "error": error,
            "platforms": PLATFORMS,
            "currencies": CURRENCIES,
            "lot_rows": lot_rows or [("", ""), ("", "")],
            "clients": list(my_base(user, sort="name").values_list("pk", "name")[:2000]),
        },
        status=422 if error else 200,
    )


# --- the card -----------------------------------------------------------------------------------


@login_required
@require_GET
def tender_detail(request: HttpRequest, tender_id: int) -> HttpResponse:
    """The tender card."""
    user = _user(request)
    tender = _tender_or_404(user, tender_id)
    card = reads.tender_card(user, tender)
    return render(
        request,
        "sales/tender_detail.html",
        {
            "t": tender,
            "card": card,
            "platforms": PLATFORMS,
            "outcomes": TenderOutcome.choices,
        },
    )


def _act(request: HttpRequest, tender_id: int, action: Any, done: str) -> HttpResponse:
    """Run one change of the card; a refusal becomes a message and changes nothing."""
    user = _user(request)
    _tender_or_404(user, tender_id)
    try:
        action(user)
    except (FormProblem, ValidationError, DomainError) as err:
        if isinstance(err, DomainError) and err.status == 404:
            raise Http404 from err
        messages.error(request, _refusal(err))
    else:
        messages.success(request, done)
    return redirect("sales:tender_detail", tender_id=tender_id)


@login_required
@require_POST
def tender_edit(request: HttpRequest, tender_id: int) -> HttpResponse:
    """Correct the tender's details."""
    post = request.POST

    def act(user: User) -> None:
        fields: dict[str, Any] = {}
        for name in (
            "registry_number",
            "title",
            "platform",
            "customer_name",
            "customer_inn",
            "url",
        ):
            if name in post:
                fields[name] = post.get(name, "").strip()
        if post.get("submission_deadline"):
            fields["submission_deadline"] = _deadline(post.get("submission_deadline"))
        services.update_tender(tender_id, TenderPatch(**fields), actor=user)

    return _act(request, tender_id, act, _("The tender is saved."))


@login_required
@require_POST
def tender_lot_add(request: HttpRequest, tender_id: int) -> HttpResponse:
    """A lot more."""
    post = request.POST

    def act(user: User) -> None:
        services.add_lot(
            tender_id,
            LotIn(
                name=post.get("name", "").strip(),
                max_price=_amount(post.get("max_price"), _("maximum price")),
            ),
            actor=user,
        )

    return _act(request, tender_id, act, _("The lot is added."))


@login_required
@require_POST
def tender_participant_add(request: HttpRequest, tender_id: int) -> HttpResponse:
    """Link one of our clients: it bids in the tender."""
    raw = request.POST.get("client", "")

    def act(user: User) -> None:
        if not raw.isdigit():
            raise FormProblem(_("Choose the client."))
        services.add_participant(tender_id, int(raw), actor=user)

    return _act(request, tender_id, act, _("The client is linked to the tender."))


@login_required
@require_POST
def tender_participant_remove(
    request: HttpRequest, tender_id: int, participant_id: int
) -> HttpResponse:
    """Take a client out of the tender."""
    return _act(
        request,
        tender_id,
        lambda user: services.remove_participant(tender_id, participant_id, actor=user),
        _("The client no longer bids in the tender."),
    )


@login_required
@require_POST
def tender_lead(request: HttpRequest, tender_id: int) -> HttpResponse:
    """The head of sales names the lead manager."""
    raw = request.POST.get("user", "")

    def act(user: User) -> None:
        if not raw.isdigit():
            raise FormProblem(_("Choose the lead manager."))
        services.assign_lead_manager(tender_id, int(raw), actor=user)

    return _act(request, tender_id, act, _("The lead manager is assigned; the owners are told."))


@login_required
@require_POST
def tender_outcome(request: HttpRequest, tender_id: int) -> HttpResponse:
    """The lead manager records how the tender ended; the head of sales corrects it."""
    post = request.POST

    def act(user: User) -> None:
        winner = post.get("winner", "")
        services.record_tender_outcome(
            tender_id,
            OutcomeIn.model_validate(
                {
                    "outcome": post.get("outcome", ""),
                    "winner_id": int(winner) if winner.isdigit() else None,
                    "winning_price": _amount(post.get("winning_price"), _("winning price")),
                    "note": post.get("note", ""),
                }
            ),
            actor=user,
        )

    return _act(request, tender_id, act, _("The result is recorded; the owners are told."))


@login_required
@require_POST
def tender_floor_set(request: HttpRequest, tender_id: int) -> HttpResponse:
    """The lead manager sets a participant's floor for a lot or every lot."""
    post = request.POST

    def act(user: User) -> None:
        participant = post.get("participant", "")
        lot = post.get("lot", "")
        if not participant.isdigit():
            raise FormProblem(_("Choose the participant."))
        services.set_tender_floor(
            tender_id,
            TenderFloorIn(
                participant_id=int(participant),
                lot_id=int(lot) if lot.isdigit() else None,
                min_price=_amount(post.get("min_price"), _("minimum price")),
                min_margin_percent=_amount(post.get("min_margin"), _("minimum margin, %")),
            ),
            actor=user,
        )

    return _act(request, tender_id, act, _("The floor is set; the client's owner is told."))


@login_required
@require_POST
def tender_floor_remove(request: HttpRequest, tender_id: int, floor_id: int) -> HttpResponse:
    """Lift a floor."""
    return _act(
        request,
        tender_id,
        lambda user: services.remove_tender_floor(tender_id, floor_id, actor=user),
        _("The floor is lifted."),
    )
