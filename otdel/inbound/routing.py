"""The routing decision as pure rules over plain data: owner first, then the strategy of the
policy among the available specialists with room (and the skill, if the policy asks for it).

`choose` returns the person and the reason as data; `explain` turns the reason into the line a
user reads ("owner Petrova: away → least loaded: Ivanov, 3 open of 8"). Nothing here touches the
database, so every decision can be recomputed and tested on its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from otdel.inbound.policy_document import RoutingPolicyDocument


@dataclass
class Candidate:
    """A specialist as the decision sees him at this moment."""

    user_id: int
    name: str
    unavailable: str | None  # None: available; else why not (availability.* constants)
    open_count: int
    capacity: int
    weight: int = 1
    assigned_total: int = 0
    last_turn: int = 0  # the team's decision counter at his last assignment; 0: never
    categories: frozenset[int] = frozenset()
    regions: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    # Requests that waited in the queue he already got in the last hour (catch-up limit).
    caught_up_last_hour: int = 0
    back_since: dt.datetime | None = None

    @property
    def has_room(self) -> bool:
        return self.open_count < self.capacity


@dataclass
class Owner:
    """The client's owner as the decision sees him."""

    user_id: int
    name: str
    unavailable: str | None


@dataclass
class RequestFacts:
    """What the decision needs to know about a request."""

    created_at: dt.datetime
    owner: Owner | None = None
    category_id: int | None = None
    region: str = ""
    language: str = ""
    passed_by: frozenset[int] = field(default_factory=frozenset)


@dataclass
class Decision:
    """Who gets the request (None: it waits in the queue) and why, as data."""

    user_id: int | None
    why: dict[str, Any]
    owner_first: bool = False
    catch_up: bool = False


def _person(c: Candidate) -> dict[str, Any]:
    return {"id": c.user_id, "name": c.name, "open": c.open_count, "capacity": c.capacity}


def _has_skills(c: Candidate, facts: RequestFacts, skills: list[str]) -> bool:
    for skill in skills:
        if skill == "category" and facts.category_id and facts.category_id not in c.categories:
            return False
        if skill == "region" and facts.region and facts.region.casefold() not in c.regions:
            return False
        if skill == "language" and facts.language and facts.language.casefold() not in c.languages:
            return False
    return True


def _pick(pool: list[Candidate], strategy: str) -> Candidate:
    if strategy == "least_loaded":
        return min(
            pool,
            key=lambda c: (
                c.open_count / c.capacity,
                c.open_count,
                c.last_turn,
                c.user_id,
            ),
        )
    if strategy == "weighted":
        # Smooth weighted round robin: the one furthest behind his share gets the next.
        return min(
            pool,
            key=lambda c: ((c.assigned_total + 1) / max(c.weight, 1), c.last_turn, c.user_id),
        )
    return min(pool, key=lambda c: (c.last_turn, c.user_id))


def _catching_up(c: Candidate, facts: RequestFacts) -> bool:
    """The request waited while he was away: it counts against his catch-up limit."""
    return c.back_since is not None and facts.created_at < c.back_since


def choose(
    facts: RequestFacts, candidates: list[Candidate], policy: RoutingPolicyDocument
) -> Decision:
    """Owner first (if the policy says so and he is available), else the strategy among the
    available specialists with room and the skill; nobody: the request waits."""
    why: dict[str, Any] = {}
    owner = facts.owner
    if owner is not None:
        why["owner"] = {"id": owner.user_id, "name": owner.name, "state": owner.unavailable}
        if owner.user_id in facts.passed_by:
            why["owner"]["state"] = "passed"
        elif policy.owner_first and owner.unavailable is None:
            why["rule"] = "owner_first"
            return Decision(owner.user_id, why, owner_first=True)
    if facts.passed_by:
        why["passed_by"] = sorted(facts.passed_by)
    available = [
        c for c in candidates if c.unavailable is None and c.user_id not in facts.passed_by
    ]
    with_room = [c for c in available if c.has_room]
    limited = [
        c
        for c in with_room
        if _catching_up(c, facts) and c.caught_up_last_hour >= policy.catch_up_per_hour
    ]
    pool = [c for c in with_room if c not in limited]
    if policy.skills:
        skilled = [c for c in pool if _has_skills(c, facts, list(policy.skills))]
        why["skills"] = list(policy.skills)
        if not skilled and policy.skills_fallback and pool:
            why["skills_fallback"] = True
        else:
            pool = skilled
    if not pool:
        # Stable words, no counts: the reason is written again only when it changes.
        why["rule"] = "queued"
        if not available:
            why["reason"] = "nobody_available"
        elif limited:
            why["reason"] = "full_or_catching_up"
        elif with_room:
            why["reason"] = "nobody_with_the_skill"
        else:
            why["reason"] = "all_full"
        return Decision(None, why)
    chosen = _pick(pool, policy.strategy)
    why["rule"] = policy.strategy
    why["chosen"] = _person(chosen)
    if chosen.weight != 1 or policy.strategy == "weighted":
        why["chosen"]["weight"] = chosen.weight
    catch_up = _catching_up(chosen, facts)
    if catch_up:
        why["catch_up"] = True
    return Decision(chosen.user_id, why, catch_up=catch_up)


_STATES = {
    "away": lambda: _("away"),
    "off": lambda: _("off shift"),
    "outside_hours": lambda: _("outside working hours"),
    "day_off": lambda: _("day off"),
    "inactive": lambda: _("no longer works here"),
    "passed": lambda: _("did not respond in time"),
}
_RULES = {
    "round_robin": lambda: _("round robin"),
    "least_loaded": lambda: _("least loaded"),
    "weighted": lambda: _("weighted round robin"),
}


def explain(why: dict[str, Any]) -> str:
    """The stored reason of an assignment as the line shown on the request."""
    if not why:
        return ""
    parts: list[str] = []
    owner = why.get("owner")
    rule = why.get("rule")
    if rule == "answered_call":
        return _("answered the call: %(name)s") % {
            "name": (why.get("chosen") or {}).get("name", "")
        }
    if rule == "manual":
        text = _("assigned by %(who)s") % {"who": why.get("by", "")}
        if why.get("reason"):
            text += f": {why['reason']}"
        return text
    if owner:
        if rule == "owner_first":
            return _("owner first: %(name)s is available") % {"name": owner["name"]}
        state = _STATES.get(owner.get("state") or "", lambda: "")()
        parts.append(_("owner %(name)s: %(state)s") % {"name": owner["name"], "state": state})
    if rule == "queued":
        reason = {
            "nobody_available": lambda: _("nobody available"),
            "all_full": lambda: _("everyone available is at capacity"),
            "full_or_catching_up": lambda: _(
                "everyone available is at capacity or catching up after absence"
            ),
            "nobody_with_the_skill": lambda: _("nobody available has the skill"),
        }.get(str(why.get("reason")), lambda: _("nobody available"))()
        parts.append(_("waits in the team queue: %(reason)s") % {"reason": reason})
        return " → ".join(parts)
    chosen = why.get("chosen") or {}
    label = _RULES.get(str(rule), lambda: str(rule))()
    if why.get("skills") and not why.get("skills_fallback"):
        label = _("%(rule)s with the skill") % {"rule": label}
    elif why.get("skills_fallback"):
        label = _("%(rule)s (nobody with the skill available)") % {"rule": label}
    parts.append(
        _("%(rule)s: %(name)s, %(open)s open of %(capacity)s")
        % {
            "rule": label,
            "name": chosen.get("name", ""),
            "open": chosen.get("open", 0),
            "capacity": chosen.get("capacity", 0),
        }
    )
    return " → ".join(parts)
