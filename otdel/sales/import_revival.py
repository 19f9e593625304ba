"""An import a dead worker left half-way (its process killed, the machine restarted) gets going
again: the check writes nothing but its report and the commit writes in one transaction, so
nothing of it is in the base and it is simply handed to the worker once more. Run by the
periodic schedule; a live worker's import is never touched."""

from __future__ import annotations

import datetime as dt

from django.core.cache import cache
from django.db import transaction

from otdel.core import clock
from otdel.sales.import_1c import _checking, progress_key
from otdel.sales.models import MoneyImport, MoneyImportStatus

# No sign of life for this long: the worker that had the import is gone. A worker reports
# progress every few thousand rows, seconds apart.
STALLED_AFTER = dt.timedelta(minutes=10)


def _quiet(job_id: int, now: dt.datetime) -> bool:
    """No worker has reported progress on the import for STALLED_AFTER (or ever)."""
    beat = (cache.get(progress_key(job_id)) or {}).get("at")
    return beat is None or now.timestamp() - float(beat) > STALLED_AFTER.total_seconds()


def revive_stalled_imports() -> dict[str, int]:
    """Queue again the checks and commits nobody is working on: a check claimed by a worker
    that went quiet is released and queued; a commit not written, whose row no writing
    transaction holds (PostgreSQL's lock says so), is queued. Each is revived at most once per
    STALLED_AFTER, so a worker that is down for long does not find a pile of copies (a copy
    would do nothing anyway: the tasks run once)."""
    from otdel.sales.tasks import run_money_import_task, run_money_preview_task

    now = clock.now()
    old = now - STALLED_AFTER
    checks: list[int] = []
    for job in MoneyImport.objects.filter(
        _checking(), report__started=True, updated_at__lt=old
    ).only("pk", "report"):
        if not _quiet(job.pk, now):
            continue
        unclaimed = {k: v for k, v in job.report.items() if k != "started"}
        if (
            MoneyImport.objects.filter(_checking(), pk=job.pk, updated_at__lt=old)
            .filter(report__started=True)
            .update(report=unclaimed, updated_at=now)
        ):
            checks.append(job.pk)
    commits: list[int] = []
    stalled = MoneyImport.objects.filter(
        status=MoneyImportStatus.DONE, finished_at__isnull=True, updated_at__lt=old
    ).values_list("pk", flat=True)
    for job_id in stalled:
        if not _quiet(job_id, now):
            continue
        with transaction.atomic():
            # A worker writing the import holds its row for the whole transaction.
            free = MoneyImport.objects.select_for_update(skip_locked=True).filter(
                pk=job_id, status=MoneyImportStatus.DONE, finished_at__isnull=True
            )
            if free.exists() and free.update(updated_at=now):
                commits.append(job_id)
    for job_id in checks:
        run_money_preview_task.enqueue(job_id)
    for job_id in commits:
        run_money_import_task.enqueue(job_id)
    return {"checks": len(checks), "commits": len(commits)}
