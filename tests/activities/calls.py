"""Writing call facts directly, as the phone system would have reported them."""

from __future__ import annotations

import datetime as dt
import itertools

from otdel.activities.models import Call
from otdel.core import clock

_seq = itertools.count(1)


def make_call(
    *,
    user=None,
    client=None,
    at: dt.datetime | None = None,
    direction: str = "out",
    disposition: str = "answered",
    talk: int = 200,
    self_reported: bool = False,
    outcomes: list[str] | None = None,
) -> Call:
    return Call.objects.create(
        source="manual" if self_reported else "test-pbx",
        external_id=f"c{next(_seq)}",
        started_at=at or clock.now(),
        direction=direction,
        disposition=disposition,
        talk_seconds=talk if disposition == "answered" else 0,
        user=user,
        client=client,
        self_reported=self_reported,
        raw={"outcomes": outcomes} if outcomes is not None else {},
        created_at=clock.now(),
    )
