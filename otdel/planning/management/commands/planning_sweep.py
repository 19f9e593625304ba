"""Run the cadence rules now (idempotent; cron- or worker-friendly)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from otdel.planning import cadences


class Command(BaseCommand):
    help = "Create the tasks the cadence rules call for and close stale tasks."

    def handle(self, *args: Any, **options: Any) -> None:
        totals = cadences.run_cadences()
        self.stdout.write(
            f"created={totals['created']} missed={totals['missed']} cancelled={totals['cancelled']}"
        )
