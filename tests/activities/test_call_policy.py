"""The effective-call policy as a versioned document: who publishes it and from when it applies."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.activities.call_policy_services import call_policy_in_force, publish_call_policy
from otdel.activities.models import Call, EffectiveCallPolicy
from otdel.activities.verdicts import classify_calls, reclassify
from otdel.audit.models import AuditEvent
from otdel.core.errors import Forbidden, Invalid
from tests.activities.calls import make_call
from tests.factories import make_client

pytestmark = pytest.mark.django_db


def test_head_of_sales_publishes_an_audited_version(head, frozen_clock):
    version = publish_call_policy(
        head.team_id,
        document={"min_talk_seconds": 90},
        effective_from=frozen_clock.now() + dt.timedelta(days=1),
        actor=head,
        comment="shorter calls count",
    )
    assert version.version == 1 and version.approved_by == head
    assert AuditEvent.objects.filter(verb="call_policy.published", object_id=version.pk).exists()
    # Not in force yet: the defaults apply until tomorrow.
    assert call_policy_in_force(head.team_id).doc.min_talk_seconds == 150
    assert call_policy_in_force(head.team_id).version == 0
    frozen_clock.advance(dt.timedelta(days=1))
    assert call_policy_in_force(head.team_id).doc.min_talk_seconds == 90
    assert call_policy_in_force(head.team_id).version == 1


def test_manager_cannot_publish_and_no_version_is_created(manager, frozen_clock):
    with pytest.raises(Forbidden) as err:
        publish_call_policy(
            manager.team_id,
            document={"min_talk_seconds": 10},
            effective_from=frozen_clock.now(),
            actor=manager,
        )
    assert err.value.code == "not_head_of_sales"
    assert not EffectiveCallPolicy.objects.exists()
    assert not AuditEvent.objects.filter(verb="call_policy.published").exists()


def test_invalid_document_is_refused_and_nothing_is_saved(head, frozen_clock):
    with pytest.raises(Invalid) as err:
        publish_call_policy(
            head.team_id,
            document={"min_talk_seconds": -5, "bonus": True},
            effective_from=frozen_clock.now(),
            actor=head,
        )
    assert err.value.code == "invalid_policy"
    assert not EffectiveCallPolicy.objects.exists()


def test_backdated_version_is_refused(head, frozen_clock):
    with pytest.raises(Invalid):
        publish_call_policy(
            head.team_id,
            document={},
            effective_from=frozen_clock.now() - dt.timedelta(days=1),
            actor=head,
        )
    assert not EffectiveCallPolicy.objects.exists()


def test_new_version_applies_from_its_date_and_older_calls_keep_their_verdict(
    head, manager, frozen_clock
):
    client = make_client(head, owner=manager)
    frozen_clock.advance(dt.timedelta(hours=1))
    before = make_call(user=manager, client=client, talk=100)
    classify_calls([before.pk])
    version = publish_call_policy(
        head.team_id,
        document={"min_talk_seconds": 60},
        effective_from=frozen_clock.now() + dt.timedelta(days=1),
        actor=head,
    )
    frozen_clock.advance(dt.timedelta(days=1, hours=1))
    after = make_call(user=manager, client=client, talk=100)
    classify_calls([after.pk])

    # Judging everything again from the version's date leaves the older call alone.
    assert reclassify(head.team_id, since=version.effective_from) == 1
    # Even an explicit re-judging of the older call uses the version in force back then.
    classify_calls([before.pk])

    before.refresh_from_db()
    after.refresh_from_db()
    assert before.effective is False and before.verdict_policy is None
    assert before.verdict_reasons == [{"code": "talk_time", "params": {"seconds": 100, "min": 150}}]
    assert after.effective is True and after.verdict_policy == version


def test_reclassify_applies_the_version_in_force_at_each_call(head, manager, frozen_clock):
    """Calls judged under the defaults (e.g. ingested before the version row existed) get the
    verdict of the version in force at their start when reclassified."""
    client = make_client(head, owner=manager)
    other = make_client(head, owner=manager)
    version = publish_call_policy(
        head.team_id,
        document={"min_talk_seconds": 60},
        effective_from=frozen_clock.now(),
        actor=head,
    )
    frozen_clock.advance(dt.timedelta(hours=1))
    calls = [make_call(user=manager, client=c, talk=100) for c in (client, other)]
    # A stale verdict, as if written under an older rule.
    Call.objects.filter(pk__in=[c.pk for c in calls]).update(effective=False, verdict_reasons=[])

    assert reclassify(head.team_id, since=version.effective_from) == 2

    assert list(
        Call.objects.filter(pk__in=[c.pk for c in calls]).values_list("effective", flat=True)
    ) == [True, True]
    # The version that judged them is the one in force at their start (derived, not stored).
    assert {c.verdict_policy for c in Call.objects.filter(pk__in=[c.pk for c in calls])} == {
        version
    }


def test_a_new_version_rewrites_only_the_calls_whose_verdict_changes(head, manager, frozen_clock):
    """The version that judged a call is derived, not stored: a new version with the same rules
    rewrites no call it covers (it used to rewrite each, the version id being new); a call whose
    verdict does change is rewritten."""
    mine, other = make_client(head, owner=manager), make_client(head, owner=manager)
    rules = {"min_talk_seconds": 120}
    publish_call_policy(head.team_id, document=rules, effective_from=frozen_clock.now(), actor=head)
    # Calls reported with a start a little ahead (a PBX clock running fast): judged under the
    # only version there is, then covered by the next one.
    later = frozen_clock.now() + dt.timedelta(hours=2)
    calls = [
        make_call(user=manager, client=mine, talk=400, at=later),
        make_call(user=manager, client=other, talk=130, at=later),
        make_call(user=manager, client=mine, disposition="busy", at=later),
    ]
    classify_calls([c.pk for c in calls])
    judged = {c.pk: (c.effective, c.verdict_reasons, c.classified_at) for c in _reloaded(calls)}
    assert [v[0] for v in judged.values()] == [True, True, False]
    frozen_clock.advance(dt.timedelta(minutes=1))
    same = publish_call_policy(
        head.team_id,
        document=rules,
        effective_from=frozen_clock.now() + dt.timedelta(hours=1),
        actor=head,
    )
    # A stale verdict, as if written under an older rule.
    Call.objects.filter(pk=calls[2].pk).update(verdict_reasons=[])

    assert reclassify(head.team_id, since=same.effective_from) == 3

    again = {c.pk: (c.effective, c.verdict_reasons, c.classified_at) for c in _reloaded(calls)}
    assert again[calls[0].pk] == judged[calls[0].pk]  # not rewritten: the same classified_at
    assert again[calls[1].pk] == judged[calls[1].pk]
    assert again[calls[2].pk] == (*judged[calls[2].pk][:2], frozen_clock.now())
    assert {c.verdict_policy for c in _reloaded(calls)} == {same}


def _reloaded(calls: list[Call]) -> list[Call]:
    return list(Call.objects.filter(pk__in=[c.pk for c in calls]).order_by("pk"))
