"""The check of a file before anything is written: row errors, duplicates in the file and in
the base, owners and caps. The commit runs the very same check again, chunk by chunk."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.utils.translation import gettext as _

from otdel.clients.dedup import REASON_LABELS
from otdel.clients.importer.owners import OwnerDirectory
from otdel.clients.importer.rows import Finding, RowReader, build_client
from otdel.clients.models import Client, Contact, ContactPhone, LegalEntity
from otdel.clients.normalize import domain_of_email, domain_of_website, normalize_name
from otdel.clients.schemas import ClientIn
from otdel.people.models import Team

CHUNK = 1000
FINDINGS_LIMIT = 1000
SAMPLE_ROWS = 20
# Matches that mean "this row is a client we already have": skipped, never created twice.
_SAME_BY_INN = "inn"
_SAME_WITHOUT_INN = frozenset({"phone", "email"})


@dataclass
class NewRow:
    """A valid row that will become a client."""

    number: int
    data: ClientIn
    owner_id: int | None


@dataclass
class Report:
    """Counts are exact; the lists keep the first FINDINGS_LIMIT findings of each kind."""

    total: int = 0
    valid: int = 0
    error_rows: int = 0
    duplicate_rows: int = 0
    existing_rows: int = 0
    warning_rows: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)

    def add(self, bucket: list[dict[str, Any]], finding: Finding) -> None:
        if len(bucket) < FINDINGS_LIMIT:
            bucket.append(finding.as_dict())

    @property
    def to_create(self) -> int:
        return self.valid


def chunked(rows: Iterable[tuple[int, list[str]]], size: int) -> Iterator[list]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _keys(data: ClientIn) -> list[str]:
    """What makes two rows of a file the same client: the ИНН, else the phones and e-mails."""
    inns = [le.inn for le in data.legal_entities]
    if inns:
        return [f"inn:{i}" for i in inns]
    return [f"phone:{p}" for c in data.contacts for p in c.phones] + [
        f"email:{c.email}" for c in data.contacts if c.email
    ]


def _match_base(rows: list[tuple[int, ClientIn]]) -> dict[int, dict[int, set[str]]]:
    """For each row, existing clients that look the same and why — a few set queries per chunk
    with the same rules as clients.dedup.find_duplicates (ИНН, phone, e-mail, domain, name)."""
    by: dict[str, dict[str, list[int]]] = {
        "inn": {},
        "phone": {},
        "email": {},
        "domain": {},
        "name": {},
    }
    for number, data in rows:
        for le in data.legal_entities:
            by["inn"].setdefault(le.inn, []).append(number)
        for contact in data.contacts:
            for p in contact.phones:
                by["phone"].setdefault(p, []).append(number)
            if contact.email:
                by["email"].setdefault(contact.email, []).append(number)
                d = domain_of_email(contact.email)
                if d:
                    by["domain"].setdefault(d, []).append(number)
        site = domain_of_website(data.website)
        if site:
            by["domain"].setdefault(site, []).append(number)
        norm = normalize_name(data.name)
        if len(norm) >= 3:
            by["name"].setdefault(norm, []).append(number)
    found: dict[int, dict[int, set[str]]] = {}

    def note(reason: str, pairs: Iterable[tuple[str, int]]) -> None:
        for value, client_id in pairs:
            for number in by[reason].get(value, ()):
                found.setdefault(number, {}).setdefault(client_id, set()).add(reason)

    live = {"client__merged_into__isnull": True}
    if by["inn"]:
        note(
            "inn",
            LegalEntity.objects.filter(inn__in=list(by["inn"]), **live).values_list(
                "inn", "client_id"
            ),
        )
    if by["phone"]:
        note(
            "phone",
            ContactPhone.objects.filter(e164__in=list(by["phone"]), **live).values_list(
                "e164", "client_id"
            ),
        )
    if by["email"]:
        note(
            "email",
            Contact.objects.filter(email__in=list(by["email"]), **live).values_list(
                "email", "client_id"
            ),
        )
    if by["domain"]:
        domains = list(by["domain"])
        note(
            "domain",
            Contact.objects.filter(email_domain__in=domains, **live).values_list(
                "email_domain", "client_id"
            ),
        )
        note(
            "domain",
            Client.objects.live().filter(web_domain__in=domains).values_list("web_domain", "id"),
        )
    if by["name"]:
        note(
            "name",
            Client.objects.live()
            .filter(normalized_name__in=list(by["name"]))
            .values_list("normalized_name", "id"),
        )
    return found


def _describe(client_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    rows = Client.objects.filter(pk__in=list(client_ids)).values(
        "id", "name", "owner__username", "owner__last_name", "owner__first_name"
    )
    out = {}
    for r in rows:
        owner = f"{r['owner__last_name'] or ''} {r['owner__first_name'] or ''}".strip()
        out[r["id"]] = {
            "client_id": r["id"],
            "client": r["name"],
            "owner": owner or r["owner__username"] or str(_("pool")),
        }
    return out


class Analyzer:
    """Checks rows chunk by chunk, remembering what earlier chunks saw (keys, owners' caps)."""

    def __init__(self, *, headers: list[str], mapping: list[str], owner_mode: str, team: Team):
        self.reader = RowReader(headers, mapping)
        self.owner_mode = owner_mode
        self.owners = OwnerDirectory(team) if owner_mode == "column" else None
        self.seen: dict[str, int] = {}
        self.report = Report()

    def check(self, chunk: list[tuple[int, list[str]]]) -> list[NewRow]:
        """Classify each row of a chunk: error, duplicate in the file, already in the base, or
        new (perhaps with a warning). Returns the new rows, in file order."""
        report = self.report
        candidates: list[tuple[int, ClientIn, str]] = []
        for number, cells in chunk:
            report.total += 1
            values = self.reader.values(cells)
            data, findings = build_client(number, values, self.reader)
            owner_cell = " ".join(values.get("owner", [])).strip()
            if data is None:
                self._errors(findings)
                continue
            keys = _keys(data)
            first = next((self.seen[k] for k in keys if k in self.seen), None)
            if first is not None:
                report.duplicate_rows += 1
                report.add(
                    report.duplicates,
                    Finding(
                        number,
                        self.reader.column_label("inn" if data.legal_entities else "phone"),
                        _("repeats row %(first)s of this file") % {"first": first},
                        {"kind": "file", "first_row": first},
                    ),
                )
                continue
            for k in keys:
                self.seen[k] = number
            candidates.append((number, data, owner_cell))
        matches = _match_base([(n, d) for n, d, _o in candidates])
        described = _describe({cid for m in matches.values() for cid in m})
        new_rows: list[NewRow] = []
        for number, data, owner_cell in candidates:
            found = matches.get(number, {})
            has_inn = bool(data.legal_entities)
            same = [
                cid
                for cid, reasons in found.items()
                if (_SAME_BY_INN in reasons) or (not has_inn and reasons & _SAME_WITHOUT_INN)
            ]
            if same:
                report.existing_rows += 1
                info = described.get(same[0], {})
                report.add(
                    report.duplicates,
                    Finding(
                        number,
                        self.reader.column_label("inn" if has_inn else "phone"),
                        _("already in the base: %(client)s (%(owner)s)")
                        % {"client": info.get("client", ""), "owner": info.get("owner", "")},
                        {"kind": "base", **info},
                    ),
                )
                continue
            owner_id = None
            if self.owners is not None and owner_cell:
                user, problem = self.owners.resolve(owner_cell)
                if user is not None:
                    problem = self.owners.take(user)
                if problem or user is None:
                    self._errors([Finding(number, self.reader.column_label("owner"), problem)])
                    continue
                owner_id = user.pk
            if found:
                report.warning_rows += 1
                for cid, reasons in found.items():
                    info = described.get(cid, {})
                    report.add(
                        report.warnings,
                        Finding(
                            number,
                            self.reader.column_label("name"),
                            _("looks like %(client)s (%(owner)s): %(reasons)s")
                            % {
                                "client": info.get("client", ""),
                                "owner": info.get("owner", ""),
                                "reasons": ", ".join(
                                    str(REASON_LABELS[r]) for r in sorted(reasons)
                                ),
                            },
                            {"kind": "possible", **info},
                        ),
                    )
            report.valid += 1
            if len(report.sample) < SAMPLE_ROWS:
                report.sample.append(self._sample(number, data, owner_cell))
            new_rows.append(NewRow(number, data, owner_id))
        return new_rows

    def _errors(self, findings: list[Finding]) -> None:
        self.report.error_rows += 1
        for f in findings:
            self.report.add(self.report.errors, f)

    @staticmethod
    def _sample(number: int, data: ClientIn, owner_cell: str) -> dict[str, Any]:
        contact = data.contacts[0] if data.contacts else None
        return {
            "row": number,
            "name": data.name,
            "inn": data.legal_entities[0].inn if data.legal_entities else "",
            "contact": contact.full_name if contact else "",
            "phones": ", ".join(contact.phones) if contact else "",
            "email": contact.email if contact else "",
            "owner": owner_cell,
        }
