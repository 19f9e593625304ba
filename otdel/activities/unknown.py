"""Unknown callers: a number the phone system saw that no client has. A database operator or the
head of sales puts it on a client's contact; every stored call with that number then joins the
client's timeline and is judged."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from otdel.activities.calls import judge_new_calls
from otdel.activities.models import Call, CallDirection
from otdel.audit.services import record
from otdel.clients.models import Client, Contact, ContactPhone
from otdel.clients.normalize import ValidationFailure, normalize_phone
from otdel.core.errors import Forbidden, Invalid, NotFound
from otdel.ownership import policies
from otdel.people.models import Role, User


def may_resolve_unknown(user: User) -> bool:
    """Database operators and heads of sales attach unknown numbers to clients."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.role == Role.DB_OPERATOR or user.is_head_of_sales)
    )


@dataclass(frozen=True)
class Resolved:
    """What resolving a number did: the contact that has it now, and the calls re-matched."""

    contact: Contact
    phone_added: bool
    calls_matched: int


def _clean(e164: str) -> str:
    try:
        return normalize_phone(e164)
    except ValidationFailure as err:
        raise Invalid(
            _("This is not a phone number."), code="bad_phone", errors=[str(err)]
        ) from None


def _target(
    actor: User, *, contact_id: int | None, client_id: int | None, full_name: str, position: str
) -> tuple[Contact, bool]:
    """The existing contact, or a new one on the client; (contact, created)."""
    if (contact_id is None) == (client_id is None):
        raise Invalid(
            _("Choose a contact, or a client to add a new contact to."), code="bad_target"
        )
    if contact_id is not None:
        contact = (
            Contact.objects.select_related("client")
            .filter(pk=contact_id, client__merged_into__isnull=True)
            .first()
        )
        if contact is None:
            raise NotFound(_("Contact not found."), code="contact_not_found")
        if not _may_touch(actor, contact.client):
            raise Forbidden(_("This client belongs to another team."), code="other_team")
        return contact, False
    client = Client.objects.live().filter(pk=client_id).first()
    if client is None:
        raise NotFound(_("Client not found."), code="client_not_found")
    if not _may_touch(actor, client):
        raise Forbidden(_("This client belongs to another team."), code="other_team")
    name = full_name.strip()
    if not name:
        raise Invalid(_("Give the new contact a name."), code="contact_name_required")
    contact = Contact.objects.create(
        client=client, full_name=name[:300], position=position.strip()[:200]
    )
    return contact, True


def _may_touch(actor: User, client: Client) -> bool:
    """An operator works on the whole base; a head of sales on his team's clients."""
    return actor.role == Role.DB_OPERATOR or policies.manages_team(actor, client.team_id)


def resolve_unknown_number(
    e164: str,
    *,
    actor: User,
    contact_id: int | None = None,
    client_id: int | None = None,
    full_name: str = "",
    position: str = "",
) -> Resolved:
    """Put an unknown number on a client's contact (an existing one, or a new one on the
    client); every stored call with that number and no client is matched to it (one UPDATE),
    appears on the client's timeline and is judged."""
    if not may_resolve_unknown(actor):
        raise Forbidden(
            _("Only a database operator or the head of sales resolves unknown numbers."),
            code="not_allowed",
        )
    number = _clean(e164)
    with transaction.atomic():
        contact, created = _target(
            actor,
            contact_id=contact_id,
            client_id=client_id,
            full_name=full_name,
            position=position,
        )
        phone_added = not ContactPhone.objects.filter(contact=contact, e164=number).exists()
        if phone_added:
            ContactPhone.objects.create(
                contact=contact,
                client_id=contact.client_id,
                e164=number,
                raw=number,
                is_mobile=number.startswith("+79"),
            )
        record(
            actor=actor,
            verb="contact.added" if created else "contact.phone_added",
            obj=contact,
            data={"client": contact.client_id, "e164": number, "from": "unknown_caller"},
        )
        waiting = Call.objects.filter(their_e164=number, client__isnull=True).exclude(
            direction=CallDirection.INTERNAL
        )
        ids = list(waiting.select_for_update().values_list("pk", flat=True))
        matched = Call.objects.filter(pk__in=ids, client__isnull=True).update(
            client_id=contact.client_id, contact_id=contact.pk
        )
        # Matched, they are on the client's timeline (a call is its own entry) and judged.
        judge_new_calls(ids)
        record(
            actor=actor,
            verb="unknown_number.resolved",
            obj=contact.client,
            data={"e164": number, "contact": contact.pk, "calls": matched},
        )
    return Resolved(contact=contact, phone_added=phone_added, calls_matched=matched)
