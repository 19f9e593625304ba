"""Load the demo department into an empty database (or rebuild it with --reset)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from otdel.clients.models import Client
from otdel.demo.loader import DEMO_PASSWORD, PEOPLE, DemoBuilder
from otdel.people.models import User


class Command(BaseCommand):
    help = "Load a demo sales department with six months of history (only into an empty database)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--reset", action="store_true", help="wipe the database first")
        parser.add_argument("--clients", type=int, default=2000, help="clients to generate")
        parser.add_argument("--seed", type=int, default=7, help="random seed")

    def handle(self, *args: Any, reset: bool, clients: int, seed: int, **options: Any) -> None:
        if reset:
            self.stdout.write("Wiping the database…")
            call_command("flush", interactive=False, verbosity=0)
        if User.objects.exists() or Client.objects.exists():
            if not User.objects.filter(username="head").exists():
                raise CommandError(
                    "The database already holds data that is not the demo; "
                    "use --reset to replace it with the demo department."
                )
            self.stdout.write("The demo department is already loaded (use --reset to rebuild it).")
        else:
            started = time.monotonic()
            self.stdout.write(f"Loading the demo department ({clients} clients, 6 months)…")
            stats = DemoBuilder(clients=clients, seed=seed, log=self.stdout.write).build()
            self.stdout.write(
                f"Done in {time.monotonic() - started:.1f} s: {stats.clients} clients, "
                f"{stats.claims} claims, {stats.assigns} assignments, {stats.releases} releases, "
                f"{stats.transfers} transfer requests, {stats.returned} automatic returns "
                f"({stats.warned} warnings), {stats.activities} activities."
            )
        self.print_logins()

    def print_logins(self) -> None:
        users = {
            u.username: u for u in User.objects.filter(username__in=[p.username for p in PEOPLE])
        }
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
        for p in PEOPLE:
            user = users.get(p.username)
            if user is None:
                continue
            owned = Client.objects.live().filter(owner=user).count()
            base = f", {owned} clients" if user.owns_clients else ""
            self.stdout.write(
                f"  {p.username:<10} {user.display_name:<22} {user.get_role_display()}{base}"
            )
