"""asterisk_listen: store calls live from the Asterisk Manager Interface (AMI)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from otdel.activities.calls import record_calls
from otdel.telephony.providers.asterisk.ami import GRACE, AmiListener, CatchUp
from otdel.telephony.providers.asterisk.catchup import PositionFile
from otdel.telephony.providers.asterisk.cdr import FORMATS
from otdel.telephony.providers.asterisk.cel import CEL_FORMATS
from otdel.telephony.providers.asterisk.options import add_dialect_arguments, dialect_from_options


class Command(BaseCommand):
    help = (
        "Listen to an Asterisk AMI and store every call as it ends. The secret comes from "
        "--secret or the OTDEL_ASTERISK_AMI_SECRET environment variable."
    )

    def add_arguments(self, parser: Any) -> None:
        env = os.environ.get
        parser.add_argument("--host", default=env("OTDEL_ASTERISK_AMI_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(env("OTDEL_ASTERISK_AMI_PORT", "5038")))
        parser.add_argument("--user", default=env("OTDEL_ASTERISK_AMI_USER", ""))
        parser.add_argument("--secret", default=None, help="better: OTDEL_ASTERISK_AMI_SECRET")
        parser.add_argument("--source", default="asterisk", help="name of this phone system")
        parser.add_argument(
            "--catch-up",
            action="append",
            default=[],
            metavar="CDR_FILE",
            help="a CDR file of this PBX read after every login from where the last read "
            "ended: calls that ended while the listener was away (repeatable)",
        )
        parser.add_argument("--catch-up-format", choices=FORMATS)
        parser.add_argument(
            "--catch-up-cel",
            metavar="CEL_FILE",
            help="this PBX's CEL file (cel_custom): when the client's leg of a click-to-call "
            "answered, for calls that ended or were answered while the listener was away",
        )
        parser.add_argument("--catch-up-cel-format", choices=CEL_FORMATS)
        parser.add_argument(
            "--catch-up-state",
            metavar="FILE",
            help="where the catch-up remembers how far it has read each file "
            "(default: <var dir>/asterisk/catch-up-<source>.json)",
        )
        parser.add_argument(
            "--grace", type=float, default=GRACE, help="seconds to wait for late Cdr events"
        )
        parser.add_argument("--max-backoff", type=float, default=30.0)
        add_dialect_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        secret = options["secret"] or os.environ.get("OTDEL_ASTERISK_AMI_SECRET", "")
        if not options["user"] or not secret:
            raise CommandError("an AMI user and secret are needed (OTDEL_ASTERISK_AMI_SECRET)")
        cel = options["catch_up_cel"]
        state = Path(
            options["catch_up_state"]
            or Path(settings.VAR_DIR) / "asterisk" / f"catch-up-{options['source']}.json"
        )
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger = logging.getLogger("otdel.telephony.asterisk")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        listener = AmiListener(
            host=options["host"],
            port=options["port"],
            username=options["user"],
            secret=secret,
            source=options["source"],
            dialect=dialect_from_options(options),
            ingest=record_calls,
            catch_up=[CatchUp(path, options["catch_up_format"]) for path in options["catch_up"]],
            cel=CatchUp(cel, options["catch_up_cel_format"]) if cel else None,
            positions=PositionFile(state),
            grace=options["grace"],
            max_backoff=options["max_backoff"],
        )

        async def main() -> int:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, listener.stop)
            return await listener.run()

        code = asyncio.run(main())
        if code:
            raise CommandError(listener.fatal or "the listener failed", returncode=code)
