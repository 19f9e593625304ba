"""Importing 1С exports of invoices, payments and shipments: upload → mapping (saved per
source) → preview → commit, all or nothing.

The file is read by the client importer's parser (encoding and delimiter sniffed, XLSX
streamed). Rows become documents keyed by the export's document number (the external id);
a shipment's rows are its lines (one per SKU). Against what is stored under the same
(source, external id) a document is new, the same (nothing happens), or changed (a correction
fact with the difference, linked to the original). A client is matched by ИНН (and КПП when the
ИНН is shared); an unmatched document goes to the unresolved list, where a database operator
picks the client and the document is imported then. A row error (bad date, amount, unknown SKU,
no cost price) stops the commit: nothing is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from otdel.audit.services import record
from otdel.clients.importer import parse
from otdel.clients.models import Client, LegalEntity
from otdel.core import clock
from otdel.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from otdel.ownership.policies import manages_team
from otdel.people.models import Team, User
from otdel.sales import money, policies
from otdel.sales.models import (
    FactKind,
    ImportKind,
    ImportMapping,
    Invoice,
    MoneyImport,
    MoneyImportStatus,
    Payment,
    Product,
    Shipment,
    ShipmentLine,
    UnresolvedRow,
)
from otdel.sales.money_facts import (
    InvoiceDoc,
    InvoiceLineRow,
    PaymentDoc,
    ShipmentDoc,
    ShipmentLineRow,
    costs_at,
    store_invoices,
    store_payments,
    store_shipments,
)

ZERO = money.ZERO
SOURCE_RE = re.compile(r"^1c:[a-z0-9_-]{1,37}$")
MAX_ERRORS = 200

COMMON = {
    "external_id": gettext_lazy("Document number"),
    "date": gettext_lazy("Date"),
    "inn": gettext_lazy("ИНН"),
    "kpp": gettext_lazy("КПП"),
    "client_name": gettext_lazy("Counterparty"),
    "currency": gettext_lazy("Currency"),
}
FIELDS: dict[str, dict[str, Any]] = {
    ImportKind.INVOICES: {
        **COMMON,
        "amount": gettext_lazy("Amount with VAT"),
        "vat": gettext_lazy("VAT amount"),
        "vat_rate": gettext_lazy("VAT rate"),
    },
    ImportKind.PAYMENTS: {
        **COMMON,
        "amount": gettext_lazy("Amount"),
        "invoice": gettext_lazy("Invoice number"),
    },
    ImportKind.SHIPMENTS: {
        **COMMON,
        "sku": gettext_lazy("SKU"),
        "quantity": gettext_lazy("Quantity"),
        "revenue": gettext_lazy("Amount without VAT"),
    },
}
REQUIRED: dict[str, tuple[str, ...]] = {
    ImportKind.INVOICES: ("external_id", "date", "inn", "amount"),
    ImportKind.PAYMENTS: ("external_id", "date", "inn", "amount"),
    ImportKind.SHIPMENTS: ("external_id", "date", "inn", "sku", "quantity", "revenue"),
}
# Headers 1С writes (reduced: lower case, letters and digits only) → field.
_KNOWN = {
    "номер": "external_id",
    "номердокумента": "external_id",
    "number": "external_id",
    "дата": "date",
    "датадокумента": "date",
    "date": "date",
    "инн": "inn",
    "inn": "inn",
    "кпп": "kpp",
    "kpp": "kpp",
    "контрагент": "client_name",
    "покупатель": "client_name",
    "плательщик": "client_name",
    "валюта": "currency",
    "сумма": "amount",
    "суммасндс": "amount",
    "amount": "amount",
    "сумманд": "vat",
    "суммандс": "vat",
    "ндс": "vat",
    "ставкандс": "vat_rate",
    "счет": "invoice",
    "счетнаоплату": "invoice",
    "номерсчета": "invoice",
    "артикул": "sku",
    "sku": "sku",
    "количество": "quantity",
    "quantity": "quantity",
    "суммабезндс": "revenue",
    "выручкабезндс": "revenue",
    "revenue": "revenue",
}


def _key(header: str) -> str:
    return re.sub(r"[^a-zа-я0-9]", "", header.lower().replace("ё", "е"))


def guess_columns(kind: str, headers: list[str]) -> dict[str, str]:
    """field → header, from the names 1С gives its columns."""
    found: dict[str, str] = {}
    for header in headers:
        name = _KNOWN.get(_key(header))
        if name and name in FIELDS[kind] and name not in found:
            found[name] = header
    return found


# --- the wizard's steps -------------------------------------------------------------------------


def _require_importer(actor: User) -> None:
    if not policies.can_import_money(actor):
        raise Forbidden(
            _("Only the head of sales or a document clerk imports 1С exports."),
            code="cannot_import_money",
        )


def job_for(job_id: int, viewer: User) -> MoneyImport:
    """An import the viewer may run (someone else's team's looks missing)."""
    job = MoneyImport.objects.select_related("team").filter(pk=job_id).first()
    if (
        job is None
        or not policies.can_import_money(viewer)
        or not (viewer.team_id == job.team_id or manages_team(viewer, job.team_id))
    ):
        raise NotFound(_("Import not found."), code="import_not_found")
    return job


def start_import(
    file: Any, *, kind: str, source: str, actor: User, team: Team | None = None
) -> MoneyImport:
    """Keep an uploaded 1С export and read its header; the mapping saved for the source (or a
    guess from the headers) is proposed. Nothing else is written."""
    _require_importer(actor)
    if kind not in ImportKind.values:
        raise Invalid(_("Choose what the file holds."), code="invalid_kind", field="kind")
    if not SOURCE_RE.match(source):
        raise Invalid(
            _("The source is «1c:» and a short name in Latin letters, e.g. 1c:main."),
            code="invalid_source",
            field="source",
        )
    team = team or actor.team
    if team is None:
        raise Invalid(_("You belong to no team."), code="no_team")
    filename = Path(getattr(file, "name", "") or "export.csv").name
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    now = clock.now()
    stored = default_storage.save(
        f"money-imports/{now:%Y/%m}/{digest.hexdigest()[:16]}-{get_valid_filename(filename)}",
        File(file),
    )
    path = Path(default_storage.path(stored))
    try:
        fmt = parse.sniff(path, filename)
        with parse.open_table(path, fmt, filename) as table:
            headers = table.headers
    except DomainError:
        default_storage.delete(stored)
        raise
    saved = ImportMapping.objects.filter(source=source, kind=kind).first()
    columns = saved.columns if saved and set(saved.columns.values()) <= set(headers) else None
    return MoneyImport.objects.create(
        team=team,
        kind=kind,
        source=source,
        file=stored,
        original_name=filename[:255],
        sha256=digest.hexdigest(),
        file_kind=fmt.kind,
        encoding=fmt.encoding,
        delimiter=fmt.delimiter,
        headers=headers,
        columns=columns or guess_columns(kind, headers),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )


def set_columns(job: MoneyImport, columns: dict[str, str], *, actor: User) -> MoneyImport:
    """Confirm which column holds what; the mapping is saved for the source, so the next
    export from the same place is mapped already."""
    _require_importer(actor)
    if job.status == MoneyImportStatus.DONE:
        raise Conflict(_("This import is finished."), code="import_finished")
    columns = {f: h for f, h in columns.items() if h}
    unknown = [f for f in columns if f not in FIELDS[job.kind]]
    missing = [f for f in REQUIRED[job.kind] if f not in columns]
    absent = [h for h in columns.values() if h not in job.headers]
    if unknown or missing or absent:
        raise Invalid(
            _("Map every required column: %(fields)s.")
            % {"fields": ", ".join(str(FIELDS[job.kind][f]) for f in REQUIRED[job.kind])},
            code="import_mapping",
            missing=missing,
            unknown=unknown + absent,
        )
    now = clock.now()
    ImportMapping.objects.update_or_create(
        source=job.source,
        defaults={"kind": job.kind, "columns": columns, "updated_by": actor, "updated_at": now},
    )
    job.columns = columns
    job.status = MoneyImportStatus.MAPPED
    job.updated_at = now
    job.save(update_fields=["columns", "status", "updated_at"])
    return job


def preview(job: MoneyImport, *, actor: User) -> MoneyImport:
    """Check every row without writing a fact: errors by row, documents new / the same /
    changed (→ correction), clients matched and not."""
    _require_importer(actor)
    if job.status not in (MoneyImportStatus.MAPPED, MoneyImportStatus.PREVIEWED):
        raise Conflict(_("Map the columns first."), code="import_not_mapped")
    plan = _plan(job)
    job.report = plan.report()
    job.status = MoneyImportStatus.PREVIEWED
    job.updated_at = clock.now()
    job.save(update_fields=["report", "status", "updated_at"])
    return job


def commit(job_id: int, *, actor: User) -> MoneyImport:
    """Write the checked export in one transaction: new facts, corrections, unresolved rows.
    Any row error refuses the whole file; running it again writes nothing new."""
    _require_importer(actor)
    with transaction.atomic():
        started = MoneyImport.objects.filter(pk=job_id, status=MoneyImportStatus.PREVIEWED).update(
            status=MoneyImportStatus.DONE, updated_at=clock.now()
        )
        if not started:
            raise Conflict(_("Check the file before importing it."), code="import_not_previewed")
        job = MoneyImport.objects.select_related("team").get(pk=job_id)
        plan = _plan(job)
        if plan.errors:
            raise Invalid(
                _("%(n)s rows have errors; nothing was imported. Fix the file and upload it again.")
                % {"n": len(plan.errors)},
                code="import_has_errors",
                errors=plan.errors[:20],
            )
        written = plan.write(job, actor=actor)
        job.report = {**plan.report(), "written": written}
        job.finished_at = clock.now()
        job.save(update_fields=["report", "finished_at"])
        record(actor=actor, verb="money.imported", obj=job, data={"source": job.source, **written})
    return job


def resolve_row(row_id: int, client_id: int, *, actor: User) -> UnresolvedRow:
    """A database operator picks the client of an unmatched document; it is imported then (as
    a new fact, or a correction if the same document arrived meanwhile). Once only."""
    if not policies.can_resolve_import_rows(actor):
        raise Forbidden(
            _("Only database operators, document clerks and the head resolve import rows."),
            code="cannot_resolve",
        )
    client = Client.objects.filter(pk=client_id, merged_into__isnull=True).first()
    if client is None:
        raise Invalid(_("Pick an existing client."), code="invalid_client", field="client_id")
    with transaction.atomic():
        now = clock.now()
        taken = UnresolvedRow.objects.filter(pk=row_id, resolved_at__isnull=True).update(
            resolved_client=client, resolved_by=actor, resolved_at=now
        )
        if not taken:
            raise Conflict(_("This row is already resolved."), code="row_resolved")
        row = UnresolvedRow.objects.select_related("job").get(pk=row_id)
        plan = Plan(kind=row.kind, source=row.source)
        doc = dict(row.data)
        plan.add_documents([doc], forced_client=client)
        if plan.errors:
            raise Invalid(plan.errors[0]["message"], code="row_invalid", errors=plan.errors[:5])
        written = plan.write(row.job, actor=actor)
        record(
            actor=actor,
            verb="money.import_row_resolved",
            obj=row,
            data={"client": client.pk, **written},
        )
    return row


# --- reading the file ---------------------------------------------------------------------------


def _amount(text: str, places: int = 2) -> Decimal:
    """1С writes "1 234,56" (spaces, a decimal comma); more places than kopecks is an error,
    never silently rounded."""
    cleaned = text.replace("\xa0", "").replace(" ", "").replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(_("not a number: «%(v)s»") % {"v": text}) from None
    if not value.is_finite() or value.as_tuple().exponent < -places:  # type: ignore[operator]
        raise ValueError(_("more than %(n)s decimal places: «%(v)s»") % {"n": places, "v": text})
    return value


def _moment(text: str) -> dt.datetime:
    """Dates as 1С writes them (31.12.2025, 31.12.2025 14:05:00) or ISO (XLSX cells); a date
    without a time is the start of that day in Moscow."""
    text = text.strip()
    for fmt in ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d.%m.%y"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=clock.MOSCOW)
        except ValueError:
            pass
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_("not a date: «%(v)s»") % {"v": text}) from None
    return value if value.tzinfo else value.replace(tzinfo=clock.MOSCOW)


def _read(job: MoneyImport) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, int]:
    """Rows → documents (as JSON-ready dicts), row errors, duplicate rows, rows read."""
    fmt = parse.FileFormat(job.file_kind, encoding=job.encoding, delimiter=job.delimiter)
    path = Path(default_storage.path(job.file.name or ""))
    docs: dict[str, dict[str, Any]] = {}
    seen: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
    errors: list[dict[str, Any]] = []
    duplicates = total = 0
    with parse.open_table(path, fmt, job.original_name) as table:
        if table.headers != job.headers:
            raise Invalid(_("The file changed since it was uploaded."), code="import_changed")
        index = {f: table.headers.index(h) for f, h in job.columns.items()}
        for number, cells in table.rows:
            total += 1
            values = {f: (cells[i] if i < len(cells) else "").strip() for f, i in index.items()}
            try:
                doc, line_key = _row_document(job.kind, values, number)
            except ValueError as err:
                errors.append({"row": number, "message": str(err)})
                continue
            key = (doc["external_id"], line_key)
            fingerprint = tuple(sorted(values.items()))
            if key in seen:
                if seen[key] == fingerprint:
                    duplicates += 1
                else:
                    errors.append(
                        {
                            "row": number,
                            "message": _("document %(n)s appears twice with different values")
                            % {"n": doc["external_id"]},
                        }
                    )
                continue
            seen[key] = fingerprint
            known = docs.get(doc["external_id"])
            if known is None:
                docs[doc["external_id"]] = doc
            elif (known["date"], known["inn"], known["kpp"]) != (
                doc["date"],
                doc["inn"],
                doc["kpp"],
            ):
                errors.append(
                    {
                        "row": number,
                        "message": _("the rows of document %(n)s disagree on date or client")
                        % {"n": doc["external_id"]},
                    }
                )
            else:
                known["lines"].extend(doc["lines"])
    return list(docs.values()), errors, duplicates, total


def _row_document(kind: str, v: dict[str, str], number: int) -> tuple[dict[str, Any], str]:
    for name in REQUIRED[kind]:
        if not v.get(name):
            raise ValueError(_("%(field)s is empty") % {"field": FIELDS[kind][name]})
    inn = re.sub(r"\D", "", v["inn"])
    if len(inn) not in (10, 12):
        raise ValueError(_("ИНН must have 10 or 12 digits: «%(v)s»") % {"v": v["inn"]})
    doc: dict[str, Any] = {
        "external_id": v["external_id"][:100],
        "row": number,
        "date": _moment(v["date"]).isoformat(),
        "inn": inn,
        "kpp": re.sub(r"\D", "", v.get("kpp", "")),
        "name": v.get("client_name", "")[:300],
        "currency": (v.get("currency") or "RUB").upper().replace("РУБ", "RUB")[:3],
        "lines": [],
    }
    line_key = ""
    if kind == ImportKind.INVOICES:
        doc["amount"] = str(_amount(v["amount"]))
        doc["vat"] = str(_amount(v["vat"])) if v.get("vat") else None
        rate = v.get("vat_rate", "").replace("%", "").strip()
        doc["vat_rate"] = str(_amount(rate)) if rate and rate.lower() != "без ндс" else None
    elif kind == ImportKind.PAYMENTS:
        amount = _amount(v["amount"])
        if amount <= 0:
            raise ValueError(_("a payment amount must be positive"))
        doc["amount"] = str(amount)
        doc["invoice"] = v.get("invoice", "")
    else:
        quantity = _amount(v["quantity"], places=3)
        if quantity <= 0:
            raise ValueError(_("the quantity must be positive"))
        line_key = v["sku"]
        doc["lines"].append(
            {
                "sku": v["sku"],
                "quantity": str(quantity),
                "revenue": str(_amount(v["revenue"])),
                "row": number,
            }
        )
    return doc, line_key


# --- what the documents mean against the database -----------------------------------------------


def _match_clients(docs: list[dict[str, Any]]) -> dict[tuple[str, str], Client | None]:
    """(ИНН, КПП) → the one client it names, by the legal entities, in one query."""
    inns = {d["inn"] for d in docs}
    by_inn: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for inn, kpp, client_id in LegalEntity.objects.filter(
        inn__in=inns, client__merged_into__isnull=True
    ).values_list("inn", "kpp", "client_id"):
        by_inn[inn].append((kpp, client_id))
    wanted: dict[tuple[str, str], int | None] = {}
    for d in docs:
        entities = by_inn.get(d["inn"], [])
        clients = {c for _, c in entities}
        if d["kpp"] and len(clients) > 1:
            clients = {c for k, c in entities if k == d["kpp"]}
        wanted[(d["inn"], d["kpp"])] = clients.pop() if len(clients) == 1 else None
    found = Client.objects.in_bulk({c for c in wanted.values() if c})
    return {k: (found.get(c) if c else None) for k, c in wanted.items()}


@dataclass
class Plan:
    """What a file (or one resolved row) will write: new documents, corrections, unresolved."""

    kind: str
    source: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    new: list[Any] = field(default_factory=list)
    corrections: list[Any] = field(default_factory=list)
    same: int = 0
    unresolved: list[dict[str, Any]] = field(default_factory=list)
    matched: dict[int, str] = field(default_factory=dict)
    duplicates: int = 0
    rows: int = 0

    def report(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "documents": len(self.new) + len(self.corrections) + self.same + len(self.unresolved),
            "new": len(self.new),
            "corrections": len(self.corrections),
            "same": self.same,
            "duplicates": self.duplicates,
            "errors": self.errors[:MAX_ERRORS],
            "error_count": len(self.errors),
            "matched_clients": sorted(self.matched.values())[:100],
            "unmatched": [
                {
                    "external_id": d["external_id"],
                    "inn": d["inn"],
                    "kpp": d["kpp"],
                    "name": d["name"],
                }
                for d in self.unresolved[:100]
            ],
            "unmatched_count": len(self.unresolved),
        }

    def add_documents(
        self, docs: list[dict[str, Any]], *, forced_client: Client | None = None
    ) -> None:
        """Sort documents into new / same / changed / unresolved (reads only)."""
        clients = {} if forced_client else _match_clients(docs)
        ready: list[tuple[dict[str, Any], Client]] = []
        for d in docs:
            client = forced_client or clients.get((d["inn"], d["kpp"]))
            if client is None:
                self.unresolved.append(d)
            else:
                self.matched[client.pk] = client.name
                ready.append((d, client))
        if self.kind == ImportKind.SHIPMENTS:
            self._shipments(ready)
        elif self.kind == ImportKind.INVOICES:
            self._invoices(ready)
        else:
            self._payments(ready)

    def _originals(
        self, model: type[Any], docs: list[tuple[dict[str, Any], Client]]
    ) -> dict[str, Any]:
        ids = [d["external_id"] for d, _ in docs]
        return {
            o.external_id: o
            for o in model.objects.filter(
                source=self.source, external_id__in=ids, kind=FactKind.ORIGINAL
            )
        }

    def _invoices(self, docs: list[tuple[dict[str, Any], Client]]) -> None:
        originals = self._originals(Invoice, docs)
        sums = _sums(Invoice, originals.values(), ("net_total", "vat_total", "total"))
        for d, client in docs:
            gross = Decimal(d["amount"])
            if d["vat"] is not None:
                amounts = money.LineAmounts(
                    net=gross - Decimal(d["vat"]), vat=Decimal(d["vat"]), total=gross
                )
            else:
                rate = Decimal(d["vat_rate"]) if d["vat_rate"] else None
                amounts = money.split_gross(gross, rate)
            original = originals.get(d["external_id"])
            if original is None:
                if gross < 0:
                    self.errors.append({"row": d["row"], "message": _("a negative invoice")})
                    continue
                self.new.append(_invoice_doc(d, client, amounts))
                continue
            have = sums[original.pk]
            diff = money.LineAmounts(
                net=amounts.net - have[0], vat=amounts.vat - have[1], total=amounts.total - have[2]
            )
            if diff.net == 0 and diff.vat == 0:
                self.same += 1
            else:
                self.corrections.append((original, _invoice_doc(d, client, diff)))

    def _payments(self, docs: list[tuple[dict[str, Any], Client]]) -> None:
        originals = self._originals(Payment, docs)
        sums = _sums(Payment, originals.values(), ("amount",))
        wanted = {(c.pk, d["invoice"]) for d, c in docs if d["invoice"]}
        invoices: dict[tuple[int, str], int] = {}
        if wanted:
            q = Q()
            for client_id, number in wanted:
                q |= Q(client_id=client_id, number=number)
            for pk, client_id, number in (
                Invoice.objects.filter(q, kind=FactKind.ORIGINAL)
                .order_by("id")
                .values_list("pk", "client_id", "number")
            ):
                invoices.setdefault((client_id, number), pk)
        for d, client in docs:
            target = invoices.get((client.pk, d["invoice"]))
            doc = PaymentDoc(
                external_id=d["external_id"],
                number=d["external_id"],
                paid_on=dt.datetime.fromisoformat(d["date"]).astimezone(clock.MOSCOW).date(),
                team_id=client.team_id,
                client_id=client.pk,
                currency=d["currency"],
                amount=Decimal(d["amount"]),
                auto_invoices=[target] if target else [],
            )
            original = originals.get(d["external_id"])
            if original is None:
                self.new.append(doc)
                continue
            diff = doc.amount - sums[original.pk][0]
            if diff == 0:
                self.same += 1
            else:
                doc.amount = diff
                self.corrections.append((original, doc))

    def _shipments(self, docs: list[tuple[dict[str, Any], Client]]) -> None:
        skus = {ln["sku"] for d, _ in docs for ln in d["lines"]}
        products = dict(Product.objects.filter(sku__in=skus).values_list("sku", "pk"))
        originals = self._originals(Shipment, docs)
        have: dict[int, dict[int, list[Any]]] = defaultdict(dict)
        for shipment_id, original_id, pid, q, rev, cost, unit_cost in ShipmentLine.objects.filter(
            Q(shipment__in=list(originals.values()))
            | Q(
                shipment__original__in=list(originals.values()),
                shipment__kind=FactKind.CORRECTION,
            )
        ).values_list(
            "shipment_id",
            "shipment__original_id",
            "product_id",
            "quantity",
            "revenue",
            "cost",
            "unit_cost",
        ):
            root = original_id or shipment_id
            slot = have[root].setdefault(pid, [ZERO, ZERO, ZERO, unit_cost])
            slot[0] += q
            slot[1] += rev
            slot[2] += cost
        moments = []
        for d, _client in docs:
            when = dt.datetime.fromisoformat(d["date"])
            original = originals.get(d["external_id"])
            at = original.shipped_at if original else when
            for ln in d["lines"]:
                if ln["sku"] not in products:
                    self.errors.append(
                        {"row": ln["row"], "message": _("unknown SKU «%(s)s»") % {"s": ln["sku"]}}
                    )
                else:
                    moments.append((products[ln["sku"]], at))
        if self.errors:
            return
        costs = costs_at(moments)
        for d, client in docs:
            original = originals.get(d["external_id"])
            at = original.shipped_at if original else dt.datetime.fromisoformat(d["date"])
            if original is None and at > clock.now():
                self.errors.append({"row": d["row"], "message": _("a shipment in the future")})
                continue
            wanted: dict[int, tuple[Decimal, Decimal, int]] = {}
            for ln in d["lines"]:
                wanted[products[ln["sku"]]] = (
                    Decimal(ln["quantity"]),
                    Decimal(ln["revenue"]),
                    ln["row"],
                )
            stored = have.get(original.pk, {}) if original else {}
            lines: list[ShipmentLineRow] = []
            for pid in sorted(set(wanted) | set(stored)):
                q, rev, row = wanted.get(pid, (ZERO, ZERO, d["row"]))
                s_q, s_rev, s_cost, stored_unit = stored.get(pid, [ZERO, ZERO, ZERO, None])
                unit: Decimal
                if stored_unit is not None:
                    unit = stored_unit
                else:
                    found = costs.get((pid, at))
                    if found is None or found[1] != d["currency"]:
                        self.errors.append(
                            {
                                "row": row,
                                "message": _("no cost price in %(cur)s for «%(s)s» on %(d)s")
                                % {
                                    "cur": d["currency"],
                                    "s": next(k for k, v in products.items() if v == pid),
                                    "d": f"{at.astimezone(clock.MOSCOW):%d.%m.%Y}",
                                },
                            }
                        )
                        continue
                    unit = found[0]
                if q == s_q and rev == s_rev:
                    continue
                cost = money.kopecks(unit * q) - s_cost
                lines.append(
                    ShipmentLineRow(
                        product_id=pid,
                        quantity=q - s_q,
                        unit_cost=unit,
                        revenue=rev - s_rev,
                        cost=cost,
                    )
                )
            doc = ShipmentDoc(
                external_id=d["external_id"],
                number=d["external_id"],
                shipped_at=at,
                team_id=client.team_id,
                client_id=client.pk,
                currency=d["currency"],
                lines=lines,
            )
            if original is None:
                self.new.append(doc)
            elif not lines:
                self.same += 1
            else:
                self.corrections.append((original, doc))

    def write(self, job: MoneyImport, *, actor: User) -> dict[str, int]:
        """Store the plan: originals and corrections through the one writer of each fact,
        unresolved documents in one statement (a document already listed stays listed once)."""
        corrections = []
        counts = _correction_counts(_MODEL[self.kind], [o.pk for o, _ in self.corrections])
        for original, doc in self.corrections:
            counts[original.pk] += 1
            doc.kind = FactKind.CORRECTION
            doc.original_id = original.pk
            doc.external_id = f"{original.external_id}#c{counts[original.pk]}"
            doc.deal_id = original.deal_id
            corrections.append(doc)
        docs = self.new + corrections
        if self.kind == ImportKind.INVOICES:
            store_invoices(docs, source=self.source, actor=actor)
        elif self.kind == ImportKind.PAYMENTS:
            store_payments(docs, source=self.source, actor=actor)
        else:
            store_shipments(docs, source=self.source, actor=actor)
        now = clock.now()
        UnresolvedRow.objects.bulk_create(
            [
                UnresolvedRow(
                    job=job,
                    source=self.source,
                    kind=self.kind,
                    external_id=d["external_id"],
                    row_number=d["row"],
                    inn=d["inn"],
                    kpp=d["kpp"],
                    name=d["name"],
                    data=d,
                    created_at=now,
                )
                for d in self.unresolved
            ],
            ignore_conflicts=True,
        )
        return {
            "created": len(self.new),
            "corrections": len(corrections),
            "unchanged": self.same,
            "unresolved": len(self.unresolved),
        }


_MODEL: dict[str, type[Any]] = {
    ImportKind.INVOICES: Invoice,
    ImportKind.PAYMENTS: Payment,
    ImportKind.SHIPMENTS: Shipment,
}


def _correction_counts(model: type[Any], ids: list[int]) -> defaultdict[int, int]:
    counts: defaultdict[int, int] = defaultdict(int)
    for original_id, n in (
        model.objects.filter(original_id__in=ids, kind=FactKind.CORRECTION)
        .values("original_id")
        .annotate(n=Count("id"))
        .values_list("original_id", "n")
    ):
        counts[original_id] = int(n)
    return counts


def _sums(model: type[Any], originals: Any, fields: tuple[str, ...]) -> dict[int, list[Decimal]]:
    """The originals' amounts with their corrections (credit notes and refunds are ours, not
    the export's, so they are left out of the comparison)."""
    ids = [o.pk for o in originals]
    result: dict[int, list[Decimal]] = {o.pk: [getattr(o, f) for f in fields] for o in originals}
    for row in (
        model.objects.filter(original_id__in=ids, kind=FactKind.CORRECTION)
        .values("original_id")
        .annotate(**{f: Sum(f) for f in fields})
    ):
        slot = result[row["original_id"]]
        for i, f in enumerate(fields):
            slot[i] += row[f]
    return result


def _invoice_doc(d: dict[str, Any], client: Client, amounts: money.LineAmounts) -> InvoiceDoc:
    return InvoiceDoc(
        external_id=d["external_id"],
        number=d["external_id"],
        issued_on=dt.datetime.fromisoformat(d["date"]).astimezone(clock.MOSCOW).date(),
        team_id=client.team_id,
        client_id=client.pk,
        currency=d["currency"],
        lines=[
            InvoiceLineRow(
                quantity=Decimal(1),
                unit_price=amounts.net,
                description="по данным 1С",
                vat_rate=Decimal(d["vat_rate"]) if d.get("vat_rate") else None,
                amounts=amounts,
            )
        ],
    )


def _plan(job: MoneyImport) -> Plan:
    docs, errors, duplicates, total = _read(job)
    plan = Plan(kind=job.kind, source=job.source, errors=errors, duplicates=duplicates, rows=total)
    if not errors:
        plan.add_documents(docs)
    return plan
