"""Writes to the client base: create, edit, add contacts and legal entities, merge duplicates."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from otdel.activities.models import Activity, Call
from otdel.audit.services import record
from otdel.clients.dedup import Candidate, DuplicateMatch, find_duplicates
from otdel.clients.models import Brand, Client, Contact, ContactPhone, LegalEntity, Site
from otdel.clients.normalize import domain_of_email, domain_of_website, normalize_name
from otdel.clients.schemas import ClientIn, ClientUpdate, ContactIn, LegalEntityIn
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
from otdel.ownership import policies
from otdel.ownership import services as ownership
from otdel.ownership.models import EventKind, TransferRequest, TransferStatus
from otdel.people.models import Team, User
from otdel.sales.models import Deal


class PossibleDuplicates(Conflict):
    """The new client looks like existing ones; the person must look before creating it."""

    code = "possible_duplicates"

    def __init__(self, matches: list[DuplicateMatch]):
        super().__init__(
            _("Possible duplicates found: %(names)s")
            % {
                "names": "; ".join(
                    f"{m.client.name} ({m.client.owner or _('pool')}: {', '.join(m.reason_labels)})"
                    for m in matches[:5]
                )
            },
            duplicates=[
                {
                    "id": m.client.pk,
                    "name": m.client.name,
                    "owner": m.client.owner.display_name if m.client.owner else None,
                    "reasons": sorted(m.reasons),
                }
                for m in matches
            ],
        )
        self.matches = matches


def candidate_from(data: ClientIn) -> Candidate:
    return Candidate(
        name=data.name,
        inns=[le.inn for le in data.legal_entities],
        phones=[p for c in data.contacts for p in c.phones],
        emails=[c.email for c in data.contacts if c.email],
        website=data.website,
    )


def default_team() -> Team:
    team = Team.objects.order_by("pk").first()
    if team is None:
        team = Team.objects.create(name=_("Sales"))
    return team


def _write_children(client: Client, data: ClientIn) -> None:
    for le in data.legal_entities:
        LegalEntity.objects.create(client=client, **le.model_dump())
    for contact in data.contacts:
        _create_contact(client, contact)
    Brand.objects.bulk_create(
        Brand(client=client, name=b.strip()) for b in data.brands if b.strip()
    )
    Site.objects.bulk_create(Site(client=client, **s.model_dump()) for s in data.sites)


def _create_contact(client: Client, data: ContactIn) -> Contact:
    contact = Contact.objects.create(
        client=client,
        full_name=data.full_name,
        position=data.position,
        is_decision_maker=data.is_decision_maker,
        email=data.email,
        email_domain=domain_of_email(data.email) if data.email else "",
    )
    ContactPhone.objects.bulk_create(
        ContactPhone(contact=contact, client=client, e164=p, raw=p, is_mobile=p.startswith("+79"))
        for p in data.phones
    )
    return contact


def create_client(
    data: ClientIn,
    *,
    actor: User,
    team: Team | None = None,
    owner: User | None = None,
    allow_duplicates: bool = False,
    event_kind: str = EventKind.CREATED,
) -> Client:
    """Add a client; it goes into the owner's base (within his cap) or the pool.

    Possible duplicates (same ИНН, phone, e-mail, domain or name, under any owner) stop the
    creation until the person confirms; nothing is written before that.
    """
    if not allow_duplicates:
        matches = find_duplicates(candidate_from(data))
        if matches:
            raise PossibleDuplicates(matches)
    if owner is not None and owner.pk != actor.pk and not actor.is_head_of_sales:
        raise Forbidden(
            _("Only the head of sales creates clients for someone else."), code="not_head_of_sales"
        )
    now = clock.now()
    with transaction.atomic():
        client = Client.objects.create(
            name=data.name,
            normalized_name=normalize_name(data.name),
            team=team or actor.team or default_team(),
            website=data.website,
            web_domain=domain_of_website(data.website),
            region=data.region,
            industry=data.industry,
            notes=data.notes,
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        _write_children(client, data)
        ownership.establish_owner(
            client,
            owner=owner,
            actor=actor,
            kind=event_kind,
            reason=_("created by %(name)s") % {"name": actor.display_name},
        )
        record(
            actor=actor,
            verb="client.created",
            obj=client,
            data={"name": client.name, "owner": owner.pk if owner else None},
        )
    return client


def _load_for_change(client_id: int, actor: User) -> Client:
    client = Client.objects.live().filter(pk=client_id).first()
    if client is None or not policies.can_act_on(actor, client):
        # Not yours looks the same as missing: nothing leaks.
        raise NotFound(_("Client not found."), code="client_not_found")
    return client


def update_client(client_id: int, data: ClientUpdate, *, actor: User) -> Client:
    """The owner or the head of sales edits a client's details."""
    with transaction.atomic():
        client = _load_for_change(client_id, actor)
        changes: dict[str, Any] = {}
        for field, value in data.model_dump(exclude_none=True).items():
            if getattr(client, field) != value:
                changes[field] = [getattr(client, field), value]
                setattr(client, field, value)
        if not changes:
            return client
        client.normalized_name = normalize_name(client.name)
        client.web_domain = domain_of_website(client.website)
        client.updated_at = clock.now()
        client.save(update_fields=[*changes, "normalized_name", "web_domain", "updated_at"])
        record(actor=actor, verb="client.updated", obj=client, data={"changes": changes})
    return client


def set_locked(client_id: int, *, locked: bool, actor: User) -> Client:
    """The head of sales locks a client against automatic return (if the policy says so)."""
    with transaction.atomic():
        client = _load_for_change(client_id, actor)
        if not policies.manages_team(actor, client.team_id):
            raise Forbidden(_("Only the head of sales locks clients."), code="not_head_of_sales")
        Client.objects.filter(pk=client.pk).update(is_locked=locked, updated_at=clock.now())
        client.is_locked = locked
        record(actor=actor, verb="client.locked" if locked else "client.unlocked", obj=client)
    return client


def add_contact(client_id: int, data: ContactIn, *, actor: User) -> Contact:
    """Add a contact person to a client."""
    with transaction.atomic():
        client = _load_for_change(client_id, actor)
        contact = _create_contact(client, data)
        record(
            actor=actor,
            verb="contact.added",
            obj=contact,
            data={"client": client.pk, "name": contact.full_name},
        )
    return contact


def remove_contact(contact_id: int, *, actor: User) -> None:
    """Remove a contact (its phones go with it); audited with what it held."""
    with transaction.atomic():
        contact = Contact.objects.filter(pk=contact_id).select_related("client").first()
        if contact is None or not policies.can_act_on(actor, contact.client):
            raise NotFound(_("Contact not found."), code="contact_not_found")
        record(
            actor=actor,
            verb="contact.removed",
            obj=contact,
            data={
                "client": contact.client_id,
                "name": contact.full_name,
                "email": contact.email,
                "phones": list(contact.phones.values_list("e164", flat=True)),
            },
        )
        contact.delete()


def add_legal_entity(
    client_id: int, data: LegalEntityIn, *, actor: User, allow_duplicates: bool = False
) -> LegalEntity:
    """Add a legal entity; a ИНН already known under another client is refused unless confirmed."""
    with transaction.atomic():
        client = _load_for_change(client_id, actor)
        if not allow_duplicates:
            matches = find_duplicates(Candidate(inns=[data.inn]), exclude_id=client.pk)
            if matches:
                raise PossibleDuplicates(matches)
        entity = LegalEntity.objects.create(client=client, **data.model_dump())
        record(
            actor=actor,
            verb="legal_entity.added",
            obj=entity,
            data={"client": client.pk, "inn": entity.inn},
        )
    return entity


def merge_clients(
    survivor_id: int, duplicate_id: int, *, actor: User, keep_owner_id: int | None = None
) -> Client:
    """Merge a duplicate into the survivor: legal entities, contacts, brands, sites and
    activities move; the duplicate's history stays readable through the survivor; ownership
    is settled through the ownership service. Nothing is deleted."""
    if survivor_id == duplicate_id:
        raise Invalid(_("A client cannot be merged into itself."), code="same_client")
    with transaction.atomic():
        pair = {
            c.pk: c
            for c in Client.objects.live()
            .select_related("owner")
            .filter(pk__in=[survivor_id, duplicate_id])
        }
        if len(pair) != 2:
            raise NotFound(_("Client not found."), code="client_not_found")
        survivor, duplicate = pair[survivor_id], pair[duplicate_id]
        if not (policies.can_merge(actor, survivor) and policies.can_merge(actor, duplicate)):
            raise Forbidden(
                _("Only the head of sales or a database operator merges clients."),
                code="cannot_merge",
            )
        moved = {
            "legal_entities": LegalEntity.objects.filter(client=duplicate).update(client=survivor),
            "contacts": Contact.objects.filter(client=duplicate).update(client=survivor),
            "phones": ContactPhone.objects.filter(client=duplicate).update(client=survivor),
            "brands": Brand.objects.filter(client=duplicate).update(client=survivor),
            "sites": Site.objects.filter(client=duplicate).update(client=survivor),
            "activities": Activity.objects.filter(client=duplicate).update(client=survivor),
            "calls": Call.objects.filter(client=duplicate).update(client=survivor),
            "deals": Deal.objects.filter(client=duplicate).update(client=survivor),
        }
        ownership.settle_merge(survivor, duplicate, actor=actor, keep_owner_id=keep_owner_id)
        TransferRequest.objects.filter(
            client=duplicate,
            status__in=[TransferStatus.AWAITING_OWNER, TransferStatus.AWAITING_DECISION],
        ).update(status=TransferStatus.OBSOLETE, decided_at=clock.now())
        now = clock.now()
        fill = {
            f: getattr(duplicate, f)
            for f in ("website", "region", "industry")
            if not getattr(survivor, f) and getattr(duplicate, f)
        }
        Client.objects.filter(pk=survivor.pk).update(
            is_won=survivor.is_won or duplicate.is_won,
            updated_at=now,
            notes="\n\n".join(n for n in (survivor.notes, duplicate.notes) if n),
            web_domain=survivor.web_domain or duplicate.web_domain,
            **fill,
        )
        Client.objects.filter(pk=duplicate.pk).update(merged_into=survivor, updated_at=now)
        record(
            actor=actor,
            verb="client.merged",
            obj=survivor,
            data={
                "duplicate": duplicate.pk,
                "duplicate_name": duplicate.name,
                "moved": moved,
                "kept_owner": keep_owner_id,
            },
        )
    survivor.refresh_from_db()
    return survivor
