"""Who owned a client at a given moment, read from the ownership ledger: for the facts that are
credited to the owner of their time (a shipment, a judged call), not to today's owner."""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable

from otdel.clients.models import Client
from otdel.ownership.models import EventKind, OwnershipEvent

OwnerAt = Callable[[int, dt.datetime], "int | None"]


def owners_then(client_ids: Iterable[int]) -> OwnerAt:
    """A function (client, moment) → its owner then (None: the pool), from the ledger (one query)
    and the current owners (one query): the last change at or before the moment names who
    received the client; before the first change, the one who lost it in that change; with no
    change recorded, the owner now."""
    ids = set(client_ids)
    events: dict[int, list[tuple[dt.datetime, int | None, int | None]]] = defaultdict(list)
    rows = (
        OwnershipEvent.objects.filter(client_id__in=ids)
        .exclude(kind=EventKind.WARNING)
        .order_by("client_id", "at", "id")
        .values_list("client_id", "at", "from_user_id", "to_user_id")
    )
    for client_id, at, from_user, to_user in rows:
        events[client_id].append((at, from_user, to_user))
    current = dict(Client.objects.filter(pk__in=ids).values_list("pk", "owner_id"))
    times = {client_id: [e[0] for e in evs] for client_id, evs in events.items()}

    def owner_at(client_id: int, moment: dt.datetime) -> int | None:
        evs = events.get(client_id)
        if not evs:
            return current.get(client_id)
        index = bisect.bisect_right(times[client_id], moment)
        return evs[index - 1][2] if index else evs[0][1]

    return owner_at
