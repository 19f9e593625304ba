"""The head of sales' price-floor page: invoices and proposals below their floor waiting for his
decision, the decisions taken, and his team's floors. It does not exist (404) for anyone else."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from otdel.core.errors import DomainError, Invalid
from otdel.people.models import Role, User
from otdel.sales import floors, policies
from otdel.sales.models import FloorApproval, FloorApprovalStatus, PriceFloor, ProductCategory


def _head(request: HttpRequest) -> User:
    user: User = request.user  # type: ignore[assignment]
    if user.team_id is None or not policies.can_manage_floors(user, user.team_id):
        raise Http404
    return user


@login_required
@require_GET
def price_approvals(request: HttpRequest) -> HttpResponse:
    """Pending requests first, then the last decisions, then the floors in force."""
    head = _head(request)
    approvals = (
        FloorApproval.objects.filter(team_id=head.team_id)
        .select_related(
            "invoice",
            "invoice__client",
            "proposal",
            "proposal__client",
            "requested_by",
            "decided_by",
        )
        .order_by("-requested_at")
    )
    pending = list(approvals.filter(status=FloorApprovalStatus.PENDING)[:100])
    # A withdrawn request (the draft changed or was cancelled) was never decided.
    not_waiting = [FloorApprovalStatus.PENDING, FloorApprovalStatus.WITHDRAWN]
    decided = list(approvals.exclude(status__in=not_waiting)[:30])
    for approval in [*pending, *decided]:
        approval.texts = [floors.describe(b) for b in approval.breaches or []]  # type: ignore[attr-defined]
    sections = [
        (
            "pending",
            _("Invoices below the price floor"),
            _("No invoice waits for your approval."),
            [a for a in pending if a.invoice_id],
        ),
        (
            "pending-proposals",
            _("Proposals below the price floor"),
            _(
                "No proposal waits for your approval: a proposal below its floor is not sent "
                "until you decide."
            ),
            [a for a in pending if a.proposal_id],
        ),
    ]
    return render(
        request,
        "sales/price_approvals.html",
        {
            "sections": sections,
            "pending": pending,
            "decided": decided,
            "floors": PriceFloor.objects.filter(team_id=head.team_id)
            .select_related("category", "person")
            .order_by("category__name", "role", "person_id"),
            "categories": ProductCategory.objects.order_by("name"),
            "roles": Role.choices,
            "people": User.objects.filter(team_id=head.team_id, is_active=True).order_by(
                "last_name", "first_name"
            ),
        },
    )


@login_required
@require_POST
def decide(request: HttpRequest, approval_id: int) -> HttpResponse:
    """Approve or refuse (with a reason) one request."""
    head = _head(request)
    note = request.POST.get("note", "")
    try:
        if request.POST.get("decision") == "approve":
            floors.approve_below_floor(approval_id, actor=head, note=note)
            messages.success(request, _("The price is approved."))
        else:
            floors.refuse_below_floor(approval_id, actor=head, note=note)
            messages.success(request, _("The price is refused."))
    except DomainError as err:
        messages.error(request, err.message)
    return redirect("sales:price_approvals")


def _percent(raw: str) -> Decimal | None:
    raw = (raw or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise Invalid(
            _("%(value)s is not a number.") % {"value": raw}, code="invalid_percent"
        ) from None


@login_required
@require_POST
def set_floor(request: HttpRequest) -> HttpResponse:
    """Set a floor from the page's form."""
    head = _head(request)
    post = request.POST
    try:
        floors.set_floor(
            head.team_id or 0,
            actor=head,
            category_id=int(post["category"]) if post.get("category", "").isdigit() else None,
            role=post.get("role", ""),
            person_id=int(post["person"]) if post.get("person", "").isdigit() else None,
            min_margin_percent=_percent(post.get("min_margin", "")),
            max_discount_percent=_percent(post.get("max_discount", "")),
        )
        messages.success(request, _("The price floor is set."))
    except DomainError as err:
        messages.error(request, err.message)
    return redirect("sales:price_approvals")


@login_required
@require_POST
def remove_floor(request: HttpRequest, floor_id: int) -> HttpResponse:
    head = _head(request)
    try:
        floors.remove_floor(floor_id, actor=head)
    except DomainError as err:
        messages.error(request, err.message)
    return redirect("sales:price_approvals")
