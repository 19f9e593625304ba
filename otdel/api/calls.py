"""Calls over HTTP: the call log with verdicts, the post-call outcomes, a bulk endpoint for
integrations, unknown numbers and the team's effective-call policy.

Every change goes through a service (record_calls, mark_outcomes, resolve_unknown_number,
publish_call_policy); these endpoints only parse, call and render.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status
from pydantic import field_validator

from otdel.activities import selectors
from otdel.activities.call_policy import EffectiveCallPolicyDocument, Outcome
from otdel.activities.call_policy_services import call_policy_in_force, publish_call_policy
from otdel.activities.calls import record_calls
from otdel.activities.models import Call, EffectiveCallPolicy
from otdel.activities.outcomes import mark_outcomes
from otdel.activities.unknown import resolve_unknown_number
from otdel.activities.verdicts import reasons_of
from otdel.api.auth import viewer
from otdel.api.errors import READ_ERRORS, WRITE_ERRORS
from otdel.api.paging import PageParams
from otdel.api.schemas import PolicyVersionOut, UserRef, policy_version_out, user_ref
from otdel.core import clock
from otdel.core.errors import Forbidden, NotFound
from otdel.ownership import policies
from otdel.people.models import Role, Team, User
from otdel.telephony.records import CallRecord

router = Router(tags=["calls"])

MAX_BULK = 1000


# --- schemas --------------------------------------------------------------------------------


class ReasonOut(Schema):
    """Why a call is (not) effective: a stable code, its parameters, and a sentence in the
    request's language."""

    code: str
    params: dict[str, Any]
    text: str


class OutcomeOut(Schema):
    kind: str
    marked_at: dt.datetime
    verified: bool | None = Field(description="Confirmed by the data; null: not checkable (yet)")
    verification_note: str


class CallOut(Schema):
    """A call as the phone system reported it, with its verdict."""

    id: int
    source: str
    started_at: dt.datetime
    direction: str
    disposition: str
    talk_seconds: int
    user: UserRef | None
    client_id: int | None
    client_name: str | None
    contact_id: int | None
    their_number: str
    their_e164: str
    recording_url: str
    self_reported: bool
    effective: bool | None = Field(description="null: not judged yet")
    measure: Literal["effective", "callback", ""] = Field(
        description="The measure the call counts in: an effective call, a stale callback the "
        "policy counts separately, or none"
    )
    policy_version: int | None = Field(description="The policy version that judged it")


class CallDetailOut(CallOut):
    reasons: list[ReasonOut]
    outcomes: list[OutcomeOut]


class CallPage(Schema):
    """One page of calls; `has_next` instead of a count (the log may be huge)."""

    items: list[CallOut]
    page: int
    page_size: int
    has_next: bool


def _call_out(call: Call) -> CallOut:
    return CallOut(
        id=call.pk,
        source=call.source,
        started_at=call.started_at,
        direction=call.direction,
        disposition=call.disposition,
        talk_seconds=call.talk_seconds,
        user=user_ref(call.user),
        client_id=call.client_id,
        client_name=call.client.name if call.client else None,
        contact_id=call.contact_id,
        their_number=call.their_number,
        their_e164=call.their_e164,
        recording_url=call.recording_url,
        self_reported=call.self_reported,
        effective=call.effective,
        measure=call.measure,  # type: ignore[arg-type]
        policy_version=call.verdict_policy.version if call.verdict_policy else None,
    )


def _detail(call: Call) -> CallDetailOut:
    return CallDetailOut(
        **_call_out(call).model_dump(),
        reasons=[ReasonOut(code=r.code, params=r.params, text=r.text) for r in reasons_of(call)],
        outcomes=[
            OutcomeOut(
                kind=o.kind,
                marked_at=o.marked_at,
                verified=o.verified,
                verification_note=_(o.verification_note) if o.verification_note else "",
            )
            for o in call.outcomes.order_by("kind")
        ],
    )


# --- the call log ---------------------------------------------------------------------------


class CallFilters(Schema):
    scope: Literal["mine", "team"] = Field(
        "mine", description="`team`: the team's calls (head of sales only)"
    )
    user_id: int | None = Field(None, description="One person's calls (with scope=team)")
    effective: bool | None = None
    measure: Literal["effective", "callback"] | None = Field(
        None, description="Only calls counted in this measure (callback: stale callbacks)"
    )
    direction: Literal["out", "in", "internal"] | None = None
    since: dt.datetime | None = Field(None, description="Calls started at or after")
    until: dt.datetime | None = Field(None, description="Calls started before")
    client_id: int | None = None
    sort: Literal["-time", "time", "-talk", "talk"] = "-time"


@router.get("/calls", response={200: CallPage, **READ_ERRORS})
def list_calls(
    request: HttpRequest, filters: Query[CallFilters], paging: Query[PageParams]
) -> CallPage:
    """My calls with their verdicts; the head of sales may ask for the team's (scope=team)."""
    me = viewer(request)
    if filters.scope == "team" and not me.is_head_of_sales:
        raise Forbidden(
            _("Only the head of sales sees the team's calls."), code="not_head_of_sales"
        )
    qs = selectors.call_log(
        me,
        scope=filters.scope,
        person_id=filters.user_id,
        since=filters.since,
        until=filters.until,
        effective=filters.effective,
        direction=filters.direction or "",
        client_id=filters.client_id,
        sort=filters.sort,
        measure=filters.measure or "",
    )
    start = (paging.page - 1) * paging.page_size
    rows = selectors.with_verdict_policies(list(qs[start : start + paging.page_size + 1]))
    return CallPage(
        items=[_call_out(c) for c in rows[: paging.page_size]],
        page=paging.page,
        page_size=paging.page_size,
        has_next=len(rows) > paging.page_size,
    )


@router.get("/calls/{int:call_id}", response={200: CallDetailOut, **READ_ERRORS})
def get_call(request: HttpRequest, call_id: int) -> CallDetailOut:
    """One call with its verdict's reasons (in the request's language) and its outcomes."""
    return _detail(selectors.call_for(viewer(request), call_id))


class OutcomesIn(Schema):
    outcomes: list[Outcome] = Field(
        max_length=4, description="Every outcome the call achieved (replaces earlier marks)"
    )


@router.post("/calls/{int:call_id}/outcomes", response={200: CallDetailOut, **WRITE_ERRORS})
def mark_call_outcomes(request: HttpRequest, call_id: int, payload: OutcomesIn) -> CallDetailOut:
    """The caller marks what his call achieved (within 48 h); the call is judged again."""
    me = viewer(request)
    mark_outcomes(call_id, actor=me, kinds=payload.outcomes)
    return _detail(selectors.call_for(me, call_id))


# --- bulk ingestion -------------------------------------------------------------------------


class CallRecordIn(Schema):
    """One call as a phone system reported it (the generic record every adapter produces)."""

    source: str = Field(min_length=1, max_length=64, description="The system, e.g. `mango`")
    external_id: str = Field(
        min_length=1, max_length=128, description="The system's own id of the whole call"
    )
    started_at: dt.datetime = Field(description="With a time zone offset")
    direction: Literal["out", "in", "internal"]
    disposition: Literal["answered", "busy", "no_answer", "failed", "abandoned"]
    talk_seconds: int = Field(0, ge=0, le=86_400, description="Answered time (billsec)")
    ring_seconds: int = Field(0, ge=0, le=86_400)
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    account: str = Field("", max_length=64, description="Our side: extension or SIP account")
    their_number: str = Field("", max_length=64, description="Their side, as dialled")
    recording_url: str = Field("", max_length=500)
    raw: dict[str, Any] = Field(default_factory=dict)

    @field_validator("started_at", "answered_at", "ended_at")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError(_("Give the time with its zone offset, e.g. +03:00."))
        return v


class BulkIn(Schema):
    calls: list[CallRecordIn] = Field(min_length=1, max_length=MAX_BULK)


class BulkOut(Schema):
    created: int
    already_known: int
    unknown_numbers: int
    call_ids: list[int]


def _may_ingest(user: User) -> bool:
    """Integrations post calls with a token of the head of sales or an administrator."""
    return user.is_superuser or user.role in (Role.HEAD_OF_SALES, Role.ADMIN)


@router.post("/calls/bulk", response={200: BulkOut, **WRITE_ERRORS})
def post_calls_bulk(request: HttpRequest, payload: BulkIn) -> BulkOut:
    """Store call records from a phone system or an integration (up to 1000 per request);
    re-sending a call (same source and external id) changes nothing."""
    if not _may_ingest(viewer(request)):
        raise Forbidden(
            _("Only the head of sales or an administrator posts call records."),
            code="not_allowed",
        )
    records = [CallRecord(**r.model_dump()) for r in payload.calls]
    with transaction.atomic():
        result = record_calls(records)
    return BulkOut(
        created=result.created,
        already_known=result.already_known,
        unknown_numbers=result.unknown_numbers,
        call_ids=result.call_ids,
    )


# --- unknown numbers ------------------------------------------------------------------------


class UnknownNumberOut(Schema):
    e164: str
    their_number: str
    calls: int
    inbound: int
    last_call: dt.datetime


class UnknownPage(Schema):
    items: list[UnknownNumberOut]
    page: int
    page_size: int
    has_next: bool


@router.get("/unknown-numbers", response={200: UnknownPage, **READ_ERRORS})
def list_unknown_numbers(
    request: HttpRequest, paging: Query[PageParams], q: str = ""
) -> UnknownPage:
    """Numbers with calls and no client, latest first (database operators, heads of sales)."""
    qs = selectors.unknown_callers(viewer(request), q=q[:40])
    start = (paging.page - 1) * paging.page_size
    rows = list(qs[start : start + paging.page_size + 1])
    return UnknownPage(
        items=[
            UnknownNumberOut(
                e164=r["their_e164"],
                their_number=r["their_number"],
                calls=r["calls"],
                inbound=r["inbound"],
                last_call=r["last_call"],
            )
            for r in rows[: paging.page_size]
        ],
        page=paging.page,
        page_size=paging.page_size,
        has_next=len(rows) > paging.page_size,
    )


class ResolveIn(Schema):
    e164: str = Field(min_length=5, max_length=32, description="The unknown number")
    contact_id: int | None = Field(None, description="Put it on this contact…")
    client_id: int | None = Field(None, description="…or on a new contact of this client")
    full_name: str = Field("", max_length=300, description="The new contact's name")
    position: str = Field("", max_length=200)


class ResolveOut(Schema):
    contact_id: int
    client_id: int
    phone_added: bool
    calls_matched: int


@router.post("/unknown-numbers/resolve", response={200: ResolveOut, **WRITE_ERRORS})
def resolve_unknown(request: HttpRequest, payload: ResolveIn) -> ResolveOut:
    """Put an unknown number on a client's contact; its calls join the client and are judged."""
    done = resolve_unknown_number(
        payload.e164,
        actor=viewer(request),
        contact_id=payload.contact_id,
        client_id=payload.client_id,
        full_name=payload.full_name,
        position=payload.position,
    )
    return ResolveOut(
        contact_id=done.contact.pk,
        client_id=done.contact.client_id,
        phone_added=done.phone_added,
        calls_matched=done.calls_matched,
    )


# --- the effective-call policy --------------------------------------------------------------


class CallPolicyOut(Schema):
    """The policy in force now (version 0: the defaults) and every version, newest first."""

    team_id: int
    version_in_force: int
    document: dict[str, Any]
    can_edit: bool
    versions: list[PolicyVersionOut]


def _call_policy(me: User, team_id: int) -> CallPolicyOut:
    if not Team.objects.filter(pk=team_id).exists():
        raise NotFound(_("Team not found."), code="team_not_found")
    in_force = call_policy_in_force(team_id)
    versions = (
        EffectiveCallPolicy.objects.filter(team_id=team_id)
        .select_related("approved_by")
        .order_by("-version")
    )
    return CallPolicyOut(
        team_id=team_id,
        version_in_force=in_force.version,
        document=in_force.doc.model_dump(),
        can_edit=policies.can_edit_policy(me, team_id),
        versions=[policy_version_out(v) for v in versions],
    )


@router.get(
    "/teams/{team_id}/call-policy", response={200: CallPolicyOut, **READ_ERRORS}, tags=["policy"]
)
def get_call_policy(request: HttpRequest, team_id: int) -> CallPolicyOut:
    """The team's effective-call policy in force and every version (everyone may read it)."""
    return _call_policy(viewer(request), team_id)


class CallPolicyIn(Schema):
    document: EffectiveCallPolicyDocument
    effective_from: dt.datetime | None = Field(None, description="Empty: now")
    comment: str = Field("", max_length=500)


@router.post(
    "/teams/{team_id}/call-policy", response={201: CallPolicyOut, **WRITE_ERRORS}, tags=["policy"]
)
def publish_team_call_policy(
    request: HttpRequest, team_id: int, payload: CallPolicyIn
) -> Status[CallPolicyOut]:
    """The head of sales approves a new version, effective from a date; calls from that date
    on are judged again, earlier ones keep their verdicts."""
    me = viewer(request)
    if not Team.objects.filter(pk=team_id).exists():
        raise NotFound(_("Team not found."), code="team_not_found")
    effective = payload.effective_from or clock.now()
    if effective.tzinfo is None:
        effective = effective.replace(tzinfo=clock.MOSCOW)
    publish_call_policy(
        team_id,
        document=payload.document,
        effective_from=effective,
        actor=me,
        comment=payload.comment,
    )
    return Status(201, _call_policy(me, team_id))
