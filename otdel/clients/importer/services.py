"""The import wizard's steps: upload, map the columns, check, commit in the background."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from otdel.audit.services import record
from otdel.clients.importer import parse
from otdel.clients.importer.commit import RowFailed, write_rows
from otdel.clients.importer.mapping import guess_mapping, validate_mapping
from otdel.clients.importer.preview import CHUNK, Analyzer, Report, chunked
from otdel.clients.models_import import ImportJob, ImportStatus, OwnerMode
from otdel.core import clock
from otdel.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from otdel.ownership import policies
from otdel.ownership.policies import manages_team
from otdel.people.models import Team, User

log = logging.getLogger(__name__)
PROGRESS_TTL = 24 * 3600


def can_import(user: User) -> bool:
    """The head of sales (director, admin) and database operators load client bases."""
    return user.is_active and policies.may_import(user)


def can_view_job(user: User, job: ImportJob) -> bool:
    """An import is seen by the person who started it and by the head of the team."""
    return job.created_by_id == user.pk or manages_team(user, job.team_id)


def job_for(job_id: int, viewer: User) -> ImportJob:
    """The viewer's import job; someone else's looks the same as a missing one."""
    job = ImportJob.objects.select_related("team", "created_by").filter(pk=job_id).first()
    if job is None or not can_view_job(viewer, job):
        raise NotFound(_("Import not found."), code="import_not_found")
    return job


def _path(job: ImportJob) -> Path:
    return Path(default_storage.path(job.file.name or ""))


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f}".rstrip("0").rstrip(".")


def start_import(file: Any, *, actor: User, team: Team | None = None) -> ImportJob:
    """Accept an uploaded file: refuse one too big or not a spreadsheet, keep it, read its
    header and guess the columns. Nothing is written to the client base."""
    if not can_import(actor):
        raise Forbidden(
            _("Only the head of sales or a database operator imports clients."),
            code="cannot_import",
        )
    filename = Path(getattr(file, "name", "") or "import").name
    size = int(getattr(file, "size", 0) or 0)
    limit = settings.OTDEL_IMPORT_MAX_BYTES
    if size > limit:
        raise Invalid(
            _("%(file)s is %(size)s MB; files up to %(limit)s MB are accepted. Split it in parts.")
            % {"file": filename, "size": _megabytes(size), "limit": _megabytes(limit)},
            code="import_too_big",
        )
    if size == 0:
        raise Invalid(_("%(file)s is empty.") % {"file": filename}, code="import_empty")
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    sha = digest.hexdigest()
    file.seek(0)
    now = clock.now()
    stored = default_storage.save(
        f"imports/{now:%Y/%m}/{sha[:16]}-{get_valid_filename(filename) or 'import'}", File(file)
    )
    path = Path(default_storage.path(stored))
    try:
        fmt = parse.sniff(path, filename)
        with parse.open_table(path, fmt, filename) as table:
            headers = table.headers
            has_rows = next(table.rows, None) is not None
    except DomainError:
        default_storage.delete(stored)
        raise
    if not any(headers) or not has_rows:
        default_storage.delete(stored)
        raise Invalid(
            _("%(file)s has no rows below the header.") % {"file": filename}, code="import_empty"
        )
    if team is None:
        from otdel.clients.services import default_team

        team = actor.team or default_team()
    return ImportJob.objects.create(
        created_by=actor,
        team=team,
        file=stored,
        original_name=filename[:255],
        size=size,
        sha256=sha,
        kind=fmt.kind,
        encoding=fmt.encoding,
        delimiter=fmt.delimiter,
        headers=headers,
        mapping=guess_mapping(headers),
        status=ImportStatus.UPLOADED,
        created_at=now,
        updated_at=now,
    )


def earlier_imports(job: ImportJob) -> list[ImportJob]:
    """Finished imports of the same file (same content), to warn before a repeat."""
    return list(
        ImportJob.objects.filter(sha256=job.sha256, status=ImportStatus.DONE)
        .exclude(pk=job.pk)
        .select_related("created_by")
        .order_by("-finished_at")[:5]
    )


_EDITABLE = (ImportStatus.UPLOADED, ImportStatus.MAPPED, ImportStatus.PREVIEWED)


def set_mapping(job: ImportJob, mapping: list[str], owner_mode: str) -> ImportJob:
    """Confirm which column holds what and where owners come from; the old check is dropped."""
    if job.status not in _EDITABLE:
        raise Conflict(_("This import has already been started."), code="import_started")
    if owner_mode not in OwnerMode.values:
        raise Invalid(_("Choose where the owners come from."), code="import_mapping")
    validate_mapping(job.headers, mapping, owner_mode=owner_mode)
    job.mapping = mapping
    job.owner_mode = owner_mode
    job.status = ImportStatus.MAPPED
    job.updated_at = clock.now()
    job.save(update_fields=["mapping", "owner_mode", "status", "updated_at"])
    return job


def _analyzer(job: ImportJob, headers: list[str]) -> Analyzer:
    if headers != job.headers:
        raise Invalid(_("The file changed since it was uploaded."), code="import_changed")
    validate_mapping(job.headers, job.mapping, owner_mode=job.owner_mode)
    return Analyzer(headers=headers, mapping=job.mapping, owner_mode=job.owner_mode, team=job.team)


def _fmt(job: ImportJob) -> parse.FileFormat:
    return parse.FileFormat(job.kind, encoding=job.encoding, delimiter=job.delimiter)


def _store_report(job: ImportJob, report: Report) -> None:
    job.total_rows = report.total
    job.valid_rows = report.valid
    job.error_rows = report.error_rows
    job.duplicate_rows = report.duplicate_rows
    job.existing_rows = report.existing_rows
    job.warning_rows = report.warning_rows
    job.errors = report.errors
    job.duplicates = report.duplicates
    job.warnings = report.warnings
    job.sample = report.sample


def build_preview(job: ImportJob) -> ImportJob:
    """Check every row without writing anything: errors, duplicates, owners, caps."""
    if job.status not in (ImportStatus.MAPPED, ImportStatus.CHECKING, ImportStatus.PREVIEWED):
        raise Conflict(_("Map the columns first."), code="import_not_mapped")
    key = progress_key(job.pk)
    with parse.open_table(_path(job), _fmt(job), job.original_name) as table:
        analyzer = _analyzer(job, table.headers)
        for batch in chunked(table.rows, CHUNK):
            analyzer.check(batch)
            cache.set(key, {"processed": analyzer.report.total, "total": 0}, PROGRESS_TTL)
    _store_report(job, analyzer.report)
    job.status = ImportStatus.PREVIEWED
    job.failure = ""
    job.updated_at = clock.now()
    job.save()
    cache.delete(key)
    return job


def request_preview(job: ImportJob) -> ImportJob:
    """Queue the check of every row: it runs in the background worker, because a file of a few
    hundred thousand rows takes minutes, longer than a web request should."""
    queued = ImportJob.objects.filter(
        pk=job.pk, status__in=[ImportStatus.MAPPED, ImportStatus.PREVIEWED]
    ).update(status=ImportStatus.CHECKING, failure="", updated_at=clock.now())
    if not queued:
        raise Conflict(_("Map the columns first."), code="import_not_mapped")
    cache.set(progress_key(job.pk), {"processed": 0, "total": 0}, PROGRESS_TTL)
    from otdel.clients.importer.tasks import run_preview_task

    run_preview_task.enqueue(job.pk)
    job.refresh_from_db()
    return job


def run_preview(job_id: int) -> dict[str, Any]:
    """The worker's side of request_preview; a job no longer being checked is left alone."""
    job = (
        ImportJob.objects.select_related("team")
        .filter(pk=job_id, status=ImportStatus.CHECKING)
        .first()
    )
    if job is None:
        return {"skipped": True}
    try:
        build_preview(job)
    except DomainError as err:
        # Back to the mapping step, with the reason shown there.
        ImportJob.objects.filter(pk=job.pk, status=ImportStatus.CHECKING).update(
            status=ImportStatus.MAPPED, failure=err.message, updated_at=clock.now()
        )
        cache.delete(progress_key(job.pk))
        return {"failed": err.message}
    return {"rows": job.total_rows, "errors": job.error_rows}


def commit_import(job: ImportJob, *, actor: User, skip_invalid: bool = False) -> ImportJob:
    """Queue the import. Rows with errors block it unless the person chooses to skip them."""
    if not can_view_job(actor, job) or not can_import(actor):
        raise Forbidden(_("You cannot run this import."), code="cannot_import")
    if job.status != ImportStatus.PREVIEWED:
        raise Conflict(_("Check the file before importing it."), code="import_not_previewed")
    if job.error_rows and not skip_invalid:
        raise Invalid(
            _(
                "%(n)s rows have errors. Fix the file and upload it again, or choose to skip "
                "the invalid rows."
            )
            % {"n": job.error_rows},
            code="import_has_errors",
        )
    now = clock.now()
    # A conditional update: two clicks (or two tabs) queue the import once.
    queued = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.PREVIEWED).update(
        status=ImportStatus.QUEUED, skip_invalid=skip_invalid, updated_at=now
    )
    if not queued:
        raise Conflict(_("This import has already been started."), code="import_started")
    job.refresh_from_db()
    cache.set(progress_key(job.pk), {"processed": 0, "total": job.total_rows}, PROGRESS_TTL)
    from otdel.clients.importer.tasks import run_import_task

    result = run_import_task.enqueue(job.pk)
    ImportJob.objects.filter(pk=job.pk).update(task_result_id=str(result.id)[:64])
    job.refresh_from_db()
    return job


def progress_key(job_id: int) -> str:
    return f"otdel:import:{job_id}:progress"


def progress_of(job: ImportJob) -> dict[str, Any]:
    """Rows processed so far: from the cache while the import's transaction is open."""
    total = job.total_rows or 0
    if job.status == ImportStatus.CHECKING:
        processed = int((cache.get(progress_key(job.pk)) or {}).get("processed", 0))
        return {"processed": processed, "total": 0, "percent": 0}
    if job.status == ImportStatus.DONE:
        processed = total
    elif job.status == ImportStatus.RUNNING:
        processed = int((cache.get(progress_key(job.pk)) or {}).get("processed", 0))
    else:
        processed = job.progress
    percent = int(processed * 100 / total) if total else (100 if job.is_finished else 0)
    return {"processed": processed, "total": total, "percent": min(percent, 100)}


def run_import(job_id: int) -> dict[str, Any]:
    """Do the import: check every row again and write all clients in ONE transaction, so a
    failure at any row leaves the base exactly as it was. Running it twice does nothing more."""
    started = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=clock.now(), updated_at=clock.now()
    )
    if not started:
        return {"skipped": True}
    job = ImportJob.objects.select_related("team", "created_by").get(pk=job_id)
    actor = job.created_by
    key = progress_key(job.pk)
    reason = _("imported from %(file)s") % {"file": job.original_name}
    created = 0
    try:
        with transaction.atomic():
            with parse.open_table(_path(job), _fmt(job), job.original_name) as table:
                analyzer = _analyzer(job, table.headers)
                owners = analyzer.owners
                for batch in chunked(table.rows, CHUNK):
                    errors_before = analyzer.report.error_rows
                    new_rows = analyzer.check(batch)
                    if analyzer.report.error_rows > errors_before and not job.skip_invalid:
                        first = analyzer.report.errors[-1] if analyzer.report.errors else {}
                        raise RowFailed(
                            int(first.get("row", 0)),
                            f"{first.get('column', '')}: {first.get('message', '')}",
                        )
                    created += write_rows(
                        new_rows,
                        team=job.team,
                        actor=actor,
                        owners=owners.users if owners else {},
                        reason=reason,
                        now=clock.now(),
                    )
                    cache.set(
                        key,
                        {"processed": analyzer.report.total, "total": job.total_rows},
                        PROGRESS_TTL,
                    )
            report = analyzer.report
            record(
                actor=actor,
                verb="clients.imported",
                obj=job,
                data={"file": job.original_name, "sha256": job.sha256, "created": created},
            )
    except (RowFailed, DomainError) as err:
        message = err.message if isinstance(err, DomainError) else str(err)
        _fail(job, _("Nothing was imported. %(reason)s") % {"reason": message})
        return {"failed": message}
    except Exception:
        log.exception("import %s failed", job_id)
        _fail(job, _("Nothing was imported: an unexpected error occurred."))
        raise
    _store_report(job, report)
    job.created_count = created
    job.skipped_count = report.total - created
    job.progress = report.total
    job.status = ImportStatus.DONE
    job.finished_at = job.updated_at = clock.now()
    job.save()
    cache.delete(key)
    return {"created": created, "skipped": job.skipped_count}


def _fail(job: ImportJob, message: str) -> None:
    now = clock.now()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.FAILED,
        failure=message,
        created_count=0,
        finished_at=now,
        updated_at=now,
    )
    cache.delete(progress_key(job.pk))
