"""The post-call card: the caller marks what the call achieved; where the data can confirm an
outcome (a new mobile on the client's contacts, a presentation e-mail logged within 48 h) it is
checked against the data, and the call is judged again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from otdel.activities.calls import judge_new_calls
from otdel.activities.models import (
    Activity,
    ActivityKind,
    Call,
    CallOutcome,
    CallOutcomeKind,
)
from otdel.audit.models import AuditEvent
from otdel.audit.services import record
from otdel.clients.models import Contact, ContactPhone
from otdel.core import clock
from otdel.core.errors import Conflict, Invalid, NotFound
from otdel.people.models import User

# The caller marks outcomes while he remembers the call; later marks would be guesses.
MARK_WINDOW = dt.timedelta(hours=48)
# The data has this long after the call to confirm an outcome (then an unconfirmed one fails).
VERIFY_WINDOW = dt.timedelta(hours=48)

# Verbs of audit events that put a phone on a contact (clients.services and unknown.py).
PHONE_VERBS = ("contact.added", "contact.phone_added")

NOTE_MOBILE_FOUND = gettext_noop("a new mobile number is on the client's contacts")
NOTE_MOBILE_MISSING = gettext_noop("no new mobile number was added to the client's contacts")
NOTE_EMAIL_FOUND = gettext_noop("an e-mail to the client was logged after the call")
NOTE_EMAIL_MISSING = gettext_noop("no e-mail to the client was logged within 48 hours")
NOTE_WAITING = gettext_noop("not confirmed by the data yet")


def _new_mobile_since(call: Call) -> bool:
    """A mobile phone put on one of the client's contacts after the call started (the audit
    trail says when a phone was added; ContactPhone keeps no time)."""
    if call.client_id is None:
        return False
    contact_ids = list(
        Contact.objects.filter(client_id=call.client_id).values_list("pk", flat=True)
    )
    mobiles = set(
        ContactPhone.objects.filter(contact_id__in=contact_ids, is_mobile=True)
        .exclude(e164=call.their_e164 or "-")
        .values_list("contact_id", "e164")
    )
    if not mobiles:
        return False
    events = AuditEvent.objects.filter(
        object_type=Contact._meta.label_lower,
        object_id__in=[c for c, _ in mobiles],
        verb__in=PHONE_VERBS,
        at__gte=call.started_at,
    ).values_list("verb", "object_id", "data")
    for verb, contact_id, data in events:
        if verb == "contact.added":
            return True  # every phone of a new contact is new
        if (contact_id, (data or {}).get("e164")) in mobiles:
            return True
    return False


def _email_logged_after(call: Call) -> bool:
    """An e-mail activity by the caller on the client within 48 hours after the call."""
    if call.client_id is None or call.user_id is None:
        return False
    return Activity.objects.filter(
        client_id=call.client_id,
        author_id=call.user_id,
        kind=ActivityKind.EMAIL,
        occurred_at__gte=call.started_at,
        occurred_at__lte=call.started_at + VERIFY_WINDOW,
    ).exists()


def verification(call: Call, kind: str, now: dt.datetime) -> tuple[bool | None, str]:
    """Whether the data confirms an outcome: True, False (the window closed without proof), or
    None (not checkable, or not yet); with a note saying why (an English msgid)."""
    checks = {
        CallOutcomeKind.MOBILE_OBTAINED: (
            _new_mobile_since,
            NOTE_MOBILE_FOUND,
            NOTE_MOBILE_MISSING,
        ),
        CallOutcomeKind.PRESENTATION_SENT: (
            _email_logged_after,
            NOTE_EMAIL_FOUND,
            NOTE_EMAIL_MISSING,
        ),
    }
    if kind not in checks:
        return None, ""
    check, found, missing = checks[CallOutcomeKind(kind)]
    if check(call):
        return True, found
    if now < call.started_at + VERIFY_WINDOW:
        return None, NOTE_WAITING
    return False, missing


def _later_calls_of_client(call: Call) -> list[int]:
    """The call and the client's later calls: their 'already counted' may depend on it."""
    if call.client_id is None:
        return [call.pk]
    later = Call.objects.filter(client_id=call.client_id, started_at__gte=call.started_at)
    return [call.pk, *later.exclude(pk=call.pk).values_list("pk", flat=True)[:500]]


def mark_outcomes(call_id: int, *, actor: User, kinds: Iterable[str]) -> Call:
    """Only the caller marks what his call achieved, within 48 hours of it; the marks replace
    the earlier ones, checkable outcomes are checked against the data, and the call is judged
    again (an effective call by the owner restarts his clock)."""
    wanted = set(kinds)
    unknown = wanted - set(CallOutcomeKind.values)
    if unknown:
        raise Invalid(
            _("Unknown outcome: %(names)s.") % {"names": ", ".join(sorted(unknown))},
            code="bad_outcome",
        )
    now = clock.now()
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(pk=call_id).first()
        # Someone else's call looks exactly like a missing one.
        if call is None or call.user_id is None or call.user_id != actor.pk:
            raise NotFound(_("Call not found."), code="call_not_found")
        if now - call.started_at > MARK_WINDOW:
            raise Conflict(
                _("Outcomes are marked within 48 hours of the call."), code="outcomes_too_late"
            )
        existing = {o.kind: o for o in call.outcomes.all()}
        removed = [k for k in existing if k not in wanted]
        CallOutcome.objects.filter(call=call, kind__in=removed).delete()
        for kind in sorted(wanted):
            verified, note = verification(call, kind, now)
            if kind in existing:
                outcome = existing[kind]
                if (outcome.verified, outcome.verification_note) != (verified, note):
                    outcome.verified, outcome.verification_note = verified, note
                    outcome.save(update_fields=["verified", "verification_note"])
            else:
                CallOutcome.objects.create(
                    call=call,
                    kind=kind,
                    marked_by=actor,
                    marked_at=now,
                    verified=verified,
                    verification_note=note,
                )
        record(
            actor=actor,
            verb="call.outcomes_marked",
            obj=call,
            data={"outcomes": sorted(wanted), "removed": sorted(removed)},
        )
        judge_new_calls(_later_calls_of_client(call))
    call.refresh_from_db()
    return call


def reverify_outcomes(call_ids: list[int]) -> int:
    """Check again the outcomes the data has not confirmed yet (for a periodic job): a mobile
    added or an e-mail logged since confirms them; a closed window refutes them. Calls whose
    outcomes changed are judged again. Returns how many outcomes changed."""
    now = clock.now()
    changed_calls: set[int] = set()
    changed = 0
    with transaction.atomic():
        pending = CallOutcome.objects.filter(call_id__in=call_ids, verified__isnull=True)
        for outcome in pending.select_related("call"):
            verified, note = verification(outcome.call, outcome.kind, now)
            if (verified, note) != (outcome.verified, outcome.verification_note):
                outcome.verified, outcome.verification_note = verified, note
                outcome.save(update_fields=["verified", "verification_note"])
                changed += 1
                changed_calls.add(outcome.call_id)
        if changed_calls:
            judge_new_calls(sorted(changed_calls))
    return changed
