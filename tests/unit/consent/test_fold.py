"""The state fold (COMPLIANCE 6.3), rule by rule: pure functions, no database, an injected clock."""

import datetime as dt
import itertools
import uuid

import pytest

from cdp.consent.fold import (
    OBJECTION_STANDS,
    SOFT_OPT_IN_ENDED,
    UNPROVEN_IMPORT,
    Fact,
    effective_status,
    fold,
    fold_as_of,
    grant_expires_at,
)
from cdp.policies import Duration

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
P24M = Duration("P24M", months=24)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def fact(status: str, minutes: int = 0, *, method: str = "web_form", proof: bool = False, **kw) -> Fact:
    return Fact(uuid.uuid4(), status, at(minutes), method, proof, **kw)


def status_of(*facts: Fact, validity: Duration | None = None) -> str | None:
    folded = fold(facts, validity=validity)
    return folded.status if folded else None


# (a) latest wins, ties go restrictive ----------------------------------------------------------------


def test_no_events_fold_to_nothing():
    assert fold([]) is None


def test_latest_event_wins():
    assert status_of(fact("granted", 0), fact("withdrawn", 1)) == "withdrawn"
    assert status_of(fact("withdrawn", 0), fact("granted", 1)) == "granted"


def test_arrival_order_does_not_matter():
    events = [fact("granted", 0), fact("withdrawn", 1), fact("granted", 2), fact("denied", 2)]
    results = [fold(p) for p in itertools.permutations(events)]
    assert all(r == results[0] for r in results)
    assert results[0] is not None and results[0].status == "denied"


@pytest.mark.parametrize(
    ("restrictive", "other"),
    [
        ("withdrawn", "granted"),
        ("denied", "granted"),
        ("expired", "granted"),
        ("objected", "granted"),
        ("withdrawn", "denied"),
        ("objected", "withdrawn"),
        ("denied", "expired"),
    ],
)
def test_a_tie_goes_to_the_more_restrictive_status(restrictive: str, other: str):
    first, second = fact(other, 5), fact(restrictive, 5)
    assert status_of(first, second) == restrictive
    assert status_of(second, first) == restrictive


def test_the_state_points_at_the_event_that_decided_it():
    grant, withdrawal = fact("granted", 0), fact("withdrawn", 3)
    folded = fold([withdrawal, grant])
    assert folded is not None
    assert (folded.event_id, folded.occurred_at) == (withdrawal.id, withdrawal.occurred_at)


# (b) an unproven import grant never overrides a first-party or proven withdrawal -------------------------


@pytest.mark.parametrize("method", ["crm_sync", "csv_import", "import", "crm"])
def test_unproven_import_grant_after_first_party_withdrawal_is_ignored(method: str):
    withdrawal, stale = fact("withdrawn", 0, method="one_click_unsubscribe"), fact("granted", 60, method=method)
    folded = fold([withdrawal, stale])
    assert folded is not None and folded.status == "withdrawn"
    assert folded.ignored == {stale.id: UNPROVEN_IMPORT}


def test_withdrawal_outranks_older_crm_subscribed_flag():
    stale, withdrawal = fact("granted", 0, method="crm_sync"), fact("withdrawn", 10, method="email_tool")
    assert status_of(withdrawal, stale) == "withdrawn"


def test_unproven_import_grant_cannot_override_a_proven_import_withdrawal():
    withdrawal = fact("withdrawn", 0, method="csv_import", proof=True)
    assert status_of(withdrawal, fact("granted", 1, method="crm_sync")) == "withdrawn"


def test_unproven_import_grant_cannot_override_a_first_party_refusal():
    assert status_of(fact("denied", 0, method="gpc_signal"), fact("granted", 1, method="crm_sync")) == "denied"


def test_unproven_import_grant_may_follow_an_unproven_import_withdrawal():
    assert status_of(fact("withdrawn", 0, method="crm_sync"), fact("granted", 1, method="crm_sync")) == "granted"


def test_proven_import_grant_overrides_a_first_party_withdrawal():
    withdrawal = fact("withdrawn", 0, method="web_form")
    assert status_of(withdrawal, fact("granted", 1, method="csv_import", proof=True)) == "granted"


def test_first_party_grant_without_proof_overrides_a_withdrawal():
    assert status_of(fact("withdrawn", 0), fact("granted", 1, method="preference_center")) == "granted"


def test_ignored_grant_does_not_hide_a_later_valid_grant():
    withdrawal, stale, fresh = fact("withdrawn", 0), fact("granted", 1, method="crm_sync"), fact("granted", 2)
    folded = fold([fresh, stale, withdrawal])
    assert folded is not None and folded.status == "granted" and folded.event_id == fresh.id
    assert set(folded.ignored) == {stale.id}


def test_unproven_import_grant_applies_when_nothing_restricts():
    assert status_of(fact("granted", 0, method="crm_sync")) == "granted"
    assert status_of(fact("expired", 0), fact("granted", 1, method="crm_sync")) == "granted"


# (c) expiry is derived at read time ----------------------------------------------------------------------


def test_grant_expires_after_the_purpose_validity():
    grant = fact("granted", 0)
    folded = fold([grant], validity=P24M)
    assert folded is not None and folded.expires_at == dt.datetime(2028, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert effective_status(folded.status, folded.expires_at, at(0)) == "granted"
    assert effective_status(folded.status, folded.expires_at, folded.expires_at - dt.timedelta(seconds=1)) == "granted"
    assert effective_status(folded.status, folded.expires_at, folded.expires_at) == "expired"


def test_own_expiry_counts_when_sooner_than_the_validity():
    grant = fact("granted", 0, expires_at=at(60))
    assert grant_expires_at(grant, P24M) == at(60)
    assert grant_expires_at(fact("granted", 0, expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC)), P24M) == (
        dt.datetime(2028, 1, 1, 12, 0, tzinfo=dt.UTC)
    )


def test_no_validity_and_no_own_expiry_never_expires():
    folded = fold([fact("granted", 0)], validity=None)
    assert folded is not None and folded.expires_at is None
    assert effective_status("granted", None, dt.datetime(2999, 1, 1, tzinfo=dt.UTC)) == "granted"


def test_only_grants_expire():
    folded = fold([fact("withdrawn", 0, expires_at=at(1))], validity=P24M)
    assert folded is not None and folded.expires_at is None
    assert effective_status("withdrawn", at(1), at(2)) == "withdrawn"


def test_renewal_restarts_the_validity():
    first, renewal = fact("granted", 0), fact("granted", 60 * 24 * 365)
    folded = fold([first, renewal], validity=P24M)
    assert folded is not None and folded.expires_at == dt.datetime(2029, 1, 1, 12, 0, tzinfo=dt.UTC)


# (d) objection --------------------------------------------------------------------------------------------


def test_objection_is_not_lifted_by_an_unproven_grant():
    objection, grant = fact("objected", 0), fact("granted", 1, method="web_form")
    folded = fold([objection, grant])
    assert folded is not None and folded.status == "objected"
    assert folded.ignored == {grant.id: OBJECTION_STANDS}


def test_objection_is_not_lifted_by_an_imported_grant_even_with_proof():
    assert status_of(fact("objected", 0), fact("granted", 1, method="csv_import", proof=True)) == "objected"


def test_objection_is_lifted_by_a_later_first_party_grant_with_proof():
    assert status_of(fact("objected", 0), fact("granted", 1, method="double_opt_in_confirm", proof=True)) == "granted"


def test_a_grant_with_proof_at_the_same_moment_does_not_lift_an_objection():
    assert status_of(fact("objected", 5), fact("granted", 5, proof=True)) == "objected"


def test_a_later_withdrawal_does_not_weaken_an_objection():
    objection, withdrawal, grant = fact("objected", 0), fact("withdrawn", 1), fact("granted", 2)
    folded = fold([objection, withdrawal, grant])
    assert folded is not None and folded.status == "objected" and folded.event_id == objection.id


def test_earlier_grant_does_not_survive_an_objection():
    assert status_of(fact("granted", 0, proof=True), fact("objected", 1, method="api")) == "objected"


# ?at= -----------------------------------------------------------------------------------------------------


def test_fold_as_of_ignores_what_happened_later():
    grant, withdrawal = fact("granted", 0), fact("withdrawn", 10)
    earlier = fold_as_of([grant, withdrawal], at(5))
    assert earlier is not None and earlier.status == "granted"
    assert fold_as_of([grant, withdrawal], at(-1)) is None
    later = fold_as_of([grant, withdrawal], at(10))
    assert later is not None and later.status == "withdrawn"


def test_among_simultaneous_grants_the_first_party_proven_one_counts():
    withdrawal = fact("withdrawn", 0)
    stale, fresh = fact("granted", 1, method="crm_sync"), fact("granted", 1, proof=True)
    for order in itertools.permutations([withdrawal, stale, fresh]):
        folded = fold(order)
        assert folded is not None and folded.event_id == fresh.id and folded.ignored == {stale.id: UNPROVEN_IMPORT}


# (e) soft opt-in ends with any opt-out; only express consent re-enables ----------------------------------


def soft(minutes: int, **kw) -> Fact:
    return fact("granted", minutes, consent_type="soft_opt_in", proof=True, **kw)


def test_a_soft_opt_in_grant_applies_when_nothing_restricts():
    grant = soft(0)
    folded = fold([grant])
    assert folded is not None and folded.status == "granted" and folded.event_id == grant.id


@pytest.mark.parametrize("opt_out", ["withdrawn", "denied", "objected"])
def test_a_soft_opt_in_after_an_opt_out_is_ignored(opt_out: str):
    first, stop, again = soft(0), fact(opt_out, 10), soft(20)
    folded = fold([first, stop, again])
    assert folded is not None and folded.status == opt_out and folded.event_id == stop.id
    # even a first-party soft opt-in with proof (which would lift an objection) stays ended
    assert folded.ignored == {again.id: SOFT_OPT_IN_ENDED}


def test_a_soft_opt_in_stays_ended_after_an_unsubscribe_even_as_the_first_grant():
    stop, again = fact("withdrawn", 0, method="one_click_unsubscribe"), soft(5)
    assert status_of(stop, again) == "withdrawn"


def test_an_expiry_is_not_an_opt_out():
    assert status_of(soft(0), fact("expired", 5), soft(10)) == "granted"


@pytest.mark.parametrize("consent_type", ["expressed", "explicitly_expressed"])
def test_a_new_express_consent_re_enables_the_contact_point_and_a_later_soft_opt_in(consent_type: str):
    stop, ignored, express, later = (
        fact("withdrawn", 0),
        soft(5),
        fact("granted", 10, consent_type=consent_type),
        soft(20),
    )
    folded = fold([stop, ignored, express, later])
    assert folded is not None and folded.status == "granted" and folded.event_id == later.id
    assert folded.ignored == {ignored.id: SOFT_OPT_IN_ENDED}


@pytest.mark.parametrize("consent_type", ["implied", None, "soft_opt_in"])
def test_a_grant_that_is_not_express_does_not_restore_soft_opt_in_eligibility(consent_type: str | None):
    stop, other, later_soft, stop_again = (
        fact("withdrawn", 0),
        fact("granted", 5, consent_type=consent_type),
        soft(10),
        fact("withdrawn", 15),
    )
    folded = fold([stop, other, later_soft])
    assert folded is not None and later_soft.id in folded.ignored
    assert status_of(stop, other, later_soft, stop_again) == "withdrawn"


def test_an_express_grant_ignored_by_an_objection_does_not_restore_eligibility():
    objection = fact("objected", 0)
    unproven_express = fact("granted", 5, consent_type="expressed")  # no proof: the objection stands
    later = soft(10)
    folded = fold([objection, unproven_express, later])
    assert folded is not None and folded.status == "objected"
    assert folded.ignored == {unproven_express.id: OBJECTION_STANDS, later.id: SOFT_OPT_IN_ENDED}


def test_a_proven_express_grant_lifts_an_objection_and_restores_soft_opt_in():
    objection, express, later = fact("objected", 0), fact("granted", 5, consent_type="expressed", proof=True), soft(10)
    folded = fold([objection, express, later])
    assert folded is not None and folded.status == "granted" and folded.event_id == later.id and not folded.ignored


def test_a_soft_opt_in_at_the_same_moment_as_a_withdrawal_loses():
    stop, same = fact("withdrawn", 0), soft(0)
    for order in itertools.permutations([stop, same]):
        assert status_of(*order) == "withdrawn"


def test_soft_opt_in_rule_is_order_independent():
    history = [soft(0), fact("withdrawn", 5), soft(7), fact("granted", 9, consent_type="expressed"), soft(12)]
    expected = fold(history)
    assert expected is not None and expected.event_id == history[-1].id
    assert all(fold(order) == expected for order in itertools.permutations(history))


def test_an_unproven_import_withdrawal_in_between_does_not_open_the_door_to_an_unproven_import_grant():
    # found by the property test: first-party withdrawal, then a CRM's own withdrawal, then a stale CRM grant
    first_party, crm_withdrawal, crm_grant = (
        fact("withdrawn", 0),
        fact("withdrawn", 1, method="crm_sync"),
        fact("granted", 2, method="crm_sync"),
    )
    folded = fold([first_party, crm_withdrawal, crm_grant])
    assert folded is not None and folded.status == "withdrawn"
    assert folded.ignored == {crm_grant.id: UNPROVEN_IMPORT}
