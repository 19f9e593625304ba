"""The ownership policy as a document: validated by pydantic, versioned, effective-dated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

ACTIVITY_KINDS = ("call", "meeting", "email", "note")


class OwnershipPolicyDocument(BaseModel):
    """What a head of sales decides about personal bases and the pool for one team."""

    model_config = ConfigDict(extra="forbid")

    default_cap: int = Field(200, ge=0, le=100_000, description="Clients one person may own")
    role_caps: dict[str, int] = Field(
        default_factory=dict, description="Cap per role, overriding the default"
    )
    daily_claim_limit: int = Field(20, ge=0, le=10_000, description="Claims from the pool per day")
    protection_days: int = Field(14, ge=0, le=365, description="Days a fresh claim is protected")
    cooldown_days: int = Field(
        30,
        ge=0,
        le=365,
        description="Days before a person may reclaim a client he released or lost",
    )
    return_after_idle_days: int = Field(
        30, ge=1, le=3650, description="Return to the pool after N days without qualifying work"
    )
    return_after_no_shipment_days: int = Field(
        90, ge=1, le=3650, description="Return to the pool after M days without a shipment"
    )
    shipment_clock_enabled: bool = Field(
        False, description="Use the shipment clock (needs shipments from the sales capability)"
    )
    warn_days_before: int = Field(3, ge=0, le=60, description="Warn the owner K days before")
    qualifying_kinds: list[str] = Field(
        default_factory=lambda: ["call", "meeting", "email"],
        description="Activity kinds that reset the idle clock",
    )
    exclude_won: bool = Field(False, description="Customers are never returned automatically")
    exclude_locked: bool = Field(
        True, description="Locked clients are never returned automatically"
    )
    transfer_answer_working_days: int = Field(
        2, ge=0, le=30, description="Working days the owner has to answer a transfer request"
    )
    transfer_auto_approve_idle_days: int = Field(
        14,
        ge=1,
        le=3650,
        description="Approve a transfer automatically if the owner did no qualifying work for N days",
    )
    mask_pool_contacts: bool = Field(False, description="Hide pool contacts' phones and e-mails")

    @model_validator(mode="after")
    def _check(self) -> OwnershipPolicyDocument:
        unknown = [k for k in self.qualifying_kinds if k not in ACTIVITY_KINDS]
        if unknown:
            raise ValueError(f"unknown activity kinds: {', '.join(unknown)}")
        if self.warn_days_before >= self.return_after_idle_days:
            raise ValueError("the warning must come before the return")
        for role, cap in self.role_caps.items():
            if cap < 0:
                raise ValueError(f"cap for {role} must not be negative")
        return self

    def cap_for_role(self, role: str) -> int:
        return self.role_caps.get(role, self.default_cap)
