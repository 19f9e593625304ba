"""Click-to-call pages: the "Call" button's POST and the dialling status the page polls until
the call the PBX reports has arrived, then the post-call card opens."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from otdel.clients.models import ContactPhone
from otdel.core import clock
from otdel.core.errors import DomainError
from otdel.people.models import User
from otdel.telephony import click_to_call

# After this the page stops polling: the call was not answered or not reported.
GIVE_UP_AFTER = dt.timedelta(minutes=15)
POLL_SECONDS = 2


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _viewer(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _status_context(req: click_to_call.ClickToCall) -> dict[str, object]:
    return {
        "req": req,
        "status_url": reverse("telephony_ui:dial_status", args=[req.request_id]),
        "poll_seconds": POLL_SECONDS,
    }


@login_required
@require_POST
def dial(request: HttpRequest, contact_phone_id: int) -> HttpResponse:
    """Place the call; the page then shows "Calling…" and polls the status."""
    user = _viewer(request)
    try:
        req = click_to_call.place_call(contact_phone_id, actor=user)
    except DomainError as err:
        if _is_htmx(request):
            # 200 so htmx swaps the message in where the button was
            return render(request, "telephony/_dial_error.html", {"error": err})
        messages.error(request, err.message)
        client_id = (
            ContactPhone.objects.filter(pk=contact_phone_id)
            .values_list("client_id", flat=True)
            .first()
        )
        return redirect(reverse("clients:detail", args=[client_id]) if client_id else "home")
    if _is_htmx(request):
        return render(request, "telephony/_dialing.html", _status_context(req))
    return redirect(reverse("telephony_ui:dial_page", args=[req.request_id]))


@login_required
@require_GET
def dial_page(request: HttpRequest, request_id: str) -> HttpResponse:
    """A full page for the dialling status (when the button was used without JavaScript)."""
    try:
        req = click_to_call.request_for(request_id, actor=_viewer(request))
    except DomainError:
        raise Http404 from None
    return render(request, "telephony/dialing.html", _status_context(req))


@login_required
@require_GET
def dial_status(request: HttpRequest, request_id: str) -> HttpResponse:
    """Still calling → the same "Calling…" fragment (polled again); the call has arrived →
    HX-Redirect to its post-call card; too long → a note, polling stops."""
    try:
        req = click_to_call.request_for(request_id, actor=_viewer(request))
    except DomainError:
        raise Http404 from None
    call = click_to_call.resulting_call(req)
    if call is not None:
        card = reverse("activities:call_card", args=[call.pk])
        if _is_htmx(request):
            response = HttpResponse()
            response["HX-Redirect"] = card
            return response
        return redirect(card)
    context = _status_context(req)
    context["gave_up"] = clock.now() - req.requested_at > GIVE_UP_AFTER
    return render(request, "telephony/_dialing.html", context)
