"""Writing checked rows: clients, legal entities, contacts and phones in bulk; owners through
the ownership service (the one door), so caps hold and every client gets its ledger event."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from otdel.clients.importer.preview import NewRow
from otdel.clients.models import Client, Contact, ContactPhone, LegalEntity
from otdel.clients.normalize import domain_of_email, domain_of_website, normalize_name
from otdel.core.errors import DomainError
from otdel.ownership import services as ownership
from otdel.ownership.models import EventKind
from otdel.people.models import Team, User


class RowFailed(Exception):
    """A row could not be written; the whole import is rolled back with this message."""

    def __init__(self, row: int, message: str):
        super().__init__(_("Row %(row)s: %(message)s") % {"row": row, "message": message})
        self.row = row


def write_rows(
    rows: list[NewRow],
    *,
    team: Team,
    actor: User,
    owners: dict[int, User],
    reason: str,
    now: dt.datetime,
) -> int:
    """Create the clients of one chunk; runs inside the import's single transaction."""
    if not rows:
        return 0
    clients = Client.objects.bulk_create(
        [
            Client(
                name=r.data.name,
                normalized_name=normalize_name(r.data.name),
                team=team,
                website=r.data.website,
                web_domain=domain_of_website(r.data.website),
                region=r.data.region,
                industry=r.data.industry,
                notes=r.data.notes,
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
            for r in rows
        ]
    )
    entities: list[LegalEntity] = []
    contacts: list[Contact] = []
    contact_phones: list[list[str]] = []
    for client, row in zip(clients, rows, strict=True):
        entities.extend(
            LegalEntity(client=client, **le.model_dump()) for le in row.data.legal_entities
        )
        for c in row.data.contacts:
            contacts.append(
                Contact(
                    client=client,
                    full_name=c.full_name,
                    position=c.position,
                    is_decision_maker=c.is_decision_maker,
                    email=c.email,
                    email_domain=domain_of_email(c.email) if c.email else "",
                )
            )
            contact_phones.append(c.phones)
    LegalEntity.objects.bulk_create(entities)
    Contact.objects.bulk_create(contacts)
    ContactPhone.objects.bulk_create(
        ContactPhone(
            contact=contact,
            client_id=contact.client_id,
            e164=p,
            raw=p,
            is_mobile=p.startswith("+79"),
        )
        for contact, phones in zip(contacts, contact_phones, strict=True)
        for p in phones
    )
    by_owner: dict[int | None, list[int]] = {}
    row_numbers: dict[int | None, list[int]] = {}
    for client, row in zip(clients, rows, strict=True):
        by_owner.setdefault(row.owner_id, []).append(client.pk)
        row_numbers.setdefault(row.owner_id, []).append(row.number)
    try:
        ownership.establish_owners_in_bulk(
            by_owner, team_id=team.pk, actor=actor, kind=EventKind.IMPORT, reason=reason
        )
    except DomainError as err:
        # Name the row that crossed the owner's cap (or the first of his rows).
        numbers = row_numbers.get(err.details.get("owner"), [rows[0].number])
        free = max(int(err.details.get("cap", 0)) - int(err.details.get("owned", 0)), 0)
        raise RowFailed(numbers[min(free, len(numbers) - 1)], err.message) from err
    return len(clients)
