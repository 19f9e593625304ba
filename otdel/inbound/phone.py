"""The phone channel: an inbound call nobody answered, or from a number we do not know, becomes
a request (read from the call facts after a cursor, so each call is read once)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from otdel.activities.models import Call, CallDirection, CallDisposition
from otdel.clients.normalize import ValidationFailure, format_phone, normalize_phone
from otdel.clients.services import default_team
from otdel.inbound.models import Channel, Cursor
from otdel.inbound.schemas import RequestIn
from otdel.inbound.services import receive

CURSOR = "phone_calls"
BATCH = 1000


def _team_id(call: Call) -> int:
    if call.client_id and call.client is not None:
        return call.client.team_id
    if call.user_id and call.user is not None and call.user.team_id:
        return call.user.team_id
    return default_team().pk


def _request_from(call: Call) -> None:
    try:
        phone = format_phone(normalize_phone(call.their_e164 or call.their_number))
    except ValidationFailure:
        phone = ""
    answered = call.disposition == CallDisposition.ANSWERED
    message = (
        _("Call from an unknown number %(number)s, answered by %(name)s")
        % {"number": call.their_number, "name": call.user.short_name if call.user else "—"}
        if answered
        else _("Missed call from %(number)s") % {"number": call.their_number or "—"}
    )
    data = RequestIn.model_construct(
        name="",
        company="",
        phone=phone,
        email="",
        inn="",
        subject=message,
        message=message,
        category_id=None,
        region="",
        language="",
    )
    # Whoever answered a stranger's call already holds the conversation: it is his request.
    receive(
        data,
        team_id=_team_id(call),
        channel=Channel.PHONE,
        external_id=f"call:{call.pk}",
        call_id=call.pk,
        held_by=call.user if answered and call.user_id else None,
    )


def requests_from_calls() -> int:
    """Read the inbound calls stored since the last run; each missed or unknown one becomes a
    request (or joins the caller's open one)."""
    made = 0
    with transaction.atomic():
        cursor, _created = Cursor.objects.get_or_create(name=CURSOR)
        cursor = Cursor.objects.select_for_update().get(pk=cursor.pk)
        calls = list(
            Call.objects.filter(
                pk__gt=cursor.position, direction=CallDirection.INBOUND, self_reported=False
            )
            .filter(~Q(disposition=CallDisposition.ANSWERED) | Q(client__isnull=True))
            .select_related("client", "user")
            .order_by("pk")[:BATCH]
        )
        last = (
            Call.objects.filter(pk__gt=cursor.position).order_by("pk").values_list("pk", flat=True)
        )
        newest = calls[-1].pk if len(calls) == BATCH else (last.last() or cursor.position)
        for call in calls:
            _request_from(call)
            made += 1
        Cursor.objects.filter(pk=cursor.pk).update(position=max(newest, cursor.position))
    return made
