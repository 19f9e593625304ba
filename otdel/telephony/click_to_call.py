"""Click-to-call through the Asterisk Manager Interface: the PBX first rings the manager's own
phone and, when he picks up, dials the client's number from his extension.

Nothing is written to the database here: the call itself arrives later as a normal fact through
the AMI listener / CDR import (record_calls). Its talk time counts from the client's answer, not
from the manager's pick-up, which is where Asterisk's CDR counts from (see
providers/asterisk/cdr.py and cel.py). The request is kept in Django's cache (file cache on one
machine, Redis on several) under its request id, so the dialling page can find the call the PBX
reports: the actor's call to the client that started after the request.

Settings (environment):
- OTDEL_ASTERISK_AMI_HOST / _PORT / _USER / _SECRET: the AMI (as for asterisk_listen);
- OTDEL_ASTERISK_SOURCE: the name the listener stores calls under (its --source; default
  "asterisk"); the actor needs a PhoneAccount on it;
- OTDEL_ASTERISK_ORIGINATE_CHANNEL: how to ring the manager, "{account}" is his extension
  (default "PJSIP/{account}"; e.g. "Local/{account}@from-internal");
- OTDEL_ASTERISK_ORIGINATE_CONTEXT: the context the answered manager's leg continues in to dial
  out (default "from-managers", the context his own phone dials from);
- OTDEL_ASTERISK_DIAL_FORMAT: how the client's number is dialled: "{e164}" (+7…, default),
  "{digits}" (7…) or "{national}" (8…);
- OTDEL_ASTERISK_RING_SECONDS: how long the manager's phone rings (default 30).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import os
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from django.core.cache import cache
from django.utils.translation import gettext as _

from otdel.clients.models import ContactPhone
from otdel.core import clock
from otdel.core.errors import DomainError, Forbidden, NotFound
from otdel.ownership import policies
from otdel.ownership.policy import policy_in_force
from otdel.people.models import User
from otdel.telephony.models import PhoneAccount

CACHE_PREFIX = "otdel:click-to-call:"
# Long enough for a long call to end and be stored; the dialling page gives up earlier.
CACHE_SECONDS = 6 * 3600
AMI_TIMEOUT = 8.0  # connect + login + Originate queued
REQUEST_VARIABLE = "CRM_REQUEST_ID"


class PhoneSystemUnavailable(DomainError):
    """The PBX could not be reached or refused the request (503)."""

    status = 503
    code = "ami_unreachable"


@dataclass(frozen=True)
class AmiSettings:
    """Where the AMI is and how this PBX's dialplan places a manager's outbound call."""

    host: str
    port: int
    username: str
    secret: str
    source: str
    channel: str
    context: str
    dial_format: str
    ring_seconds: int

    @classmethod
    def from_env(cls) -> AmiSettings:
        env = os.environ.get
        return cls(
            host=env("OTDEL_ASTERISK_AMI_HOST", "127.0.0.1"),
            port=int(env("OTDEL_ASTERISK_AMI_PORT", "5038")),
            username=env("OTDEL_ASTERISK_AMI_USER", ""),
            secret=env("OTDEL_ASTERISK_AMI_SECRET", ""),
            source=env("OTDEL_ASTERISK_SOURCE", "asterisk"),
            channel=env("OTDEL_ASTERISK_ORIGINATE_CHANNEL", "PJSIP/{account}"),
            context=env("OTDEL_ASTERISK_ORIGINATE_CONTEXT", "from-managers"),
            dial_format=env("OTDEL_ASTERISK_DIAL_FORMAT", "{e164}"),
            ring_seconds=int(env("OTDEL_ASTERISK_RING_SECONDS", "30")),
        )

    @property
    def configured(self) -> bool:
        return bool(self.username and self.secret)


@dataclass(frozen=True)
class ClickToCall:
    """One click on "Call": who asked, whom, from which extension, when (kept in the cache)."""

    request_id: str
    user_id: int
    client_id: int
    contact_id: int
    contact_phone_id: int
    number: str  # as dialled
    e164: str
    source: str
    account: str
    requested_at: dt.datetime

    def to_cache(self) -> dict[str, Any]:
        data = asdict(self)
        data["requested_at"] = self.requested_at.isoformat()
        return data

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> ClickToCall:
        return cls(**{**data, "requested_at": dt.datetime.fromisoformat(data["requested_at"])})


def dialled_number(e164: str, fmt: str) -> str:
    """The client's number the way this PBX's outbound patterns expect it."""
    digits = e164.lstrip("+")
    national = "8" + digits[1:] if digits.startswith("7") else digits
    return fmt.format(e164=e164, digits=digits, national=national)


def originate_action(request: ClickToCall, conf: AmiSettings) -> dict[str, Any]:
    """The AMI Originate: ring the manager's phone, then run the outbound dialplan with the
    client's number as if he had dialled it himself (so the CDR is his outbound call)."""
    return {
        "Action": "Originate",
        "Channel": conf.channel.format(account=request.account),
        "Context": conf.context,
        "Exten": request.number,
        "Priority": "1",
        # The name shows the client's number on the manager's phone; the number stays his
        # extension, so the dialplan and the CDR see the call as his.
        "CallerID": f'"{request.e164}" <{request.account}>',
        "Account": request.account,
        "Timeout": str(conf.ring_seconds * 1000),
        "Async": "true",
        "Variable": f"{REQUEST_VARIABLE}={request.request_id}",
    }


async def _send_originate(conf: AmiSettings, action: dict[str, Any]) -> None:
    """Log in, queue the Originate, log off. Raises PhoneSystemUnavailable."""
    from panoramisk import Manager

    manager = Manager(
        loop=asyncio.get_running_loop(),
        host=conf.host,
        port=conf.port,
        username=conf.username,
        secret=conf.secret,
        events="off",
        ping_delay=3600,
        reconnect_timeout=3600,  # one attempt: the person clicks again
    )
    try:
        try:
            await manager.connect()
        except OSError as exc:
            raise PhoneSystemUnavailable(
                _("The phone system does not answer. Try again in a minute or dial by hand."),
                detail=str(exc),
            ) from None
        login = await manager.authenticated_future if manager.authenticated_future else None
        if login is None or not manager.authenticated:
            raise PhoneSystemUnavailable(
                _("The phone system refused the CRM's login: ask the administrator."),
                code="ami_login_refused",
            )
        # as_list=False: the "Originate successfully queued" reply is the answer; the ringing
        # goes on in the PBX after we hang up the AMI session.
        reply = await manager.send_action(action, as_list=False)
        if str(reply.get("Response", "")).lower() != "success":
            raise PhoneSystemUnavailable(
                _("The phone system refused the call: %(why)s")
                % {"why": reply.get("Message", "?")},
                code="ami_originate_refused",
            )
    finally:
        manager.close()


def _run(conf: AmiSettings, action: dict[str, Any]) -> None:
    """Run the AMI exchange in its own event loop and thread (views are synchronous; a test or
    server thread may already run a loop), bounded by AMI_TIMEOUT."""

    async def bounded() -> None:
        await asyncio.wait_for(_send_originate(conf, action), AMI_TIMEOUT)

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        try:
            pool.submit(asyncio.run, bounded()).result()
        except TimeoutError:
            raise PhoneSystemUnavailable(
                _("The phone system does not answer. Try again in a minute or dial by hand."),
                detail="timeout",
            ) from None


def _account_of(actor: User, conf: AmiSettings) -> str:
    account = (
        PhoneAccount.objects.filter(user=actor, source=conf.source)
        .order_by("id")
        .values_list("account", flat=True)
        .first()
    )
    if not account:
        raise Forbidden(
            _("You have no extension on the phone system: ask the administrator to add one."),
            code="no_phone_account",
        )
    return account


def _phone_for(actor: User, contact_phone_id: int) -> ContactPhone:
    """A phone of a live client's contact whose details the actor may see."""
    phone = (
        ContactPhone.objects.select_related("client", "contact")
        .filter(pk=contact_phone_id, client__merged_into__isnull=True)
        .first()
    )
    if phone is None or not policies.can_view_client(actor, phone.client):
        raise NotFound(_("Phone number not found."), code="phone_not_found")
    mask = policy_in_force(phone.client.team_id).doc.mask_pool_contacts
    if not policies.can_see_contact_details(actor, phone.client, mask_pool_contacts=mask):
        raise Forbidden(
            _("Claim the client first: its contacts are hidden while it is in the pool."),
            code="contact_hidden",
        )
    return phone


def place_call(contact_phone_id: int, *, actor: User) -> ClickToCall:
    """Ring the actor's phone, then the client's number (AMI Originate). Refused, with nothing
    sent to the PBX, when the actor has no extension or may not see the number."""
    conf = AmiSettings.from_env()
    phone = _phone_for(actor, contact_phone_id)
    account = _account_of(actor, conf)
    if not conf.configured:
        raise PhoneSystemUnavailable(
            _("Click-to-call is not set up: the AMI user and secret are missing."),
            code="ami_not_configured",
        )
    request = ClickToCall(
        request_id=uuid.uuid4().hex,
        user_id=actor.pk,
        client_id=phone.client_id,
        contact_id=phone.contact_id,
        contact_phone_id=phone.pk,
        number=dialled_number(phone.e164, conf.dial_format),
        e164=phone.e164,
        source=conf.source,
        account=account,
        requested_at=clock.now(),
    )
    _run(conf, originate_action(request, conf))
    cache.set(CACHE_PREFIX + request.request_id, request.to_cache(), CACHE_SECONDS)
    return request


def request_for(request_id: str, *, actor: User) -> ClickToCall:
    """The actor's own click-to-call request (anyone else's is 'not found')."""
    data = cache.get(CACHE_PREFIX + request_id) if request_id.isalnum() else None
    if not data or data.get("user_id") != actor.pk:
        raise NotFound(_("This call request is unknown or has expired."), code="request_not_found")
    return ClickToCall.from_cache(data)


# CDR times have whole seconds (and the PBX's clock may lag ours a little).
MATCH_SLACK = dt.timedelta(seconds=5)


def resulting_call(request: ClickToCall) -> Any:
    """The call fact the PBX reported for this request, once it ended and was stored: the
    actor's outbound call to the client that started after the click (earliest first)."""
    from otdel.activities.models import Call, CallDirection

    return (
        Call.objects.filter(
            user_id=request.user_id,
            client_id=request.client_id,
            direction=CallDirection.OUTBOUND,
            self_reported=False,
            started_at__gte=request.requested_at - MATCH_SLACK,
        )
        .order_by("started_at", "id")
        .first()
    )
