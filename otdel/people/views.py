"""People pages: sign-in, password, API tokens, notifications and the start page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from otdel.core.errors import DomainError
from otdel.people import selectors, services
from otdel.people.forms import TokenForm


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The head of sales and the director start on the department page, others on their base."""
    if request.user.is_head_of_sales:  # type: ignore[union-attr]
        return redirect("/head/")
    return redirect("/my-base/")


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """A person's own API tokens; a new secret is shown once, only its hash is kept."""
    user = request.user
    secret = None
    new_token = None
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        new_token, secret = services.issue_api_token(user, name=form.cleaned_data["name"])  # type: ignore[arg-type]
        form = TokenForm()
    response = render(
        request,
        "people/tokens.html",
        {
            "tokens": selectors.api_tokens_for(user),  # type: ignore[arg-type]
            "form": form,
            "secret": secret,
            "new_token": new_token,
        },
    )
    # The page with the secret must not be kept by the browser or a proxy.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of one's own tokens; another person's token is 'not found'."""
    try:
        services.revoke_api_token(token_id, actor=request.user)  # type: ignore[arg-type]
    except DomainError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, _("The token is revoked; programs using it are locked out."))
    return redirect("people:tokens")


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    """The person's notifications, newest first."""
    return render(
        request,
        "people/notifications.html",
        {"notifications": selectors.notifications_for(request.user, limit=200)},  # type: ignore[arg-type]
    )


@login_required
@require_POST
def mark_read(request: HttpRequest) -> HttpResponse:
    """Mark all notifications read."""
    count = services.mark_notifications_read(request.user)  # type: ignore[arg-type]
    if count:
        messages.success(request, _("All notifications are marked read."))
    return redirect("people:notifications")
