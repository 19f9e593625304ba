"""Durable memory of webhook signatures, so a captured request cannot mint another call.

Only Zadarma needs it: it signs three fields, not the call id, duration or result, so a captured
end event could be re-posted with another call id inside the time window. Mango signs the whole
event and otdel's generic webhook the whole body, so a captured request replayed there is the
same delivery again: the same call, already known, nothing written. The memory is a table, not
the cache: a cache flush, a restart or a second app process does not forget it.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.utils.translation import gettext as _

from otdel.core import clock
from otdel.core.errors import Forbidden
from otdel.telephony.conf import longest_call, max_age
from otdel.telephony.models import WebhookDelivery


def signature_digest(event: str, signed_text: str) -> str:
    """What identifies a signature: the event and the text signed (two events sign the same
    fields, and the text, not the header, because two encodings of one signature are accepted)."""
    return hashlib.sha256(f"{event}\n{signed_text}".encode()).hexdigest()


def remember_signature(
    *, provider: str, source: str, event: str, signed_text: str, external_id: str
) -> None:
    """A signature vouches for one call: the same call again is a re-sent delivery and passes,
    another call id under it is a forgery (403 "replay"). Call inside the transaction that
    stores the call, so a refused or failed request leaves no row behind."""
    digest = signature_digest(event, signed_text)
    # Insert-or-nothing, then read which call the signature belongs to: the unique constraint
    # decides between two deliveries racing on two processes, never a check before the write.
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                provider=provider,
                source=source,
                event=event,
                digest=digest,
                external_id=external_id,
                received_at=clock.now(),
            )
        ],
        ignore_conflicts=True,
    )
    first = (
        WebhookDelivery.objects.filter(provider=provider, source=source, digest=digest)
        .values_list("external_id", flat=True)
        .get()
    )
    if first != external_id:
        raise Forbidden(
            _("This signature was already used for another call."),
            code="replay",
            call_id=external_id,
        )


def retention() -> dt.timedelta:
    """How long a signature could still pass the freshness checks: the call may start up to a
    window after it was received, and its start stays acceptable for the window plus the longest
    call (the duration is unsigned, so only the start bounds a replay)."""
    return max_age() * 2 + longest_call()


def prune_deliveries(*, now: dt.datetime | None = None) -> int:
    """Forget signatures no request can reuse any more (the freshness checks refuse them)."""
    cutoff = (now or clock.now()) - retention()
    deleted, _per_model = WebhookDelivery.objects.filter(received_at__lt=cutoff).delete()
    return deleted
