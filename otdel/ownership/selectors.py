"""Reads about ownership, always for a viewer: my base, the pool, transfers, the head's views."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Greatest, Least, TruncDate

from otdel.clients.models import Client
from otdel.clients.normalize import normalize_name
from otdel.core import clock
from otdel.core.errors import Forbidden
from otdel.ownership import policies
from otdel.ownership.models import (
    EventKind,
    OwnershipEvent,
    OwnershipPolicy,
    TransferRequest,
    TransferStatus,
)
from otdel.ownership.policy import PolicyInForce, policy_in_force
from otdel.people.models import OWNING_ROLES, Team, User

OPEN_TRANSFER = [TransferStatus.AWAITING_OWNER, TransferStatus.AWAITING_DECISION]


def _name_matches(term: str) -> Q:
    """Case-insensitive Cyrillic match on every backend (SQLite folds Latin letters only)."""
    norm = normalize_name(term)
    return Q(normalized_name__contains=norm) if norm else Q(pk__in=[])


def _due_expression(policy: PolicyInForce) -> ExpressionWrapper:
    """When a client of this policy's team goes back to the pool, as SQL."""
    doc = policy.doc
    idle = F("activity_clock_at") + dt.timedelta(days=doc.return_after_idle_days)
    due: Any = idle
    if doc.shipment_clock_enabled:
        ship = F("shipment_clock_at") + dt.timedelta(days=doc.return_after_no_shipment_days)
        due = Least(idle, ship)
    # Protection postpones the return.
    return ExpressionWrapper(
        Greatest(
            due, Case(When(protected_until__isnull=False, then=F("protected_until")), default=due)
        ),
        output_field=DateTimeField(),
    )


def with_returns_at(qs: QuerySet[Client], team_ids: set[int]) -> QuerySet[Client]:
    """Annotate `returns_at` (NULL for excluded clients) under each team's policy in force."""
    whens = []
    for team_id in team_ids:
        policy = policy_in_force(team_id)
        excluded = Q(pk__in=[])
        if policy.doc.exclude_locked:
            excluded |= Q(is_locked=True)
        if policy.doc.exclude_won:
            excluded |= Q(is_won=True)
        whens.append(When(Q(team_id=team_id) & ~excluded, then=_due_expression(policy)))
    return qs.annotate(
        returns_at=Case(*whens, default=Value(None), output_field=DateTimeField())
        if whens
        else Value(None, output_field=DateTimeField())
    )


def my_base(viewer: User, *, q: str = "", sort: str = "returns") -> QuerySet[Client]:
    """The viewer's own clients with when each returns to the pool."""
    qs: QuerySet[Client] = Client.objects.live().filter(owner=viewer)
    if q:
        qs = qs.filter(
            Q(name__icontains=q) | _name_matches(q) | Q(legal_entities__inn=q.strip())
        ).distinct()
    team_ids = set(qs.values_list("team_id", flat=True).distinct())
    qs = with_returns_at(qs, team_ids)
    order = {
        "returns": [F("returns_at").asc(nulls_last=True), "name"],
        "-returns": [F("returns_at").desc(nulls_last=True), "name"],
        "name": ["name"],
        "-name": ["-name"],
        "since": ["owned_since"],
        "-since": ["-owned_since"],
        "activity": [F("activity_clock_at").asc(nulls_first=True)],
        "-activity": [F("activity_clock_at").desc(nulls_last=True)],
    }.get(sort, [F("returns_at").asc(nulls_last=True), "name"])
    return qs.order_by(*order)


def pool(
    viewer: User,
    *,
    q: str = "",
    region: str = "",
    industry: str = "",
    team_id: int | None = None,
    sort: str = "name",
) -> QuerySet[Client]:
    """Clients nobody owns, which anyone who keeps a base may claim: the viewer's team's pool
    unless another team is asked for (people without a team see every pool)."""
    qs = Client.objects.in_pool()
    team_id = team_id or viewer.team_id
    if team_id:
        qs = qs.filter(team_id=team_id)
    if q:
        term = q.strip()
        qs = qs.filter(
            Q(name__icontains=term) | _name_matches(term) | Q(legal_entities__inn=term)
        ).distinct()
    if region:
        qs = qs.filter(region=region)
    if industry:
        qs = qs.filter(industry=industry)
    order = {
        "name": ["name"],
        "-name": ["-name"],
        "released": [F("released_at").desc(nulls_last=True), "name"],
        "region": ["region", "name"],
    }.get(sort, ["name"])
    return qs.order_by(*order)


def days_until(moment: dt.datetime | None, now: dt.datetime | None = None) -> int | None:
    """Whole days left, rounded up: "returns in 30 days" right after a claim, "1" on the last."""
    if moment is None:
        return None
    seconds = (moment - (now or clock.now())).total_seconds()
    return max(math.ceil(seconds / 86400), 0)


@dataclass(frozen=True)
class OwnershipStatus:
    """What a client card says about ownership."""

    owner: User | None
    owned_since: dt.datetime | None
    protected_until: dt.datetime | None
    returns_at: dt.datetime | None
    excluded: bool
    policy: PolicyInForce

    @property
    def is_protected(self) -> bool:
        return self.protected_until is not None and self.protected_until > clock.now()

    @property
    def days_left(self) -> int | None:
        if self.returns_at is None:
            return None
        return days_until(self.returns_at)


def ownership_status(client: Client) -> OwnershipStatus:
    """Owner, protection and the return countdown of one client."""
    policy = policy_in_force(client.team_id)
    doc = policy.doc
    excluded = (doc.exclude_locked and client.is_locked) or (doc.exclude_won and client.is_won)
    returns_at = None
    if client.owner_id and not excluded and client.activity_clock_at:
        returns_at = client.activity_clock_at + dt.timedelta(days=doc.return_after_idle_days)
        if doc.shipment_clock_enabled and client.shipment_clock_at:
            returns_at = min(
                returns_at,
                client.shipment_clock_at + dt.timedelta(days=doc.return_after_no_shipment_days),
            )
        if client.protected_until and client.protected_until > returns_at:
            returns_at = client.protected_until
    return OwnershipStatus(
        owner=client.owner,
        owned_since=client.owned_since,
        protected_until=client.protected_until,
        returns_at=returns_at,
        excluded=excluded,
        policy=policy,
    )


def history(viewer: User, client: Client) -> QuerySet[OwnershipEvent]:
    """The ownership ledger of a client and of the clients merged into it (everyone sees it)."""
    ids = [client.pk, *Client.objects.filter(merged_into=client).values_list("pk", flat=True)]
    return (
        OwnershipEvent.objects.filter(client_id__in=ids)
        .select_related("from_user", "to_user", "actor", "policy")
        .order_by("-at", "-id")
    )


def transfers_for(viewer: User, *, box: str = "open") -> QuerySet[TransferRequest]:
    """Transfer requests the viewer is involved in (all of the team for the head of sales)."""
    qs = TransferRequest.objects.select_related("client", "requester", "owner", "decided_by")
    if viewer.is_head_of_sales:
        if viewer.role == "head_of_sales" and viewer.team_id and not viewer.is_superuser:
            qs = qs.filter(
                Q(client__team_id=viewer.team_id) | Q(requester=viewer) | Q(owner=viewer)
            )
    else:
        qs = qs.filter(Q(requester=viewer) | Q(owner=viewer))
    if box == "open":
        qs = qs.filter(status__in=OPEN_TRANSFER)
    elif box == "closed":
        qs = qs.exclude(status__in=OPEN_TRANSFER)
    return qs.order_by("-created_at")


def open_transfers_for_client(viewer: User, client: Client) -> list[TransferRequest]:
    return [
        t
        for t in transfers_for(viewer, box="open").filter(client=client)
        if policies.can_view_transfer(viewer, t)
    ]


def _require_head(viewer: User) -> None:
    if not viewer.is_head_of_sales:
        raise Forbidden("head of sales only", code="not_head_of_sales")


def _managed_team_ids(viewer: User) -> list[int]:
    teams = Team.objects.all()
    return [t.pk for t in teams if policies.manages_team(viewer, t.pk)]


@dataclass(frozen=True)
class OwnerLoad:
    user: User
    owned: int
    cap: int
    returning_week: int

    @property
    def percent(self) -> int:
        return min(round(100 * self.owned / self.cap), 999) if self.cap else 100


def owners_usage(viewer: User) -> list[OwnerLoad]:
    """Each owner's base against his cap, and how many of his clients return within 7 days."""
    _require_head(viewer)
    team_ids = _managed_team_ids(viewer)
    people = list(User.objects.filter(is_active=True, role__in=OWNING_ROLES, team_id__in=team_ids))
    counts = dict(
        Client.objects.live()
        .filter(owner__in=people)
        .values("owner_id")
        .annotate(n=Count("id"))
        .values_list("owner_id", "n")
    )
    horizon = clock.now() + dt.timedelta(days=7)
    returning = dict(
        with_returns_at(Client.objects.live().filter(owner__in=people), set(team_ids))
        .filter(returns_at__lte=horizon)
        .values("owner_id")
        .annotate(n=Count("id"))
        .values_list("owner_id", "n")
    )
    from otdel.ownership.services import cap_for

    team_policies = {t: policy_in_force(t) for t in {p.team_id or team_ids[0] for p in people}}
    rows = [
        OwnerLoad(
            user=p,
            owned=counts.get(p.pk, 0),
            cap=cap_for(p, team_policies[p.team_id or team_ids[0]]),
            returning_week=returning.get(p.pk, 0),
        )
        for p in people
    ]
    return sorted(rows, key=lambda r: (-r.percent, r.user.display_name))


def returning_within(viewer: User, *, days: int = 7) -> QuerySet[Client]:
    """Owned clients that go back to the pool within `days` unless someone works on them."""
    _require_head(viewer)
    team_ids = set(_managed_team_ids(viewer))
    qs = (
        Client.objects.live()
        .filter(owner__isnull=False, team_id__in=team_ids)
        .select_related("owner")
    )
    return (
        with_returns_at(qs, team_ids)
        .filter(returns_at__lte=clock.now() + dt.timedelta(days=days))
        .order_by("returns_at")
    )


def pool_flows(viewer: User, *, days: int = 30) -> list[dict[str, Any]]:
    """Pool inflow (releases, automatic returns) and outflow (claims, assignments) per day."""
    _require_head(viewer)
    since = clock.now() - dt.timedelta(days=days)
    team_ids = _managed_team_ids(viewer)
    inflow = Q(kind__in=[EventKind.RELEASE, EventKind.AUTO_RETURN])
    outflow = Q(kind=EventKind.CLAIM) | Q(kind=EventKind.ASSIGN, from_user__isnull=True)
    rows = (
        OwnershipEvent.objects.filter(at__gte=since, client__team_id__in=team_ids)
        .annotate(day=TruncDate("at", tzinfo=clock.MOSCOW))
        .values("day")
        .annotate(
            released=Count("id", filter=Q(kind=EventKind.RELEASE)),
            returned=Count("id", filter=Q(kind=EventKind.AUTO_RETURN)),
            claimed=Count("id", filter=Q(kind=EventKind.CLAIM)),
            assigned=Count("id", filter=Q(kind=EventKind.ASSIGN, from_user__isnull=True)),
            inflow=Count("id", filter=inflow),
            outflow=Count("id", filter=outflow),
        )
        .order_by("day")
    )
    return [dict(r) for r in rows]


def policy_versions(viewer: User, team_id: int) -> QuerySet[OwnershipPolicy]:
    """Every approved version of a team's policy, newest first (everyone may read the rules)."""
    return (
        OwnershipPolicy.objects.filter(team_id=team_id)
        .select_related("approved_by")
        .order_by("-version")
    )
