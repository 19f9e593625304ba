"""The cadence rules of a team as a versioned pydantic document (CadencePolicy stores it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class CadenceDocument(BaseModel):
    """Which tasks the system creates by itself, and when they are due (working days)."""

    model_config = ConfigDict(extra="forbid")

    reactivation_enabled: bool = Field(True, description="Reactivation call for a sleeping client")
    reactivation_after_days: int = Field(
        90, ge=1, le=3650, description="Call a client of my base after N days without a shipment"
    )
    first_call_enabled: bool = Field(True, description="First call after a claim from the pool")
    first_call_within_working_days: int = Field(
        2, ge=1, le=30, description="First call within N working days (the claim day counts)"
    )
    follow_up_enabled: bool = Field(True, description="Follow-up calls after a shipment")
    follow_up_days: list[int] = Field(
        default_factory=lambda: [3, 30, 90], description="Follow up on these days after a shipment"
    )
    missed_after_days: int = Field(
        10, ge=1, le=365, description="An open task overdue this many days counts as missed"
    )
    scripts: dict[str, int] = Field(
        default_factory=dict, description="Call script per rule (rule code → script id)"
    )

    @field_validator("follow_up_days")
    @classmethod
    def _sorted_positive(cls, days: list[int]) -> list[int]:
        if any(d < 1 or d > 3650 for d in days):
            raise ValueError("follow-up days are between 1 and 3650")
        return sorted(set(days))
