"""Possible duplicates across all owners: same ИНН, phone, company domain, or a similar name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from otdel.clients.models import Client, Contact, ContactPhone, LegalEntity
from otdel.clients.normalize import domain_of_email, domain_of_website, normalize_name

REASON_LABELS = {
    "inn": _("same ИНН"),
    "phone": _("same phone"),
    "email": _("same e-mail"),
    "domain": _("same company domain"),
    "name": _("similar name"),
}


@dataclass
class Candidate:
    """What a new or imported client is known by."""

    name: str = ""
    inns: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)  # E.164
    emails: list[str] = field(default_factory=list)
    website: str = ""


@dataclass
class DuplicateMatch:
    """An existing client that looks like the candidate, and why."""

    client: Client
    reasons: set[str] = field(default_factory=set)

    @property
    def reason_labels(self) -> list[str]:
        return [str(REASON_LABELS[r]) for r in sorted(self.reasons)]

    @property
    def strong(self) -> bool:
        """A shared ИНН, phone or e-mail is almost surely the same client."""
        return bool(self.reasons & {"inn", "phone", "email"})


def _ids_by(reason: str, ids: Iterable[int], found: dict[int, set[str]]) -> None:
    for client_id in ids:
        found.setdefault(client_id, set()).add(reason)


def find_duplicates(
    candidate: Candidate,
    *,
    exclude_id: int | None = None,
    limit: int = 20,
    strong_only: bool = False,
) -> list[DuplicateMatch]:
    """Existing live clients (any owner, or the pool) that may be the same as the candidate.

    Each lookup is an indexed equality match, so the cost does not grow with the base.
    `strong_only`: look only by ИНН, phone and e-mail (a caller that acts on strong matches
    alone skips the domain and name lookups).
    """
    found: dict[int, set[str]] = {}
    inns = [i for i in candidate.inns if i]
    if inns:
        _ids_by(
            "inn",
            LegalEntity.objects.filter(inn__in=inns).values_list("client_id", flat=True)[:limit],
            found,
        )
    phones = [p for p in candidate.phones if p]
    if phones:
        _ids_by(
            "phone",
            ContactPhone.objects.filter(e164__in=phones).values_list("client_id", flat=True)[
                :limit
            ],
            found,
        )
    emails = [e.lower() for e in candidate.emails if e]
    if emails:
        _ids_by(
            "email",
            Contact.objects.filter(email__in=emails).values_list("client_id", flat=True)[:limit],
            found,
        )
    if strong_only:
        return _matches(found, exclude_id, limit)
    domains = {d for d in (domain_of_email(e) for e in emails) if d}
    site_domain = domain_of_website(candidate.website)
    if site_domain:
        domains.add(site_domain)
    if domains:
        _ids_by(
            "domain",
            Contact.objects.filter(email_domain__in=domains).values_list("client_id", flat=True)[
                :limit
            ],
            found,
        )
        _ids_by(
            "domain",
            Client.objects.filter(web_domain__in=domains).values_list("id", flat=True)[:limit],
            found,
        )
    norm = normalize_name(candidate.name)
    if len(norm) >= 3:
        _ids_by(
            "name",
            Client.objects.filter(normalized_name=norm).values_list("id", flat=True)[:limit],
            found,
        )
    return _matches(found, exclude_id, limit)


def _matches(
    found: dict[int, set[str]], exclude_id: int | None, limit: int
) -> list[DuplicateMatch]:
    """The clients found, each followed to the one it was merged into, strong ones first."""
    if exclude_id is not None:
        found.pop(exclude_id, None)
    if not found:
        return []
    # A merged client leads to the one it was merged into.
    clients = Client.objects.filter(Q(pk__in=found.keys())).select_related("owner", "merged_into")
    matches: dict[int, DuplicateMatch] = {}
    for client in clients:
        target = client
        while target.merged_into_id is not None and target.merged_into is not None:
            target = target.merged_into
        if exclude_id is not None and target.pk == exclude_id:
            continue
        match = matches.setdefault(target.pk, DuplicateMatch(client=target))
        match.reasons |= found[client.pk]
    ordered = sorted(matches.values(), key=lambda m: (not m.strong, -len(m.reasons), m.client.name))
    return ordered[:limit]


def candidate_for(client: Client) -> Candidate:
    """What an existing client is known by (to find its own duplicates)."""
    return Candidate(
        name=client.name,
        inns=list(client.legal_entities.values_list("inn", flat=True)),
        phones=list(ContactPhone.objects.filter(client=client).values_list("e164", flat=True)),
        emails=[e for e in client.contacts.values_list("email", flat=True) if e],
        website=client.website,
    )


@dataclass
class DuplicateGroup:
    """Several live clients sharing ИНН, phones, e-mails, web domains or names (each shared
    value is one of the group's reasons)."""

    clients: list[Client]
    reasons: list[tuple[str, str]] = field(default_factory=list)

    @property
    def labelled_reasons(self) -> list[tuple[str, str, bool]]:
        """(label, shared value, strong?) for each reason."""
        return [(str(REASON_LABELS[r]), v, r in {"inn", "phone", "email"}) for r, v in self.reasons]

    @property
    def strong(self) -> bool:
        return any(r in {"inn", "phone", "email"} for r, _ in self.reasons)


def duplicate_groups(*, limit: int = 100) -> list[DuplicateGroup]:
    """The base's possible duplicates, strongest reasons first: one set-based GROUP BY per
    reason (values shared by more than one live client), then one query for those clients."""
    on_live = Q(client__merged_into__isnull=True)
    sources: list[tuple[str, QuerySet[Any], str, str]] = [
        ("inn", LegalEntity.objects.filter(on_live), "inn", "client_id"),
        ("phone", ContactPhone.objects.filter(on_live), "e164", "client_id"),
        ("email", Contact.objects.filter(on_live).exclude(email=""), "email", "client_id"),
        ("domain", Client.objects.live().exclude(web_domain=""), "web_domain", "id"),
        ("name", Client.objects.live().exclude(normalized_name=""), "normalized_name", "id"),
    ]
    found: list[tuple[str, str, int]] = []
    groups_left = limit
    for reason, qs, key, client_key in sources:
        if groups_left <= 0:
            break
        shared = list(
            qs.values(key)
            .annotate(n=Count(client_key, distinct=True))
            .filter(n__gt=1)
            .order_by(key)
            .values_list(key, flat=True)[:groups_left]
        )
        groups_left -= len(shared)
        found.extend(
            (reason, value, client_id)
            for value, client_id in qs.filter(**{f"{key}__in": shared})
            .values_list(key, client_key)
            .distinct()
        )
    clients = Client.objects.select_related("owner").in_bulk({c for _, _, c in found})
    by_value: dict[tuple[str, str], set[int]] = {}
    for reason, value, client_id in found:
        by_value.setdefault((reason, value), set()).add(client_id)
    # The same clients sharing a phone and a name are one group with two reasons.
    groups: dict[frozenset[int], DuplicateGroup] = {}
    for (reason, value), ids in by_value.items():
        if len(ids) < 2:
            continue
        members = frozenset(ids)
        group = groups.setdefault(
            members, DuplicateGroup(clients=sorted((clients[i] for i in ids), key=lambda c: c.pk))
        )
        group.reasons.append((reason, value))
    return sorted(groups.values(), key=lambda g: (not g.strong, -len(g.reasons)))
