"""A site's form post becoming a request: the form key names the team, a filled honeypot is a
robot (accepted politely, nothing stored), each address is rate-limited per form, the body size
is bounded; a submission id makes a re-sent post change nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from otdel.core.errors import DomainError, NotFound
from otdel.inbound.models import Channel, WebForm
from otdel.inbound.services import Received, parse_request, receive
from otdel.telephony.admission import count_request
from otdel.telephony.conf import int_setting

# The field robots fill and people never see.
HONEYPOT = "website"
# A form post is a few fields: anything bigger is not a person typing.
MAX_BODY_BYTES = 32 * 1024


class TooLarge(DomainError):
    """The post is bigger than any form a person fills (413)."""

    status = 413
    code = "too_large"


def form_by_key(key: str) -> WebForm:
    """The active form with this key; an unknown or disabled key is refused (404)."""
    form = WebForm.objects.filter(key=key, is_active=True).first() if key else None
    if form is None:
        raise NotFound(_("This form is unknown or switched off."), code="unknown_form")
    return form


@dataclass
class Accepted:
    """What the poster is told: the request's number, or nothing for a robot."""

    received: Received | None

    @property
    def number(self) -> str:
        return self.received.request.number if self.received else ""


def accept_post(form: WebForm, payload: dict[str, Any], *, address: str) -> Accepted:
    """One post of a site's form: rate limit per address, honeypot, validation, then the
    request (routed at once)."""
    limit = int_setting("OTDEL_WEBFORM_RATE_LIMIT", 10)
    count_request("webform", f"{form.pk}:{address}", limit=limit)
    if str(payload.get(HONEYPOT) or "").strip():
        return Accepted(None)
    data = parse_request(payload)
    submission = str(payload.get("submission_id") or "").strip()[:100]
    received = receive(
        data,
        team_id=form.team_id,
        channel=Channel.WEB,
        external_id=f"{form.pk}:{submission}" if submission else "",
        web_form=form,
        sender=data.email or data.phone,
    )
    return Accepted(received)
