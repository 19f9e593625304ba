"""The import runs in the background worker (`manage.py db_worker`), not in the web request."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from otdel.clients.importer import services


@task()
def run_preview_task(job_id: int) -> dict[str, Any]:
    """Check every row of a mapped import (writes nothing but the job's report)."""
    return services.run_preview(job_id)


@task()
def run_import_task(job_id: int) -> dict[str, Any]:
    """Write a checked import in one transaction; a second run of the same job does nothing."""
    return services.run_import(job_id)
