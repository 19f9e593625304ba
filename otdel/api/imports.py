"""Client-base import over HTTP: upload → preview with row errors → all-or-nothing commit.

The steps are the importer's services (otdel.clients.importer.services); owners are set through
the ownership service there, so caps hold and every client gets its ledger event.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status

from otdel.api.auth import viewer
from otdel.api.errors import READ_ERRORS, WRITE_ERRORS
from otdel.clients.importer import services as importer
from otdel.clients.models_import import ImportJob
from otdel.core.errors import Invalid

router = Router(tags=["import"])


class ProgressOut(Schema):
    processed: int
    total: int
    percent: int


class ImportOut(Schema):
    """An import job: its column mapping, the check's findings, and progress once committed."""

    id: int
    status: str
    status_label: str
    file_name: str
    size: int
    kind: str
    encoding: str
    delimiter: str
    headers: list[str]
    mapping: list[str]
    owner_mode: str
    total_rows: int
    valid_rows: int
    error_rows: int
    duplicate_rows: int
    existing_rows: int
    warning_rows: int
    created_count: int
    skipped_count: int
    errors: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    failure: str
    progress: ProgressOut
    repeats_earlier_import: bool
    created_at: dt.datetime
    finished_at: dt.datetime | None


def import_out(job: ImportJob) -> ImportOut:
    return ImportOut(
        id=job.pk,
        status=job.status,
        status_label=str(job.get_status_display()),
        file_name=job.original_name,
        size=job.size,
        kind=job.kind,
        encoding=job.encoding,
        delimiter=job.delimiter,
        headers=job.headers,
        mapping=job.mapping,
        owner_mode=job.owner_mode,
        total_rows=job.total_rows,
        valid_rows=job.valid_rows,
        error_rows=job.error_rows,
        duplicate_rows=job.duplicate_rows,
        existing_rows=job.existing_rows,
        warning_rows=job.warning_rows,
        created_count=job.created_count,
        skipped_count=job.skipped_count,
        errors=job.errors,
        duplicates=job.duplicates,
        warnings=job.warnings,
        failure=job.failure,
        progress=ProgressOut(**importer.progress_of(job)),
        repeats_earlier_import=bool(importer.earlier_imports(job)),
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


def _mapping(raw: str, job: ImportJob) -> list[str]:
    if not raw.strip():
        return list(job.mapping)
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(
            _('mapping must be a JSON list with one field name (or "") per column.'),
            code="import_mapping",
        )
    return value


@router.post("/imports", response={201: ImportOut, **WRITE_ERRORS})
def start_import(
    request: HttpRequest,
    file: File[UploadedFile],
    owner_mode: Form[str] = "pool",
    mapping: Form[str] = "",
) -> Status[ImportOut]:
    """Upload a CSV/XLSX file; every row is then checked in the background (row errors,
    duplicates, owners and caps): poll `GET /api/imports/{id}` until `status` is `previewed`.

    `owner_mode`: `pool` or `column`; `mapping`: a JSON list with a field per column (empty:
    guessed from the headers). Nothing is written to the client base yet.
    """
    me = viewer(request)
    job = importer.start_import(file, actor=me)
    job = importer.set_mapping(job, _mapping(mapping, job), owner_mode)
    job = importer.request_preview(job)
    return Status(201, import_out(job))


@router.get("/imports/{import_id}", response={200: ImportOut, **READ_ERRORS})
def get_import(request: HttpRequest, import_id: int) -> ImportOut:
    """An import's preview, and its progress once committed."""
    return import_out(importer.job_for(import_id, viewer(request)))


class CommitIn(Schema):
    skip_invalid: bool = Field(
        False, description="Import the valid rows, skipping rows with errors"
    )


@router.post("/imports/{import_id}/commit", response={202: ImportOut, **WRITE_ERRORS})
def commit_import(request: HttpRequest, import_id: int, payload: CommitIn) -> Status[ImportOut]:
    """Queue the import: all rows are written in one transaction by the worker, or none."""
    me = viewer(request)
    job = importer.commit_import(
        importer.job_for(import_id, me), actor=me, skip_invalid=payload.skip_invalid
    )
    return Status(202, import_out(job))
