"""asterisk_import_cdr PATH…: store the calls of Asterisk CDR files (re-importing changes nothing)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from otdel.activities.parallel_ingest import chunked, parallel_ingester
from otdel.telephony.providers.asterisk.cdr import FORMATS, ParseReport, records_from_file
from otdel.telephony.providers.asterisk.cel import CEL_FORMATS, AnswerIndex, answers_from_file
from otdel.telephony.providers.asterisk.options import add_dialect_arguments, dialect_from_options

# Records each process stores in one transaction (its share of a chunk). Larger shares read
# each client's history fewer times (20,000 → 50,000: 17 % faster in the benchmark); the price:
# while an import runs, a live call waits for the share holding its client's lock, ~3 s.
BATCH = 50_000


def default_jobs() -> int:
    """Processes storing calls at once: the machine's cores, up to 4."""
    return min(os.cpu_count() or 1, 4)


class Command(BaseCommand):
    help = "Import Asterisk CDR files (cdr_csv Master.csv, cdr_custom CSV or JSON lines)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument(
            "--format", choices=FORMATS, help="default: guessed from the file name and columns"
        )
        parser.add_argument("--source", default="asterisk", help="name of this phone system")
        parser.add_argument(
            "--cel",
            action="append",
            default=[],
            metavar="CEL_FILE",
            help="the PBX's CEL file(s) of the same period (cel_custom CSV or JSON): a "
            "click-to-call's talk time then starts when the client answered, not the manager",
        )
        parser.add_argument("--cel-format", choices=CEL_FORMATS)
        parser.add_argument(
            "--jobs",
            type=int,
            default=default_jobs(),
            help="processes storing calls at once (PostgreSQL; default: the cores, up to 4)",
        )
        add_dialect_arguments(parser)

    def _answers(self, paths: list[str], fmt: str | None, zone: Any) -> AnswerIndex:
        """When each leg of the click-to-calls answered, from the CEL files."""
        answers: AnswerIndex = {}
        for path in paths:
            errors: list[str] = []
            try:
                found = answers_from_file(path, fmt=fmt, zone=zone, errors=errors)
            except OSError as exc:
                raise CommandError(f"{path}: {exc}") from None
            for linkedid, channels in found.items():  # a call may span a rotation
                answers.setdefault(linkedid, {}).update(channels)
            for error in errors:
                self.stderr.write(f"{path}: {error}")
        return answers

    def handle(self, *args: Any, **options: Any) -> None:
        dialect = dialect_from_options(options)
        answers = self._answers(options["cel"], options["cel_format"], dialect.zone)
        totals = {"calls": 0, "created": 0, "already_known": 0, "unknown_numbers": 0}
        jobs = max(options["jobs"], 1)
        with parallel_ingester(jobs) as ingester:
            for path in options["paths"]:
                report = ParseReport()
                try:
                    records = records_from_file(
                        path,
                        fmt=options["format"],
                        source=options["source"],
                        dialect=dialect,
                        report=report,
                        answers=answers,
                    )
                    for batch, result in ingester.record_all(
                        chunked(records, BATCH * ingester.jobs)
                    ):
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
