"""Which version of a team's ownership policy applies at a moment."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from otdel.core.versioned import version_in_force
from otdel.ownership.models import OwnershipPolicy
from otdel.ownership.policy_document import OwnershipPolicyDocument


@dataclass(frozen=True)
class PolicyInForce:
    """The policy document in force and the version record it came from (None: the defaults)."""

    record: OwnershipPolicy | None
    doc: OwnershipPolicyDocument

    @property
    def version(self) -> int:
        return self.record.version if self.record else 0


def policy_in_force(team_id: int, at: dt.datetime | None = None) -> PolicyInForce:
    """The latest approved version effective at `at` (now by default); defaults if none yet."""
    record: OwnershipPolicy | None = version_in_force(OwnershipPolicy, team_id, at)
    if record is None:
        return PolicyInForce(None, OwnershipPolicyDocument())
    return PolicyInForce(record, record.doc)


def policies_in_force(
    team_ids: set[int], at: dt.datetime | None = None
) -> dict[int, PolicyInForce]:
    """Policies for several teams at once (dashboards, sweeps)."""
    return {team_id: policy_in_force(team_id, at) for team_id in team_ids}
