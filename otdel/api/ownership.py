"""Ownership over HTTP: claim, release, assign, my base, the pool, transfers and the policy.

Every change goes through otdel.ownership.services (the one door); these endpoints only parse,
call and render.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from otdel.api.auth import viewer
from otdel.api.errors import READ_ERRORS, WRITE_ERRORS
from otdel.api.paging import PageParams, page_of
from otdel.api.schemas import (
    BaseItem,
    CapOut,
    MyBasePage,
    OwnershipOut,
    PolicyOut,
    PoolItem,
    PoolPage,
    TransferOut,
    ownership_out,
    policy_version_out,
    transfer_out,
    user_ref,
)
from otdel.clients.models import Client
from otdel.clients.selectors import client_for
from otdel.core import clock
from otdel.core.errors import NotFound
from otdel.ownership import policies, selectors, services
from otdel.ownership.policy import policy_in_force
from otdel.ownership.policy_document import OwnershipPolicyDocument
from otdel.people.models import Team, User
from otdel.people.selectors import active_people

router = Router(tags=["ownership"])


def _status(request: HttpRequest, client_id: int) -> OwnershipOut:
    client = client_for(viewer(request), client_id)
    return ownership_out(client, selectors.ownership_status(client))


def _mine_or_missing(me: User, client_id: int) -> Client:
    """Someone else's client looks exactly like a missing one to a person who may not act on it."""
    client = client_for(me, client_id)
    if not policies.can_act_on(me, client):
        raise NotFound(_("Client not found."), code="client_not_found")
    return client


def cap_out(user: User) -> CapOut:
    usage = services.cap_usage(user)
    return CapOut(owned=usage.owned, cap=usage.cap, free=usage.free, is_over=usage.is_over)


# --- claim, release, assign -----------------------------------------------------------------


@router.post("/clients/{client_id}/claim", response={200: OwnershipOut, **WRITE_ERRORS})
def claim_client(request: HttpRequest, client_id: int) -> OwnershipOut:
    """Take a pool client into my base (cap, daily limit and cooldown refuse with 409)."""
    services.claim(client_id, actor=viewer(request))
    return _status(request, client_id)


class ReleaseIn(Schema):
    reason: str = Field(min_length=1, max_length=500, description="Why it goes back to the pool")


@router.post("/clients/{client_id}/release", response={200: OwnershipOut, **WRITE_ERRORS})
def release_client(request: HttpRequest, client_id: int, payload: ReleaseIn) -> OwnershipOut:
    """The owner (or the head of sales) puts the client back into the pool, saying why."""
    services.release_to_pool(client_id, actor=viewer(request), reason=payload.reason)
    return _status(request, client_id)


class AssignIn(Schema):
    user_id: int = Field(description="The person who gets the client")
    reason: str = Field("", max_length=500)
    override_cap: bool = Field(False, description="Give it even if his base is full")


@router.post("/clients/{client_id}/assign", response={200: OwnershipOut, **WRITE_ERRORS})
def assign_client(request: HttpRequest, client_id: int, payload: AssignIn) -> OwnershipOut:
    """The head of sales gives a client (from the pool or from someone) to a person."""
    me = viewer(request)
    _mine_or_missing(me, client_id)
    to_user = active_people(me).filter(pk=payload.user_id).first()
    if to_user is None:
        raise NotFound(_("Person not found."), code="user_not_found")
    services.assign(
        client_id,
        to_user=to_user,
        actor=me,
        reason=payload.reason,
        override_cap=payload.override_cap,
    )
    return _status(request, client_id)


class CapIn(Schema):
    cap: int | None = Field(
        None, ge=0, le=100_000, description="His own cap; null: the policy's cap for his role"
    )


class PersonCapOut(Schema):
    user_id: int
    personal_cap: int | None
    usage: CapOut


@router.post("/people/{user_id}/cap", response={200: PersonCapOut, **WRITE_ERRORS})
def set_personal_cap(request: HttpRequest, user_id: int, payload: CapIn) -> PersonCapOut:
    """The head of sales sets one person's own cap (lowering it takes no client away)."""
    person = services.set_personal_cap(user_id, cap=payload.cap, actor=viewer(request))
    return PersonCapOut(user_id=person.pk, personal_cap=person.client_cap, usage=cap_out(person))


# --- my base and the pool -------------------------------------------------------------------


class MyBaseFilters(Schema):
    q: str = Field("", max_length=200)
    sort: Literal[
        "returns", "-returns", "name", "-name", "since", "-since", "activity", "-activity"
    ] = Field("returns", description="`returns`: the soonest to go back to the pool first")


@router.get("/my-base", response={200: MyBasePage, **READ_ERRORS})
def my_base(
    request: HttpRequest, filters: Query[MyBaseFilters], paging: Query[PageParams]
) -> MyBasePage:
    """My clients with when each returns to the pool, and my cap usage."""
    me = viewer(request)
    rows, meta = page_of(
        selectors.my_base(me, q=filters.q, sort=filters.sort).select_related("owner"), paging
    )
    now = clock.now()
    items = []
    for c in rows:
        returns_at: dt.datetime | None = c.returns_at
        items.append(
            BaseItem(
                id=c.pk,
                name=c.name,
                region=c.region,
                industry=c.industry,
                team_id=c.team_id,
                owner=user_ref(c.owner),
                is_won=c.is_won,
                is_locked=c.is_locked,
                updated_at=c.updated_at,
                owned_since=c.owned_since,
                protected_until=c.protected_until,
                returns_at=returns_at,
                days_left=max((returns_at - now).days, 0) if returns_at else None,
            )
        )
    return MyBasePage(items=items, cap=cap_out(me), **meta)


class PoolFilters(Schema):
    q: str = Field("", max_length=200)
    region: str = Field("", max_length=120)
    industry: str = Field("", max_length=120)
    team_id: int | None = None
    sort: Literal["name", "-name", "released", "region"] = "name"


@router.get("/pool", response={200: PoolPage, **READ_ERRORS})
def pool(request: HttpRequest, filters: Query[PoolFilters], paging: Query[PageParams]) -> PoolPage:
    """Clients nobody owns, which anyone who keeps a base may claim."""
    me = viewer(request)
    rows, meta = page_of(
        selectors.pool(
            me,
            q=filters.q,
            region=filters.region,
            industry=filters.industry,
            team_id=filters.team_id,
            sort=filters.sort,
        ),
        paging,
    )
    items = [
        PoolItem(
            id=c.pk,
            name=c.name,
            region=c.region,
            industry=c.industry,
            team_id=c.team_id,
            owner=None,
            is_won=c.is_won,
            is_locked=c.is_locked,
            updated_at=c.updated_at,
            released_at=c.released_at,
        )
        for c in rows
    ]
    return PoolPage(items=items, **meta)


# --- transfer requests ----------------------------------------------------------------------


@router.get("/transfers", response={200: list[TransferOut], **READ_ERRORS}, tags=["transfers"])
def list_transfers(
    request: HttpRequest, box: Literal["open", "closed", "all"] = "open"
) -> list[TransferOut]:
    """Transfer requests I am involved in (the whole team's for the head of sales)."""
    return [transfer_out(t) for t in selectors.transfers_for(viewer(request), box=box)[:500]]


class TransferRequestIn(Schema):
    reason: str = Field(
        min_length=1, max_length=2000, description="Why you need the client, e.g. your order"
    )


@router.post(
    "/clients/{client_id}/transfer-requests",
    response={201: TransferOut, **WRITE_ERRORS},
    tags=["transfers"],
)
def request_transfer(
    request: HttpRequest, client_id: int, payload: TransferRequestIn
) -> Status[TransferOut]:
    """ "I have an order from your client": ask for it; the owner gets a deadline to answer."""
    created = services.request_transfer(client_id, requester=viewer(request), reason=payload.reason)
    return Status(201, _transfer(request, created.pk))


def _transfer(request: HttpRequest, transfer_id: int) -> TransferOut:
    me = viewer(request)
    found = selectors.transfers_for(me, box="all").filter(pk=transfer_id).first()
    if found is None or not policies.can_view_transfer(me, found):
        raise NotFound(_("Transfer request not found."), code="transfer_not_found")
    return transfer_out(found)


@router.get(
    "/transfers/{transfer_id}", response={200: TransferOut, **READ_ERRORS}, tags=["transfers"]
)
def get_transfer(request: HttpRequest, transfer_id: int) -> TransferOut:
    """One transfer request, for the requester, the owner and the head of sales."""
    return _transfer(request, transfer_id)


class AnswerIn(Schema):
    agree: bool
    comment: str = Field("", max_length=2000, description="Required when objecting")


@router.post(
    "/transfers/{transfer_id}/answer",
    response={200: TransferOut, **WRITE_ERRORS},
    tags=["transfers"],
)
def answer_transfer(request: HttpRequest, transfer_id: int, payload: AnswerIn) -> TransferOut:
    """The owner agrees (the client moves now) or objects (the head of sales decides)."""
    services.answer_transfer(
        transfer_id, actor=viewer(request), agree=payload.agree, comment=payload.comment
    )
    return _transfer(request, transfer_id)


class DecideIn(Schema):
    approve: bool
    comment: str = Field("", max_length=2000)
    override_cap: bool = Field(False, description="Approve even if the requester's base is full")


@router.post(
    "/transfers/{transfer_id}/decide",
    response={200: TransferOut, **WRITE_ERRORS},
    tags=["transfers"],
)
def decide_transfer(request: HttpRequest, transfer_id: int, payload: DecideIn) -> TransferOut:
    """The head of sales approves (the client moves now) or denies a transfer request."""
    services.decide_transfer(
        transfer_id,
        actor=viewer(request),
        approve=payload.approve,
        comment=payload.comment,
        override_cap=payload.override_cap,
    )
    return _transfer(request, transfer_id)


@router.post(
    "/transfers/{transfer_id}/cancel",
    response={200: TransferOut, **WRITE_ERRORS},
    tags=["transfers"],
)
def cancel_transfer(request: HttpRequest, transfer_id: int) -> TransferOut:
    """The requester withdraws his request."""
    services.cancel_transfer(transfer_id, actor=viewer(request))
    return _transfer(request, transfer_id)


# --- the team's ownership policy ------------------------------------------------------------


def _policy(me: User, team_id: int) -> PolicyOut:
    if not Team.objects.filter(pk=team_id).exists():
        raise NotFound(_("Team not found."), code="team_not_found")
    in_force = policy_in_force(team_id)
    versions = selectors.policy_versions(me, team_id)
    return PolicyOut(
        team_id=team_id,
        version_in_force=in_force.version,
        document=in_force.doc.model_dump(),
        can_edit=policies.can_edit_policy(me, team_id),
        versions=[policy_version_out(p) for p in versions],
    )


@router.get(
    "/teams/{team_id}/ownership-policy", response={200: PolicyOut, **READ_ERRORS}, tags=["policy"]
)
def get_policy(request: HttpRequest, team_id: int) -> PolicyOut:
    """The team's ownership policy in force and every approved version (everyone may read it)."""
    return _policy(viewer(request), team_id)


class PolicyIn(Schema):
    document: OwnershipPolicyDocument
    effective_from: dt.datetime | None = Field(None, description="Empty: now")
    comment: str = Field("", max_length=500)


@router.post(
    "/teams/{team_id}/ownership-policy",
    response={201: PolicyOut, **WRITE_ERRORS},
    tags=["policy"],
)
def publish_policy(request: HttpRequest, team_id: int, payload: PolicyIn) -> Status[PolicyOut]:
    """The head of sales approves a new version of the policy, effective from a date."""
    me = viewer(request)
    if not Team.objects.filter(pk=team_id).exists():
        raise NotFound(_("Team not found."), code="team_not_found")
    effective = payload.effective_from or clock.now()
    if timezone.is_naive(effective):
        effective = timezone.make_aware(effective, timezone.get_current_timezone())
    services.publish_policy(
        team_id,
        document=payload.document.model_dump(),
        effective_from=effective,
        actor=me,
        comment=payload.comment,
    )
    return Status(201, _policy(me, team_id))
