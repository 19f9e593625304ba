"""Enqueue the periodic tasks every few minutes; any number of schedulers may run at once
because every task is idempotent."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from otdel.activities.tasks import reverify_pending_outcomes
from otdel.ownership.tasks import return_to_pool_sweep, transfer_deadlines
from otdel.planning.tasks import generate_cadence_tasks
from otdel.sales.tasks import handoff_deadlines
from otdel.telephony.tasks import prune_webhook_memory


class Command(BaseCommand):
    help = "Enqueue periodic tasks (the background worker runs them)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--every", type=int, default=300, help="seconds between rounds")
        parser.add_argument("--once", action="store_true", help="enqueue one round and exit")

    def handle(self, *args: Any, every: int, once: bool, **options: Any) -> None:
        while True:
            return_to_pool_sweep.enqueue()
            transfer_deadlines.enqueue()
            generate_cadence_tasks.enqueue()
            reverify_pending_outcomes.enqueue()
            prune_webhook_memory.enqueue()
            handoff_deadlines.enqueue()
            if once:
                return
            time.sleep(every)
