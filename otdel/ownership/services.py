"""The one door for ownership: every change of a client's owner goes through these services.

Each service is atomic, writes the ledger event and the audit event in the same transaction,
and sends notifications only after commit. Owner changes are conditional updates
(``UPDATE … WHERE owner_id = <expected>``), so two people can never both win a client.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from otdel.audit.services import record
from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.calendar import working_deadline
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
from otdel.core.versioned import InForce, publish_version
from otdel.ownership import policies
from otdel.ownership.models import (
    EventKind,
    OwnershipEvent,
    OwnershipPolicy,
    TransferRequest,
    TransferStatus,
)
from otdel.ownership.policy import PolicyInForce, policy_in_force
from otdel.ownership.policy_document import OwnershipPolicyDocument
from otdel.people.models import User
from otdel.people.services import notify

# Ledger kinds after which the person who lost the client waits out the cooldown.
LOSING_KINDS = (EventKind.RELEASE, EventKind.AUTO_RETURN, EventKind.TRANSFER, EventKind.ASSIGN)


@dataclass(frozen=True)
class CapUsage:
    """How many clients a person owns against his cap."""

    owned: int
    cap: int

    @property
    def free(self) -> int:
        return max(self.cap - self.owned, 0)

    @property
    def is_over(self) -> bool:
        return self.owned >= self.cap


# --- reading helpers the services (and selectors) share -------------------------------------


def cap_for(user: User, policy: PolicyInForce) -> int:
    """A personal cap beats the policy's cap for the role."""
    if user.client_cap is not None:
        return user.client_cap
    return policy.doc.cap_for_role(user.role)


def cap_usage(user: User, policy: PolicyInForce | None = None) -> CapUsage:
    """How full the person's base is, under the policy of his team."""
    if policy is None:
        policy = (
            policy_in_force(user.team_id)
            if user.team_id
            else InForce(None, OwnershipPolicyDocument())
        )
    owned = Client.objects.live().filter(owner=user).count()
    return CapUsage(owned=owned, cap=cap_for(user, policy))


def claims_today(user: User) -> int:
    """Claims the person made since the start of today (Moscow)."""
    since = clock.start_of_day(clock.today())
    return OwnershipEvent.objects.filter(to_user=user, kind=EventKind.CLAIM, at__gte=since).count()


def cooldown_until(user: User, client_id: int, policy: PolicyInForce) -> dt.datetime | None:
    """When the person may claim this client again after releasing or losing it, if he must wait."""
    days = policy.doc.cooldown_days
    if days <= 0:
        return None
    since = clock.now() - dt.timedelta(days=days)
    last_loss = (
        OwnershipEvent.objects.filter(
            client_id=client_id, from_user=user, kind__in=LOSING_KINDS, at__gt=since
        )
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    return last_loss + dt.timedelta(days=days) if last_loss else None


def _lock_person(user: User) -> None:
    """Serialise one person's ownership changes (caps, daily limits) across processes.

    PostgreSQL takes a row lock; SQLite's IMMEDIATE transactions already hold the write lock.
    """
    User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()


def _load_client(client_id: int) -> Client:
    client = Client.objects.live().select_related("owner", "team").filter(pk=client_id).first()
    if client is None:
        raise NotFound(_("Client not found."), code="client_not_found")
    return client


def _check_can_take(
    user: User, client_id: int, policy: PolicyInForce, *, override_cap: bool, is_claim: bool
) -> None:
    """Refuse with a clear reason when a person may not take one more client now."""
    if not user.is_active or not user.owns_clients:
        raise Conflict(
            _("%(name)s does not keep a personal base.") % {"name": user.display_name},
            code="role_cannot_own",
        )
    usage = cap_usage(user, policy)
    if usage.is_over and not override_cap:
        raise Conflict(
            _("The cap is reached: %(owned)s of %(cap)s clients. Release a client first.")
            % {"owned": usage.owned, "cap": usage.cap},
            code="over_cap",
            owned=usage.owned,
            cap=usage.cap,
        )
    if is_claim:
        limit = policy.doc.daily_claim_limit
        if claims_today(user) >= limit:
            raise Conflict(
                _("The daily claim limit is reached: %(limit)s claims a day.") % {"limit": limit},
                code="daily_limit",
                limit=limit,
            )
        until = cooldown_until(user, client_id, policy)
        if until is not None:
            raise Conflict(
                _(
                    "You released or lost this client recently; you may claim it again from "
                    "%(until)s."
                )
                % {"until": until.astimezone(clock.MOSCOW).strftime("%d.%m.%Y %H:%M")},
                code="cooldown",
                until=until.isoformat(),
            )


def _write_event(
    client_id: int,
    kind: str,
    *,
    from_user_id: int | None,
    to_user_id: int | None,
    actor: User | None,
    reason: str,
    policy: PolicyInForce,
    now: dt.datetime,
    details: dict[str, Any] | None = None,
) -> OwnershipEvent:
    event = OwnershipEvent.objects.create(
        client_id=client_id,
        kind=kind,
        at=now,
        from_user_id=from_user_id,
        to_user_id=to_user_id,
        actor=actor,
        reason=reason,
        policy=policy.record,
        details=details or {},
    )
    record(
        actor=actor,
        verb=f"ownership.{kind}",
        obj_type="clients.client",
        obj_id=client_id,
        data={
            "from": from_user_id,
            "to": to_user_id,
            "reason": reason,
            "policy_version": policy.version,
            **(details or {}),
        },
    )
    return event


def _move(
    client: Client,
    *,
    new_owner: User | None,
    kind: str,
    actor: User | None,
    reason: str,
    policy: PolicyInForce,
    details: dict[str, Any] | None = None,
) -> OwnershipEvent:
    """The single primitive that writes the owner: a conditional update plus the ledger row."""
    now = clock.now()
    expected = client.owner_id
    if new_owner is not None:
        protection = dt.timedelta(days=policy.doc.protection_days)
        values: dict[str, Any] = {
            "owner": new_owner,
            "owned_since": now,
            "protected_until": now + protection if kind == EventKind.CLAIM else None,
            "activity_clock_at": now,
            "shipment_clock_at": now,
            "return_warned_at": None,
            "updated_at": now,
        }
    else:
        values = {
            "owner": None,
            "owned_since": None,
            "protected_until": None,
            "activity_clock_at": None,
            "shipment_clock_at": None,
            "return_warned_at": None,
            "released_at": now,
            "updated_at": now,
        }
    updated = Client.objects.filter(
        pk=client.pk, owner_id=expected, merged_into__isnull=True
    ).update(**values)
    if not updated:
        raise Conflict(
            _("Someone changed this client's owner a moment ago. Reload and try again."),
            code="owner_changed",
        )
    event = _write_event(
        client.pk,
        kind,
        from_user_id=expected,
        to_user_id=new_owner.pk if new_owner else None,
        actor=actor,
        reason=reason,
        policy=policy,
        now=now,
        details=details,
    )
    if new_owner is None or new_owner.pk != expected:
        # A client that changed hands makes the open transfer requests about it moot.
        _close_open_transfers(client.pk, keep_requester_id=new_owner.pk if new_owner else None)
    for field, value in values.items():
        setattr(client, field, value)
    return event


def _close_open_transfers(client_id: int, *, keep_requester_id: int | None) -> None:
    TransferRequest.objects.filter(
        client_id=client_id,
        status__in=[TransferStatus.AWAITING_OWNER, TransferStatus.AWAITING_DECISION],
    ).exclude(requester_id=keep_requester_id).update(
        status=TransferStatus.OBSOLETE, decided_at=clock.now()
    )


# --- claims, releases, assignments -----------------------------------------------------------


def claim(client_id: int, *, actor: User, reason: str = "") -> Client:
    """Take a pool client into one's base, within the cap, the daily limit and the cooldown."""
    with transaction.atomic():
        _lock_person(actor)
        client = _load_client(client_id)
        if client.owner_id is not None:
            if client.owner_id == actor.pk:
                raise Conflict(_("This client is already yours."), code="already_yours")
            raise Conflict(
                _("This client is already owned by %(owner)s.") % {"owner": client.owner},
                code="already_owned",
            )
        policy = policy_in_force(client.team_id)
        _check_can_take(actor, client.pk, policy, override_cap=False, is_claim=True)
        try:
            _move(
                client,
                new_owner=actor,
                kind=EventKind.CLAIM,
                actor=actor,
                reason=reason,
                policy=policy,
            )
        except Conflict as err:
            # Lost the race to another claim: the conditional update found an owner.
            raise Conflict(
                _("Someone claimed this client a moment ago."), code="already_owned"
            ) from err
    return client


def release_to_pool(client_id: int, *, actor: User, reason: str) -> Client:
    """The owner (or the head of sales) puts a client back into the pool, saying why."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("Say why the client goes back to the pool."), code="reason_required")
    with transaction.atomic():
        client = _load_client(client_id)
        if client.owner_id is None:
            raise Conflict(_("This client is already in the pool."), code="already_in_pool")
        if not policies.can_release(actor, client):
            raise NotFound(_("Client not found."), code="client_not_found")
        policy = policy_in_force(client.team_id)
        previous = client.owner_id
        _move(
            client,
            new_owner=None,
            kind=EventKind.RELEASE,
            actor=actor,
            reason=reason,
            policy=policy,
        )
    if previous != actor.pk:
        notify(
            [previous],
            kind="released",
            client_id=client.pk,
            text=_("%(actor)s returned %(client)s to the pool: %(reason)s")
            % {"actor": actor.display_name, "client": client.name, "reason": reason},
        )
    return client


def assign(
    client_id: int, *, to_user: User, actor: User, reason: str = "", override_cap: bool = False
) -> Client:
    """The head of sales gives a client (pool or owned) to a person."""
    with transaction.atomic():
        client = _load_client(client_id)
        if not policies.can_assign(actor, client):
            raise Forbidden(_("Only the head of sales assigns clients."), code="not_head_of_sales")
        if client.owner_id == to_user.pk:
            raise Conflict(_("This client is already his."), code="already_yours")
        _lock_person(to_user)
        policy = policy_in_force(client.team_id)
        _check_can_take(to_user, client.pk, policy, override_cap=override_cap, is_claim=False)
        previous = client.owner_id
        _move(
            client,
            new_owner=to_user,
            kind=EventKind.ASSIGN,
            actor=actor,
            reason=reason,
            policy=policy,
            details={"override_cap": override_cap} if override_cap else None,
        )
    notify(
        [to_user, previous],
        kind="assigned",
        client_id=client.pk,
        text=_("%(actor)s assigned %(client)s to %(to)s")
        % {"actor": actor.display_name, "client": client.name, "to": to_user.display_name},
    )
    return client


def establish_owner(
    client: Client,
    *,
    owner: User | None,
    actor: User | None,
    kind: str,
    reason: str = "",
    override_cap: bool = False,
) -> None:
    """Record who owns a client just created or imported (or that it starts in the pool).

    Must run inside the caller's transaction, right after the client row is written.
    """
    policy = policy_in_force(client.team_id)
    if owner is None:
        _write_event(
            client.pk,
            kind,
            from_user_id=None,
            to_user_id=None,
            actor=actor,
            reason=reason,
            policy=policy,
            now=clock.now(),
        )
        return
    _lock_person(owner)
    _check_can_take(owner, client.pk, policy, override_cap=override_cap, is_claim=False)
    _move(client, new_owner=owner, kind=kind, actor=actor, reason=reason, policy=policy)


def note_qualifying_activity(
    client_id: int, *, user_id: int, kind: str, at: dt.datetime, effective_call: bool = False
) -> bool:
    """Restart the idle clock when the owner does qualifying work on his client.

    Only the owner's work counts, only kinds the team's policy names, and never backwards. A
    call counts only when the effective-call policy judged it effective (the caller says so
    with `effective_call`), so a 20-second call no longer protects a client.
    """
    if kind == "call" and not effective_call:
        return False
    client = Client.objects.filter(pk=client_id).values("team_id", "owner_id").first()
    if client is None or client["owner_id"] != user_id:
        return False
    policy = policy_in_force(client["team_id"], at)
    if kind not in policy.doc.qualifying_kinds:
        return False
    return bool(
        Client.objects.filter(pk=client_id, owner_id=user_id)
        .filter(Q(activity_clock_at__lt=at) | Q(activity_clock_at__isnull=True))
        .update(activity_clock_at=at, return_warned_at=None)
    )


def _update_clients_from_rows(
    rows: list[tuple[Any, ...]], *, keys: tuple[str, ...], assignments: str, where: str
) -> int:
    """One UPDATE of clients joined to `rows` — key columns (the first is the client) and a
    moment `at` last — the latest moment per key winning: arrays on PostgreSQL, VALUES chunks
    elsewhere. `assignments` and `where` read the rows as `m` and the client as `c`."""
    table = Client._meta.db_table
    condition = f"c.id = m.{keys[0]} AND {where}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(["%s::bigint[]"] * len(keys) + ["%s::timestamptz[]"])
            columns = ", ".join(keys)
            cursor.execute(
                f"""
                UPDATE {table} AS c SET {assignments}
                FROM (SELECT {columns}, max(at) AS at
                      FROM unnest({arrays}) AS v({columns}, at) GROUP BY {columns}) m
                WHERE {condition}
                """,  # noqa: S608 - names are ours, every value is a parameter
                [[row[n] for row in rows] for n in range(len(keys) + 1)],
            )
            return cursor.rowcount
        adapt = connection.ops.adapt_datetimefield_value
        named = ", ".join(f"column{n + 1} AS {key}" for n, key in enumerate(keys))
        grouped = ", ".join(f"column{n + 1}" for n in range(len(keys)))
        changed = 0
        for start in range(0, len(rows), 300):
            chunk = rows[start : start + 300]
            values = ", ".join("(" + ", ".join(["%s"] * (len(keys) + 1)) + ")" for _ in chunk)
            cursor.execute(
                f"""
                UPDATE {table} AS c SET {assignments}
                FROM (SELECT {named}, max(column{len(keys) + 1}) AS at
                      FROM (VALUES {values}) GROUP BY {grouped}) AS m
                WHERE {condition}
                """,  # noqa: S608
                [v for row in chunk for v in (*row[:-1], adapt(row[-1]))],
            )
            changed += cursor.rowcount
        return changed


def note_effective_calls(calls: list[tuple[int, int, dt.datetime]]) -> int:
    """Restart owners' idle clocks for effective calls, set-based: (client, caller, when) rows;
    only a caller who still owns the client counts, where the team's policy counts calls, and a
    clock never moves backwards. Returns how many clocks moved."""
    if not calls:
        return 0
    teams = dict(
        Client.objects.filter(pk__in={c for c, _, _ in calls}).values_list("pk", "team_id")
    )
    counting = {t for t in set(teams.values()) if "call" in policy_in_force(t).doc.qualifying_kinds}
    rows = [row for row in calls if teams.get(row[0]) in counting]
    if not rows:
        return 0
    # The WHERE re-checks owner and clock, so a client that changed hands meanwhile keeps its
    # clock; the latest call per (client, caller) wins.
    return _update_clients_from_rows(
        rows,
        keys=("client_id", "user_id"),
        assignments="activity_clock_at = m.at, return_warned_at = NULL",
        where="c.owner_id = m.user_id"
        " AND (c.activity_clock_at IS NULL OR c.activity_clock_at < m.at)",
    )


def note_shipments(rows: list[tuple[int, dt.datetime]]) -> int:
    """Restart clients' shipment clocks for shipments, set-based: (client, shipped at) rows.

    One UPDATE: `last_shipment_at` moves for every client, the shipment clock only for an owned
    one (a pool client has no clock to restart); neither ever moves backwards, so an old
    shipment imported late changes nothing. Returns how many clients changed.
    """
    if not rows:
        return 0
    # The SET expressions read the row as it was before the UPDATE (both databases), so the
    # "is it later?" tests agree with each other.
    later_clock = (
        "(c.owner_id IS NOT NULL AND (c.shipment_clock_at IS NULL OR c.shipment_clock_at < m.at))"
    )
    later_last = "(c.last_shipment_at IS NULL OR c.last_shipment_at < m.at)"
    return _update_clients_from_rows(
        list(rows),
        keys=("client_id",),
        assignments=f"""
            last_shipment_at = CASE WHEN {later_last} THEN m.at ELSE c.last_shipment_at END,
            shipment_clock_at = CASE WHEN {later_clock} THEN m.at ELSE c.shipment_clock_at END,
            return_warned_at = CASE WHEN {later_clock} THEN NULL ELSE c.return_warned_at END
        """,
        where=f"c.merged_into_id IS NULL AND ({later_last} OR {later_clock})",
    )


def settle_merge(
    survivor: Client, duplicate: Client, *, actor: User, keep_owner_id: int | None
) -> None:
    """Settle who owns a merged client: the chosen owner keeps the survivor, the other one loses
    the duplicate. Runs inside the merge transaction."""
    policy = policy_in_force(survivor.team_id)
    candidates = {survivor.owner_id, duplicate.owner_id} - {None}
    if keep_owner_id is not None and keep_owner_id not in candidates:
        raise Invalid(_("The owner to keep must own one of the two clients."), code="bad_owner")
    winner_id = (
        keep_owner_id if keep_owner_id is not None else (survivor.owner_id or duplicate.owner_id)
    )
    details = {"merged_client": duplicate.pk, "survivor": survivor.pk}
    if duplicate.owner_id is not None:
        _move(
            duplicate,
            new_owner=None,
            kind=EventKind.MERGE,
            actor=actor,
            reason=_("merged into %(name)s") % {"name": survivor.name},
            policy=policy,
            details=details,
        )
    if winner_id != survivor.owner_id:
        winner = User.objects.get(pk=winner_id) if winner_id else None
        _move(
            survivor,
            new_owner=winner,
            kind=EventKind.MERGE,
            actor=actor,
            reason=_("owner kept after merging %(name)s") % {"name": duplicate.name},
            policy=policy,
            details=details,
        )
    else:
        _write_event(
            survivor.pk,
            EventKind.MERGE,
            from_user_id=survivor.owner_id,
            to_user_id=survivor.owner_id,
            actor=actor,
            reason=_("absorbed %(name)s") % {"name": duplicate.name},
            policy=policy,
            now=clock.now(),
            details=details,
        )


# --- transfer requests -----------------------------------------------------------------------

# The status machine: which states each action may start from, and where it leads.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "owner_agrees": (frozenset({TransferStatus.AWAITING_OWNER}), TransferStatus.APPROVED),
    "owner_objects": (frozenset({TransferStatus.AWAITING_OWNER}), TransferStatus.AWAITING_DECISION),
    "approve": (
        frozenset({TransferStatus.AWAITING_OWNER, TransferStatus.AWAITING_DECISION}),
        TransferStatus.APPROVED,
    ),
    "deny": (
        frozenset({TransferStatus.AWAITING_OWNER, TransferStatus.AWAITING_DECISION}),
        TransferStatus.DENIED,
    ),
    "cancel": (
        frozenset({TransferStatus.AWAITING_OWNER, TransferStatus.AWAITING_DECISION}),
        TransferStatus.CANCELLED,
    ),
    "deadline_escalate": (
        frozenset({TransferStatus.AWAITING_OWNER}),
        TransferStatus.AWAITING_DECISION,
    ),
    "deadline_auto_approve": (
        frozenset({TransferStatus.AWAITING_OWNER}),
        TransferStatus.AUTO_APPROVED,
    ),
}


def _advance(request: TransferRequest, action: str, **values: Any) -> None:
    """Move a transfer request along the status machine, refusing a move from a wrong state."""
    allowed_from, target = TRANSITIONS[action]
    updated = TransferRequest.objects.filter(pk=request.pk, status__in=allowed_from).update(
        status=target, **values
    )
    if not updated:
        raise Conflict(
            _("This request is already %(status)s.") % {"status": request.get_status_display()},
            code="transfer_not_open",
        )
    request.status = target
    for field, value in values.items():
        setattr(request, field, value)


def _heads_of(client: Client) -> list[User]:
    return [
        u
        for u in User.objects.filter(is_active=True)
        if policies.manages_team(u, client.team_id) and u.role == "head_of_sales"
    ] or [u for u in User.objects.filter(is_active=True, role__in=["director", "admin"])]


def request_transfer(client_id: int, *, requester: User, reason: str) -> TransferRequest:
    """ "I have an order from your client": ask for an owned client; the owner gets a deadline."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(
            _("Say why you need this client (e.g. the order you have)."), code="reason_required"
        )
    with transaction.atomic():
        client = _load_client(client_id)
        if client.owner_id is None:
            raise Conflict(_("This client is in the pool: claim it instead."), code="in_pool")
        if not policies.can_request_transfer(requester, client):
            raise Conflict(_("You cannot request this client."), code="cannot_request")
        if TransferRequest.objects.filter(
            client=client,
            requester=requester,
            status__in=[TransferStatus.AWAITING_OWNER, TransferStatus.AWAITING_DECISION],
        ).exists():
            raise Conflict(
                _("You already have an open request for this client."), code="transfer_exists"
            )
        policy = policy_in_force(client.team_id)
        now = clock.now()
        request = TransferRequest.objects.create(
            client=client,
            requester=requester,
            owner_id=client.owner_id,
            reason=reason,
            status=TransferStatus.AWAITING_OWNER,
            created_at=now,
            policy=policy.record,
            owner_deadline=working_deadline(now, policy.doc.transfer_answer_working_days),
        )
        record(
            actor=requester,
            verb="transfer.requested",
            obj=request,
            data={"client": client.pk, "owner": client.owner_id, "reason": reason},
        )
    heads = _heads_of(client)
    notify(
        [client.owner_id, *heads],
        kind="transfer_requested",
        client_id=client.pk,
        url=f"/transfers/{request.pk}/",
        text=_("%(who)s requests %(client)s: %(reason)s")
        % {"who": requester.display_name, "client": client.name, "reason": reason},
    )
    return request


def _load_request(request_id: int, viewer: User) -> TransferRequest:
    request = (
        TransferRequest.objects.select_related("client", "requester", "owner")
        .filter(pk=request_id)
        .first()
    )
    if request is None or not policies.can_view_transfer(viewer, request):
        raise NotFound(_("Transfer request not found."), code="transfer_not_found")
    return request


def _hand_over(
    request: TransferRequest, *, actor: User | None, kind_note: str, override_cap: bool = False
) -> None:
    client = _load_client(request.client_id)
    if client.owner_id != request.owner_id:
        raise Conflict(
            _("The client changed hands since the request; it is no longer relevant."),
            code="owner_changed",
        )
    policy = policy_in_force(client.team_id)
    _lock_person(request.requester)
    _check_can_take(request.requester, client.pk, policy, override_cap=override_cap, is_claim=False)
    _move(
        client,
        new_owner=request.requester,
        kind=EventKind.TRANSFER,
        actor=actor,
        reason=f"{kind_note}: {request.reason}",
        policy=policy,
        details={"transfer_request": request.pk},
    )


def answer_transfer(
    request_id: int, *, actor: User, agree: bool, comment: str = ""
) -> TransferRequest:
    """The owner answers: agreeing hands the client over now; objecting sends it to the head."""
    with transaction.atomic():
        request = _load_request(request_id, actor)
        if not policies.can_answer_transfer(actor, request):
            raise Forbidden(_("Only the owner answers this request."), code="not_owner")
        now = clock.now()
        if agree:
            _advance(
                request,
                "owner_agrees",
                owner_answer="agree",
                owner_comment=comment,
                owner_answered_at=now,
                decided_by=actor,
                decided_at=now,
            )
            _hand_over(request, actor=actor, kind_note=_("owner agreed"))
        else:
            if not comment.strip():
                raise Invalid(_("Say why you object."), code="comment_required")
            _advance(
                request,
                "owner_objects",
                owner_answer="object",
                owner_comment=comment,
                owner_answered_at=now,
            )
        record(
            actor=actor,
            verb="transfer.answered",
            obj=request,
            data={"agree": agree, "comment": comment},
        )
    notify(
        [request.requester_id, *_heads_of(request.client)],
        kind="transfer_answered",
        client_id=request.client_id,
        url=f"/transfers/{request.pk}/",
        text=(
            _("%(owner)s agreed to give %(client)s")
            if agree
            else _("%(owner)s objects to giving %(client)s")
        )
        % {"owner": actor.display_name, "client": request.client.name},
    )
    return request


def decide_transfer(
    request_id: int, *, actor: User, approve: bool, comment: str = "", override_cap: bool = False
) -> TransferRequest:
    """The head of sales approves (the client moves now) or denies a transfer request."""
    with transaction.atomic():
        request = _load_request(request_id, actor)
        if not policies.can_decide_transfer(actor, request):
            raise Forbidden(
                _("Only the head of sales decides transfers."), code="not_head_of_sales"
            )
        now = clock.now()
        _advance(
            request,
            "approve" if approve else "deny",
            decided_by=actor,
            decided_at=now,
            decision_comment=comment,
        )
        if approve:
            _hand_over(
                request,
                actor=actor,
                kind_note=_("approved by the head of sales"),
                override_cap=override_cap,
            )
        record(
            actor=actor,
            verb="transfer.decided",
            obj=request,
            data={"approve": approve, "comment": comment},
        )
    notify(
        [request.requester_id, request.owner_id],
        kind="transfer_decided",
        client_id=request.client_id,
        url=f"/transfers/{request.pk}/",
        text=(
            _("Transfer of %(client)s approved") if approve else _("Transfer of %(client)s denied")
        )
        % {"client": request.client.name},
    )
    return request


def cancel_transfer(request_id: int, *, actor: User) -> TransferRequest:
    """The requester withdraws his request."""
    with transaction.atomic():
        request = _load_request(request_id, actor)
        if not policies.can_cancel_transfer(actor, request):
            raise Forbidden(_("Only the requester may cancel."), code="not_requester")
        _advance(request, "cancel", decided_at=clock.now())
        record(actor=actor, verb="transfer.cancelled", obj=request)
    return request


def process_transfer_deadlines() -> dict[str, int]:
    """When an owner's deadline passes: approve automatically if he did no qualifying work on
    the client for N days, otherwise send the request to the head of sales. Idempotent."""
    now = clock.now()
    done = {"auto_approved": 0, "escalated": 0}
    due = list(
        TransferRequest.objects.filter(
            status=TransferStatus.AWAITING_OWNER, owner_deadline__lte=now
        ).values_list("pk", flat=True)
    )
    for request_id in due:
        try:
            with transaction.atomic():
                request = TransferRequest.objects.select_related("client", "requester").get(
                    pk=request_id
                )
                if request.status != TransferStatus.AWAITING_OWNER:
                    continue
                client = request.client
                policy = policy_in_force(client.team_id)
                idle_since = now - dt.timedelta(days=policy.doc.transfer_auto_approve_idle_days)
                owner_idle = (
                    client.owner_id == request.owner_id
                    and client.activity_clock_at is not None
                    and client.activity_clock_at <= idle_since
                )
                if owner_idle:
                    _advance(
                        request,
                        "deadline_auto_approve",
                        decided_at=now,
                        decision_comment=_("the owner did no qualifying work for %(n)s days")
                        % {"n": policy.doc.transfer_auto_approve_idle_days},
                    )
                    _hand_over(
                        request,
                        actor=None,
                        kind_note=_("approved automatically"),
                        override_cap=False,
                    )
                    done["auto_approved"] += 1
                    text = _("Transfer of %(client)s approved automatically: the owner was idle")
                else:
                    _advance(request, "deadline_escalate")
                    done["escalated"] += 1
                    text = _("The owner did not answer about %(client)s in time: decide")
                record(
                    actor=None,
                    verb="transfer.deadline",
                    obj=request,
                    data={"auto_approved": owner_idle},
                )
                recipients: list[User | int | None] = [
                    request.requester_id,
                    request.owner_id,
                    *_heads_of(client),
                ]
                notify(
                    recipients,
                    kind="transfer_deadline",
                    client_id=client.pk,
                    url=f"/transfers/{request.pk}/",
                    text=text % {"client": client.name},
                )
        except Conflict:
            # Another worker got there first, or the client changed hands: nothing to do.
            continue
    return done


# --- policy versions -------------------------------------------------------------------------


def publish_policy(
    team_id: int,
    *,
    document: dict[str, Any],
    effective_from: dt.datetime,
    actor: User,
    comment: str = "",
) -> OwnershipPolicy:
    """The head of sales approves a new version of the team's policy, effective from a date.

    Approved versions never change; a version cannot take effect in the past.
    """
    if not policies.can_edit_policy(actor, team_id):
        raise Forbidden(_("Only the head of sales edits the policy."), code="not_head_of_sales")
    parsed = OwnershipPolicyDocument.model_validate(document)
    with transaction.atomic():
        policy: OwnershipPolicy = publish_version(
            OwnershipPolicy,
            team_id=team_id,
            document=parsed,
            effective_from=effective_from,
            actor=actor,
            comment=comment,
            verb="ownership_policy.published",
        )
    return policy


# --- bulk entry (imports) --------------------------------------------------------------------


def establish_owners_in_bulk(
    client_ids_by_owner: dict[int | None, list[int]],
    *,
    team_id: int,
    actor: User,
    kind: str = EventKind.IMPORT,
    reason: str = "",
) -> None:
    """Record owners of many new clients at once (an import): caps are checked per owner for
    the whole batch, owners are written with conditional set updates, one ledger row per
    client. Runs inside the caller's transaction; a refusal aborts the whole batch."""
    policy = policy_in_force(team_id)
    now = clock.now()
    owners = {u.pk: u for u in User.objects.filter(pk__in=[k for k in client_ids_by_owner if k])}
    events: list[OwnershipEvent] = []
    for owner_id, ids in client_ids_by_owner.items():
        if not ids:
            continue
        if owner_id is not None:
            owner = owners[owner_id]
            _lock_person(owner)
            if not owner.is_active or not owner.owns_clients:
                raise Conflict(
                    _("%(name)s does not keep a personal base.") % {"name": owner.display_name},
                    code="role_cannot_own",
                )
            usage = cap_usage(owner, policy)
            if usage.owned + len(ids) > usage.cap:
                raise Conflict(
                    _("%(name)s would own %(n)s clients, over the cap of %(cap)s.")
                    % {"name": owner.display_name, "n": usage.owned + len(ids), "cap": usage.cap},
                    code="over_cap",
                    owner=owner_id,
                    owned=usage.owned,
                    cap=usage.cap,
                )
            updated = 0
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                updated += Client.objects.filter(
                    pk__in=chunk, owner__isnull=True, merged_into__isnull=True
                ).update(
                    owner_id=owner_id,
                    owned_since=now,
                    protected_until=None,
                    activity_clock_at=now,
                    shipment_clock_at=now,
                    return_warned_at=None,
                    updated_at=now,
                )
            if updated != len(ids):
                raise Conflict(
                    _("Someone changed these clients' owners a moment ago."),
                    code="owner_changed",
                )
        events.extend(
            OwnershipEvent(
                client_id=client_id,
                kind=kind,
                at=now,
                from_user_id=None,
                to_user_id=owner_id,
                actor=actor,
                reason=reason,
                policy=policy.record,
                details={},
            )
            for client_id in ids
        )
        record(
            actor=actor,
            verb=f"ownership.{kind}.bulk",
            obj_type="people.user" if owner_id else "people.team",
            obj_id=owner_id or team_id,
            data={"clients": len(ids), "reason": reason, "policy_version": policy.version},
        )
    OwnershipEvent.objects.bulk_create(events, batch_size=1000)


# --- personal caps ---------------------------------------------------------------------------


def set_personal_cap(user_id: int, *, cap: int | None, actor: User) -> User:
    """The head of sales gives one person a cap of his own (None: back to the policy's cap for
    the role). Lowering it below what he owns takes nothing away: he just cannot claim more."""
    if cap is not None and not 0 <= cap <= 100_000:
        raise Invalid(_("A cap is a whole number from 0 to 100000."), code="bad_cap")
    with transaction.atomic():
        person = User.objects.filter(pk=user_id, is_active=True).first()
        if person is None or not policies.manages_team(actor, person.team_id):
            raise NotFound(_("Person not found."), code="person_not_found")
        previous = person.client_cap
        User.objects.filter(pk=person.pk).update(client_cap=cap)
        person.client_cap = cap
        record(
            actor=actor,
            verb="people.cap_set",
            obj=person,
            data={"from": previous, "to": cap},
        )
    return person
