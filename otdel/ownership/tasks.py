"""Periodic ownership work as django-tasks; each task is idempotent and safe to run in parallel."""

from __future__ import annotations

from django_tasks import task

from otdel.ownership import services, sweep


@task()
def return_to_pool_sweep() -> dict[str, int]:
    """Warn owners, then return clients whose clocks ran out."""
    return sweep.run_sweep()


@task()
def transfer_deadlines() -> dict[str, int]:
    """Auto-approve or escalate transfer requests whose owner deadline passed."""
    return services.process_transfer_deadlines()
