"""Periodic sales work as django-tasks; idempotent and safe to run on several workers."""

from __future__ import annotations

from django_tasks import task

from otdel.sales import moves


@task()
def handoff_deadlines() -> dict[str, int]:
    """Escalate to the head of sales the handoffs nobody accepted or returned in time."""
    return moves.escalate_overdue_handoffs()
