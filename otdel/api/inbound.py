"""Inbound requests over HTTP: the public web-form endpoint (a site's key, no login), my
requests, the team queue, the head of sales' board, the request's life, availability, the
specialists and the routing policy. Reads through otdel.inbound.selectors, writes through
otdel.inbound.services; a refusal changes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja.responses import Status as HttpStatus

from otdel.api.auth import viewer
from otdel.api.errors import READ_ERRORS, WRITE_ERRORS, ErrorOut
from otdel.api.paging import PageParams, page_of
from otdel.core import clock
from otdel.core.errors import Forbidden
from otdel.inbound import policies, selectors, services, webform
from otdel.inbound.assign import routing_policy_in_force
from otdel.inbound.models import InboundRequest, Specialist, WebForm
from otdel.inbound.policy_document import RoutingPolicyDocument
from otdel.inbound.routing import explain
from otdel.telephony.admission import address_subject, client_address

router = Router(tags=["inbound requests"])
public = Router(tags=["web form (public)"], auth=None)


class RequestFieldsIn(Schema):
    """What a person asking us left: a name and a phone or e-mail (at least one), what he
    needs."""

    name: str = Field("", max_length=200)
    company: str = Field("", max_length=300)
    phone: str = Field("", max_length=64)
    email: str = Field("", max_length=254)
    inn: str = Field("", max_length=12)
    subject: str = Field("", max_length=300)
    message: str = Field("", max_length=20_000)
    region: str = Field("", max_length=120)
    language: str = Field("", max_length=8)


class ManualIn(RequestFieldsIn):
    """A request typed in by a coordinator; the product category helps routing by skill."""

    category_id: int | None = None


class FormPostIn(RequestFieldsIn):
    """A site's form post: `website` must stay empty (robots fill it); `submission_id`
    (optional) makes a re-sent post change nothing."""

    website: str = Field("", max_length=300, description="Honeypot: leave empty")
    submission_id: str = Field("", max_length=100)


class FormPostOut(Schema):
    number: str = Field(description="The request's number to quote; empty for a robot")


def _cors(response: HttpResponse, form: WebForm, request: HttpRequest) -> HttpResponse:
    origin = request.headers.get("Origin", "").rstrip("/")
    if origin and (not form.allowed_origins or origin in form.allowed_origins):
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
    return response


@public.post(
    "/inbound/forms/{key}",
    response={201: FormPostOut, 404: ErrorOut, 413: ErrorOut, 422: ErrorOut, 429: ErrorOut},
)
def post_web_form(
    request: HttpRequest, response: HttpResponse, key: str, payload: FormPostIn
) -> HttpStatus[FormPostOut]:
    """A site posts what a visitor left in its form (JSON, at most 32 KB). Limited per
    address (429); an unknown or switched-off key is 404; a filled honeypot is accepted and
    stored nowhere."""
    form = webform.form_by_key(key)
    _cors(response, form, request)
    accepted = webform.accept_post(
        form,
        payload.model_dump(),
        address=address_subject(client_address(request)),
    )
    return HttpStatus(201, FormPostOut(number=accepted.number))


@public.api_operation(["OPTIONS"], "/inbound/forms/{key}", response={204: None, 404: ErrorOut})
def web_form_preflight(request: HttpRequest, response: HttpResponse, key: str) -> HttpStatus[None]:
    """A browser asks whether a site may post to this form (CORS)."""
    form = webform.form_by_key(key)
    _cors(response, form, request)
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "600"
    return HttpStatus(204, None)


# --- requests --------------------------------------------------------------------------------


class RequestRow(Schema):
    id: int
    number: str
    channel: str
    status: str
    name: str
    company: str
    phone: str
    email: str
    subject: str
    client_id: int | None
    client_name: str | None
    owner_id: int | None
    assignee_id: int | None
    assignee_name: str | None
    why: str = Field(description="Why this person (or why it waits), as a sentence")
    created_at: dt.datetime
    assigned_at: dt.datetime | None
    owner_due_at: dt.datetime | None
    first_response_due_at: dt.datetime | None
    first_response_at: dt.datetime | None
    resolution_due_at: dt.datetime | None
    escalated: bool
    deal_id: int | None


class RequestPage(Schema):
    items: list[RequestRow]
    count: int
    page: int
    page_size: int
    pages: int


class EventOut(Schema):
    at: dt.datetime
    kind: str
    label: str
    actor: str
    to_user: str
    text: str


class MessageOut(Schema):
    incoming: bool
    channel: str
    sender: str
    subject: str
    body: str
    at: dt.datetime
    attachments: list[str]


class RequestOut(RequestRow):
    message: str
    match_reasons: list[str]
    close_reason: str
    events: list[EventOut]
    messages: list[MessageOut]


def _row(r: InboundRequest) -> dict[str, Any]:
    return {
        "id": r.pk,
        "number": r.number,
        "channel": r.channel,
        "status": r.status,
        "name": r.name,
        "company": r.company,
        "phone": r.phone,
        "email": r.email,
        "subject": r.subject,
        "client_id": r.client_id,
        "client_name": r.client.name if r.client else None,
        "owner_id": r.client.owner_id if r.client else None,
        "assignee_id": r.assignee_id,
        "assignee_name": r.assignee.display_name if r.assignee else None,
        "why": explain(r.assigned_why),
        "created_at": r.created_at,
        "assigned_at": r.assigned_at,
        "owner_due_at": r.owner_due_at,
        "first_response_due_at": r.first_response_due_at,
        "first_response_at": r.first_response_at,
        "resolution_due_at": r.resolution_due_at,
        "escalated": bool(r.escalated_at or r.resolution_escalated_at),
        "deal_id": r.deal_id,
    }


def _detail(r: InboundRequest) -> RequestOut:
    messages = [
        MessageOut(
            incoming=m.incoming,
            channel=m.channel,
            sender=m.sender,
            subject=m.subject,
            body=m.body,
            at=m.at,
            attachments=[a.name for a in m.attachments.all()],
        )
        for m in r.messages.prefetch_related("attachments")
    ]
    return RequestOut(
        **_row(r),
        message=r.message,
        match_reasons=list(r.match_reasons),
        close_reason=r.close_reason,
        events=[EventOut(**e) for e in selectors.story_of(r)],
        messages=messages,
    )


def _page(qs: Any, params: PageParams) -> RequestPage:
    items, meta = page_of(qs, params)
    return RequestPage(items=[RequestRow(**_row(r)) for r in items], **meta)


@router.get("/inbound/requests/mine", response={200: RequestPage, **READ_ERRORS})
def my_requests(
    request: HttpRequest, resolved: bool = False, page: int = 1, page_size: int = 50
) -> RequestPage:
    """My open requests, nearest deadline first (resolved=true: the ones I finished)."""
    params = PageParams(page=page, page_size=page_size)
    return _page(selectors.my_requests(viewer(request), resolved=resolved), params)


@router.get("/inbound/queue", response={200: RequestPage, 403: ErrorOut, **READ_ERRORS})
def team_queue(request: HttpRequest, page: int = 1, page_size: int = 50) -> RequestPage:
    """My team's waiting requests, oldest first."""
    params = PageParams(page=page, page_size=page_size)
    return _page(selectors.team_queue(viewer(request)), params)


@router.get("/inbound/requests", response={200: RequestPage, 403: ErrorOut, **READ_ERRORS})
def team_requests(
    request: HttpRequest,
    status: str = "",
    assignee_id: int | None = None,
    breached: bool = False,
    page: int = 1,
    page_size: int = 50,
) -> RequestPage:
    """The team's requests with filters."""
    params = PageParams(page=page, page_size=page_size)
    qs = selectors.team_requests(
        viewer(request), status=status, assignee_id=assignee_id, breached=breached
    )
    return _page(qs, params)


@router.post("/inbound/requests", response={201: RequestOut, **WRITE_ERRORS})
def enter_request(request: HttpRequest, payload: ManualIn) -> HttpStatus[RequestOut]:
    """Enter a request that came by another way (a visit, a colleague's phone); routed like
    any other."""
    me = viewer(request)
    data = services.parse_request(payload.model_dump())
    received = services.enter_request(data, team_id=me.team_id or 0, actor=me)
    return HttpStatus(201, _detail(selectors.request_for(me, received.request.pk)))


@router.get("/inbound/requests/{request_id}", response={200: RequestOut, **READ_ERRORS})
def get_request(request: HttpRequest, request_id: int) -> RequestOut:
    """One request with why it went where it is, its story and its messages."""
    return _detail(selectors.request_for(viewer(request), request_id))


class ReasonIn(Schema):
    reason: str = Field("", max_length=500)


class ReassignIn(Schema):
    to_user_id: int
    reason: str = Field("", max_length=500)


class ConvertIn(Schema):
    title: str = Field("", max_length=300)
    amount_estimate: Decimal = Field(Decimal("0"), ge=0, max_digits=14, decimal_places=2)


class ReplyIn(Schema):
    body: str = Field(min_length=1, max_length=20_000)


def _after(request: HttpRequest, request_id: int) -> RequestOut:
    return _detail(selectors.request_for(viewer(request), request_id))


@router.post("/inbound/requests/{request_id}/take", response={200: RequestOut, **WRITE_ERRORS})
def take_request(request: HttpRequest, request_id: int) -> RequestOut:
    """The assignee takes the request in work (his first response)."""
    services.take(request_id, actor=viewer(request))
    return _after(request, request_id)


@router.post(
    "/inbound/requests/{request_id}/take-from-queue", response={200: RequestOut, **WRITE_ERRORS}
)
def take_from_queue(request: HttpRequest, request_id: int) -> RequestOut:
    """A specialist takes a waiting request himself (within his capacity)."""
    services.take_from_queue(request_id, actor=viewer(request))
    return _after(request, request_id)


@router.post("/inbound/requests/{request_id}/close", response={200: RequestOut, **WRITE_ERRORS})
def close_request(request: HttpRequest, request_id: int, payload: ReasonIn) -> RequestOut:
    """Close a request that will not become a deal, with the reason."""
    services.close(request_id, actor=viewer(request), reason=payload.reason)
    return _after(request, request_id)


@router.post("/inbound/requests/{request_id}/convert", response={200: RequestOut, **WRITE_ERRORS})
def convert_request(request: HttpRequest, request_id: int, payload: ConvertIn) -> RequestOut:
    """Turn the request into a deal (source: inbound request)."""
    services.convert_to_deal(
        request_id,
        actor=viewer(request),
        title=payload.title,
        amount_estimate=payload.amount_estimate,
    )
    return _after(request, request_id)


@router.post("/inbound/requests/{request_id}/reassign", response={200: RequestOut, **WRITE_ERRORS})
def reassign_request(request: HttpRequest, request_id: int, payload: ReassignIn) -> RequestOut:
    """The head of sales gives the request to someone else, with a reason."""
    services.reassign(
        request_id, to_user_id=payload.to_user_id, actor=viewer(request), reason=payload.reason
    )
    return _after(request, request_id)


@router.post("/inbound/requests/{request_id}/reply", response={200: RequestOut, **WRITE_ERRORS})
def reply_to_request(request: HttpRequest, request_id: int, payload: ReplyIn) -> RequestOut:
    """Answer the customer by e-mail (threaded); it counts as the first response."""
    from otdel.inbound import mail

    mail.reply(request_id, actor=viewer(request), body=payload.body)
    return _after(request, request_id)


# --- the board, availability, specialists, policy ----------------------------------------------


class PersonLoadOut(Schema):
    user_id: int
    name: str
    availability: str
    unavailable: str | None = Field(description="None: can take requests now; else why not")
    takes_requests: bool
    open: int
    in_work: int
    capacity: int
    overdue: int
    assigned_today: int


class BoardOut(Schema):
    team_id: int
    people: list[PersonLoadOut]
    waiting: int
    oldest_waiting_at: dt.datetime | None
    breached_first_response: int
    breached_resolution: int
    open_total: int
    breaches: list[RequestRow]
    waiting_rows: list[RequestRow]


@router.get("/inbound/board", response={200: BoardOut, 403: ErrorOut, **READ_ERRORS})
def inbound_board(request: HttpRequest) -> BoardOut:
    """The head of sales' board: load per person, breaches, waiting requests."""
    b = selectors.board(viewer(request))
    return BoardOut(
        team_id=b.team_id,
        people=[PersonLoadOut(**p.__dict__) for p in b.people],
        waiting=b.waiting,
        oldest_waiting_at=b.oldest_waiting_at,
        breached_first_response=b.breached_first_response,
        breached_resolution=b.breached_resolution,
        open_total=b.open_total,
        breaches=[RequestRow(**_row(r)) for r in b.breaches],
        waiting_rows=[RequestRow(**_row(r)) for r in b.waiting_rows],
    )


class AvailabilityIn(Schema):
    status: str = Field(description="on_shift, away or off")


class AvailabilityOut(Schema):
    user_id: int
    status: str
    changed_at: dt.datetime | None


@router.put("/people/{user_id}/availability", response={200: AvailabilityOut, **WRITE_ERRORS})
def set_availability(
    request: HttpRequest, user_id: int, payload: AvailabilityIn
) -> AvailabilityOut:
    """Switch a person's availability (oneself, or the head of sales for his team)."""
    person = services.set_availability(user_id, status=payload.status, actor=viewer(request))
    return AvailabilityOut(
        user_id=person.pk, status=person.availability, changed_at=person.availability_changed_at
    )


class SpecialistIn(Schema):
    takes_requests: bool = True
    capacity: int | None = Field(None, description="Empty: the policy's default")
    weight: int = 1
    category_ids: list[int] = []
    regions: list[str] = []
    languages: list[str] = []
    work_starts: dt.time | None = Field(None, description="Empty: unchanged (09:00 by default)")
    work_ends: dt.time | None = Field(None, description="Empty: unchanged (18:00 by default)")


class SpecialistOut(SpecialistIn):
    user_id: int
    name: str


def _specialist_out(s: Specialist) -> SpecialistOut:
    return SpecialistOut(
        user_id=s.user_id,
        name=s.user.display_name,
        takes_requests=s.takes_requests,
        capacity=s.capacity,
        weight=s.weight,
        category_ids=sorted(c.pk for c in s.categories.all()),
        regions=list(s.regions),
        languages=list(s.languages),
        work_starts=s.user.work_starts,
        work_ends=s.user.work_ends,
    )


@router.get(
    "/inbound/specialists", response={200: list[SpecialistOut], 403: ErrorOut, **READ_ERRORS}
)
def list_specialists(request: HttpRequest) -> list[SpecialistOut]:
    """Who takes requests in my team, with capacity, weight and skills."""
    me = viewer(request)
    rows = (
        Specialist.objects.filter(team_id=me.team_id)
        .select_related("user")
        .prefetch_related("categories")
    )
    return [_specialist_out(s) for s in rows.order_by("user__last_name", "user__first_name")]


@router.put("/inbound/specialists/{user_id}", response={200: SpecialistOut, **WRITE_ERRORS})
def set_specialist(request: HttpRequest, user_id: int, payload: SpecialistIn) -> SpecialistOut:
    """The head of sales sets whether a person takes requests, capacity, weight, skills."""
    specialist = services.set_specialist(user_id, actor=viewer(request), **payload.model_dump())
    return _specialist_out(specialist)


class RoutingPolicyOut(Schema):
    version: int
    effective_from: dt.datetime | None
    document: dict[str, Any]


class RoutingPolicyIn(Schema):
    document: dict[str, Any]
    effective_from: dt.datetime | None = Field(None, description="Empty: now")
    comment: str = Field("", max_length=500)


@router.get("/inbound/routing-policy", response={200: RoutingPolicyOut, **READ_ERRORS})
def get_routing_policy(request: HttpRequest) -> RoutingPolicyOut:
    """My team's routing policy in force (the defaults if none was published)."""
    me = viewer(request)
    in_force = routing_policy_in_force(me.team_id or 0)
    return RoutingPolicyOut(
        version=in_force.version,
        effective_from=in_force.record.effective_from if in_force.record else None,
        document=in_force.doc.model_dump(mode="json"),
    )


@router.post("/inbound/routing-policy", response={201: RoutingPolicyOut, **WRITE_ERRORS})
def publish_routing_policy(
    request: HttpRequest, payload: RoutingPolicyIn
) -> HttpStatus[RoutingPolicyOut]:
    """The head of sales publishes a new version of the routing policy."""
    me = viewer(request)
    version = services.publish_routing_policy(
        me.team_id or 0,
        document=payload.document,
        effective_from=payload.effective_from or clock.now(),
        actor=me,
        comment=payload.comment,
    )
    return HttpStatus(
        201,
        RoutingPolicyOut(
            version=version.version,
            effective_from=version.effective_from,
            document=RoutingPolicyDocument.model_validate(version.document).model_dump(mode="json"),
        ),
    )


class WebFormIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    allowed_origins: list[str] = []


class WebFormOut(Schema):
    id: int
    name: str
    key: str
    is_active: bool
    allowed_origins: list[str]


@router.get("/inbound/forms", response={200: list[WebFormOut], 403: ErrorOut, **READ_ERRORS})
def list_web_forms(request: HttpRequest) -> list[WebFormOut]:
    """My team's web forms and their keys (head of sales)."""
    me = viewer(request)

    if me.team_id is None or not policies.can_edit_routing(me, me.team_id):
        raise Forbidden(_("Only the head of sales manages web forms."), code="not_head_of_sales")
    return [
        WebFormOut(
            id=f.pk,
            name=f.name,
            key=f.key,
            is_active=f.is_active,
            allowed_origins=f.allowed_origins,
        )
        for f in WebForm.objects.filter(team_id=me.team_id)
    ]


@router.post("/inbound/forms", response={201: WebFormOut, **WRITE_ERRORS})
def create_web_form(request: HttpRequest, payload: WebFormIn) -> HttpStatus[WebFormOut]:
    """Create a web form for a site; its key goes into the site's form."""
    me = viewer(request)
    form = services.create_web_form(
        me.team_id or 0, name=payload.name, actor=me, allowed_origins=payload.allowed_origins
    )
    return HttpStatus(
        201,
        WebFormOut(
            id=form.pk,
            name=form.name,
            key=form.key,
            is_active=form.is_active,
            allowed_origins=form.allowed_origins,
        ),
    )
