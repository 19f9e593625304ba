"""A pipeline as a document: its stages (order, roles, brief required) and the allowed moves.

The head of sales sends one to create a pipeline; the service turns it into Stage and
StageTransition rows, which move_deal checks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from otdel.people.models import Role
from otdel.sales.brief import BRIEF_FIELDS

STAGE_ROLES = (
    Role.HUNTER.value,
    Role.ACCOUNT_MANAGER.value,
    Role.ORDER_MANAGER.value,
    Role.COORDINATOR.value,
    Role.HEAD_OF_SALES.value,
)


class StageSpec(BaseModel):
    """One stage: a code that never changes, a name people see, who works it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["open", "won", "lost"] = "open"
    roles: list[str] = Field(default_factory=list, max_length=5)
    brief_required: list[str] = Field(default_factory=list, max_length=len(BRIEF_FIELDS))

    @model_validator(mode="after")
    def _check(self) -> StageSpec:
        unknown_roles = [r for r in self.roles if r not in STAGE_ROLES]
        if unknown_roles:
            raise ValueError(f"unknown roles: {', '.join(unknown_roles)}")
        unknown_fields = [f for f in self.brief_required if f not in BRIEF_FIELDS]
        if unknown_fields:
            raise ValueError(f"unknown brief fields: {', '.join(unknown_fields)}")
        self.roles = list(dict.fromkeys(self.roles))
        self.brief_required = list(dict.fromkeys(self.brief_required))
        return self


class PipelineDocument(BaseModel):
    """Stages in their order and the moves allowed between them (pairs of stage codes)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    handoff_hours: int = Field(
        4, ge=1, le=90, description="Working hours a receiver has to accept or return a handoff"
    )
    stages: list[StageSpec] = Field(min_length=2, max_length=30)
    transitions: list[tuple[str, str]] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _check(self) -> PipelineDocument:
        codes = [s.code for s in self.stages]
        if len(set(codes)) != len(codes):
            raise ValueError("stage codes must be unique")
        if self.stages[0].kind != "open":
            raise ValueError("the first stage must be an open one (new deals start there)")
        if not any(s.kind == "won" for s in self.stages):
            raise ValueError("a pipeline needs a completed (won) stage")
        known = set(codes)
        for source, target in self.transitions:
            if source not in known or target not in known:
                raise ValueError(f"unknown stage in the move {source} → {target}")
            if source == target:
                raise ValueError(f"a stage cannot move to itself: {source}")
        self.transitions = list(dict.fromkeys(self.transitions))
        return self


_HUNT = [Role.HUNTER.value, Role.ACCOUNT_MANAGER.value]
_ORDER = [Role.ORDER_MANAGER.value]

# The conveyor a head of sales starts with: hunters and account managers find and qualify, the
# order manager turns the intent into a specification, estimate, contract and act, and the
# completed deal goes back to the client's account manager.
DEFAULT_PIPELINE = PipelineDocument(
    name="Продажи",
    handoff_hours=4,
    stages=[
        StageSpec(code="prospect", name="Потенциальная сделка", roles=_HUNT),
        StageSpec(code="intent", name="Намерение заказать", roles=_HUNT),
        StageSpec(
            code="specification",
            name="Спецификация",
            roles=_ORDER,
            brief_required=["needs", "decision_maker", "budget", "deadlines", "next_step"],
        ),
        StageSpec(code="estimate", name="Смета", roles=_ORDER),
        StageSpec(code="contract", name="Договор", roles=_ORDER),
        StageSpec(code="act", name="Акт", roles=_ORDER),
        StageSpec(
            code="completed", name="Завершена", kind="won", roles=[Role.ACCOUNT_MANAGER.value]
        ),
        StageSpec(code="lost", name="Проиграна", kind="lost"),
    ],
    transitions=[
        ("prospect", "intent"),
        ("intent", "prospect"),
        ("intent", "specification"),
        ("specification", "intent"),
        ("specification", "estimate"),
        ("estimate", "specification"),
        ("estimate", "contract"),
        ("contract", "estimate"),
        ("contract", "act"),
        ("act", "completed"),
        *[
            (code, "lost")
            for code in ("prospect", "intent", "specification", "estimate", "contract")
        ],
    ],
)
