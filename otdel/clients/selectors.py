"""Reads of the client base, always for a viewer."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from otdel.activities.models import Activity, Call
from otdel.clients.models import Client, Contact, ContactPhone
from otdel.clients.normalize import format_phone, normalize_name
from otdel.core.errors import NotFound
from otdel.ownership import policies
from otdel.ownership.policy import policy_in_force
from otdel.people.models import User


def client_for(viewer: User, client_id: int) -> Client:
    """One live client; everyone may see any client (a merged id leads to the survivor)."""
    client = (
        Client.objects.select_related("owner", "team", "created_by", "merged_into")
        .filter(pk=client_id)
        .first()
    )
    while client is not None and client.merged_into_id is not None:
        client = (
            Client.objects.select_related("owner", "team", "created_by", "merged_into")
            .filter(pk=client.merged_into_id)
            .first()
        )
    if client is None or not policies.can_view_client(viewer, client):
        raise NotFound("Client not found.", code="client_not_found")
    return client


def search_clients(
    viewer: User, *, q: str = "", owner_id: int | None = None, in_pool: bool | None = None
) -> QuerySet[Client]:
    """All live clients matching a search: name, ИНН, phone or e-mail."""
    qs = Client.objects.live().select_related("owner")
    term = q.strip()
    if term:
        digits = "".join(ch for ch in term if ch.isdigit())
        # SQLite folds case for Latin letters only; the normalised name is lower-cased Cyrillic.
        norm = normalize_name(term)
        cond = (
            Q(name__icontains=term) | Q(legal_entities__inn=term) | Q(contacts__email=term.lower())
        )
        if norm:
            cond |= Q(normalized_name__contains=norm)
        if len(digits) >= 10:
            phone = "+7" + digits[-10:]
            cond |= Q(pk__in=ContactPhone.objects.filter(e164=phone).values("client_id"))
        qs = qs.filter(cond).distinct()
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if in_pool is True:
        qs = qs.filter(owner__isnull=True)
    elif in_pool is False:
        qs = qs.filter(owner__isnull=False)
    return qs.order_by("name")


@dataclass(frozen=True)
class ContactView:
    """A contact as the viewer may see it (details masked for pool clients if the policy says)."""

    contact: Contact
    phones: list[str]
    email: str
    masked: bool


def contacts_for(viewer: User, client: Client) -> list[ContactView]:
    """The client's contacts; pool contacts masked until claimed when the policy says so."""
    mask = policy_in_force(client.team_id).doc.mask_pool_contacts
    visible = policies.can_see_contact_details(viewer, client, mask_pool_contacts=mask)
    contacts = client.contacts.prefetch_related(Prefetch("phones"))
    out = []
    for c in contacts:
        phones = [format_phone(p.e164) for p in c.phones.all()]
        if visible:
            out.append(ContactView(c, phones, c.email, False))
        else:
            out.append(
                ContactView(
                    c,
                    [p[:-5] + "••-••" for p in phones],
                    (c.email[:1] + "•••@" + c.email.split("@")[-1]) if c.email else "",
                    True,
                )
            )
    return out


def activities_for(viewer: User, client: Client, *, limit: int = 200) -> QuerySet[Activity]:
    """Activities logged on the client (and on clients merged into it), newest first; a logged
    call comes with its fact (`logged_calls`: its verdict)."""
    return (
        Activity.objects.filter(client=client)
        .select_related("author")
        .prefetch_related("logged_calls")
        .order_by("-occurred_at", "-id")[:limit]
    )


def phone_calls_for(viewer: User, client: Client, *, limit: int = 200) -> QuerySet[Call]:
    """Calls the phone system reported with the client (and with clients merged into it),
    newest first: each is its own timeline entry (a logged call is shown by its activity)."""
    return (
        Call.objects.filter(client=client, activity__isnull=True)
        .select_related("user")
        .order_by("-started_at", "-id")[:limit]
    )


def timeline(viewer: User, client: Client, *, limit: int = 300) -> list[dict[str, Any]]:
    """One history: ownership events, activities, calls and transfer steps, newest first."""
    from otdel.ownership.selectors import history

    events: list[dict[str, Any]] = [
        {"at": e.at, "type": "ownership", "obj": e} for e in history(viewer, client)[:limit]
    ]
    acts: list[dict[str, Any]] = [
        {"at": a.occurred_at, "type": "activity", "obj": a}
        for a in activities_for(viewer, client, limit=limit)
    ]
    calls: list[dict[str, Any]] = [
        {"at": c.started_at, "type": "call", "obj": c}
        for c in phone_calls_for(viewer, client, limit=limit)
    ]
    transfers: list[dict[str, Any]] = [
        {"at": t.created_at, "type": "transfer", "obj": t}
        for t in client.transfer_requests.select_related("requester", "owner", "decided_by")[:limit]
    ]
    merged: list[dict[str, Any]] = [
        {"at": m.updated_at, "type": "merged", "obj": m}
        for m in Client.objects.filter(merged_into=client)
    ]
    return sorted(
        chain(events, acts, calls, transfers, merged), key=lambda x: x["at"], reverse=True
    )[:limit]
