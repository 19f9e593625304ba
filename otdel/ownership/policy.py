"""Which version of a team's ownership policy applies at a moment."""

from __future__ import annotations

import datetime as dt

from otdel.core.versioned import InForce, document_in_force
from otdel.ownership.models import OwnershipPolicy
from otdel.ownership.policy_document import OwnershipPolicyDocument

# The ownership policy in force: `.record` (the version, or None), `.doc`, `.version`.
PolicyInForce = InForce[OwnershipPolicy, OwnershipPolicyDocument]


def policy_in_force(team_id: int, at: dt.datetime | None = None) -> PolicyInForce:
    """The latest approved version effective at `at` (now by default); defaults if none yet."""
    return document_in_force(OwnershipPolicy, OwnershipPolicyDocument, team_id, at)


def policies_in_force(
    team_ids: set[int], at: dt.datetime | None = None
) -> dict[int, PolicyInForce]:
    """Policies for several teams at once (dashboards, sweeps)."""
    return {team_id: policy_in_force(team_id, at) for team_id in team_ids}
