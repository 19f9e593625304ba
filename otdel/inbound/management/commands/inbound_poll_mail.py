"""Read the inbound mailboxes now, or every N seconds (safe on several machines at once: each
message is stored once, under the mailbox row's lock)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from otdel.inbound import mail
from otdel.inbound.models import Mailbox


class Command(BaseCommand):
    help = "Read new messages of every active inbound mailbox into requests."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="read once and exit (default)")
        parser.add_argument(
            "--every", type=int, default=0, help="keep reading, this many seconds between rounds"
        )

    def handle(self, *args: Any, once: bool, every: int, **options: Any) -> None:
        while True:
            totals = mail.poll_all()
            self.stdout.write(" ".join(f"{key}={value}" for key, value in totals.items()))
            failing = Mailbox.objects.filter(is_active=True).exclude(last_error="")
            for address, error in failing.values_list("address", "last_error"):
                self.stderr.write(f"{address}: {error}")
            if once or every <= 0:
                return
            time.sleep(every)
