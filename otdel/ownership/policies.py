"""Named yes/no questions about ownership: who may do what to which client."""

from __future__ import annotations

from otdel.clients.models import Client
from otdel.ownership.models import TransferRequest
from otdel.people.models import Role, User


def manages_team(user: User, team_id: int | None) -> bool:
    """The head of sales of the team, the director or an admin."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser or user.role in (Role.DIRECTOR, Role.ADMIN):
        return True
    return user.role == Role.HEAD_OF_SALES and (user.team_id is None or user.team_id == team_id)


def can_view_client(user: User, client: Client) -> bool:
    """Everyone in the department sees every client and its history."""
    return user.is_authenticated and user.is_active


def can_act_on(user: User, client: Client) -> bool:
    """Only the owner and the head of sales change a client."""
    if not user.is_authenticated:
        return False
    return client.owner_id == user.pk or manages_team(user, client.team_id)


def can_claim(user: User, client: Client) -> bool:
    """A person who keeps a base may try to claim a pool client (caps and clocks are checked
    by the service, which says why it refuses)."""
    return (
        user.is_authenticated
        and user.is_active
        and user.owns_clients
        and client.owner_id is None
        and client.merged_into_id is None
    )


def can_release(user: User, client: Client) -> bool:
    """The owner or the head of sales may put an owned client back into the pool."""
    return client.owner_id is not None and can_act_on(user, client)


def can_assign(user: User, client: Client) -> bool:
    """Only the head of sales assigns clients to people."""
    return manages_team(user, client.team_id)


def can_request_transfer(user: User, client: Client) -> bool:
    """Someone who keeps a base may ask for a client that another person owns."""
    return (
        user.is_authenticated
        and user.owns_clients
        and client.owner_id is not None
        and client.owner_id != user.pk
        and client.merged_into_id is None
    )


def can_answer_transfer(user: User, request: TransferRequest) -> bool:
    """The owner answers a transfer request about his client."""
    return request.owner_id == user.pk


def can_decide_transfer(user: User, request: TransferRequest) -> bool:
    """The head of sales approves or denies a transfer."""
    return manages_team(user, request.client.team_id)


def can_cancel_transfer(user: User, request: TransferRequest) -> bool:
    """The requester may withdraw his own request."""
    return request.requester_id == user.pk


def can_view_transfer(user: User, request: TransferRequest) -> bool:
    """The three people involved: requester, owner, head of sales."""
    return user.pk in (request.requester_id, request.owner_id) or manages_team(
        user, request.client.team_id
    )


def can_edit_policy(user: User, team_id: int) -> bool:
    """The head of sales edits his team's ownership policy."""
    return manages_team(user, team_id)


def can_merge(user: User, client: Client) -> bool:
    """The head of sales and database operators merge duplicates."""
    return user.is_authenticated and (
        manages_team(user, client.team_id) or user.role == Role.DB_OPERATOR
    )


def may_merge_anything(user: User) -> bool:
    """Who works on the base's duplicates at all: heads of sales and database operators."""
    return user.is_authenticated and (user.is_head_of_sales or user.role == Role.DB_OPERATOR)


def may_import(user: User) -> bool:
    """Who loads client bases from files: heads of sales and database operators."""
    return may_merge_anything(user)


def can_see_contact_details(user: User, client: Client, *, mask_pool_contacts: bool) -> bool:
    """Pool contacts may be masked until claimed (a policy switch)."""
    if client.owner_id is not None or not mask_pool_contacts:
        return True
    return manages_team(user, client.team_id) or user.role == Role.DB_OPERATOR
