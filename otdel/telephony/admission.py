"""Who may post to a webhook at all, decided before the body is read.

- An allow-list per source (comma-separated addresses or CIDR networks; empty allows every
  address): a request from another address is 403 "forbidden_ip". A list that is set but has no
  readable entry allows nobody: a typo must not open the door.
- A fixed-window rate limit per client address and per source: over it is 429 "rate_limited".
  The counts live in the database (one upsert per counter), so every app process and machine
  shares them and a cache flush does not reset them; finished windows are pruned periodically.
- The client address is REMOTE_ADDR; behind our own reverse proxies (OTDEL_WEBHOOK_TRUSTED_PROXIES)
  it is the nearest X-Forwarded-For address they did not add, since anything further left was
  written by the client and can be forged.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import math
from typing import Any

from django.db import connection
from django.http import HttpRequest
from django.utils.translation import gettext as _

from otdel.core import clock
from otdel.core.errors import DomainError, Forbidden
from otdel.telephony.conf import int_setting, setting
from otdel.telephony.models import WebhookRateWindow

log = logging.getLogger("otdel.telephony.webhooks")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PER_IP = "ip"
PER_SOURCE = "source"


class RateLimited(DomainError):
    """Too many webhook requests in this window (429); the sender may retry after it."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, **details: Any):
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


def _address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d; lists name it as IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def networks(text: str, *, setting_name: str) -> list[IPNetwork]:
    """The networks a comma-separated setting lists; an unreadable entry is logged and skipped."""
    found: list[IPNetwork] = []
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            log.error("%s: %r is not an address or a network; it is ignored", setting_name, entry)
    return found


def _within(address: IPAddress, nets: list[IPNetwork]) -> bool:
    return any(address in net for net in nets)


def client_address(request: HttpRequest) -> IPAddress | None:
    """Where the request came from (None when it cannot be read)."""
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    proxies = networks(
        setting("OTDEL_WEBHOOK_TRUSTED_PROXIES"), setting_name="OTDEL_WEBHOOK_TRUSTED_PROXIES"
    )
    if remote is None or not _within(remote, proxies):
        return remote
    # Each of our proxies appended the address it saw: read from the right, skip our own.
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    client: IPAddress | None = remote
    for hop in reversed(hops):
        client = _address(hop)
        if client is None or not _within(client, proxies):
            return client
    return client


def refuse_outside_allow_list(address: IPAddress | None, *, setting_name: str) -> None:
    """A source with an allow-list accepts requests only from the addresses it lists."""
    allowed = setting(setting_name).strip()
    if not allowed:
        return
    if address is None or not _within(address, networks(allowed, setting_name=setting_name)):
        raise Forbidden(
            _("Requests from this address are not accepted for this phone system."),
            code="forbidden_ip",
            address=str(address or ""),
        )


def address_subject(address: IPAddress | None) -> str:
    """What the per-address limit counts: the address, or an IPv6 address's /64 network."""
    if address is None:
        return "unknown"
    if address.version == 6:
        # One IPv6 host usually holds a whole /64: counting single addresses would let it rotate.
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _window_seconds() -> int:
    return int_setting("OTDEL_WEBHOOK_RATE_WINDOW_SECONDS", 60)


def _window_start(now: dt.datetime, seconds: int) -> dt.datetime:
    epoch = int(now.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, tz=dt.UTC)


# INSERT … ON CONFLICT DO UPDATE … RETURNING (SQLite 3.35+, PostgreSQL) is one atomic statement
# on both: two processes never read the same count. The ORM's upsert cannot add to a stored value.
_COUNT_SQL = """
    INSERT INTO telephony_webhookratewindow (window_start, scope, subject, hits)
    VALUES (%s, %s, %s, 1)
    ON CONFLICT (window_start, scope, subject)
    DO UPDATE SET hits = telephony_webhookratewindow.hits + 1
    RETURNING hits
"""


def _count(scope: str, subject: str, window_start: dt.datetime) -> int:
    """Add one request to the window's count and return the new count."""
    params = [connection.ops.adapt_datetimefield_value(window_start), scope, subject]
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_SQL, params)
        row = cursor.fetchone()
    return int(row[0])


def count_request(scope: str, subject: str, *, limit: int) -> None:
    """Count one request in the current window; past the limit it is refused (0 = no limit)."""
    seconds = _window_seconds()
    if limit <= 0 or seconds <= 0:
        return
    now = clock.now()
    start = _window_start(now, seconds)
    hits = _count(scope, subject, start)
    if hits <= limit:
        return
    retry_after = max(math.ceil((start + dt.timedelta(seconds=seconds) - now).total_seconds()), 1)
    if hits == limit + 1:
        # Once per window and subject: a flood must not become a flood of log lines.
        log.warning("webhook rate limit: %s %s over %s per %s s", scope, subject, limit, seconds)
    raise RateLimited(
        _("Too many requests; try again in %(seconds)s s.") % {"seconds": retry_after},
        retry_after=retry_after,
        limit=limit,
        window_seconds=seconds,
    )


def prune_rate_windows(*, now: dt.datetime | None = None) -> int:
    """Forget counts of windows that are over; the current window keeps counting."""
    seconds = max(_window_seconds(), 1)
    current = _window_start(now or clock.now(), seconds)
    deleted, _per_model = WebhookRateWindow.objects.filter(window_start__lt=current).delete()
    return deleted
