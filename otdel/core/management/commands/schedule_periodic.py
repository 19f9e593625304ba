"""Enqueue the periodic tasks: the inbound desk's every minute (its deadlines are in working
minutes), the rest every few minutes; any number of schedulers may run at once because every
task is idempotent."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from otdel.activities.tasks import reverify_pending_outcomes
from otdel.inbound.tasks import inbound_deadlines, inbound_from_calls, poll_mailboxes
from otdel.ownership.tasks import return_to_pool_sweep, transfer_deadlines
from otdel.planning.tasks import generate_cadence_tasks
from otdel.sales.tasks import expire_proposals, handoff_deadlines, revive_stalled_imports
from otdel.telephony.tasks import prune_webhook_memory


def enqueue_frequent() -> None:
    """The inbound desk: missed calls, new mail, owner deadlines and escalations."""
    inbound_from_calls.enqueue()
    poll_mailboxes.enqueue()
    inbound_deadlines.enqueue()


def enqueue_regular() -> None:
    """Ownership, planning, sales and telephony housekeeping."""
    return_to_pool_sweep.enqueue()
    transfer_deadlines.enqueue()
    generate_cadence_tasks.enqueue()
    reverify_pending_outcomes.enqueue()
    prune_webhook_memory.enqueue()
    handoff_deadlines.enqueue()
    expire_proposals.enqueue()
    revive_stalled_imports.enqueue()


class Command(BaseCommand):
    help = "Enqueue periodic tasks (the background worker runs them)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--every", type=int, default=300, help="seconds between rounds")
        parser.add_argument(
            "--frequent-every",
            type=int,
            default=60,
            help="seconds between rounds of the inbound desk's tasks",
        )
        parser.add_argument("--once", action="store_true", help="enqueue one round and exit")

    def handle(
        self, *args: Any, every: int, frequent_every: int, once: bool, **options: Any
    ) -> None:
        last_regular: float | None = None
        while True:
            enqueue_frequent()
            if last_regular is None or time.monotonic() - last_regular >= every:
                enqueue_regular()
                last_regular = time.monotonic()
            if once:
                return
            time.sleep(max(min(frequent_every, every), 1))
