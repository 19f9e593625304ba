"""Command-line options every Asterisk command shares: the PBX's zone and dialplan layout."""

from __future__ import annotations

import os
from argparse import ArgumentParser, Namespace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.management.base import CommandError

from otdel.telephony.providers.asterisk.cdr import DEFAULT_TZ, Dialect


def add_dialect_arguments(parser: ArgumentParser) -> None:
    """--tz, --outbound-context, --inbound-context, --trunk, --recording-base-url."""
    parser.add_argument(
        "--tz",
        default=os.environ.get("OTDEL_ASTERISK_TZ", DEFAULT_TZ),
        help="the PBX's time zone: CDR CSV times are local with no offset",
    )
    parser.add_argument(
        "--outbound-context",
        action="append",
        help="dialplan context of the managers' phones (repeatable; default from-managers)",
    )
    parser.add_argument(
        "--inbound-context",
        action="append",
        help="dialplan context calls from the trunk enter (repeatable; default from-trunk)",
    )
    parser.add_argument(
        "--trunk", action="append", help="endpoint name of a trunk (repeatable; default carrier)"
    )
    parser.add_argument(
        "--recording-base-url",
        default=os.environ.get("OTDEL_ASTERISK_RECORDING_BASE_URL", ""),
        help="prefix that turns a recording file name into a playable link",
    )


def dialect_from_options(options: dict | Namespace) -> Dialect:
    """A Dialect from parsed options; unknown zones are refused before anything is read."""
    opts = vars(options) if isinstance(options, Namespace) else options
    tz = opts.get("tz") or DEFAULT_TZ
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise CommandError(f"unknown time zone {tz!r}") from None
    default = Dialect()
    return Dialect(
        tz=tz,
        outbound_contexts=frozenset(opts.get("outbound_context") or default.outbound_contexts),
        inbound_contexts=frozenset(opts.get("inbound_context") or default.inbound_contexts),
        trunks=frozenset(opts.get("trunk") or default.trunks),
        recording_base_url=opts.get("recording_base_url") or "",
    )
