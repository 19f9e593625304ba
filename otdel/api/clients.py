"""Clients, their contacts, legal entities, activities, history, duplicates and merges."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from otdel.activities.services import log_activity
from otdel.api.auth import viewer
from otdel.api.errors import READ_ERRORS, WRITE_ERRORS, ErrorOut
from otdel.api.paging import PageParams, page_of
from otdel.api.schemas import (
    ActivityOut,
    ClientOut,
    ClientPage,
    ContactOut,
    DuplicateOut,
    EventOut,
    LegalEntityOut,
    SiteOut,
    actions_out,
    activity_out,
    client_list_item,
    contact_out,
    event_out,
    legal_entity_out,
    ownership_out,
    user_ref,
)
from otdel.clients import selectors, services
from otdel.clients.dedup import candidate_for, find_duplicates
from otdel.clients.models import Client
from otdel.clients.schemas import ClientIn, ClientUpdate, ContactIn, LegalEntityIn
from otdel.core.errors import Invalid, NotFound
from otdel.ownership import policies
from otdel.ownership.selectors import history, ownership_status
from otdel.people.models import User

router = Router(tags=["clients"])


def client_card(viewer_: User, client: Client) -> ClientOut:
    """The full card of a client as this viewer may see it."""
    return ClientOut(
        id=client.pk,
        name=client.name,
        website=client.website,
        region=client.region,
        industry=client.industry,
        notes=client.notes,
        team_id=client.team_id,
        is_won=client.is_won,
        is_locked=client.is_locked,
        created_at=client.created_at,
        updated_at=client.updated_at,
        created_by=user_ref(client.created_by),
        legal_entities=[legal_entity_out(le) for le in client.legal_entities.all()],
        contacts=[contact_out(c) for c in selectors.contacts_for(viewer_, client)],
        brands=list(client.brands.values_list("name", flat=True)),
        sites=[
            SiteOut(id=s.pk, name=s.name, address=s.address, city=s.city, region=s.region)
            for s in client.sites.all()
        ],
        ownership=ownership_out(client, ownership_status(client)),
        actions=actions_out(viewer_, client),
    )


def _card(request: HttpRequest, client_id: int) -> ClientOut:
    me = viewer(request)
    return client_card(me, selectors.client_for(me, client_id))


# --- the client base ------------------------------------------------------------------------


class ClientFilters(Schema):
    q: str = Field("", max_length=200, description="Name, ИНН, phone or e-mail")
    owner: str = Field(
        "", max_length=20, description="`me`, `pool`, or a person's id; empty: everyone's"
    )


@router.get("/clients", response={200: ClientPage, **READ_ERRORS})
def list_clients(
    request: HttpRequest, filters: Query[ClientFilters], paging: Query[PageParams]
) -> ClientPage:
    """Search the whole client base (everyone sees every client and who owns it)."""
    me = viewer(request)
    owner_id: int | None = None
    in_pool: bool | None = None
    if filters.owner == "me":
        owner_id = me.pk
    elif filters.owner == "pool":
        in_pool = True
    elif filters.owner:
        if not filters.owner.isdigit():
            raise Invalid(
                _("owner must be `me`, `pool` or a person's id."), code="bad_owner_filter"
            )
        owner_id = int(filters.owner)
    rows, meta = page_of(
        selectors.search_clients(me, q=filters.q, owner_id=owner_id, in_pool=in_pool), paging
    )
    return ClientPage(items=[client_list_item(c) for c in rows], **meta)


class ClientCreateIn(ClientIn):
    """A new client: into my base (`me`, within my cap) or straight into the pool."""

    owner: Literal["me", "pool"] | None = Field(
        None, description="Empty: `me` for people who keep a base, `pool` for everyone else"
    )
    allow_duplicates: bool = Field(
        False, description="Create even though possible duplicates were found"
    )


@router.post("/clients", response={201: ClientOut, **WRITE_ERRORS})
def create_client(request: HttpRequest, payload: ClientCreateIn) -> Status[ClientOut]:
    """Add a client; possible duplicates (409 `possible_duplicates`) stop it until confirmed."""
    me = viewer(request)
    mode = payload.owner or ("me" if me.owns_clients else "pool")
    data = ClientIn.model_validate(payload.model_dump(exclude={"owner", "allow_duplicates"}))
    client = services.create_client(
        data,
        actor=me,
        owner=me if mode == "me" else None,
        allow_duplicates=payload.allow_duplicates,
    )
    return Status(201, client_card(me, selectors.client_for(me, client.pk)))


@router.get("/clients/{client_id}", response={200: ClientOut, **READ_ERRORS})
def get_client(request: HttpRequest, client_id: int) -> ClientOut:
    """A client card: details, legal entities, contacts, owner and the countdown to the pool."""
    return _card(request, client_id)


@router.patch("/clients/{client_id}", response={200: ClientOut, **WRITE_ERRORS})
def update_client(request: HttpRequest, client_id: int, payload: ClientUpdate) -> ClientOut:
    """The owner or the head of sales edits a client's details (never its owner)."""
    services.update_client(client_id, payload, actor=viewer(request))
    return _card(request, client_id)


@router.get("/clients/{client_id}/history", response={200: list[EventOut], **READ_ERRORS})
def client_history(request: HttpRequest, client_id: int) -> list[EventOut]:
    """The ownership ledger of a client, newest first: who, when, why, under which policy."""
    me = viewer(request)
    client = selectors.client_for(me, client_id)
    return [event_out(e) for e in history(me, client)[:1000]]


@router.get("/clients/{client_id}/duplicates", response={200: list[DuplicateOut], **READ_ERRORS})
def client_duplicates(request: HttpRequest, client_id: int) -> list[DuplicateOut]:
    """Other clients that may be the same company, with who owns them and why."""
    me = viewer(request)
    client = selectors.client_for(me, client_id)
    return [
        DuplicateOut(
            id=m.client.pk,
            name=m.client.name,
            owner=user_ref(m.client.owner),
            reasons=sorted(m.reasons),
            reason_labels=m.reason_labels,
            strong=m.strong,
        )
        for m in find_duplicates(candidate_for(client), exclude_id=client.pk)
    ]


class MergeIn(Schema):
    duplicate_id: int = Field(description="The client merged into this one (it disappears)")
    keep_owner_id: int | None = Field(
        None, description="Which of the two owners keeps the merged client"
    )


@router.post("/clients/{client_id}/merge", response={200: ClientOut, **WRITE_ERRORS})
def merge_client(request: HttpRequest, client_id: int, payload: MergeIn) -> ClientOut:
    """The head of sales (or a database operator) merges a duplicate into this client."""
    me = viewer(request)
    survivor = selectors.client_for(me, client_id)
    if not (policies.can_act_on(me, survivor) or policies.can_merge(me, survivor)):
        # Someone else's client looks the same as a missing one.
        raise NotFound(_("Client not found."), code="client_not_found")
    merged = services.merge_clients(
        survivor.pk, payload.duplicate_id, actor=me, keep_owner_id=payload.keep_owner_id
    )
    return client_card(me, selectors.client_for(me, merged.pk))


# --- contacts -------------------------------------------------------------------------------


@router.get(
    "/clients/{client_id}/contacts",
    response={200: list[ContactOut], **READ_ERRORS},
    tags=["contacts"],
)
def list_contacts(request: HttpRequest, client_id: int) -> list[ContactOut]:
    """The client's contacts; pool contacts may be masked until claimed (policy switch)."""
    me = viewer(request)
    return [contact_out(c) for c in selectors.contacts_for(me, selectors.client_for(me, client_id))]


@router.post(
    "/clients/{client_id}/contacts", response={201: ContactOut, **WRITE_ERRORS}, tags=["contacts"]
)
def add_contact(request: HttpRequest, client_id: int, payload: ContactIn) -> Status[ContactOut]:
    """The owner or the head of sales adds a contact person."""
    me = viewer(request)
    contact = services.add_contact(client_id, payload, actor=me)
    views = selectors.contacts_for(me, selectors.client_for(me, client_id))
    return Status(201, next(contact_out(v) for v in views if v.contact.pk == contact.pk))


@router.delete("/contacts/{contact_id}", response={204: None, **WRITE_ERRORS}, tags=["contacts"])
def remove_contact(request: HttpRequest, contact_id: int) -> Status[None]:
    """The owner or the head of sales removes a contact (audited with what it held)."""
    services.remove_contact(contact_id, actor=viewer(request))
    return Status(204, None)


# --- legal entities -------------------------------------------------------------------------


@router.get(
    "/clients/{client_id}/legal-entities",
    response={200: list[LegalEntityOut], **READ_ERRORS},
    tags=["legal entities"],
)
def list_legal_entities(request: HttpRequest, client_id: int) -> list[LegalEntityOut]:
    """The client's legal entities with ИНН, КПП and ОГРН."""
    client = selectors.client_for(viewer(request), client_id)
    return [legal_entity_out(le) for le in client.legal_entities.all()]


class LegalEntityCreateIn(LegalEntityIn):
    allow_duplicates: bool = Field(
        False, description="Add even though this ИНН is known under another client"
    )


@router.post(
    "/clients/{client_id}/legal-entities",
    response={201: LegalEntityOut, **WRITE_ERRORS},
    tags=["legal entities"],
)
def add_legal_entity(
    request: HttpRequest, client_id: int, payload: LegalEntityCreateIn
) -> Status[LegalEntityOut]:
    """The owner or the head of sales adds a legal entity (ИНН checked by its check digits)."""
    data = LegalEntityIn.model_validate(payload.model_dump(exclude={"allow_duplicates"}))
    entity = services.add_legal_entity(
        client_id, data, actor=viewer(request), allow_duplicates=payload.allow_duplicates
    )
    return Status(201, legal_entity_out(entity))


# --- activities -----------------------------------------------------------------------------


class ActivityIn(Schema):
    kind: Literal["call", "meeting", "email", "note"]
    occurred_at: dt.datetime | None = Field(None, description="When it happened; empty: now")
    direction: Literal["", "in", "out"] = ""
    talk_seconds: int | None = Field(None, ge=0, le=24 * 3600)
    subject: str = Field("", max_length=300)
    body: str = Field("", max_length=20_000)


@router.post(
    "/clients/{client_id}/activities",
    response={201: ActivityOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    tags=["activities"],
)
def log_client_activity(
    request: HttpRequest, client_id: int, payload: ActivityIn
) -> Status[ActivityOut]:
    """Log a call, meeting, e-mail or note; the owner's qualifying work restarts his clock."""
    when = payload.occurred_at
    if when is not None and timezone.is_naive(when):
        # A time without an offset is the viewer's local (Moscow) time.
        when = timezone.make_aware(when, timezone.get_current_timezone())
    activity = log_activity(
        client_id,
        actor=viewer(request),
        kind=payload.kind,
        occurred_at=when,
        subject=payload.subject,
        body=payload.body,
        direction=payload.direction,
        talk_seconds=payload.talk_seconds,
    )
    return Status(201, activity_out(activity))
