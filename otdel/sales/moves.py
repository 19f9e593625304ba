"""The conveyor: moving a deal between stages, handoffs between roles, their deadlines.

`move_deal` is the one place the allowed moves are checked. A move into a stage worked by
another role than the person responsible is a handoff: it needs the stage's brief fields, is
offered to a person or to the role's queue, and the sender stays responsible until the
receiver accepts it (or returns it, with a reason, and the deal goes back). A move into the
completed stage gives the deal back to the client's owner with a summary.

Every change is a conditional update (`UPDATE … WHERE stage = <read> AND responsible =
<read>`), so two people acting at once cannot both win; the timeline event and the audit event
are written in the same transaction; notifications go out after commit, except the deadline
sweep's, which are written with the mark that makes them happen exactly once.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from otdel.core import clock
from otdel.core.calendar import add_working_hours
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
from otdel.core.money import Money
from otdel.people.models import Role, User
from otdel.people.selectors import heads_of_team
from otdel.people.services import notify
from otdel.sales import policies
from otdel.sales.brief import Brief, clean_brief
from otdel.sales.deals import deal_url
from otdel.sales.events import write_event
from otdel.sales.models import (
    Deal,
    DealEventKind,
    Handoff,
    HandoffStatus,
    Stage,
    StageKind,
    StageTransition,
)
from otdel.sales.selectors import move_kind, summary_of


def _changed() -> Conflict:
    return Conflict(
        _("Someone changed this deal a moment ago. Reload and try again."), code="deal_changed"
    )


def _load_deal(deal_id: int, actor: User) -> Deal:
    deal = (
        Deal.objects.select_related("stage", "pipeline", "responsible", "client")
        .filter(pk=deal_id)
        .first()
    )
    if deal is None or not policies.can_view_deal(actor, deal):
        raise NotFound(_("Deal not found."), code="deal_not_found")
    return deal


def _target(deal: Deal, to_stage: int | str) -> Stage:
    """The stage by id or by code, in the deal's own pipeline."""
    stages = Stage.objects.filter(pipeline_id=deal.pipeline_id)
    found = (
        stages.filter(pk=to_stage).first()
        if isinstance(to_stage, int)
        else stages.filter(code=to_stage).first()
    )
    if found is None:
        raise Invalid(
            _("The deal's pipeline has no such stage."), code="invalid_stage", field="to_stage"
        )
    return found


def _check_allowed(deal: Deal, target: Stage) -> None:
    """Refuse, saying where the deal may go, when the pipeline does not allow this move."""
    if StageTransition.objects.filter(from_stage_id=deal.stage_id, to_stage=target).exists():
        return
    allowed = list(
        Stage.objects.filter(moves_in__from_stage_id=deal.stage_id)
        .order_by("position")
        .values_list("code", "name")
    )
    if allowed:
        message = _("A deal cannot move from «%(from)s» to «%(to)s». Allowed: %(allowed)s.") % {
            "from": deal.stage.name,
            "to": target.name,
            "allowed": ", ".join(f"«{name}»" for _code, name in allowed),
        }
    else:
        message = _("A deal in «%(from)s» does not move any further.") % {"from": deal.stage.name}
    raise Conflict(
        message,
        code="move_not_allowed",
        from_stage=deal.stage.code,
        to_stage=target.code,
        allowed=[code for code, _name in allowed],
    )


def _receiver(
    deal: Deal, target: Stage, *, sender: User, offer_to: int | None, offer_role: str | None
) -> tuple[User | None, str]:
    """Whom the handoff is offered to: a person who works the stage, or the queue of one of its
    roles (someone must be in it)."""
    if offer_to is not None:
        person = User.objects.filter(pk=offer_to, is_active=True, team_id=deal.team_id).first()
        if person is None or person.pk == sender.pk or not target.worked_by(person.role):
            raise Invalid(
                _("Offer the deal to an active person of the team who works «%(stage)s».")
                % {"stage": target.name},
                code="invalid_receiver",
                field="offer_to",
            )
        return person, person.role
    role = offer_role or target.primary_role
    if role is None or not target.worked_by(role):
        raise Invalid(
            _("«%(stage)s» is not worked by this role.") % {"stage": target.name},
            code="invalid_role",
            field="offer_role",
        )
    if (
        not User.objects.filter(team_id=deal.team_id, is_active=True, role=role)
        .exclude(pk=sender.pk)
        .exists()
    ):
        raise Invalid(
            _("Nobody in the team works as %(role)s: offer the deal to a person.")
            % {"role": Role(role).label},
            code="empty_queue",
            field="offer_role",
        )
    return None, role


def move_deal(
    deal_id: int,
    *,
    to_stage: int | str,
    actor: User,
    brief: dict[str, Any] | Brief | None = None,
    offer_to: int | None = None,
    offer_role: str | None = None,
    comment: str = "",
    expected_stage: int | None = None,
) -> Deal:
    """The responsible person (or the head of sales) moves a deal along an allowed move; into
    another role's stage it becomes a handoff (brief, receiver, deadline); into the completed
    stage the deal goes back to the client's owner with a summary; a lost deal needs a reason.
    `expected_stage` (the stage the person saw) turns a stale screen into a clear refusal."""
    comment = (comment or "").strip()
    with transaction.atomic():
        deal = _load_deal(deal_id, actor)
        if not policies.can_move_deal(actor, deal):
            raise Forbidden(
                _("Only the person responsible or the head of sales moves this deal."),
                code="not_responsible",
            )
        if expected_stage is not None and deal.stage_id != expected_stage:
            raise Conflict(
                _("The deal has moved to «%(stage)s» meanwhile.") % {"stage": deal.stage.name},
                code="stage_changed",
            )
        target = _target(deal, to_stage)
        if target.pk == deal.stage_id:
            raise Invalid(
                _("The deal is already in «%(stage)s».") % {"stage": target.name}, code="same_stage"
            )
        if Handoff.objects.filter(deal=deal, status=HandoffStatus.PENDING).exists():
            raise Conflict(
                _("The deal awaits acceptance of a handoff; it moves on once that is answered."),
                code="handoff_pending",
            )
        _check_allowed(deal, target)
        sender = deal.responsible
        kind = move_kind(sender, target)
        if kind == "lost" and not comment:
            raise Invalid(_("Say why the deal is lost."), code="reason_required", field="comment")
        is_handoff = kind == "handoff"
        filled: dict[str, str] = {}
        receiver: User | None = None
        role = ""
        if is_handoff:
            filled = clean_brief(brief, list(target.brief_required))
            receiver, role = _receiver(
                deal, target, sender=sender, offer_to=offer_to, offer_role=offer_role
            )
        owner = _owner_for_follow_up(deal) if target.kind == StageKind.WON else None
        now = clock.now()
        values: dict[str, Any] = {
            "stage": target,
            "stage_entered_at": now,
            "updated_at": now,
            "closed_at": now if target.is_final else None,
        }
        if owner is not None:
            values["responsible"] = owner
        if not Deal.objects.filter(
            pk=deal.pk, stage_id=deal.stage_id, responsible_id=sender.pk
        ).update(**values):
            raise _changed()
        source = deal.stage
        for name, value in values.items():
            setattr(deal, name, value)
        if is_handoff:
            _offer(
                deal,
                source=source,
                target=target,
                sender=sender,
                actor=actor,
                receiver=receiver,
                role=role,
                brief=filled,
                comment=comment,
                now=now,
            )
        else:
            write_event(
                deal,
                DealEventKind.MOVED,
                actor=actor,
                at=now,
                from_stage=source,
                to_stage=target,
                from_user=sender,
                to_user=sender,
                data={"comment": comment} if comment else {},
            )
            if target.kind == StageKind.WON:
                _complete(deal, target=target, closer=sender, owner=owner, actor=actor, now=now)
            elif target.kind == StageKind.LOST:
                _tell_owner_lost(deal, actor=actor, reason=comment)
    return deal


def _owner_for_follow_up(deal: Deal) -> User | None:
    """The client's owner takes the completed deal back, if he is not the one holding it."""
    owner_id = (
        type(deal.client)
        .objects.filter(pk=deal.client_id)
        .values_list("owner_id", flat=True)
        .first()
    )
    if owner_id is None or owner_id == deal.responsible_id:
        return None
    return User.objects.filter(pk=owner_id, is_active=True).first()


def _offer(
    deal: Deal,
    *,
    source: Stage,
    target: Stage,
    sender: User,
    actor: User,
    receiver: User | None,
    role: str,
    brief: dict[str, str],
    comment: str,
    now: Any,
) -> Handoff:
    deadline = add_working_hours(now, deal.pipeline.handoff_hours)
    try:
        with transaction.atomic():
            handoff = Handoff.objects.create(
                deal=deal,
                from_stage=source,
                to_stage=target,
                sender=sender,
                offered_to=receiver,
                offered_role=role,
                brief=brief,
                created_by=actor,
                created_at=now,
                deadline=deadline,
            )
    except IntegrityError as err:
        # One pending handoff per deal: another one was offered a moment ago.
        raise _changed() from err
    write_event(
        deal,
        DealEventKind.HANDOFF_OFFERED,
        actor=actor,
        at=now,
        from_stage=source,
        to_stage=target,
        from_user=sender,
        to_user=sender,
        handoff=handoff,
        data={
            "offered_to": receiver.pk if receiver else None,
            "offered_role": role,
            "deadline": deadline.isoformat(),
            "brief": brief,
            **({"comment": comment} if comment else {}),
        },
    )
    _announce_offer(handoff, deal)
    return handoff


def _announce_offer(handoff: Handoff, deal: Deal) -> None:
    """After commit: tell the receiver (or everyone in the role's queue) what waits for him."""
    if handoff.offered_to_id is not None:
        recipients: list[User | int | None] = [handoff.offered_to_id]
    else:
        recipients = list(
            User.objects.filter(team_id=deal.team_id, is_active=True, role=handoff.offered_role)
            .exclude(pk=handoff.sender_id)
            .values_list("pk", flat=True)
        )
    text = _("%(who)s hands over «%(deal)s» (%(stage)s): accept or return it by %(when)s") % {
        "who": handoff.sender.display_name,
        "deal": deal.title,
        "stage": handoff.to_stage.name,
        "when": handoff.deadline.astimezone(clock.MOSCOW).strftime("%d.%m.%Y %H:%M"),
    }
    transaction.on_commit(
        partial(
            notify,
            recipients,
            kind="handoff_offered",
            client_id=deal.client_id,
            url=deal_url(deal.pk),
            text=text,
        )
    )


def summary_text(summary: dict[str, Any]) -> str:
    """The completed deal's summary in words, for the account manager's notification."""
    lines = [
        _("The deal «%(deal)s» is completed: %(amount)s.")
        % {
            "deal": summary["title"],
            "amount": Money(summary["amount"], summary["currency"]),
        }
    ]
    stages = "; ".join(f"{s['stage']} — {s['holder']}" for s in summary["stages"])
    if stages:
        lines.append(_("Who held it: %(stages)s.") % {"stages": stages})
    if summary.get("promises"):
        lines.append(_("Promises made: %(text)s") % {"text": summary["promises"]})
    if summary.get("next_step"):
        lines.append(_("Next step: %(text)s") % {"text": summary["next_step"]})
    lines.append(_("The client is yours to follow up."))
    return "\n".join(lines)


def _complete(
    deal: Deal, *, target: Stage, closer: User, owner: User | None, actor: User, now: Any
) -> None:
    """The completed deal returns to the client's owner with a summary (timeline + notice)."""
    summary = summary_of(deal)
    follow_up = owner or closer
    if owner is not None:
        write_event(
            deal,
            DealEventKind.RETURNED_TO_OWNER,
            actor=None,
            at=now,
            from_stage=target,
            to_stage=target,
            from_user=closer,
            to_user=owner,
            data={"summary": summary},
        )
    if follow_up.pk != actor.pk:
        transaction.on_commit(
            partial(
                notify,
                [follow_up],
                kind="deal_completed",
                client_id=deal.client_id,
                url=deal_url(deal.pk),
                text=summary_text(summary),
            )
        )


def _tell_owner_lost(deal: Deal, *, actor: User, reason: str) -> None:
    owner_id = (
        type(deal.client)
        .objects.filter(pk=deal.client_id)
        .values_list("owner_id", flat=True)
        .first()
    )
    if owner_id is None or owner_id == actor.pk:
        return
    transaction.on_commit(
        partial(
            notify,
            [owner_id],
            kind="deal_lost",
            client_id=deal.client_id,
            url=deal_url(deal.pk),
            text=_("The deal «%(deal)s» is lost: %(reason)s")
            % {"deal": deal.title, "reason": reason},
        )
    )


# --- answering a handoff ---------------------------------------------------------------------


def _load_handoff(handoff_id: int, actor: User) -> Handoff:
    handoff = (
        Handoff.objects.select_related(
            "deal", "deal__client", "deal__pipeline", "from_stage", "to_stage", "sender"
        )
        .filter(pk=handoff_id)
        .first()
    )
    if handoff is None or not policies.can_view_deal(actor, handoff.deal):
        raise NotFound(_("Handoff not found."), code="handoff_not_found")
    if handoff.status != HandoffStatus.PENDING:
        raise Conflict(
            _("This handoff is already %(status)s.") % {"status": handoff.get_status_display()},
            code="handoff_answered",
        )
    return handoff


def accept_handoff(handoff_id: int, *, actor: User) -> Handoff:
    """The receiver (or anyone of the role, for a queue offer) takes the deal: from now on he
    is responsible for it."""
    with transaction.atomic():
        handoff = _load_handoff(handoff_id, actor)
        if not policies.can_accept_handoff(actor, handoff):
            raise Forbidden(_("This handoff is offered to someone else."), code="not_receiver")
        now = clock.now()
        if not Handoff.objects.filter(pk=handoff.pk, status=HandoffStatus.PENDING).update(
            status=HandoffStatus.ACCEPTED, answered_by=actor, answered_at=now
        ):
            raise Conflict(
                _("Someone answered this handoff a moment ago."), code="handoff_answered"
            )
        if not Deal.objects.filter(
            pk=handoff.deal_id, stage_id=handoff.to_stage_id, responsible_id=handoff.sender_id
        ).update(responsible=actor, updated_at=now):
            raise _changed()
        handoff.status, handoff.answered_by, handoff.answered_at = (
            HandoffStatus.ACCEPTED,
            actor,
            now,
        )
        deal = handoff.deal
        deal.responsible, deal.updated_at = actor, now
        write_event(
            deal,
            DealEventKind.HANDOFF_ACCEPTED,
            actor=actor,
            at=now,
            from_stage=handoff.to_stage,
            to_stage=handoff.to_stage,
            from_user=handoff.sender,
            to_user=actor,
            handoff=handoff,
            data={"late": now > handoff.deadline},
        )
        transaction.on_commit(
            partial(
                notify,
                [handoff.sender_id],
                kind="handoff_accepted",
                client_id=deal.client_id,
                url=deal_url(deal.pk),
                text=_("%(who)s accepted «%(deal)s»")
                % {"who": actor.display_name, "deal": deal.title},
            )
        )
    return handoff


def return_handoff(handoff_id: int, *, actor: User, reason: str) -> Handoff:
    """The receiver gives the deal back, saying why: it returns to the stage it came from and
    stays with the sender."""
    reason = (reason or "").strip()
    with transaction.atomic():
        handoff = _load_handoff(handoff_id, actor)
        if not policies.can_return_handoff(actor, handoff):
            raise Forbidden(_("This handoff is offered to someone else."), code="not_receiver")
        if not reason:
            raise Invalid(_("Say why you return the deal."), code="reason_required", field="reason")
        now = clock.now()
        if not Handoff.objects.filter(pk=handoff.pk, status=HandoffStatus.PENDING).update(
            status=HandoffStatus.RETURNED, answered_by=actor, answered_at=now, return_reason=reason
        ):
            raise Conflict(
                _("Someone answered this handoff a moment ago."), code="handoff_answered"
            )
        if not Deal.objects.filter(
            pk=handoff.deal_id, stage_id=handoff.to_stage_id, responsible_id=handoff.sender_id
        ).update(stage=handoff.from_stage, stage_entered_at=now, updated_at=now):
            raise _changed()
        handoff.status, handoff.answered_by, handoff.answered_at, handoff.return_reason = (
            HandoffStatus.RETURNED,
            actor,
            now,
            reason,
        )
        deal = handoff.deal
        deal.stage, deal.stage_entered_at, deal.updated_at = handoff.from_stage, now, now
        write_event(
            deal,
            DealEventKind.HANDOFF_RETURNED,
            actor=actor,
            at=now,
            from_stage=handoff.to_stage,
            to_stage=handoff.from_stage,
            from_user=handoff.sender,
            to_user=handoff.sender,
            handoff=handoff,
            data={"reason": reason},
        )
        transaction.on_commit(
            partial(
                notify,
                [handoff.sender_id],
                kind="handoff_returned",
                client_id=deal.client_id,
                url=deal_url(deal.pk),
                text=_("%(who)s returned «%(deal)s»: %(reason)s")
                % {"who": actor.display_name, "deal": deal.title, "reason": reason},
            )
        )
    return handoff


def redirect_handoff(
    handoff_id: int, *, actor: User, offer_to: int | None = None, offer_role: str | None = None
) -> Handoff:
    """The sender or the head of sales offers a pending handoff to another person or queue
    (what the head does with an overdue one): a new deadline runs from now."""
    with transaction.atomic():
        handoff = _load_handoff(handoff_id, actor)
        if not policies.can_redirect_handoff(actor, handoff):
            raise Forbidden(
                _("Only the sender or the head of sales offers a handoff to someone else."),
                code="not_sender",
            )
        deal = handoff.deal
        receiver, role = _receiver(
            deal,
            handoff.to_stage,
            sender=handoff.sender,
            offer_to=offer_to,
            offer_role=offer_role,
        )
        if (receiver.pk if receiver else None) == handoff.offered_to_id and (
            role == handoff.offered_role
        ):
            raise Invalid(_("The handoff is already offered there."), code="same_receiver")
        now = clock.now()
        deadline = add_working_hours(now, deal.pipeline.handoff_hours)
        if not Handoff.objects.filter(
            pk=handoff.pk,
            status=HandoffStatus.PENDING,
            offered_to_id=handoff.offered_to_id,
            offered_role=handoff.offered_role,
        ).update(offered_to=receiver, offered_role=role, deadline=deadline, escalated_at=None):
            raise Conflict(
                _("Someone answered this handoff a moment ago."), code="handoff_answered"
            )
        previous = {"offered_to": handoff.offered_to_id, "offered_role": handoff.offered_role}
        handoff.offered_to, handoff.offered_role, handoff.deadline, handoff.escalated_at = (
            receiver,
            role,
            deadline,
            None,
        )
        write_event(
            deal,
            DealEventKind.HANDOFF_REDIRECTED,
            actor=actor,
            at=now,
            handoff=handoff,
            data={
                "previous": previous,
                "offered_to": receiver.pk if receiver else None,
                "offered_role": role,
                "deadline": deadline.isoformat(),
            },
        )
        _announce_offer(handoff, deal)
    return handoff


# --- the deadline sweep ----------------------------------------------------------------------


def escalate_overdue_handoffs(*, batch: int = 1000) -> dict[str, int]:
    """Handoffs not answered by their deadline go to the head of sales, once each: the row is
    marked (`escalated_at`) by a conditional update, and the mark, the timeline event and the
    notification are one transaction, so parallel runs escalate nothing twice. Idempotent."""
    now = clock.now()
    due = list(
        Handoff.objects.filter(
            status=HandoffStatus.PENDING, deadline__lte=now, escalated_at__isnull=True
        )
        .order_by("deadline")
        .values_list("pk", flat=True)[:batch]
    )
    escalated = 0
    for handoff_id in due:
        with transaction.atomic():
            if not Handoff.objects.filter(
                pk=handoff_id, status=HandoffStatus.PENDING, escalated_at__isnull=True
            ).update(escalated_at=now):
                continue  # answered meanwhile, or another worker got it
            handoff = Handoff.objects.select_related(
                "deal", "sender", "offered_to", "to_stage"
            ).get(pk=handoff_id)
            deal = handoff.deal
            receiver = (
                handoff.offered_to.display_name
                if handoff.offered_to
                else str(Role(handoff.offered_role).label)
            )
            write_event(
                deal,
                DealEventKind.HANDOFF_ESCALATED,
                actor=None,
                at=now,
                handoff=handoff,
                data={
                    "deadline": handoff.deadline.isoformat(),
                    "offered_to": handoff.offered_to_id,
                    "offered_role": handoff.offered_role,
                },
            )
            notify(
                heads_of_team(deal.team_id),
                kind="handoff_overdue",
                client_id=deal.client_id,
                url=deal_url(deal.pk),
                text=_(
                    "«%(deal)s» handed over by %(sender)s to %(receiver)s was not accepted by "
                    "%(deadline)s: decide who takes it"
                )
                % {
                    "deal": deal.title,
                    "sender": handoff.sender.display_name,
                    "receiver": receiver,
                    "deadline": handoff.deadline.astimezone(clock.MOSCOW).strftime(
                        "%d.%m.%Y %H:%M"
                    ),
                },
            )
            escalated += 1
    return {"escalated": escalated}
