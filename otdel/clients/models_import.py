"""An import of a client base from a CSV/XLSX file: upload, mapping, preview, commit."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportStatus(models.TextChoices):
    """The import wizard's steps; a job moves forward only, to done or failed."""

    UPLOADED = "uploaded", _("uploaded")
    MAPPED = "mapped", _("columns mapped")
    CHECKING = "checking", _("checking the rows")
    PREVIEWED = "previewed", _("checked")
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("importing")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class OwnerMode(models.TextChoices):
    """Where imported clients go: to the people named in a column, or all into the pool."""

    POOL = "pool", _("everything into the pool")
    COLUMN = "column", _("owners from a column")


class ImportJob(models.Model):
    """One uploaded file and what became of it; the file itself lives in MEDIA_ROOT/imports/.

    The bytes are kept on disk, not in the database: openpyxl streams a workbook from a file,
    a 50 MB blob would otherwise be loaded with every read of the job, and database backups
    stay small. Several machines need shared media storage (settings.STORAGES).
    """

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="import_jobs"
    )
    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="import_jobs")
    file = models.FileField(upload_to="imports/%Y/%m/", max_length=300)
    original_name = models.CharField(_("file name"), max_length=255)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, db_index=True)
    kind = models.CharField(max_length=8)  # "csv" or "xlsx"
    encoding = models.CharField(max_length=16, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    headers = models.JSONField(default=list, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    # One field name (or "") per column of the file, in the file's order.
    mapping = models.JSONField(default=list, blank=True)
    owner_mode = models.CharField(
        _("owners"), max_length=8, choices=OwnerMode.choices, default=OwnerMode.POOL
    )
    skip_invalid = models.BooleanField(_("skip invalid rows"), default=False)

    total_rows = models.PositiveIntegerField(default=0)
    valid_rows = models.PositiveIntegerField(default=0)
    error_rows = models.PositiveIntegerField(default=0)
    duplicate_rows = models.PositiveIntegerField(default=0)  # repeated within the file
    existing_rows = models.PositiveIntegerField(default=0)  # already in the base
    warning_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    # Row-level findings, each capped (the counts above are exact): {row, column, message, ...}.
    errors = models.JSONField(default=list, blank=True)
    duplicates = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    sample = models.JSONField(default=list, blank=True)
    failure = models.TextField(blank=True)
    progress = models.PositiveIntegerField(default=0)
    task_result_id = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import #{self.pk} {self.original_name}"

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)
