"""Periodic telephony work as django-tasks; idempotent and safe to run in parallel."""

from __future__ import annotations

from django_tasks import task

from otdel.telephony import admission, replays


@task()
def prune_webhook_memory() -> dict[str, int]:
    """Forget webhook signatures no request can reuse and rate counts of finished windows."""
    return prune_now()


def prune_now() -> dict[str, int]:
    """What the periodic task and the command run: each prune is one DELETE of old rows."""
    return {
        "deliveries": replays.prune_deliveries(),
        "rate_windows": admission.prune_rate_windows(),
    }
