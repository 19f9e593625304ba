"""Periodic planning work as django-tasks; idempotent and safe to run in parallel."""

from __future__ import annotations

from django_tasks import task

from otdel.planning import cadences


@task()
def generate_cadence_tasks() -> dict[str, int]:
    """Create the tasks the cadence rules call for, close stale ones (run hourly and at dawn)."""
    return cadences.run_cadences()
