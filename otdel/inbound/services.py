"""Every write on inbound requests: receiving one from any channel, its life (taken, passed on,
reassigned, converted to a deal, closed), availability, specialists, web forms and the routing
policy. Atomic, audited, notifications after commit; status moves checked in `_step` only."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from pydantic import ValidationError

from otdel.audit.services import record
from otdel.core import clock
from otdel.core.calendar import add_working_hours
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
from otdel.core.versioned import publish_version
from otdel.inbound import availability, policies
from otdel.inbound.assign import (
    _write_assignment,
    lock_team,
    next_turn,
    request_url,
    route_waiting,
    routing_policy_in_force,
)
from otdel.inbound.matching import match_sender, open_duplicate
from otdel.inbound.models import (
    Channel,
    EventKind,
    InboundRequest,
    RequestEvent,
    RequestMessage,
    RoutingPolicy,
    Specialist,
    Status,
    WebForm,
)
from otdel.inbound.policy_document import RoutingPolicyDocument
from otdel.inbound.routing import explain
from otdel.inbound.schemas import RequestIn
from otdel.people.models import Availability, User
from otdel.people.selectors import heads_of_team
from otdel.people.services import notify
from otdel.sales.models import ProductCategory

# Which status a request may be in for each step (the request's status machine, as data).
STEPS: dict[str, tuple[str, ...]] = {
    "take": (Status.ASSIGNED,),
    "take_from_queue": (Status.NEW,),
    "pass_on": (Status.ASSIGNED,),
    "reassign": (Status.NEW, Status.ASSIGNED, Status.IN_WORK),
    "convert": (Status.ASSIGNED, Status.IN_WORK),
    "close": (Status.NEW, Status.ASSIGNED, Status.IN_WORK),
}


def _load(request_id: int, viewer: User) -> InboundRequest:
    request = (
        InboundRequest.objects.select_related("client__owner", "assignee")
        .filter(pk=request_id)
        .first()
    )
    if request is None or not policies.can_view_request(viewer, request):
        raise NotFound(_("No such request."), code="request_not_found")
    return request


def _load_of(person: User, policy: RoutingPolicyDocument) -> tuple[int, int]:
    """A person's open requests and his capacity (read under the team's lock)."""
    open_now = InboundRequest.objects.filter(
        assignee=person, status__in=(Status.ASSIGNED, Status.IN_WORK)
    ).count()
    capacity = (
        Specialist.objects.filter(user=person).values_list("capacity", flat=True).first()
        or policy.default_capacity
    )
    return open_now, capacity


def _step(request: InboundRequest, step: str, **values: Any) -> None:
    """Move the request if it is still where the step allows (a conditional update: two people
    acting at once cannot both win); otherwise say where it is now and change nothing."""
    values.setdefault("updated_at", clock.now())
    moved = InboundRequest.objects.filter(pk=request.pk, status__in=STEPS[step]).update(**values)
    if not moved:
        current = InboundRequest.objects.filter(pk=request.pk).values_list("status", flat=True)
        label = Status(current.first() or request.status).label
        raise Conflict(
            _("The request has moved on: it is “%(status)s” now.") % {"status": label},
            code="request_moved_on",
        )
    for field, value in values.items():
        setattr(request, field, value)


def _event(
    request: InboundRequest,
    kind: str,
    *,
    actor: User | None = None,
    to_user_id: int | None = None,
    at: dt.datetime | None = None,
    **data: Any,
) -> RequestEvent:
    return RequestEvent.objects.create(
        request=request,
        kind=kind,
        at=at or clock.now(),
        actor=actor,
        to_user_id=to_user_id,
        data=data,
    )


# --- receiving ---------------------------------------------------------------------------------


@dataclass
class Received:
    """The request a message became or joined, and whether it was new."""

    request: InboundRequest
    created: bool
    joined: bool = False
    # The message stored for it (None: a re-sent record, nothing stored).
    message: RequestMessage | None = None


def _known(channel: str, external_id: str) -> InboundRequest | None:
    if not external_id:
        return None
    found = InboundRequest.objects.filter(channel=channel, external_id=external_id).first()
    if found is not None:
        return found
    message = (
        RequestMessage.objects.filter(channel=channel, message_id=external_id)
        .select_related("request")
        .first()
    )
    return message.request if message else None


def receive(
    data: RequestIn,
    *,
    team_id: int,
    channel: str,
    external_id: str = "",
    actor: User | None = None,
    web_form: WebForm | None = None,
    call_id: int | None = None,
    in_reply_to: InboundRequest | None = None,
    sender: str = "",
    held_by: User | None = None,
) -> Received:
    """A request arrives from a channel: a re-sent one changes nothing; a repeat from the same
    client, number or e-mail within the window joins the open request; otherwise it is matched
    to a client, gets its deadlines and goes to the queue, which routes it at once. `held_by`:
    the person already talking to the customer (he answered the call) holds it from the start."""
    known = _known(channel, external_id)
    if known is not None:
        return Received(known, created=False)
    if (
        data.category_id is not None
        and not ProductCategory.objects.filter(pk=data.category_id).exists()
    ):
        raise Invalid(_("No such product category."), code="invalid_category", field="category_id")
    now = clock.now()
    policy = routing_policy_in_force(team_id, now).doc
    phone_e164 = data.phone_e164
    match = match_sender(
        team_id=team_id,
        phone_e164=phone_e164,
        email=data.email,
        inn=data.inn,
        company=data.company,
    )
    try:
        with transaction.atomic():
            target = in_reply_to
            if target is None and policy.duplicate_window_hours:
                target = open_duplicate(
                    team_id=team_id,
                    client_id=match.client.pk if match.client else None,
                    phone_e164=phone_e164,
                    email=data.email,
                    since=now - dt.timedelta(hours=policy.duplicate_window_hours),
                )
            if target is not None:
                message = RequestMessage.objects.create(
                    request=target,
                    channel=channel,
                    message_id=external_id,
                    sender=sender or data.email or data.phone or data.name,
                    subject=data.subject,
                    body=data.message,
                    at=now,
                )
                _event(target, EventKind.JOINED, actor=actor, at=now, channel=channel)
                if target.assignee_id:
                    transaction.on_commit(
                        partial(
                            notify,
                            [target.assignee_id],
                            kind="inbound_joined",
                            client_id=target.client_id,
                            url=request_url(target.pk),
                            text=_("Request №%(number)s: the customer wrote again")
                            % {"number": target.number},
                        )
                    )
                return Received(target, created=False, joined=True, message=message)
            request = InboundRequest.objects.create(
                team_id=team_id,
                channel=channel,
                external_id=external_id,
                name=data.name,
                company=data.company,
                phone=data.phone,
                phone_e164=phone_e164,
                email=data.email,
                inn=data.inn,
                subject=data.subject,
                message=data.message,
                category_id=data.category_id,
                region=data.region or (match.client.region if match.client else ""),
                language=data.language,
                web_form=web_form,
                call_id=call_id,
                client=match.client,
                contact=match.contact,
                match_reasons=match.reasons,
                first_response_due_at=availability.due_after(now, policy.first_response_minutes),
                resolution_due_at=add_working_hours(now, policy.resolution_hours),
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
            message = RequestMessage.objects.create(
                request=request,
                channel=channel,
                message_id="",
                sender=sender or data.email or data.phone or data.name,
                subject=data.subject,
                body=data.message,
                at=now,
            )
            _event(
                request,
                EventKind.CREATED,
                actor=actor,
                at=now,
                channel=channel,
                client=match.client.pk if match.client else None,
                match=match.reasons,
            )
            if held_by is not None:
                why = {
                    "rule": "answered_call",
                    "chosen": {"id": held_by.pk, "name": held_by.short_name},
                }
                InboundRequest.objects.filter(pk=request.pk).update(
                    status=Status.IN_WORK,
                    assignee=held_by,
                    assigned_at=now,
                    assigned_why=why,
                    first_response_at=now,
                )
                _event(
                    request,
                    EventKind.ASSIGNED,
                    at=now,
                    to_user_id=held_by.pk,
                    why=why,
                    text=explain(why),
                )
            else:
                route_waiting(team_id, now=now, fresh_id=request.pk, policy=policy)
            if policy.acknowledge_by_email and request.email and channel != Channel.EMAIL:
                _acknowledge_after_commit(request.pk)
    except IntegrityError:
        # The same record posted twice at the same moment: the other post stored it.
        existing = _known(channel, external_id)
        if existing is None:
            raise
        return Received(existing, created=False)
    request.refresh_from_db()
    return Received(request, created=True, message=message)


def _acknowledge_after_commit(request_id: int) -> None:
    from otdel.inbound.tasks import acknowledge_request

    transaction.on_commit(lambda: acknowledge_request.enqueue(request_id))


def enter_request(data: RequestIn, *, team_id: int, actor: User) -> Received:
    """A coordinator types in a request that came by another way (a visit, a colleague's
    phone); it is routed like any other."""
    if not policies.can_enter_request(actor, team_id):
        raise Forbidden(_("You may not enter requests for this team."), code="not_in_team")
    received = receive(data, team_id=team_id, channel=Channel.MANUAL, actor=actor)
    record(
        actor=actor, verb="inbound.entered", obj=received.request, data={"joined": received.joined}
    )
    return received


def parse_request(payload: dict[str, Any]) -> RequestIn:
    """Validate a posted request; errors per field in the user's language."""
    try:
        return RequestIn.model_validate(payload)
    except ValidationError as err:
        raise Invalid(
            _("The request is not complete."),
            code="invalid_request",
            errors=err.errors(include_url=False, include_context=False),
        ) from err


# --- the request's life --------------------------------------------------------------------------


def take(request_id: int, *, actor: User) -> InboundRequest:
    """The assignee takes the request in work: that is his first response, and an owner who
    answers in time keeps it."""
    request = _load(request_id, actor)
    if request.assignee_id != actor.pk:
        raise Forbidden(_("This request is assigned to someone else."), code="not_assignee")
    now = clock.now()
    with transaction.atomic():
        _step(
            request,
            "take",
            status=Status.IN_WORK,
            owner_due_at=None,
            first_response_at=request.first_response_at or now,
            updated_at=now,
        )
        _event(request, EventKind.TAKEN, actor=actor, at=now)
        record(actor=actor, verb="inbound.taken", obj=request)
    return request


def take_from_queue(request_id: int, *, actor: User) -> InboundRequest:
    """A specialist takes a waiting request himself (within his capacity)."""
    request = _load(request_id, actor)
    if not policies.can_take_from_queue(actor, request):
        raise Forbidden(
            _("Only a specialist of the team takes a waiting request."), code="not_in_team"
        )
    now = clock.now()
    policy = routing_policy_in_force(request.team_id, now).doc
    with transaction.atomic():
        lock_team(request.team_id)
        open_now, capacity = _load_of(actor, policy)
        if open_now >= capacity:
            raise Conflict(
                _("You already hold %(open)s open requests of %(capacity)s.")
                % {"open": open_now, "capacity": capacity},
                code="over_capacity",
            )
        why = {
            "rule": "manual",
            "by": actor.short_name,
            "reason": _("taken from the queue"),
            "chosen": {
                "id": actor.pk,
                "name": actor.short_name,
                "open": open_now,
                "capacity": capacity,
            },
        }
        if not _write_assignment(
            request,
            user_id=actor.pk,
            why=why,
            policy=policy,
            now=now,
            owner_first=False,
            catch_up=False,
            turn=next_turn(request.team_id),
            actor=actor,
        ):
            raise Conflict(_("Someone has just taken this request."), code="request_moved_on")
        InboundRequest.objects.filter(pk=request.pk).update(
            status=Status.IN_WORK, first_response_at=now
        )
        _event(request, EventKind.TAKEN, actor=actor, at=now)
        record(actor=actor, verb="inbound.taken_from_queue", obj=request)
    request.refresh_from_db()
    return request


def reassign(request_id: int, *, to_user_id: int, actor: User, reason: str) -> InboundRequest:
    """The head of sales gives a request to a person of the team, with a reason; the previous
    assignee and the new one are told."""
    request = _load(request_id, actor)
    if not policies.can_reassign(actor, request.team_id):
        raise Forbidden(_("Only the head of sales reassigns requests."), code="not_head_of_sales")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("Say why you reassign it."), code="reason_required", field="reason")
    person = User.objects.filter(pk=to_user_id, is_active=True, team_id=request.team_id).first()
    if person is None:
        raise Invalid(
            _("Pick an active person of the team."), code="invalid_assignee", field="to_user_id"
        )
    if person.pk == request.assignee_id:
        raise Conflict(
            _("The request is already with %(name)s.") % {"name": person.display_name},
            code="same_assignee",
        )
    now = clock.now()
    previous = request.assignee_id
    policy = routing_policy_in_force(request.team_id, now).doc
    with transaction.atomic():
        lock_team(request.team_id)
        open_now, capacity = _load_of(person, policy)
        why = {
            "rule": "manual",
            "by": actor.short_name,
            "reason": reason,
            "chosen": {
                "id": person.pk,
                "name": person.short_name,
                "open": open_now,
                "capacity": capacity,
            },
        }
        status = Status.IN_WORK if request.status == Status.IN_WORK else Status.ASSIGNED
        _step(
            request,
            "reassign",
            status=status,
            assignee_id=person.pk,
            assigned_at=now,
            assigned_why=why,
            owner_due_at=None,
            updated_at=now,
        )
        _event(
            request,
            EventKind.REASSIGNED,
            actor=actor,
            to_user_id=person.pk,
            at=now,
            why=why,
            text=_("assigned by %(who)s: %(reason)s") % {"who": actor.short_name, "reason": reason},
            previous=previous,
        )
        record(
            actor=actor,
            verb="inbound.reassigned",
            obj=request,
            data={"from": previous, "to": person.pk, "reason": reason},
        )
        transaction.on_commit(
            partial(
                notify,
                [person.pk, previous],
                kind="inbound_reassigned",
                client_id=request.client_id,
                url=request_url(request.pk),
                text=_("Request №%(number)s is now with %(name)s: %(reason)s")
                % {"number": request.number, "name": person.short_name, "reason": reason},
            )
        )
    return request


def pass_on(request: InboundRequest, *, now: dt.datetime, why: str) -> None:
    """The assignee (the owner, under owner first) did not respond in time: the request goes
    back to the queue for the next specialist, never to him again; he and the head are told."""
    previous = request.assignee_id
    passed = sorted({*request.passed_by, previous}) if previous else list(request.passed_by)
    with transaction.atomic():
        _step(
            request,
            "pass_on",
            status=Status.NEW,
            assignee_id=None,
            assigned_at=None,
            owner_due_at=None,
            passed_by=passed,
            updated_at=now,
        )
        _event(request, EventKind.PASSED, at=now, to_user_id=None, previous=previous, reason=why)
        route_waiting(request.team_id, now=now)
        request.refresh_from_db()
        heads = heads_of_team(request.team_id)
        new_name = request.assignee.short_name if request.assignee else _("the team queue")
        transaction.on_commit(
            partial(
                notify,
                [previous, *heads],
                kind="inbound_passed",
                client_id=request.client_id,
                url=request_url(request.pk),
                text=_("Request №%(number)s got no response in time and went to %(name)s")
                % {"number": request.number, "name": new_name},
            )
        )


def close(request_id: int, *, actor: User, reason: str) -> InboundRequest:
    """The assignee (or the head of sales) closes a request that will not become a deal,
    with the reason (spam, a wrong number, a question answered)."""
    request = _load(request_id, actor)
    if not policies.can_work_on(actor, request):
        raise Forbidden(_("This request is assigned to someone else."), code="not_assignee")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("Say why the request is closed."), code="reason_required", field="reason")
    now = clock.now()
    with transaction.atomic():
        _step(
            request,
            "close",
            status=Status.CLOSED,
            close_reason=reason[:500],
            resolved_at=now,
            owner_due_at=None,
            first_response_at=request.first_response_at or now,
            updated_at=now,
        )
        _event(request, EventKind.CLOSED, actor=actor, at=now, reason=reason)
        record(actor=actor, verb="inbound.closed", obj=request, data={"reason": reason})
    return request


def convert_to_deal(
    request_id: int, *, actor: User, title: str, amount_estimate: Decimal = Decimal("0")
) -> InboundRequest:
    """The assignee turns the request into a deal (source: inbound). A new company becomes his
    client; a pool client is claimed by him (caps apply); an owned client stays with its owner,
    who is told that the deal is handled by the person the request went to."""
    from otdel.clients.schemas import ClientIn, ContactIn
    from otdel.clients.services import create_client
    from otdel.ownership import services as ownership
    from otdel.sales.deals import create_deal
    from otdel.sales.schemas import DealIn

    request = _load(request_id, actor)
    if not policies.can_work_on(actor, request):
        raise Forbidden(_("This request is assigned to someone else."), code="not_assignee")
    if request.status not in STEPS["convert"]:
        raise Conflict(
            _("The request has moved on: it is “%(status)s” now.")
            % {"status": Status(request.status).label},
            code="request_moved_on",
        )
    title = (
        (title or "").strip()
        or request.subject
        or _("Request №%(number)s") % {"number": request.number}
    )
    responsible = request.assignee or actor
    now = clock.now()
    with transaction.atomic():
        client = request.client
        if client is None:
            contact = ContactIn(
                full_name=request.name or request.email or request.phone,
                email=request.email,
                phones=[request.phone] if request.phone else [],
            )
            client = create_client(
                ClientIn(
                    name=request.company or request.name or request.email or request.phone,
                    contacts=[contact],
                ),
                actor=actor,
                team=request.team,
                owner=responsible,
                allow_duplicates=True,
            )
        elif client.owner_id is None:
            ownership.claim(
                client.pk,
                actor=responsible,
                reason=_("inbound request №%(number)s") % {"number": request.number},
            )
        client.refresh_from_db()
        try:
            deal = create_deal(
                DealIn(
                    client_id=client.pk,
                    title=title[:300],
                    amount_estimate=amount_estimate,
                    responsible_id=responsible.pk,
                    inbound=True,
                ),
                actor=responsible,
                for_inbound_request=True,
            )
        except ValidationError as err:
            raise Invalid(
                _("The deal is not valid."),
                code="invalid_deal",
                errors=err.errors(include_url=False, include_context=False),
            ) from err
        _step(
            request,
            "convert",
            status=Status.CONVERTED,
            client_id=client.pk,
            deal_id=deal.pk,
            resolved_at=now,
            owner_due_at=None,
            first_response_at=request.first_response_at or now,
            updated_at=now,
        )
        _event(request, EventKind.CONVERTED, actor=actor, at=now, deal=deal.pk, client=client.pk)
        record(actor=actor, verb="inbound.converted", obj=request, data={"deal": deal.pk})
        if client.owner_id and client.owner_id != responsible.pk:
            transaction.on_commit(
                partial(
                    notify,
                    [client.owner_id],
                    kind="inbound_converted",
                    client_id=client.pk,
                    url=request_url(request.pk),
                    text=_(
                        "A request from your client %(client)s became a deal handled by %(name)s"
                    )
                    % {"client": client.name, "name": responsible.short_name},
                )
            )
    return request


# --- availability, specialists, forms, policy ----------------------------------------------------


def set_availability(person_id: int, *, status: str, actor: User) -> User:
    """A person goes on shift, away or off; coming back on shift offers him what waited in the
    queue (within the catch-up limit, so he is not flooded)."""
    person = User.objects.filter(pk=person_id).first()
    if person is None or not policies.can_set_availability(actor, person):
        raise NotFound(_("No such person."), code="person_not_found")
    if status not in Availability.values:
        raise Invalid(_("Unknown availability."), code="invalid_availability", field="status")
    if person.availability == status:
        return person
    now = clock.now()
    with transaction.atomic():
        User.objects.filter(pk=person.pk).update(availability=status, availability_changed_at=now)
        record(
            actor=actor,
            verb="people.availability",
            obj=person,
            data={"from": person.availability, "to": status},
        )
        if status == Availability.ON_SHIFT and person.team_id:
            route_waiting(person.team_id, now=now)
    person.refresh_from_db()
    return person


def set_specialist(
    user_id: int,
    *,
    actor: User,
    takes_requests: bool = True,
    capacity: int | None = None,
    weight: int = 1,
    category_ids: Iterable[int] = (),
    regions: Iterable[str] = (),
    languages: Iterable[str] = (),
    work_starts: dt.time | None = None,
    work_ends: dt.time | None = None,
) -> Specialist:
    """The head of sales says whether a person takes requests, how many at most, his weight,
    his skills and his working hours (None: unchanged)."""
    person = User.objects.filter(pk=user_id, is_active=True).first()
    if person is None or person.team_id is None:
        raise NotFound(_("No such person."), code="person_not_found")
    if not policies.can_edit_routing(actor, person.team_id):
        raise Forbidden(
            _("Only the head of sales sets who takes requests."), code="not_head_of_sales"
        )
    if capacity is not None and not 1 <= capacity <= 1000:
        raise Invalid(_("Capacity is from 1 to 1000."), code="invalid_capacity", field="capacity")
    if not 1 <= weight <= 100:
        raise Invalid(_("Weight is from 1 to 100."), code="invalid_weight", field="weight")
    starts = work_starts or person.work_starts
    ends = work_ends or person.work_ends
    if starts >= ends:
        raise Invalid(
            _("The working day must end after it starts."), code="invalid_hours", field="work_ends"
        )
    with transaction.atomic():
        if (starts, ends) != (person.work_starts, person.work_ends):
            User.objects.filter(pk=person.pk).update(work_starts=starts, work_ends=ends)
        specialist, _created = Specialist.objects.update_or_create(
            user=person,
            defaults={
                "team_id": person.team_id,
                "takes_requests": takes_requests,
                "capacity": capacity,
                "weight": weight,
                "regions": [r.strip() for r in regions if r.strip()],
                "languages": [x.strip() for x in languages if x.strip()],
            },
        )
        specialist.categories.set(list(category_ids))
        record(
            actor=actor,
            verb="inbound.specialist",
            obj=specialist,
            data={
                "user": person.pk,
                "takes_requests": takes_requests,
                "capacity": capacity,
                "weight": weight,
                "categories": sorted(category_ids),
                "regions": specialist.regions,
                "languages": specialist.languages,
                "work_starts": starts.isoformat(),
                "work_ends": ends.isoformat(),
            },
        )
        if takes_requests:
            route_waiting(person.team_id)
    return specialist


def create_web_form(
    team_id: int, *, name: str, actor: User, allowed_origins: Iterable[str] = ()
) -> WebForm:
    """The head of sales creates a site's form; its key is public (it only says which team)."""
    if not policies.can_edit_routing(actor, team_id):
        raise Forbidden(_("Only the head of sales manages web forms."), code="not_head_of_sales")
    name = (name or "").strip()
    if not name:
        raise Invalid(_("Name the form."), code="name_required", field="name")
    with transaction.atomic():
        form = WebForm.objects.create(
            team_id=team_id,
            name=name[:200],
            key=secrets.token_urlsafe(18),
            allowed_origins=[o.strip().rstrip("/") for o in allowed_origins if o.strip()],
            created_by=actor,
            created_at=clock.now(),
        )
        record(actor=actor, verb="inbound.web_form_created", obj=form, data={"name": form.name})
    return form


def set_web_form_active(form_id: int, *, active: bool, actor: User) -> WebForm:
    """The head of sales switches a form off (posts with its key are refused) or on."""
    form = WebForm.objects.filter(pk=form_id).first()
    if form is None or not policies.can_edit_routing(actor, form.team_id):
        raise NotFound(_("No such form."), code="form_not_found")
    with transaction.atomic():
        WebForm.objects.filter(pk=form.pk).update(is_active=active)
        record(actor=actor, verb="inbound.web_form_active", obj=form, data={"active": active})
    form.refresh_from_db()
    return form


def publish_routing_policy(
    team_id: int,
    *,
    document: RoutingPolicyDocument | dict[str, Any],
    effective_from: dt.datetime,
    actor: User,
    comment: str = "",
) -> RoutingPolicy:
    """The head of sales approves a new version of the routing policy, effective from a date;
    requests already assigned keep their assignment and deadlines."""
    if not policies.can_edit_routing(actor, team_id):
        raise Forbidden(
            _("Only the head of sales edits the routing policy."), code="not_head_of_sales"
        )
    try:
        parsed = (
            document
            if isinstance(document, RoutingPolicyDocument)
            else RoutingPolicyDocument.model_validate(document)
        )
    except ValidationError as err:
        raise Invalid(
            _("The policy is not valid."),
            code="invalid_policy",
            errors=err.errors(include_url=False, include_context=False),
        ) from err
    version: RoutingPolicy = publish_version(
        RoutingPolicy,
        team_id=team_id,
        document=parsed,
        effective_from=effective_from,
        actor=actor,
        comment=comment,
        verb="inbound.routing_policy_published",
    )
    return version


def mark_first_response(request_ids: Iterable[int], *, at: dt.datetime) -> int:
    """Requests whose assignee answered (a reply, a call): the first response is recorded once."""
    return InboundRequest.objects.filter(
        Q(pk__in=list(request_ids)), first_response_at__isnull=True
    ).update(first_response_at=at, owner_due_at=None, updated_at=at)
