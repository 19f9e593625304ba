"""The routing policy as a document: who gets an inbound request and by when, validated by
pydantic, versioned and effective-dated like the other policies. The field descriptions are the
labels of the policy editor."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Strategy = Literal["round_robin", "least_loaded", "weighted"]
Skill = Literal["category", "region", "language"]

STRATEGIES: tuple[Strategy, ...] = ("round_robin", "least_loaded", "weighted")
SKILLS: tuple[Skill, ...] = ("category", "region", "language")


class RoutingPolicyDocument(BaseModel):
    """How a head of sales wants inbound requests distributed in his team."""

    model_config = ConfigDict(extra="forbid")

    owner_first: bool = Field(
        True,
        description="A request from a client with an owner goes to the owner first, if he is "
        "available",
    )
    owner_response_minutes: int = Field(
        30,
        ge=1,
        le=60 * 24,
        description="Working minutes the owner has for the first response before the request "
        "goes to the next specialist",
    )
    strategy: Strategy = Field(
        "least_loaded",
        description="Then: round robin among available specialists, the least loaded one "
        "(open requests against capacity), or round robin with weights",
    )
    skills: list[Skill] = Field(
        default_factory=list,
        description="Match by skill: the request's product category, region, language "
        "(only specialists with the skill get it)",
    )
    skills_fallback: bool = Field(
        True,
        description="When nobody available has the skill, give it to anyone available rather "
        "than let it wait",
    )
    default_capacity: int = Field(
        8, ge=1, le=1000, description="Open requests a specialist holds at most (by default)"
    )
    first_response_minutes: int = Field(
        60,
        ge=1,
        le=60 * 24 * 5,
        description="First response due within this many working minutes of the request",
    )
    resolution_hours: int = Field(
        16,
        ge=1,
        le=24 * 30,
        description="Converted to a deal or closed within this many working hours",
    )
    duplicate_window_hours: int = Field(
        24,
        ge=0,
        le=24 * 30,
        description="A repeat from the same client, number or e-mail within this many hours "
        "joins the open request instead of opening a new one",
    )
    catch_up_per_hour: int = Field(
        3,
        ge=1,
        le=100,
        description="A person back on shift gets at most this many requests that waited in the "
        "queue per hour, so he is not flooded",
    )
    acknowledge_by_email: bool = Field(
        True,
        description="Send the customer an acknowledgement e-mail with the request number",
    )
