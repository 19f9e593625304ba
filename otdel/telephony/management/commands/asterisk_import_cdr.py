"""asterisk_import_cdr PATH…: store the calls of Asterisk CDR files (re-importing changes nothing)."""

from __future__ import annotations

from itertools import islice
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from otdel.activities.calls import record_calls
from otdel.telephony.providers.asterisk.cdr import FORMATS, ParseReport, records_from_file
from otdel.telephony.providers.asterisk.options import add_dialect_arguments, dialect_from_options

BATCH = 5000


class Command(BaseCommand):
    help = "Import Asterisk CDR files (cdr_csv Master.csv, cdr_custom CSV or JSON lines)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument(
            "--format", choices=FORMATS, help="default: guessed from the file name and columns"
        )
        parser.add_argument("--source", default="asterisk", help="name of this phone system")
        add_dialect_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        dialect = dialect_from_options(options)
        totals = {"calls": 0, "created": 0, "already_known": 0, "unknown_numbers": 0}
        for path in options["paths"]:
            report = ParseReport()
            try:
                records = records_from_file(
                    path,
                    fmt=options["format"],
                    source=options["source"],
                    dialect=dialect,
                    report=report,
                )
                while batch := list(islice(records, BATCH)):
                    result = record_calls(batch)
                    totals["calls"] += len(batch)
                    totals["created"] += result.created
                    totals["already_known"] += result.already_known
                    totals["unknown_numbers"] += result.unknown_numbers
            except OSError as exc:
                raise CommandError(f"{path}: {exc}") from None
            for error in report.errors:
                self.stderr.write(f"{path}: {error}")
            self.stdout.write(f"{path}: {report.rows} rows, {len(report.errors)} skipped")
        self.stdout.write(
            "calls {calls}: {created} new, {already_known} already known, "
            "{unknown_numbers} with an unknown number".format(**totals)
        )
