"""Publishing the effective-call policy (head of sales only, audited) and reading the version
in force."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from pydantic import ValidationError

from otdel.activities.call_policy import EffectiveCallPolicyDocument
from otdel.activities.models import EffectiveCallPolicy
from otdel.activities.verdicts import reclassify
from otdel.core.errors import Forbidden, Invalid
from otdel.core.versioned import InForce, document_in_force, publish_version
from otdel.ownership import policies
from otdel.people.models import User

# The effective-call policy in force: `.record` (the version, or None), `.doc`, `.version`.
CallPolicyInForce = InForce[EffectiveCallPolicy, EffectiveCallPolicyDocument]


def call_policy_in_force(team_id: int, at: dt.datetime | None = None) -> CallPolicyInForce:
    """The latest approved version effective at `at` (now by default); the defaults if none."""
    return document_in_force(EffectiveCallPolicy, EffectiveCallPolicyDocument, team_id, at)


def publish_call_policy(
    team_id: int,
    *,
    document: EffectiveCallPolicyDocument | dict[str, Any],
    effective_from: dt.datetime,
    actor: User,
    comment: str = "",
) -> EffectiveCallPolicy:
    """The head of sales approves a new version of what counts as an effective call, effective
    from a date; calls that started before it keep their verdicts."""
    if not policies.can_edit_policy(actor, team_id):
        raise Forbidden(
            _("Only the head of sales edits the effective-call policy."),
            code="not_head_of_sales",
        )
    try:
        parsed = (
            document
            if isinstance(document, EffectiveCallPolicyDocument)
            else EffectiveCallPolicyDocument.model_validate(document)
        )
    except ValidationError as err:
        raise Invalid(
            _("The policy is not valid."),
            code="invalid_policy",
            errors=err.errors(include_url=False, include_context=False),
        ) from err
    with transaction.atomic():
        version: EffectiveCallPolicy = publish_version(
            EffectiveCallPolicy,
            team_id=team_id,
            document=parsed,
            effective_from=effective_from,
            actor=actor,
            comment=comment,
            verb="call_policy.published",
        )
        # Only calls already known from the effective date on (a date within the grace minutes
        # of now) change; the rest are judged under this version as they arrive.
        reclassify(team_id, since=version.effective_from)
    return version
