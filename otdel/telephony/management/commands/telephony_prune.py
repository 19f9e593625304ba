"""Prune webhook signatures and rate counts now (idempotent; cron- or worker-friendly)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from otdel.telephony.tasks import prune_now


class Command(BaseCommand):
    help = "Forget webhook signatures no request can reuse and rate counts of finished windows."

    def handle(self, *args: Any, **options: Any) -> None:
        totals = prune_now()
        self.stdout.write(
            f"deliveries={totals['deliveries']} rate_windows={totals['rate_windows']}"
        )
