"""Property tests of the fold over random event sequences (COMPLIANCE 7.4: order independence)."""

import datetime as dt
import uuid

from hypothesis import given
from hypothesis import strategies as st

from cdp.consent.fold import EXPRESS_TYPES, IMPORT_METHODS, OPT_OUTS, SOFT_OPT_IN_ENDED, Fact, fold

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
STATUSES = ("granted", "withdrawn", "denied", "expired", "objected")
METHODS = ("web_form", "api", "one_click_unsubscribe", "preference_center", "crm_sync", "csv_import", "import")
CONSENT_TYPES = (None, "expressed", "explicitly_expressed", "implied", "soft_opt_in")

facts = st.builds(
    Fact,
    id=st.uuids(version=4),
    status=st.sampled_from(STATUSES),
    # Few distinct times, so ties are common.
    occurred_at=st.integers(0, 6).map(lambda m: T0 + dt.timedelta(minutes=m)),
    method=st.sampled_from(METHODS),
    has_proof=st.booleans(),
    consent_type=st.sampled_from(CONSENT_TYPES),
)
histories = st.lists(facts, min_size=1, max_size=12, unique_by=lambda f: f.id)


@given(histories, st.randoms(use_true_random=False))
def test_any_arrival_order_folds_to_the_same_state(history: list[Fact], rng) -> None:
    shuffled = list(history)
    rng.shuffle(shuffled)
    assert fold(shuffled) == fold(history)


@given(histories)
def test_state_comes_from_one_of_the_events_and_ignores_only_grants(history: list[Fact]) -> None:
    folded = fold(history)
    assert folded is not None
    by_id = {f.id: f for f in history}
    assert by_id[folded.event_id].status == folded.status
    assert folded.event_id not in folded.ignored
    assert all(by_id[i].status == "granted" for i in folded.ignored)


@given(histories)
def test_a_restriction_at_the_latest_moment_is_never_overridden(history: list[Fact]) -> None:
    latest = max(f.occurred_at for f in history)
    if any(f.occurred_at == latest and f.status != "granted" for f in history):
        folded = fold(history)
        assert folded is not None and folded.status != "granted"


def _is_unproven_import(f: Fact) -> bool:
    return f.method in IMPORT_METHODS and not f.has_proof


@given(histories)
def test_unproven_imports_never_re_enable_after_a_first_party_or_proven_withdrawal(history: list[Fact]) -> None:
    strong = [f for f in history if f.status in ("withdrawn", "objected") and (f.first_party or f.has_proof)]
    if not strong:
        return
    cut = max(f.occurred_at for f in strong)
    later_grants = [f for f in history if f.status == "granted" and f.occurred_at > cut]
    if all(_is_unproven_import(g) for g in later_grants):
        folded = fold(history)
        assert folded is not None and folded.status != "granted"


@given(histories)
def test_an_objection_holds_until_a_later_first_party_grant_with_proof(history: list[Fact]) -> None:
    objections = [f for f in history if f.status == "objected"]
    if not objections:
        return
    first = min(f.occurred_at for f in objections)
    lifting = [f for f in history if f.status == "granted" and f.occurred_at > first and f.first_party and f.has_proof]
    folded = fold(history)
    assert folded is not None
    if not lifting:
        assert folded.status == "objected"


@given(histories)
def test_a_stale_import_older_than_everything_changes_nothing(history: list[Fact]) -> None:
    folded = fold(history)
    assert folded is not None
    early = Fact(uuid.uuid4(), "granted", T0 - dt.timedelta(days=1), "crm_sync", False)
    after = fold([*history, early])
    assert after is not None
    assert after == folded


@given(histories)
def test_after_an_opt_out_only_express_consent_re_enables(history: list[Fact]) -> None:
    """COMPLIANCE 7.10: once opted out, soft opt-in grants alone never make the subject granted again."""
    opt_outs = [f for f in history if f.status in OPT_OUTS]
    if not opt_outs:
        return
    cut = max(f.occurred_at for f in opt_outs)
    later_grants = [f for f in history if f.status == "granted" and f.occurred_at > cut]
    if all(g.consent_type == "soft_opt_in" for g in later_grants):
        folded = fold(history)
        assert folded is not None and folded.status != "granted"


@given(histories)
def test_a_soft_opt_in_is_ignored_for_its_rule_only_after_an_opt_out_with_no_express_grant_since(
    history: list[Fact],
) -> None:
    folded = fold(history)
    assert folded is not None
    for fact_id, reason in folded.ignored.items():
        if reason != SOFT_OPT_IN_ENDED:
            continue
        ended = next(f for f in history if f.id == fact_id)
        assert ended.consent_type == "soft_opt_in"
        assert any(f.status in OPT_OUTS and f.occurred_at <= ended.occurred_at for f in history)


@given(histories)
def test_an_applied_soft_opt_in_never_follows_an_opt_out_without_an_express_grant_between(history: list[Fact]) -> None:
    folded = fold(history)
    assert folded is not None
    by_id = {f.id: f for f in history}
    current = by_id[folded.event_id]
    if current.status != "granted" or current.consent_type != "soft_opt_in":
        return
    opt_outs = [f for f in history if f.status in OPT_OUTS and f.occurred_at <= current.occurred_at]
    if opt_outs:
        last_out = max(f.occurred_at for f in opt_outs)
        assert any(
            f.status == "granted"
            and f.consent_type in EXPRESS_TYPES
            and f.id not in folded.ignored
            and last_out <= f.occurred_at <= current.occurred_at
            for f in history
        )
