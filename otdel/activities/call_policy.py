"""The effective-call policy as a document: which calls count as effective, validated by
pydantic, versioned and effective-dated like the ownership policy. The field descriptions are
the labels of the policy editor."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Outcomes a person marks on the post-call card (later also checked as data).
OUTCOMES = ("decision_maker_reached", "mobile_obtained", "email_obtained", "presentation_sent")

Outcome = Literal[
    "decision_maker_reached", "mobile_obtained", "email_obtained", "presentation_sent"
]
CountedDirection = Literal["out", "in"]
ClientScope = Literal["own_base", "own_base_or_pool"]
CallbackTreatment = Literal["exclude", "separate"]


class EffectiveCallPolicyDocument(BaseModel):
    """What a head of sales decides counts as an effective call for his team."""

    model_config = ConfigDict(extra="forbid")

    min_talk_seconds: int = Field(
        150,
        ge=0,
        le=3600,
        description="Minimum talk time, in seconds (answered time as the phone system measured it)",
    )
    counted_directions: list[CountedDirection] = Field(
        default_factory=lambda: list[CountedDirection](["out"]),
        min_length=1,
        description="Directions that count: outbound calls only, or inbound calls too "
        "(internal calls between colleagues never count)",
    )
    phone_system_only: bool = Field(
        True,
        description="Only calls reported by the phone system count; calls logged by hand are "
        "shown but never effective",
    )
    client_scope: ClientScope = Field(
        "own_base",
        description="Whose clients count: only clients in the caller's base at the time of the "
        "call, or also pool clients (clients in a colleague's base never count)",
    )
    required_outcomes: list[Outcome] = Field(
        default_factory=list,
        description="Outcomes the call must have, all of them (decision maker reached, mobile "
        "obtained, e-mail obtained, presentation sent); none by default",
    )
    once_per_client_days: int = Field(
        1,
        ge=0,
        le=365,
        description="Count one effective call per client and person in N calendar days: a call "
        "is not counted when the same person's effective call to the client was counted on the "
        "same day or in the N-1 days before (1: once a day; 0: every call counts)",
    )
    inbound_callback_max_age_days: int = Field(
        3,
        ge=0,
        le=365,
        description="A callback is an outbound call to a client whose last contact was an "
        "inbound call (the client called us and nobody has talked to him at least the minimum "
        "talk time since). A callback within N calendar days is judged like any call; a "
        "callback to an older inbound call is stale",
    )
    inbound_callback_horizon_days: int = Field(
        30,
        ge=1,
        le=365,
        description="Inbound calls older than this many days are forgotten: a call to such a "
        "client is ordinary work on the base, not a callback",
    )
    stale_callbacks: CallbackTreatment = Field(
        "exclude",
        description="Stale callbacks are excluded (never effective), or counted as a separate "
        "measure (never effective, but reported as callbacks when they pass every other rule)",
    )

    @model_validator(mode="after")
    def _check(self) -> EffectiveCallPolicyDocument:
        if len(set(self.counted_directions)) != len(self.counted_directions):
            raise ValueError("a direction is listed twice")
        if len(set(self.required_outcomes)) != len(self.required_outcomes):
            raise ValueError("an outcome is listed twice")
        if self.inbound_callback_max_age_days >= self.inbound_callback_horizon_days:
            raise ValueError("inbound calls must be remembered longer than a callback may take")
        return self

    @property
    def lookback_days(self) -> int:
        """How far back the judge needs earlier calls of the client (inbound, counted)."""
        return max(self.inbound_callback_horizon_days, self.once_per_client_days) + 1
