"""What every phone-system adapter produces: a plain record of one call, before matching."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CallRecord:
    """One call as a phone system reported it. `external_id` is the system's own id of the
    whole call (Asterisk: the linkedid), so the same call sent twice is recognised."""

    source: str
    external_id: str
    started_at: dt.datetime
    direction: str  # otdel.activities.models.CallDirection value
    disposition: str  # otdel.activities.models.CallDisposition value
    talk_seconds: int = 0
    ring_seconds: int = 0
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    account: str = ""  # our side: extension or SIP account
    their_number: str = ""  # their side, as the system had it (+7…, 8…, 7…)
    recording_url: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError("call times must be aware (the PBX's zone is a setting)")
