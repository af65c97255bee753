"""Fellegi-Sunter pair scoring: decisions on typical CDP pairs, the shared-identifier guards, explanations,
model loading, and the u / m estimators.

Decision for a personal email shared by two totally different names: review, not merge. The identifier is
strong evidence, but two names that disagree completely are how an unflagged family mailbox or a mistyped
address looks; a person decides. A flagged (shared) address in the same situation is distinct.
"""

import dataclasses
import json
import math
import random

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cdp.identity.scoring import (
    DEFAULT_MODEL,
    DIFFERENT,
    EXACT,
    EXACT_PERSONAL,
    EXACT_SHARED,
    FIELD_LEVELS,
    FIELDS,
    GUARD_HOUSEHOLD,
    GUARD_HOUSEHOLD_EMAIL,
    GUARD_PHONE_NAMES_DIFFER,
    GUARD_SHARED_ONLY,
    JW_70,
    JW_80,
    JW_85,
    JW_92,
    LOCAL_PART,
    MISSING,
    NICKNAME,
    TYPO,
    LevelProbabilities,
    MatchFields,
    ScoringModel,
    compare,
    estimate_u_probabilities,
    sample_random_pairs,
    score,
    score_levels,
    train_m_probabilities,
    weight_to_probability,
)


def person(
    first=None,
    last=None,
    *,
    emails=(),
    phones=(),
    keys=None,
    company=None,
    city=None,
    country=None,
    shared_emails=(),
    shared_phones=(),
):
    if keys is None:
        keys = {first} if first else set()
    return MatchFields(
        emails=frozenset(emails),
        phones=frozenset(phones),
        first_name=first,
        first_name_keys=frozenset(keys),
        last_name=last,
        company=company,
        city=city,
        country=country,
        shared_emails=frozenset(shared_emails),
        shared_phones=frozenset(shared_phones),
    )


# --- decisions on typical pairs ---------------------------------------------------------------------------


def test_same_email_and_same_name_merge():
    a = person("john", "smith", emails={"john.smith@example.com"})
    b = person("john", "smith", emails={"john.smith@example.com"}, city="leeds")

    result = score(a, b)

    assert result.decision == "merge"
    assert result.levels["email"] == EXACT_PERSONAL


def test_personal_email_with_a_totally_different_name_goes_to_review():
    a = person("john", "smith", emails={"jsmith@example.com"})
    b = person("mary", "jones", emails={"jsmith@example.com"})

    result = score(a, b)

    assert result.decision == "review"
    assert result.guard is None


def test_shared_email_with_a_totally_different_name_is_distinct():
    a = person("john", "smith", emails={"family@example.com"}, shared_emails={"family@example.com"})
    b = person("mary", "jones", emails={"family@example.com"})

    result = score(a, b)

    assert result.levels["email"] == EXACT_SHARED
    assert result.decision == "distinct"


def test_nickname_first_name_with_same_last_name_and_phone_merge():
    a = person("bob", "miller", phones={"+447700900123"}, keys={"bob", "robert"})
    b = person("robert", "miller", phones={"+447700900123"}, keys={"robert"})

    result = score(a, b)

    assert result.levels["first_name"] == NICKNAME
    assert result.decision == "merge"


def test_last_name_typo_with_same_email_merges():
    a = person("anna", "johnson", emails={"anna@example.org"})
    b = person("anna", "jonson", emails={"anna@example.org"})

    result = score(a, b)

    assert result.levels["last_name"] == JW_92
    assert result.decision == "merge"


def test_namesakes_with_different_contact_points_are_distinct():
    a = person(
        "john", "smith", emails={"john@acme.com"}, phones={"+442071234567"}, company="acme", city="london", country="gb"
    )
    b = person(
        "john",
        "smith",
        emails={"jsmith@globex.com"},
        phones={"+441612345678"},
        company="globex",
        city="manchester",
        country="gb",
    )

    assert score(a, b).decision == "distinct"


def test_household_landline_with_different_first_names_is_distinct():
    a = person("peter", "novak", emails={"peter.novak@example.com"}, phones={"+420221234567"}, city="prague")
    b = person("jana", "novak", emails={"jana.novak@example.com"}, phones={"+420221234567"}, city="prague")

    result = score(a, b)

    assert result.decision == "distinct"
    assert result.weight >= DEFAULT_MODEL.merge_threshold  # the guard, not the weight, keeps them apart
    assert result.guard == GUARD_HOUSEHOLD


def test_household_landline_merges_when_a_personal_email_also_agrees():
    a = person("peter", "novak", emails={"novak@example.com"}, phones={"+420221234567"})
    b = person("jan", "novak", emails={"novak@example.com"}, phones={"+420221234567"})

    result = score(a, b)

    assert result.decision == "merge"
    assert result.guard is None


def test_role_email_shared_by_two_different_people_is_distinct():
    a = person("alice", "brown", emails={"info@acme.com"}, shared_emails={"info@acme.com"}, company="acme")
    b = person("carlos", "diaz", emails={"info@acme.com"}, shared_emails={"info@acme.com"}, company="acme")

    assert score(a, b).decision == "distinct"


def test_shared_identifiers_alone_never_merge_when_names_disagree_whatever_the_weight():
    shared = {"shared_emails": {"office@acme.com"}, "shared_phones": {"+15551230000"}}
    context = {"company": "acme", "city": "boston", "country": "us"}
    a = person("maria", "garcia", emails={"office@acme.com"}, phones={"+15551230000"}, **shared, **context)
    b = person("maria", "lopez", emails={"office@acme.com"}, phones={"+15551230000"}, **shared, **context)

    result = score(a, b)

    assert result.weight >= DEFAULT_MODEL.merge_threshold
    assert result.decision == "review"
    assert result.guard == GUARD_SHARED_ONLY


def test_shared_identifiers_without_any_name_never_merge():
    context = {"company": "acme", "city": "boston", "country": "us"}
    a = person(emails={"info@acme.com"}, phones={"+15551230000"}, shared_phones={"+15551230000"}, **context)
    b = person(emails={"info@acme.com"}, phones={"+15551230000"}, shared_emails={"info@acme.com"}, **context)

    result = score(a, b)

    assert result.weight >= DEFAULT_MODEL.merge_threshold
    assert result.decision == "review"
    assert result.guard == GUARD_SHARED_ONLY


def test_shared_email_with_matching_names_and_company_merges():
    a = person("ann", "lee", emails={"sales@acme.com"}, shared_emails={"sales@acme.com"}, company="acme")
    b = person("ann", "lee", emails={"sales@acme.com"}, company="acme")

    assert score(a, b).decision == "merge"


def test_an_address_flagged_shared_on_one_side_counts_as_shared():
    a = person(emails={"info@acme.com"}, shared_emails={"info@acme.com"})
    b = person(emails={"info@acme.com"})

    assert compare(a, b)["email"] == EXACT_SHARED
    assert compare(b, a)["email"] == EXACT_SHARED


def test_a_personal_address_agreeing_beside_a_shared_one_is_personal():
    a = person(emails={"info@acme.com", "ann@acme.com"}, shared_emails={"info@acme.com"})
    b = person(emails={"info@acme.com", "ann@acme.com"})

    assert compare(a, b)["email"] == EXACT_PERSONAL


def test_swapped_first_and_last_names_with_same_email_merge():
    a = person("wei", "zhang", emails={"wei.zhang@example.cn"})
    b = person("zhang", "wei", emails={"wei.zhang@example.cn"})

    result = score(a, b)

    assert (result.levels["first_name"], result.levels["last_name"]) == (JW_92, JW_92)
    assert result.decision == "merge"


def test_first_name_levels_follow_jaro_winkler_thresholds():
    assert compare(person("katherine"), person("catherine"))["first_name"] == JW_92
    # "jon" / "jonathan" was the JW_80 example; it is now an abbreviation (NICKNAME), see the test below.
    assert compare(person("mark"), person("marco"))["first_name"] == JW_80
    assert compare(person("john"), person("mary"))["first_name"] == DIFFERENT
    assert compare(person("john"), person("john"))["first_name"] == EXACT


def test_a_first_name_that_another_starts_with_is_an_abbreviation():
    assert compare(person("jon"), person("jonathan"))["first_name"] == NICKNAME
    assert compare(person("alexandra"), person("alex"))["first_name"] == NICKNAME
    # two letters are a dozen names' start: plain Jaro-Winkler
    assert compare(person("al"), person("alberto"))["first_name"] != NICKNAME


def test_loosely_similar_names_are_neutral_rather_than_different():
    assert compare(person("andrea"), person("jndrea"))["first_name"] in (JW_92, JW_80)
    assert compare(person(last="pattersyon"), person(last="payttjsz"))["last_name"] == JW_70
    assert DEFAULT_MODEL.weights["first_name"][JW_70] > DEFAULT_MODEL.weights["first_name"][DIFFERENT]


def test_swapped_names_with_a_typo_on_top_are_scored_as_a_swap():
    levels = compare(person("grace", "futcher"), person("futcher", "grce"))

    assert (levels["first_name"], levels["last_name"]) == (JW_92, JW_92)


def test_family_mailbox_with_two_first_names_goes_to_review():
    a = person("sue", "almeida", emails={"thealmeidas@example.net"}, city="bristol")
    b = person("benjamin", "almeida", emails={"thealmeidas@example.net"}, city="bristol")

    result = score(a, b)

    assert result.weight >= DEFAULT_MODEL.merge_threshold  # the guard, not the weight, holds them back
    assert result.decision == "review"
    assert result.guard == GUARD_HOUSEHOLD_EMAIL


def test_an_address_that_spells_one_first_name_is_that_persons_not_a_family_mailbox():
    # "noah" in the first-name field but joshua's own address: a middle name or a wrong field, not a household
    a = person("noah", "harbottle", emails={"joshuaharbottle70@example.net"})
    b = person("joshua", "harbottle", emails={"joshuaharbottle70@example.net"})

    result = score(a, b)

    assert result.levels["first_name"] == JW_80
    assert result.decision == "merge"


def test_an_initial_and_surname_address_names_its_owner():
    a = person("jake", "burnell", emails={"jburnell@example.net"})
    b = person("samuel", "burnell", emails={"jburnell@example.net"})

    assert score(a, b).guard is None


def test_a_surname_inside_a_longer_mailbox_name_is_not_an_initial_and_surname_address():
    a = person("elena", "ivanov", emails={"theivanovs@example.net"})
    b = person("clara", "ivanov", emails={"theivanovs@example.net"})

    assert score(a, b).decision != "merge"


def test_an_address_naming_someone_does_not_rescue_a_different_surname():
    a = person("john", "smith", emails={"jsmith@example.com"})
    b = person("mary", "jones", emails={"jsmith@example.com"})

    assert score(a, b).decision == "review"


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("jarvis.coleman@gmail.com", "jarvis.colemaan@gmail.com"),  # one slip in the mailbox name
        ("jarvis.coleman@gmail.com", "jarvis.coleman@gmial.com"),  # a mistyped provider
        ("lhobbs849634@example.com", "lhobs849634@example.com"),
    ],
)
def test_email_one_typing_slip_apart_is_a_typo(left, right):
    assert compare(person(emails={left}), person(emails={right}))["email"] == TYPO


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("ann@acme.com", "anne@acme.com", DIFFERENT),  # short mailbox names collide too easily
        ("jarvis.coleman@acme.com", "jarvis.coleman@acme.co", LOCAL_PART),  # another TLD: another company
        ("jarvis.coleman@acme.com", "jarvis.coleman@globex.com", LOCAL_PART),
        ("john.smith1@acme.com", "john.smith2@acme.com", DIFFERENT),  # numbered namesake mailboxes
        ("john.smith@acme.com", "john.smith1@acme.com", DIFFERENT),
        ("lhobbs849634@example.com", "lhobbs859634@example.com", DIFFERENT),
    ],
)
def test_email_typo_level_stays_narrow(left, right, level):
    assert compare(person(emails={left}), person(emails={right}))["email"] == level


def test_role_mailboxes_one_slip_apart_say_nothing():
    a = person(emails={"info@acme.com"}, shared_emails={"info@acme.com"})
    b = person(emails={"info@acme.co"}, shared_emails={"info@acme.co"})

    assert compare(a, b)["email"] == MISSING


def test_phone_one_digit_wrong_or_two_swapped_is_a_typo():
    assert compare(person(phones={"+19995553132"}), person(phones={"+19995550132"}))["phone"] == TYPO
    assert compare(person(phones={"+19995553132"}), person(phones={"+19995551332"}))["phone"] == TYPO
    assert compare(person(phones={"+19995553132"}), person(phones={"+19995550000"}))["phone"] == DIFFERENT
    # a shared number (switchboard) one digit from a personal one is still different
    switchboard = person(phones={"+442071230000"}, shared_phones={"+442071230000"})
    assert compare(person(phones={"+442071230001"}), switchboard)["phone"] == MISSING


def test_a_typo_in_the_city_is_weaker_than_the_same_city_but_still_agreement():
    assert compare(person(city="parramatta"), person(city="parramaxta"))["city"] == JW_85
    assert compare(person(city="leeds"), person(city="london"))["city"] == DIFFERENT
    weights = DEFAULT_MODEL.weights["city"]
    assert weights[EXACT] > weights[JW_85] > 0


def test_a_switchboard_number_under_two_unrelated_names_goes_to_review():
    context = {"company": "wingtip capital", "city": "hamburg", "country": "DE"}
    a = person("mateo", "byrne", phones={"+4930035579020"}, **context)
    b = person("dick", "miller", phones={"+4930035579020"}, emails={"miller.richard@example.com"}, **context)

    result = score(a, b)

    assert result.weight >= DEFAULT_MODEL.merge_threshold
    assert result.decision == "review"
    assert result.guard == GUARD_PHONE_NAMES_DIFFER


def test_a_shared_number_with_a_garbled_but_close_first_name_still_merges():
    context = {"company": "oscorp", "city": "framingham", "country": "CN"}
    a = person("enjami", "pazris", phones={"+15165550199"}, **context)
    b = person("benjamin", "parish", phones={"+15165550199"}, **context)

    assert score(a, b).decision == "merge"


@pytest.mark.parametrize(("left", "right"), [("de la cruz", "delacruz"), ("o day", "oday"), ("joshu a", "joshua")])
def test_names_equal_up_to_spacing_are_exact(left, right):
    levels = compare(person(left, left), person(right, right))

    assert (levels["first_name"], levels["last_name"]) == (EXACT, EXACT)


# --- explanations -----------------------------------------------------------------------------------------


def test_missing_fields_contribute_zero_weight():
    a = person("john", "smith", emails={"john@example.com"})
    b = person(None, "smith", company="acme")

    result = score(a, b)

    for name in ("email", "phone", "first_name", "company", "city", "country"):
        assert result.levels[name] == MISSING
        assert result.contributions[name] == 0.0
    assert result.weight == pytest.approx(DEFAULT_MODEL.prior + DEFAULT_MODEL.weights["last_name"][EXACT])


def test_no_data_at_all_scores_the_prior():
    result = score(person(), person())

    assert result.weight == DEFAULT_MODEL.prior
    assert result.decision == "distinct"


def test_contributions_and_levels_explain_the_weight():
    a = person("john", "smith", emails={"a@example.com"}, phones={"+4915112345678"}, company="acme", city="berlin")
    b = person("jon", "smith", emails={"b@example.com"}, phones={"+4915112345678"}, company="acme gmbh", city="bonn")

    result = score(a, b)

    assert set(result.levels) == set(FIELDS) == set(result.contributions)
    assert result.weight == pytest.approx(DEFAULT_MODEL.prior + sum(result.contributions.values()), abs=1e-12)
    for name, level in result.levels.items():
        assert result.contributions[name] == DEFAULT_MODEL.weight(name, level)
    assert result.probability == pytest.approx(2**result.weight / (1 + 2**result.weight))


def test_probability_stays_finite_for_extreme_weights():
    assert weight_to_probability(5000.0) == 1.0
    assert weight_to_probability(-5000.0) == 0.0
    assert weight_to_probability(0.0) == 0.5


def test_rescoring_a_stored_comparison_vector_gives_the_same_score():
    a = person("bob", "miller", phones={"+447700900123"}, keys={"bob", "robert"}, country="gb")
    b = person("robert", "miller", phones={"+447700900123"}, keys={"robert"}, country="gb")

    original = score(a, b)

    assert score_levels(dict(original.levels)) == original


def test_rescoring_rejects_an_unknown_level():
    levels = dict.fromkeys(FIELDS, MISSING)
    levels["city"] = JW_92  # city has a fuzzy level (JW_85) now, but not this one

    with pytest.raises(ValueError, match="city"):
        score_levels(levels)


_NAMES = st.sampled_from([None, "ann", "anne", "bob", "robert", "smith", "smyth", "jones"])
_EMAILS = st.frozensets(st.sampled_from(["a@x.io", "b@x.io", "info@x.io"]), max_size=2)
_PHONES = st.frozensets(st.sampled_from(["+15550001", "+15550002"]), max_size=2)
_RECORDS = st.builds(
    MatchFields,
    emails=_EMAILS,
    phones=_PHONES,
    first_name=_NAMES,
    first_name_keys=st.frozensets(st.sampled_from(["ann", "robert", "bob"]), max_size=2),
    last_name=_NAMES,
    company=st.sampled_from([None, "acme", "acne", "globex"]),
    city=st.sampled_from([None, "leeds", "york"]),
    country=st.sampled_from([None, "gb", "ie"]),
    shared_emails=st.frozensets(st.just("info@x.io")),
    shared_phones=st.frozensets(st.just("+15550002")),
)


@given(a=_RECORDS, b=_RECORDS, field_name=st.sampled_from(FIELDS))
def test_adding_an_agreeing_field_never_lowers_the_weight(a, b, field_name):
    if field_name in ("email", "phone"):
        attribute, value = ("emails", "new@agree.io") if field_name == "email" else ("phones", "+15559999")
        a2 = dataclasses.replace(a, **{attribute: getattr(a, attribute) | {value}})
        b2 = dataclasses.replace(b, **{attribute: getattr(b, attribute) | {value}})
    else:
        assume(getattr(a, field_name) is None or getattr(b, field_name) is None)
        a2 = dataclasses.replace(a, **{field_name: "zed"})
        b2 = dataclasses.replace(b, **{field_name: "zed"})

    assert score(a2, b2).weight >= score(a, b).weight


# --- the model --------------------------------------------------------------------------------------------


def test_model_round_trips_through_a_plain_dict_and_json():
    data = DEFAULT_MODEL.to_dict()

    assert ScoringModel.from_dict(data) == DEFAULT_MODEL
    assert ScoringModel.from_dict(json.loads(json.dumps(data))) == DEFAULT_MODEL


def test_a_model_loaded_from_a_dict_changes_the_scores():
    data = DEFAULT_MODEL.to_dict()
    data["levels"]["city"]["exact"] = {"m": 0.9, "u": 0.9}
    model = ScoringModel.from_dict(data)

    result = score(person(city="leeds"), person(city="leeds"), model)

    assert result.contributions["city"] == 0.0


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["levels"].pop("city"), "fields"),
        (lambda d: d["levels"]["city"].pop("exact"), "city"),
        (lambda d: d["levels"]["city"].update({"fuzzy": {"m": 0.1, "u": 0.1}}), "city"),
        (lambda d: d["levels"]["city"]["exact"].update({"u": 0.0}), "u must be"),
        (lambda d: d["levels"]["city"]["exact"].update({"m": "high"}), "number"),
        (lambda d: d.update({"prior": True}), "prior"),
        (lambda d: d.update({"merge_threshold": -10.0}), "review_threshold"),
        (lambda d: d.update({"extra": 1}), "unknown"),
    ],
)
def test_an_incomplete_or_malformed_model_is_refused(mutate, message):
    data = json.loads(json.dumps(DEFAULT_MODEL.to_dict()))
    mutate(data)

    with pytest.raises(ValueError, match=message):
        ScoringModel.from_dict(data)


def test_every_default_agreement_level_weighs_more_than_disagreement():
    for name, levels in FIELD_LEVELS.items():
        weights = [DEFAULT_MODEL.weights[name][level] for level in levels]
        assert weights == sorted(weights, reverse=True), name
        assert weights[0] > 0 > weights[-1], name


# --- estimation -------------------------------------------------------------------------------------------


def test_u_estimated_from_random_pairs_matches_value_frequencies():
    firsts = ["alice", "bob", "carl", "dmitri", "eve"]
    records = [
        person(firsts[i % 5], emails={f"user{i}@example.com"}, city="leeds" if i % 2 else "york") for i in range(400)
    ]

    model = estimate_u_probabilities(sample_random_pairs(records, 20_000, seed=7))

    assert model.levels["first_name"][EXACT].u == pytest.approx(0.2, abs=0.02)
    assert model.levels["first_name"][DIFFERENT].u == pytest.approx(0.8, abs=0.02)
    assert model.levels["city"][EXACT].u == pytest.approx(0.5, abs=0.02)
    # never seen: keeps the default, already far below 1 / 20,000
    assert model.levels["email"][EXACT_PERSONAL].u == DEFAULT_MODEL.levels["email"][EXACT_PERSONAL].u
    # never present on both sides: untouched
    assert model.levels["company"] == DEFAULT_MODEL.levels["company"]
    assert model.levels["first_name"][EXACT].m == DEFAULT_MODEL.levels["first_name"][EXACT].m


def _draw(rng, distribution):
    roll, cumulative = rng.random(), 0.0
    for level, probability in distribution.items():
        cumulative += probability
        if roll < cumulative:
            return level
    return level


def test_em_recovers_the_m_probabilities_of_simulated_pairs():
    true_m = {
        "email": {EXACT_PERSONAL: 0.6, EXACT_SHARED: 0.05, DIFFERENT: 0.35},
        "phone": {EXACT_PERSONAL: 0.4, EXACT_SHARED: 0.1, DIFFERENT: 0.5},
        "first_name": {EXACT: 0.7, NICKNAME: 0.1, JW_92: 0.08, JW_80: 0.04, DIFFERENT: 0.08},
        "last_name": {EXACT: 0.75, JW_92: 0.1, JW_80: 0.05, DIFFERENT: 0.1},
        "company": {EXACT: 0.5, "jw_0.90": 0.2, DIFFERENT: 0.3},
        "city": {EXACT: 0.6, DIFFERENT: 0.4},
        "country": {EXACT: 0.9, DIFFERENT: 0.1},
    }
    true_u = {name: {level: p.u for level, p in table.items()} for name, table in DEFAULT_MODEL.levels.items()}
    rng = random.Random(3)
    vectors = []
    for _ in range(30_000):
        table = true_m if rng.random() < 0.3 else true_u
        vectors.append(
            {name: MISSING if rng.random() < 0.2 else _draw(rng, table[name]) for name in FIELDS},
        )

    model = train_m_probabilities(vectors, DEFAULT_MODEL, iterations=100)

    for name, levels in true_m.items():
        for level, m in levels.items():
            assert model.levels[name][level].m == pytest.approx(m, abs=0.03), (name, level)
            assert model.levels[name][level].u == DEFAULT_MODEL.levels[name][level].u


def test_em_keeps_the_m_of_fields_the_blocking_rule_fixed():
    rng = random.Random(5)
    vectors = [
        {
            **dict.fromkeys(FIELDS, MISSING),
            "email": EXACT_PERSONAL,
            "first_name": rng.choice([EXACT, DIFFERENT]),
            "last_name": rng.choice([EXACT, DIFFERENT]),
        }
        for _ in range(500)
    ]

    model = train_m_probabilities(vectors, DEFAULT_MODEL, fixed_fields={"email"})

    assert model.levels["email"] == DEFAULT_MODEL.levels["email"]
    assert model.levels["first_name"] != DEFAULT_MODEL.levels["first_name"]


def test_em_with_no_pairs_returns_the_model_unchanged():
    assert train_m_probabilities([], DEFAULT_MODEL) is DEFAULT_MODEL


def test_a_level_no_pair_reaches_keeps_a_finite_weight():
    vectors = [{**dict.fromkeys(FIELDS, MISSING), "city": EXACT, "country": EXACT}] * 50 + [
        {**dict.fromkeys(FIELDS, MISSING), "city": DIFFERENT, "country": DIFFERENT}
    ] * 50

    model = train_m_probabilities(vectors, DEFAULT_MODEL)

    assert all(math.isfinite(w) for table in model.weights.values() for w in table.values())
    assert isinstance(model.levels["city"][EXACT], LevelProbabilities)
