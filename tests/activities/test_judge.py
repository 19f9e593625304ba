"""The pure judge: every rule of the effective-call policy and the sentence each reason reads."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from otdel.activities.call_policy import EffectiveCallPolicyDocument
from otdel.activities.verdicts import CallFacts, judge
from otdel.core.clock import MOSCOW

T = dt.datetime(2026, 11, 20, 11, 0, tzinfo=MOSCOW)
ME, COLLEAGUE, CLIENT = 1, 2, 10
DEFAULT = EffectiveCallPolicyDocument()


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def good_call(**changes) -> CallFacts:
    """An outbound answered 3:12 call by me to a client in my base: effective by default."""
    values = {
        "started_at": T,
        "direction": "out",
        "disposition": "answered",
        "talk_seconds": 192,
        "user_id": ME,
        "client_id": CLIENT,
        "owner_id_at_call": ME,
    }
    values.update(changes)
    return CallFacts(**values)


def policy(**changes) -> EffectiveCallPolicyDocument:
    return EffectiveCallPolicyDocument(**changes)


def codes(facts: CallFacts, doc: EffectiveCallPolicyDocument = DEFAULT) -> list[str]:
    return [r.code for r in judge(facts, doc).reasons]


def test_outbound_call_over_threshold_to_own_client_is_effective_and_says_why():
    verdict = judge(good_call(), DEFAULT)
    assert verdict.effective and verdict.measure == "effective"
    assert verdict.texts == ["effective: outbound, 3:12, client in your base"]


def test_short_call_is_not_effective_with_talk_time_in_the_reason():
    verdict = judge(good_call(talk_seconds=95), DEFAULT)
    assert not verdict.effective and verdict.measure is None
    assert verdict.texts == ["not effective: talk time 95 s < 150 s"]
    assert verdict.reasons[0].params == {"seconds": 95, "min": 150}


@given(st.integers(min_value=0, max_value=1000), st.integers(min_value=0, max_value=900))
def test_talk_time_threshold_is_inclusive(talk, threshold):
    with translation.override("en"):
        verdict = judge(good_call(talk_seconds=talk), policy(min_talk_seconds=threshold))
    assert verdict.effective == (talk >= threshold)


def test_unanswered_call_says_so_instead_of_talk_time():
    verdict = judge(good_call(disposition="busy", talk_seconds=0), DEFAULT)
    assert verdict.texts == ["not effective: not answered (busy)"]


def test_inbound_calls_do_not_count_by_default_but_may_be_switched_on():
    assert judge(good_call(direction="in"), DEFAULT).texts == [
        "not effective: inbound calls do not count"
    ]
    assert judge(good_call(direction="in"), policy(counted_directions=["out", "in"])).effective


def test_internal_calls_never_count():
    both = policy(counted_directions=["out", "in"])
    assert codes(good_call(direction="internal"), both) == ["internal"]


def test_self_reported_call_is_shown_but_never_effective_under_phone_system_only():
    verdict = judge(good_call(self_reported=True), DEFAULT)
    assert verdict.texts == ["not effective: self-reported"]
    assert judge(good_call(self_reported=True), policy(phone_system_only=False)).effective


def test_client_of_a_colleague_or_of_the_pool_is_not_in_your_base():
    assert judge(good_call(owner_id_at_call=None), DEFAULT).texts == [
        "not effective: client not in your base"
    ]
    assert judge(good_call(owner_id_at_call=COLLEAGUE), DEFAULT).texts == [
        "not effective: client in a colleague's base"
    ]


def test_pool_switch_counts_pool_clients_but_never_a_colleagues_client():
    pool_ok = policy(client_scope="own_base_or_pool")
    verdict = judge(good_call(owner_id_at_call=None), pool_ok)
    assert verdict.effective
    assert verdict.texts == ["effective: outbound, 3:12, pool client"]
    assert codes(good_call(owner_id_at_call=COLLEAGUE), pool_ok) == ["not_your_client"]


def test_unmatched_person_or_number_is_not_effective():
    assert codes(good_call(user_id=None)) == ["no_person"]
    assert codes(good_call(client_id=None, owner_id_at_call=None)) == ["no_client"]


@given(
    st.sets(
        st.sampled_from(
            ["decision_maker_reached", "mobile_obtained", "email_obtained", "presentation_sent"]
        )
    ),
    st.sets(
        st.sampled_from(
            ["decision_maker_reached", "mobile_obtained", "email_obtained", "presentation_sent"]
        )
    ),
)
def test_every_required_outcome_must_be_present(required, present):
    doc = policy(required_outcomes=sorted(required))
    with translation.override("en"):
        verdict = judge(good_call(outcomes=frozenset(present)), doc)
    assert verdict.effective == required.issubset(present)
    if not verdict.effective:
        assert verdict.reasons[0].code == "outcomes_missing"
        assert set(verdict.reasons[0].params["missing"]) == required - present


def test_missing_outcome_reads_as_a_sentence():
    doc = policy(required_outcomes=["decision_maker_reached", "mobile_obtained"])
    verdict = judge(good_call(outcomes=frozenset({"mobile_obtained"})), doc)
    assert verdict.texts == ["not effective: outcomes missing: decision maker reached"]


def test_stale_inbound_callback_is_excluded_with_its_age():
    facts = good_call(last_inbound_at=T - dt.timedelta(days=6))
    verdict = judge(facts, DEFAULT)
    assert not verdict.effective
    assert verdict.texts == [
        "not effective: inbound callback, the client's inbound call is 6 days old"
    ]


def test_stale_callback_may_be_counted_as_a_separate_measure():
    facts = good_call(last_inbound_at=T - dt.timedelta(days=6))
    verdict = judge(facts, policy(stale_callbacks="separate"))
    assert not verdict.effective and verdict.measure == "callback"
    assert verdict.texts == [
        "counted as a callback, not an effective call: the client's inbound call is 6 days old"
    ]
    # A short stale callback is in no measure at all.
    short = judge(good_call(last_inbound_at=T - dt.timedelta(days=6), talk_seconds=30), DEFAULT)
    assert short.measure is None
    assert [r.code for r in short.reasons] == ["talk_time", "stale_callback"]


def test_same_day_callback_is_judged_like_any_call_and_reads_as_a_callback():
    facts = good_call(last_inbound_at=T - dt.timedelta(hours=2))
    verdict = judge(facts, DEFAULT)
    assert verdict.effective
    assert verdict.texts == [
        "effective: outbound callback to today's inbound call, 3:12, client in your base"
    ]


@given(st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=10))
def test_callback_is_stale_only_after_the_allowed_days(age, allowed):
    doc = policy(inbound_callback_max_age_days=allowed, inbound_callback_horizon_days=30)
    facts = good_call(last_inbound_at=T - dt.timedelta(days=age))
    with translation.override("en"):
        verdict = judge(facts, doc)
    # Past the horizon the inbound call is forgotten: an ordinary call to the base.
    assert verdict.effective == (age <= allowed or age > 30)


def test_a_conversation_since_the_inbound_call_ends_the_callback():
    facts = good_call(
        last_inbound_at=T - dt.timedelta(days=6), longest_outbound_talk_since_inbound=200
    )
    assert judge(facts, DEFAULT).effective
    # Short attempts since then do not: the client is still waiting for a real answer.
    attempts = good_call(
        last_inbound_at=T - dt.timedelta(days=6), longest_outbound_talk_since_inbound=40
    )
    assert codes(attempts) == ["stale_callback"]


def test_only_the_first_effective_call_per_client_per_day_counts():
    earlier = T - dt.timedelta(hours=1)
    verdict = judge(good_call(last_counted_at=earlier), DEFAULT)
    assert not verdict.effective
    assert verdict.texts == [
        "not effective: an effective call to this client was already counted on 20.11"
    ]
    # The next calendar day counts again, even less than 24 hours later.
    assert judge(good_call(last_counted_at=T - dt.timedelta(hours=13)), DEFAULT).effective


@given(st.integers(min_value=0, max_value=20), st.integers(min_value=0, max_value=10))
def test_once_per_n_days_window(days_ago, n):
    facts = good_call(last_counted_at=T - dt.timedelta(days=days_ago))
    with translation.override("en"):
        verdict = judge(facts, policy(once_per_client_days=n))
    assert verdict.effective == (n == 0 or days_ago >= n)


def test_every_failed_rule_is_listed():
    facts = good_call(
        self_reported=True,
        talk_seconds=25,
        owner_id_at_call=None,
        last_inbound_at=T - dt.timedelta(days=7),
    )
    assert codes(facts) == ["self_reported", "talk_time", "not_your_client", "stale_callback"]


def test_reasons_render_in_the_viewers_language():
    verdict = judge(good_call(talk_seconds=95), DEFAULT)
    stored = verdict.reasons[0].as_json()
    assert stored == {"code": "talk_time", "params": {"seconds": 95, "min": 150}}


def test_policy_document_rejects_unknown_fields_and_bad_values():
    with pytest.raises(ValueError):
        EffectiveCallPolicyDocument.model_validate({"min_talk": 10})
    with pytest.raises(ValueError):
        EffectiveCallPolicyDocument.model_validate({"required_outcomes": ["coffee"]})
    with pytest.raises(ValueError):
        EffectiveCallPolicyDocument.model_validate({"counted_directions": []})
    fields = EffectiveCallPolicyDocument.model_fields
    assert all(f.description for f in fields.values())
