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

The file is read in two streaming passes, so an export of hundreds of thousands of lines needs
no more memory than a few thousand documents: the first pass checks every row, finds repeated
rows and notes the row that completes each document; the second hands complete documents on in
batches, which the preview only sorts and the commit sorts and writes. Both run in the
background worker: the preview (tasks.run_money_preview_task) stores the report; the commit
(tasks.run_money_import_task) writes in one transaction. MoneyImport.report["state"] says where
the worker is: checking → previewed, queued → done, or failed.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.cache import cache
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
# Documents sorted (and, by the commit, written) together: bounds the memory of a large file.
BATCH = 1_000
PROGRESS_TTL = 6 * 3600
PROGRESS_EVERY = 5_000  # rows of the first pass between two progress reports
IMPORTING = "importing"
CHECKING = "checking"
PREVIEWED = "previewed"
log = logging.getLogger(__name__)

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


def _checking() -> Q:
    """An import whose rows the worker is checking (queued or running)."""
    return Q(status=MoneyImportStatus.MAPPED, report__state=CHECKING)


def _not_checking() -> Q:
    # A missing "state" key makes the JSON comparison NULL, so it is allowed explicitly.
    return ~Q(status=MoneyImportStatus.MAPPED) | Q(report__state__isnull=True) | ~_checking()


def set_columns(job: MoneyImport, columns: dict[str, str], *, actor: User) -> MoneyImport:
    """Confirm which column holds what; the mapping is saved for the source, so the next
    export from the same place is mapped already. Not while the file is being checked or
    once it is imported."""
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
    with transaction.atomic():
        # A conditional update: the worker may be reading the file by the old columns, and an
        # import accepted for writing keeps its columns.
        changed = (
            MoneyImport.objects.filter(pk=job.pk)
            .exclude(status=MoneyImportStatus.DONE)
            .filter(_not_checking())
            .update(
                columns=columns,
                status=MoneyImportStatus.MAPPED,
                report={},
                failure="",
                finished_at=None,
                updated_at=now,
            )
        )
        if not changed:
            raise Conflict(
                _("The file is being checked or is imported already."), code="import_busy"
            )
        ImportMapping.objects.update_or_create(
            source=job.source,
            defaults={"kind": job.kind, "columns": columns, "updated_by": actor, "updated_at": now},
        )
    job.refresh_from_db()
    return job


def preview(job: MoneyImport, *, actor: User) -> MoneyImport:
    """Queue the check of every row for the background worker (run_preview), which writes no
    fact: errors by row, documents new / the same / changed (→ correction), clients matched and
    not. A file of hundreds of thousands of lines takes a minute, longer than a web request
    should; a second click (or tab) queues nothing."""
    _require_importer(actor)
    now = clock.now()
    # A conditional update: of two clicks only one finds the import mapped and not checking.
    queued = (
        MoneyImport.objects.filter(
            pk=job.pk, status__in=[MoneyImportStatus.MAPPED, MoneyImportStatus.PREVIEWED]
        )
        .filter(_not_checking())
        .update(
            status=MoneyImportStatus.MAPPED,
            report={"state": CHECKING, "checked_by": actor.pk},
            failure="",
            finished_at=None,
            updated_at=now,
        )
    )
    if not queued:
        if MoneyImport.objects.filter(_checking(), pk=job.pk).exists():
            raise Conflict(_("The file is being checked."), code="import_checking")
        raise Conflict(_("Map the columns first."), code="import_not_mapped")
    cache.set(progress_key(job.pk), {"processed": 0, "total": 0}, PROGRESS_TTL)
    from otdel.sales.tasks import run_money_preview_task

    try:
        run_money_preview_task.enqueue(job.pk)
    except Exception:
        # Nothing will run it: back to "mapped", so the person can press "Check" again.
        MoneyImport.objects.filter(_checking(), pk=job.pk).update(report={}, updated_at=clock.now())
        raise
    return MoneyImport.objects.select_related("team").get(pk=job.pk)


def run_preview(job_id: int) -> dict[str, Any]:
    """The worker's side of `preview`: read the file (streamed, two passes) and store the
    report; the job is claimed first, so a task delivered twice checks once. An error leaves
    the import "failed" with the reason; no fact is ever written here."""
    job = MoneyImport.objects.filter(_checking(), pk=job_id).first()
    if job is None or job.report.get("started"):
        return {"skipped": True}
    # Claim it: of two deliveries only one finds it not yet started.
    started = {**job.report, "started": True}
    claimed = (
        MoneyImport.objects.filter(_checking(), pk=job_id)
        .filter(report__started__isnull=True)
        .update(report=started, updated_at=clock.now())
    )
    if not claimed:
        return {"skipped": True}
    key = progress_key(job_id)

    def progress(rows: int, total: int = 0) -> None:
        cache.set(key, {"processed": rows, "total": total, "at": _beat()}, PROGRESS_TTL)

    try:
        plan = _plan(job, progress=progress)
        report = {**plan.report(), "state": PREVIEWED}
        MoneyImport.objects.filter(_checking(), pk=job_id).update(
            status=MoneyImportStatus.PREVIEWED, report=report, updated_at=clock.now()
        )
    except DomainError as err:
        _fail_check(job_id, _("The file was not checked. %(reason)s") % {"reason": err.message})
        return {"failed": err.message}
    except Exception:
        log.exception("1С import %s: the check failed", job_id)
        _fail_check(job_id, _("The file was not checked: an unexpected error occurred."))
        raise
    finally:
        cache.delete(key)
    return {"rows": plan.rows, "errors": plan.error_count}


def _fail_check(job_id: int, message: str) -> None:
    """Mark an import whose check the worker could not finish as failed, with the reason."""
    now = clock.now()
    MoneyImport.objects.filter(_checking(), pk=job_id).update(
        status=MoneyImportStatus.FAILED,
        failure=message,
        report={"state": "failed"},
        finished_at=now,
        updated_at=now,
    )


def state_of(job: MoneyImport) -> str:
    """Where the import stands: its status, except that an import accepted for writing (done)
    without a finish time is still being written by the worker ("importing"), and a mapped one
    whose rows the worker is checking is "checking"."""
    if job.status == MoneyImportStatus.DONE and job.finished_at is None:
        return IMPORTING
    if job.status == MoneyImportStatus.MAPPED and job.report.get("state") == CHECKING:
        return CHECKING
    return str(job.status)


def reported_state(job: MoneyImport) -> str:
    """The state an API client sees, as the report keeps it: "checking" (the preview queued or
    running), "queued" (accepted for writing, not written yet), "done", "failed"; before the
    worker has anything to do, the status (uploaded / mapped / previewed)."""
    if job.status == MoneyImportStatus.DONE:
        return "done" if job.finished_at is not None else "queued"
    if job.status == MoneyImportStatus.FAILED:
        return "failed"
    return state_of(job)


def commit(job_id: int, *, actor: User) -> MoneyImport:
    """Queue the checked export for the background worker, which writes it in one transaction
    (run_commit): new facts, corrections, unresolved rows. A file whose preview found row errors
    is refused here; a second click (or tab) queues nothing."""
    _require_importer(actor)
    job = MoneyImport.objects.filter(pk=job_id).first()
    if job is None or job.status != MoneyImportStatus.PREVIEWED:
        raise Conflict(_("Check the file before importing it."), code="import_not_previewed")
    if job.report.get("error_count"):
        raise Invalid(
            _("%(n)s rows have errors; nothing was imported. Fix the file and upload it again.")
            % {"n": job.report["error_count"]},
            code="import_has_errors",
            errors=job.report.get("errors", [])[:20],
        )
    now = clock.now()
    # A conditional update: of two clicks only one finds the import still "previewed".
    queued = MoneyImport.objects.filter(pk=job_id, status=MoneyImportStatus.PREVIEWED).update(
        status=MoneyImportStatus.DONE,
        finished_at=None,
        failure="",
        report={**job.report, "state": "queued", "committed_by": actor.pk},
        updated_at=now,
    )
    if not queued:
        raise Conflict(_("Check the file before importing it."), code="import_not_previewed")
    cache.set(progress_key(job_id), {"processed": 0, "total": job.report.get("rows", 0)}, 600)
    from otdel.sales.tasks import run_money_import_task

    try:
        run_money_import_task.enqueue(job_id)
    except Exception:
        # Nothing will run it: back to the preview, so the person can press "Import" again.
        MoneyImport.objects.filter(pk=job_id, finished_at__isnull=True).update(
            status=MoneyImportStatus.PREVIEWED, report=job.report, updated_at=clock.now()
        )
        raise
    return MoneyImport.objects.select_related("team").get(pk=job_id)


def run_commit(job_id: int) -> dict[str, Any]:
    """The worker's side of `commit`: check every row again (the base may have changed since the
    preview) and write the whole file in ONE transaction, batch after batch; any error leaves
    the base exactly as it was and the import "failed" with the reason. The job's row is locked
    for the transaction, so a task delivered twice writes once."""
    try:
        with transaction.atomic():
            job = (
                MoneyImport.objects.select_for_update()
                .filter(pk=job_id, status=MoneyImportStatus.DONE, finished_at__isnull=True)
                .first()
            )
            if job is None:
                return {"skipped": True}
            actor = User.objects.get(pk=job.report.get("committed_by") or job.created_by_id)
            key = progress_key(job.pk)
            total = int(job.report.get("rows") or 0)

            def progress(rows: int, of: int) -> None:
                if of:  # the second pass, which writes (the first only checks)
                    cache.set(key, {"processed": rows, "total": total, "at": _beat()}, PROGRESS_TTL)

            plan = _plan(job, write_as=actor, progress=progress)
            written = plan.written()
            job.report = {**plan.report(), "written": written, "state": "done"}
            job.finished_at = job.updated_at = clock.now()
            job.save(update_fields=["report", "finished_at", "updated_at"])
            record(
                actor=actor,
                verb="money.imported",
                obj=job,
                data={"source": job.source, **written},
            )
    except DomainError as err:
        _fail(job_id, _("Nothing was imported. %(reason)s") % {"reason": err.message}, err)
        return {"failed": err.message}
    except Exception:
        log.exception("1С import %s failed", job_id)
        _fail(job_id, _("Nothing was imported: an unexpected error occurred."), None)
        raise
    finally:
        cache.delete(progress_key(job_id))
    return written


def _fail(job_id: int, message: str, err: DomainError | None) -> None:
    """Mark an import that the worker could not write as failed (after the rollback)."""
    job = MoneyImport.objects.filter(pk=job_id).first()
    if job is None:
        return
    report = {**job.report, "state": "failed"}
    errors = (err.details or {}).get("errors") if err is not None else None
    if errors:
        report["errors"] = errors
        report["error_count"] = max(len(errors), int(report.get("error_count") or 0))
    now = clock.now()
    MoneyImport.objects.filter(
        pk=job_id, status=MoneyImportStatus.DONE, finished_at__isnull=True
    ).update(
        status=MoneyImportStatus.FAILED,
        failure=message,
        report=report,
        finished_at=now,
        updated_at=now,
    )


def progress_key(job_id: int) -> str:
    return f"otdel:money-import:{job_id}:progress"


def _beat() -> float:
    """When a worker last reported progress (a sign of life: see import_revival)."""
    return clock.now().timestamp()


def progress_of(job: MoneyImport) -> dict[str, int]:
    """Rows written (or, while checking, read) so far, from the cache: the worker's transaction
    is still open. While the first pass of a check runs the number of rows is unknown (0)."""
    state = state_of(job)
    if state == CHECKING:
        found = cache.get(progress_key(job.pk)) or {}
        processed, total = int(found.get("processed", 0)), int(found.get("total", 0))
        percent = int(min(processed, total) * 100 / total) if total else 0
        return {"processed": processed, "total": total, "percent": percent}
    total = int(job.report.get("rows") or 0)
    if state != IMPORTING:
        return {"processed": total, "total": total, "percent": 100}
    found = cache.get(progress_key(job.pk)) or {}
    processed = min(int(found.get("processed", 0)), total)
    percent = int(processed * 100 / total) if total else 0
    return {"processed": processed, "total": total, "percent": percent}


def resolve_row(row_id: int, client_id: int, *, actor: User) -> UnresolvedRow:
    """A database operator picks the client of an unmatched document; it is imported then (as
    a new fact, or a correction if the same document arrived meanwhile). Once only."""
    if not policies.can_resolve_import_rows(actor):
        raise Forbidden(
            _("Only database operators, document clerks and the head resolve import rows."),
            code="cannot_resolve",
        )
    pending = UnresolvedRow.objects.filter(pk=row_id).values_list("job__team_id", flat=True).first()
    if pending is None or not policies.can_resolve_row_of(actor, pending):
        raise NotFound(_("No such row."), code="row_not_found")
    client = Client.objects.filter(pk=client_id, merged_into__isnull=True, team_id=pending).first()
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
        batch = plan.take([dict(row.data)], forced_client=client)
        if batch.errors:
            raise Invalid(plan.errors[0]["message"], code="row_invalid", errors=plan.errors[:5])
        plan.write(batch, row.job, actor=actor)
        written = plan.written()
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


@functools.lru_cache(maxsize=8192)  # the lines of a document, and its day's documents, repeat it
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


def _values(job: MoneyImport) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, field → cell text) for every row of the stored file, streamed."""
    fmt = parse.FileFormat(job.file_kind, encoding=job.encoding, delimiter=job.delimiter)
    path = Path(default_storage.path(job.file.name or ""))
    with parse.open_table(path, fmt, job.original_name) as table:
        if table.headers != job.headers:
            raise Invalid(_("The file changed since it was uploaded."), code="import_changed")
        index = {f: table.headers.index(h) for f, h in job.columns.items()}
        for number, cells in table.rows:
            yield (
                number,
                {f: (cells[i] if i < len(cells) else "").strip() for f, i in index.items()},
            )


def _digest(*parts: str) -> bytes:
    """16 bytes standing for some strings: what the first pass keeps of each row."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).digest()


@dataclass
class _Scan:
    """What the first pass learnt: row errors, repeated rows, and the row that completes each
    document (its last row), so the second pass can hand documents on as soon as they are
    complete whatever the order of the rows."""

    rows: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    duplicate_rows: set[int] = field(default_factory=set)
    last_row: dict[str, int] = field(default_factory=dict)

    def error(self, row: int, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"row": row, "message": message})


def _scan(job: MoneyImport, progress: Callable[[int, int], None] | None = None) -> _Scan:
    """Pass one: every row parsed and checked; of each row only digests are kept (its document
    and line, its values, its document's date and client), not the row itself. `progress` hears
    (rows read, 0) now and then: the number of rows is not known yet."""
    scan = _Scan()
    seen: dict[bytes, bytes] = {}
    heads: dict[str, bytes] = {}
    for number, values in _values(job):
        scan.rows += 1
        if progress is not None and scan.rows % PROGRESS_EVERY == 0:
            progress(scan.rows, 0)
        try:
            doc, line_key = _row_document(job.kind, values, number)
        except ValueError as err:
            scan.error(number, str(err))
            continue
        key = _digest(doc["external_id"], line_key)
        fingerprint = _digest(*(f"{k}={v}" for k, v in sorted(values.items())))
        known = seen.get(key)
        if known is not None:
            if known == fingerprint:
                scan.duplicates += 1
                scan.duplicate_rows.add(number)
            else:
                scan.error(
                    number,
                    _("document %(n)s appears twice with different values")
                    % {"n": doc["external_id"]},
                )
            continue
        seen[key] = fingerprint
        head = _digest(doc["date"], doc["inn"], doc["kpp"])
        first = heads.setdefault(doc["external_id"], head)
        if first != head:
            scan.error(
                number,
                _("the rows of document %(n)s disagree on date or client")
                % {"n": doc["external_id"]},
            )
            continue
        scan.last_row[doc["external_id"]] = number
    return scan


def _documents(job: MoneyImport, scan: _Scan) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """Pass two (over a file without row errors): documents (as JSON-ready dicts) in batches of
    BATCH as they complete, each with the number of rows read so far."""
    building: dict[str, dict[str, Any]] = {}
    ready: list[dict[str, Any]] = []
    read = 0
    for number, values in _values(job):
        read += 1
        if number in scan.duplicate_rows:
            continue
        try:
            doc, _line = _row_document(job.kind, values, number)
        except ValueError:
            raise Invalid(
                _("The file changed since it was uploaded."), code="import_changed"
            ) from None
        external_id = doc["external_id"]
        known = building.get(external_id)
        if known is None:
            building[external_id] = known = doc
        else:
            known["lines"].extend(doc["lines"])
        if scan.last_row.get(external_id) == number:
            ready.append(building.pop(external_id))
            if len(ready) >= BATCH:
                yield ready, read
                ready = []
    if building:
        raise Invalid(_("The file changed since it was uploaded."), code="import_changed")
    if ready:
        yield ready, read


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
    found = Client.objects.only("pk", "name", "team_id").in_bulk({c for c in wanted.values() if c})
    return {k: (found.get(c) if c else None) for k, c in wanted.items()}


@dataclass
class Batch:
    """One batch of documents sorted: what to write, and how many row errors it found."""

    new: list[Any] = field(default_factory=list)
    corrections: list[Any] = field(default_factory=list)
    unresolved: list[dict[str, Any]] = field(default_factory=list)
    errors: int = 0


@dataclass
class Plan:
    """What a file (or one resolved row) will write, batch by batch: the counts and samples of
    new documents, corrections, unchanged and unresolved ones, and the row errors."""

    kind: str
    source: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    new: int = 0
    corrections: int = 0
    same: int = 0
    unresolved: int = 0
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    matched: dict[int, str] = field(default_factory=dict)
    duplicates: int = 0
    rows: int = 0
    stored: dict[str, int] = field(
        default_factory=lambda: {"created": 0, "corrections": 0, "unresolved": 0}
    )

    def report(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "documents": self.new + self.corrections + self.same + self.unresolved,
            "new": self.new,
            "corrections": self.corrections,
            "same": self.same,
            "duplicates": self.duplicates,
            "errors": self.errors[:MAX_ERRORS],
            "error_count": self.error_count,
            "matched_clients": sorted(self.matched.values())[:100],
            "unmatched": self.unmatched,
            "unmatched_count": self.unresolved,
        }

    def written(self) -> dict[str, int]:
        return {
            "created": self.stored["created"],
            "corrections": self.stored["corrections"],
            "unchanged": self.same,
            "unresolved": self.stored["unresolved"],
        }

    def _error(self, batch: Batch, row: int, message: str) -> None:
        batch.errors += 1
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"row": row, "message": message})

    def take(self, docs: list[dict[str, Any]], *, forced_client: Client | None = None) -> Batch:
        """Sort a batch of documents into new / same / changed / unresolved (reads only)."""
        batch = Batch()
        clients = {} if forced_client else _match_clients(docs)
        ready: list[tuple[dict[str, Any], Client]] = []
        for d in docs:
            client = forced_client or clients.get((d["inn"], d["kpp"]))
            if client is None:
                batch.unresolved.append(d)
                self.unresolved += 1
                if len(self.unmatched) < 100:
                    self.unmatched.append({k: d[k] for k in ("external_id", "inn", "kpp", "name")})
            else:
                self.matched[client.pk] = client.name
                ready.append((d, client))
        if self.kind == ImportKind.SHIPMENTS:
            self._shipments(ready, batch)
        elif self.kind == ImportKind.INVOICES:
            self._invoices(ready, batch)
        else:
            self._payments(ready, batch)
        self.new += len(batch.new)
        self.corrections += len(batch.corrections)
        return batch

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

    def _invoices(self, docs: list[tuple[dict[str, Any], Client]], batch: Batch) -> None:
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
                    self._error(batch, d["row"], _("a negative invoice"))
                    continue
                batch.new.append(_invoice_doc(d, client, amounts))
                continue
            have = sums[original.pk]
            diff = money.LineAmounts(
                net=amounts.net - have[0], vat=amounts.vat - have[1], total=amounts.total - have[2]
            )
            if diff.net == 0 and diff.vat == 0:
                self.same += 1
            else:
                batch.corrections.append((original, _invoice_doc(d, client, diff)))

    def _payments(self, docs: list[tuple[dict[str, Any], Client]], batch: Batch) -> None:
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
                batch.new.append(doc)
                continue
            diff = doc.amount - sums[original.pk][0]
            if diff == 0:
                self.same += 1
            else:
                doc.amount = diff
                batch.corrections.append((original, doc))

    def _shipments(self, docs: list[tuple[dict[str, Any], Client]], batch: Batch) -> None:
        skus = {ln["sku"] for d, _ in docs for ln in d["lines"]}
        products = dict(Product.objects.filter(sku__in=skus).values_list("sku", "pk"))
        originals = self._originals(Shipment, docs)
        have: dict[int, dict[int, list[Any]]] = defaultdict(dict)
        # The stored lines of the originals and of their corrections (two indexed reads: an OR
        # across the join would scan every shipment line).
        root_of = {o.pk: o.pk for o in originals.values()}
        root_of.update(
            Shipment.objects.filter(original_id__in=list(root_of), kind=FactKind.CORRECTION)
            .values_list("pk", "original_id")
            .iterator()
        )
        for shipment_id, pid, q, rev, cost, unit_cost in ShipmentLine.objects.filter(
            shipment_id__in=list(root_of)
        ).values_list("shipment_id", "product_id", "quantity", "revenue", "cost", "unit_cost"):
            root = root_of[shipment_id]
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
                    self._error(batch, ln["row"], _("unknown SKU «%(s)s»") % {"s": ln["sku"]})
                else:
                    moments.append((products[ln["sku"]], at))
        if batch.errors:
            return
        costs = costs_at(moments)
        for d, client in docs:
            original = originals.get(d["external_id"])
            at = original.shipped_at if original else dt.datetime.fromisoformat(d["date"])
            if original is None and at > clock.now():
                self._error(batch, d["row"], _("a shipment in the future"))
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
                        self._error(
                            batch,
                            row,
                            _("no cost price in %(cur)s for «%(s)s» on %(d)s")
                            % {
                                "cur": d["currency"],
                                "s": next(k for k, v in products.items() if v == pid),
                                "d": f"{at.astimezone(clock.MOSCOW):%d.%m.%Y}",
                            },
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
                batch.new.append(doc)
            elif not lines:
                self.same += 1
            else:
                batch.corrections.append((original, doc))

    def write(self, batch: Batch, job: MoneyImport, *, actor: User) -> None:
        """Store a sorted batch: originals and corrections through the one writer of each fact,
        unresolved documents in one statement (a document already listed stays listed once)."""
        corrections = []
        counts = _correction_counts(_MODEL[self.kind], [o.pk for o, _ in batch.corrections])
        for original, doc in batch.corrections:
            counts[original.pk] += 1
            doc.kind = FactKind.CORRECTION
            doc.original_id = original.pk
            doc.external_id = f"{original.external_id}#c{counts[original.pk]}"
            doc.deal_id = original.deal_id
            corrections.append(doc)
        docs = batch.new + corrections
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
                for d in batch.unresolved
            ],
            ignore_conflicts=True,
        )
        self.stored["created"] += len(batch.new)
        self.stored["corrections"] += len(corrections)
        self.stored["unresolved"] += len(batch.unresolved)


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


def _plan(
    job: MoneyImport,
    *,
    write_as: User | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Plan:
    """Read the file (two streaming passes) and sort its documents batch by batch; with
    `write_as`, write each batch too, refusing the file at the first row error (the caller's
    transaction then undoes the batches already written)."""
    scan = _scan(job, progress)
    plan = Plan(
        kind=job.kind,
        source=job.source,
        errors=scan.errors,
        error_count=scan.error_count,
        duplicates=scan.duplicates,
        rows=scan.rows,
    )
    if scan.error_count:
        if write_as is not None:
            _refuse(plan)
        return plan
    for docs, read in _documents(job, scan):
        batch = plan.take(docs)
        if write_as is not None:
            if batch.errors:
                _refuse(plan)
            plan.write(batch, job, actor=write_as)
        if progress is not None:
            progress(read, scan.rows)
    return plan


def _refuse(plan: Plan) -> None:
    raise Invalid(
        _("%(n)s rows have errors; nothing was imported. Fix the file and upload it again.")
        % {"n": plan.error_count},
        code="import_has_errors",
        errors=plan.errors[:20],
    )
