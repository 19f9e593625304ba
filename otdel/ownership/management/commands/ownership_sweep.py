"""Run the ownership periodic work now (idempotent; cron- or worker-friendly)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from otdel.ownership import services, sweep


class Command(BaseCommand):
    help = "Warn owners, return due clients to the pool, process transfer deadlines."

    def handle(self, *args: Any, **options: Any) -> None:
        totals = sweep.run_sweep()
        transfers = services.process_transfer_deadlines()
        self.stdout.write(
            f"warned={totals['warned']} returned={totals['returned']} "
            f"transfers_auto_approved={transfers['auto_approved']} "
            f"transfers_escalated={transfers['escalated']}"
        )
