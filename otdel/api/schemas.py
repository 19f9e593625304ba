"""What the API returns: explicit, typed shapes (the OpenAPI schema is built from them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema

from otdel.activities.models import Activity
from otdel.clients.models import Client, LegalEntity
from otdel.clients.selectors import ContactView
from otdel.core.versioned import PolicyVersion
from otdel.ownership import policies
from otdel.ownership.models import OwnershipEvent, TransferRequest
from otdel.ownership.selectors import OwnershipStatus
from otdel.people.models import User


class UserRef(Schema):
    """A person, as shown next to a client or an event."""

    id: int
    username: str
    name: str
    role: str


def person(user: User) -> UserRef:
    return UserRef(id=user.pk, username=user.username, name=user.display_name, role=user.role)


def user_ref(user: User | None) -> UserRef | None:
    return None if user is None else person(user)


class PageMeta(Schema):
    count: int
    page: int
    page_size: int
    pages: int


class CapOut(Schema):
    """How full a person's base is."""

    owned: int
    cap: int
    free: int
    is_over: bool


class MeOut(Schema):
    id: int
    username: str
    name: str
    role: str
    team_id: int | None
    is_head_of_sales: bool
    owns_clients: bool
    cap: CapOut | None


class LegalEntityOut(Schema):
    id: int
    name: str
    inn: str
    kpp: str
    ogrn: str
    address: str


def legal_entity_out(le: LegalEntity) -> LegalEntityOut:
    return LegalEntityOut(
        id=le.pk, name=le.name, inn=le.inn, kpp=le.kpp, ogrn=le.ogrn, address=le.address
    )


class ContactOut(Schema):
    """A contact; `masked` means the phones and e-mail are hidden until the client is claimed."""

    id: int
    full_name: str
    position: str
    is_decision_maker: bool
    email: str
    phones: list[str]
    masked: bool


def contact_out(view: ContactView) -> ContactOut:
    c = view.contact
    return ContactOut(
        id=c.pk,
        full_name=c.full_name,
        position=c.position,
        is_decision_maker=c.is_decision_maker,
        email=view.email,
        phones=view.phones,
        masked=view.masked,
    )


class SiteOut(Schema):
    id: int
    name: str
    address: str
    city: str
    region: str


class OwnershipOut(Schema):
    """Who owns the client and for how long: protection and the countdown to the pool."""

    client_id: int
    owner: UserRef | None
    in_pool: bool
    owned_since: dt.datetime | None
    protected_until: dt.datetime | None
    is_protected: bool
    returns_at: dt.datetime | None
    days_left: int | None
    excluded_from_return: bool
    policy_version: int


def ownership_out(client: Client, status: OwnershipStatus) -> OwnershipOut:
    return OwnershipOut(
        client_id=client.pk,
        owner=user_ref(status.owner),
        in_pool=status.owner is None,
        owned_since=status.owned_since,
        protected_until=status.protected_until,
        is_protected=status.is_protected,
        returns_at=status.returns_at,
        days_left=status.days_left,
        excluded_from_return=status.excluded,
        policy_version=status.policy.version,
    )


class ActionsOut(Schema):
    """What the viewer may do with this client (the services still check and say why not)."""

    edit: bool
    claim: bool
    release: bool
    assign: bool
    request_transfer: bool
    merge: bool


def actions_out(viewer: User, client: Client) -> ActionsOut:
    return ActionsOut(
        edit=policies.can_act_on(viewer, client),
        claim=policies.can_claim(viewer, client),
        release=policies.can_release(viewer, client),
        assign=policies.can_assign(viewer, client),
        request_transfer=policies.can_request_transfer(viewer, client),
        merge=policies.can_merge(viewer, client),
    )


class ClientListItem(Schema):
    id: int
    name: str
    region: str
    industry: str
    team_id: int
    owner: UserRef | None
    is_won: bool
    is_locked: bool
    updated_at: dt.datetime


def client_list_item(client: Client) -> ClientListItem:
    return ClientListItem(
        id=client.pk,
        name=client.name,
        region=client.region,
        industry=client.industry,
        team_id=client.team_id,
        owner=user_ref(client.owner),
        is_won=client.is_won,
        is_locked=client.is_locked,
        updated_at=client.updated_at,
    )


class ClientPage(PageMeta):
    items: list[ClientListItem]


class BaseItem(ClientListItem):
    """A client in my base, with when it goes back to the pool."""

    owned_since: dt.datetime | None
    protected_until: dt.datetime | None
    returns_at: dt.datetime | None
    days_left: int | None


class MyBasePage(PageMeta):
    cap: CapOut
    items: list[BaseItem]


class PoolItem(ClientListItem):
    released_at: dt.datetime | None


class PoolPage(PageMeta):
    items: list[PoolItem]


class ClientOut(Schema):
    """A client card: details, legal entities, contacts (masked if the policy says so),
    ownership and the viewer's possible actions."""

    id: int
    name: str
    website: str
    region: str
    industry: str
    notes: str
    team_id: int
    is_won: bool
    is_locked: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: UserRef | None
    legal_entities: list[LegalEntityOut]
    contacts: list[ContactOut]
    brands: list[str]
    sites: list[SiteOut]
    ownership: OwnershipOut
    actions: ActionsOut


class DuplicateOut(Schema):
    """An existing client that may be the same, who owns it, and why it looks the same."""

    id: int
    name: str
    owner: UserRef | None
    reasons: list[str]
    reason_labels: list[str]
    strong: bool


class EventOut(Schema):
    """One row of the ownership ledger."""

    id: int
    client_id: int
    kind: str
    kind_label: str
    at: dt.datetime
    from_user: UserRef | None
    to_user: UserRef | None
    actor: UserRef | None
    reason: str
    policy_version: int | None
    details: dict[str, Any]


def event_out(e: OwnershipEvent) -> EventOut:
    return EventOut(
        id=e.pk,
        client_id=e.client_id,
        kind=e.kind,
        kind_label=str(e.get_kind_display()),
        at=e.at,
        from_user=user_ref(e.from_user),
        to_user=user_ref(e.to_user),
        actor=user_ref(e.actor),
        reason=e.reason,
        policy_version=e.policy.version if e.policy else None,
        details=e.details or {},
    )


class ActivityOut(Schema):
    id: int
    client_id: int
    author: UserRef | None
    kind: str
    occurred_at: dt.datetime
    direction: str
    talk_seconds: int | None
    subject: str
    body: str
    self_reported: bool


def activity_out(a: Activity) -> ActivityOut:
    return ActivityOut(
        id=a.pk,
        client_id=a.client_id,
        author=user_ref(a.author),
        kind=a.kind,
        occurred_at=a.occurred_at,
        direction=a.direction,
        talk_seconds=a.talk_seconds,
        subject=a.subject,
        body=a.body,
        self_reported=a.self_reported,
    )


class TransferOut(Schema):
    """A transfer request and every step of it, visible to the three people involved."""

    id: int
    client_id: int
    client_name: str
    requester: UserRef
    owner: UserRef
    reason: str
    status: str
    status_label: str
    is_open: bool
    created_at: dt.datetime
    owner_deadline: dt.datetime
    owner_answer: str
    owner_comment: str
    owner_answered_at: dt.datetime | None
    decided_by: UserRef | None
    decided_at: dt.datetime | None
    decision_comment: str


def transfer_out(t: TransferRequest) -> TransferOut:
    return TransferOut(
        id=t.pk,
        client_id=t.client_id,
        client_name=t.client.name,
        requester=person(t.requester),
        owner=person(t.owner),
        reason=t.reason,
        status=t.status,
        status_label=str(t.get_status_display()),
        is_open=t.is_open,
        created_at=t.created_at,
        owner_deadline=t.owner_deadline,
        owner_answer=t.owner_answer,
        owner_comment=t.owner_comment,
        owner_answered_at=t.owner_answered_at,
        decided_by=user_ref(t.decided_by),
        decided_at=t.decided_at,
        decision_comment=t.decision_comment,
    )


class PolicyVersionOut(Schema):
    """One approved version of a team's policy document (ownership, calls, cadences)."""

    id: int
    version: int
    effective_from: dt.datetime
    document: dict[str, Any]
    comment: str
    approved_by: UserRef | None
    created_at: dt.datetime


def policy_version_out(p: PolicyVersion) -> PolicyVersionOut:
    return PolicyVersionOut(
        id=p.pk,
        version=p.version,
        effective_from=p.effective_from,
        document=p.document,
        comment=p.comment,
        approved_by=user_ref(p.approved_by),
        created_at=p.created_at,
    )


class PolicyOut(Schema):
    """The policy in force now (version 0: the defaults) and every version, newest first."""

    team_id: int
    version_in_force: int
    document: dict[str, Any]
    can_edit: bool
    versions: list[PolicyVersionOut]
