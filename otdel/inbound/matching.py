"""Who wrote: a request is matched to a client and contact by the foundation's dedup rules
(ИНН, phone, e-mail), and a repeat within the window joins the open request."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q

from otdel.clients.dedup import Candidate, find_duplicates
from otdel.clients.models import Client, Contact, ContactPhone
from otdel.inbound.models import UNRESOLVED_STATUSES, InboundRequest


@dataclass
class Match:
    """The client and contact a request belongs to (None: a new client), and why."""

    client: Client | None = None
    contact: Contact | None = None
    reasons: list[str] = field(default_factory=list)


def match_sender(*, team_id: int, phone_e164: str, email: str, inn: str, company: str) -> Match:
    """The client by a strong sign only (ИНН, phone, e-mail); a similar name alone is not
    enough to hand a stranger's request to someone's client."""
    found = find_duplicates(
        Candidate(
            name=company,
            inns=[inn] if inn else [],
            phones=[phone_e164] if phone_e164 else [],
            emails=[email] if email else [],
        ),
        limit=5,
        strong_only=True,
    )
    strong = [m for m in found if m.strong and m.client.team_id == team_id]
    if not strong:
        return Match()
    best = strong[0]
    contact = None
    if phone_e164:
        phone = (
            ContactPhone.objects.filter(client=best.client, e164=phone_e164)
            .select_related("contact")
            .first()
        )
        contact = phone.contact if phone else None
    if contact is None and email:
        contact = Contact.objects.filter(client=best.client, email=email.lower()).first()
    return Match(best.client, contact, sorted(best.reasons))


def open_duplicate(
    *,
    team_id: int,
    client_id: int | None,
    phone_e164: str,
    email: str,
    since: dt.datetime,
) -> InboundRequest | None:
    """An unresolved request of the team from the same client, number or e-mail since `since`."""
    same = Q()
    if client_id:
        same |= Q(client_id=client_id)
    if phone_e164:
        same |= Q(phone_e164=phone_e164)
    if email:
        same |= Q(email=email.lower())
    if not same:
        return None
    return (
        InboundRequest.objects.filter(
            same, team_id=team_id, status__in=UNRESOLVED_STATUSES, created_at__gte=since
        )
        .order_by("-created_at", "-id")
        .first()
    )
