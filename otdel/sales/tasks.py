"""Sales work as django-tasks: periodic jobs (idempotent, safe on several workers) and the 1С
import's check (preview) and commit, which run in the background worker, not in the web request."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from otdel.sales import import_1c, import_revival, moves, proposals


@task()
def handoff_deadlines() -> dict[str, int]:
    """Escalate to the head of sales the handoffs nobody accepted or returned in time."""
    return moves.escalate_overdue_handoffs()


@task()
def expire_proposals() -> int:
    """Sent proposals past their validity become expired (one UPDATE)."""
    return proposals.expire_overdue_proposals()


@task()
def run_money_import_task(job_id: int) -> dict[str, Any]:
    """Write a queued 1С import in one transaction; a second run of the same job does nothing."""
    return import_1c.run_commit(job_id)


@task()
def run_money_preview_task(job_id: int) -> dict[str, Any]:
    """Check every row of a mapped 1С import (writes nothing but its report); a second run of
    the same job does nothing."""
    return import_1c.run_preview(job_id)


@task()
def revive_stalled_imports() -> dict[str, int]:
    """Hand again to the worker the 1С checks and commits a dead worker left half-way."""
    return import_revival.revive_stalled_imports()
