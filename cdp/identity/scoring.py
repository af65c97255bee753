"""Fellegi-Sunter scoring of one candidate pair: pure, no database, no I/O.

A pair's match weight is the prior log2-odds plus, for every field that both sides have, log2(m/u) of the
level the field falls into (m = P(level | same person), u = P(level | different people)). A field missing on
either side contributes 0. Inputs are already normalized (see `cdp.identity.normalize`); this module does no
normalization of its own so that a weights change never changes what counts as equal.

Two guards sit on top of the weight, because shared contact points break the model's assumption that fields
agree independently: a role mailbox or a household landline agrees for different people far more often than
its u says, and it drags the other fields along (same company, same surname, same city).
"""

import math
import random
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from rapidfuzz.distance import OSA, JaroWinkler

Decision = Literal["merge", "review", "distinct"]

MISSING = "missing"
EXACT = "exact"
DIFFERENT = "different"
EXACT_PERSONAL = "exact_personal"
EXACT_SHARED = "exact_shared"
LOCAL_PART = "local_part"  # emails only: same mailbox name at another domain (work vs personal address)
TYPO = "typo"  # one typing slip apart: an address or a number someone typed by hand
NICKNAME = "nickname"
JW_92 = "jw_0.92"
JW_90 = "jw_0.90"
JW_85 = "jw_0.85"
JW_80 = "jw_0.80"
JW_70 = "jw_0.70"

GUARD_SHARED_ONLY = "shared_identifiers_only"
GUARD_HOUSEHOLD = "household_phone"
GUARD_HOUSEHOLD_EMAIL = "household_email"
GUARD_PHONE_NAMES_DIFFER = "phone_names_differ"

# Non-missing levels of each field, best first. MISSING is implicit everywhere and always weighs 0.
FIELD_LEVELS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "email": (EXACT_PERSONAL, TYPO, LOCAL_PART, EXACT_SHARED, DIFFERENT),
        "phone": (EXACT_PERSONAL, TYPO, EXACT_SHARED, DIFFERENT),
        "first_name": (EXACT, NICKNAME, JW_92, JW_80, JW_70, DIFFERENT),
        "last_name": (EXACT, JW_92, JW_80, JW_70, DIFFERENT),
        "company": (EXACT, JW_90, DIFFERENT),
        "city": (EXACT, JW_85, DIFFERENT),
        "country": (EXACT, DIFFERENT),
    }
)
FIELDS: tuple[str, ...] = tuple(FIELD_LEVELS)

# Where the numbers come from: reasoned defaults for contacts from CRMs, email tools and web forms, not fitted
# on data here. Replace them with `estimate_u_probabilities` / `train_m_probabilities` output once benchmark
# data is wired in (shared/IDENTITY.md section 6).
# - Name, city and company levels are in the range Splink's EM and random sampling give on person data (its
#   demo model on fake_1000: exact first name m 0.49 / u 0.006, exact surname +6.6 bits, exact city +2.3 bits).
#   Disagreement is penalized more than there (-4 rather than -2.3 bits), because CRM and form names are
#   typed by the person, not corrupted on purpose like fake_1000.
# - Identifier u values are set for the same store as the prior (~300k records), not for a 1,000-row sample:
#   if about 1 person in 300 shares a personal mailbox with someone without it being flagged as shared,
#   u ~ (1/300) / 300k ~ 1e-8; phones are shared more (households, recycled numbers: ~1 in 70), so 5e-8.
#   Shared identifiers get about +8 bits: real evidence, never enough alone against a prior of -19.9 bits.
# - m for identifiers: the same person gives the same email across sources about 2 times in 3 (work versus
#   personal address is the usual split) and the same phone about half the time. EM over blocked pairs
#   (`train_m_probabilities`, cdp-synth 3k, email-blocked and name-blocked passes) put "different email" at
#   ~0.33; 0.37 is used, since a profile that gathers several sources holds work and personal addresses.
#   The merge threshold was tuned on the 500-record cdp-synth split of bench/identity; results are
#   reported on other sizes and data sets. The threshold is probability 0.8, not 0.5: on that split 0.5 gained
#   recall at equal precision, but a wrong merge shows one person's data on another's profile, so we keep a
#   margin for data unlike the tuning split.
# - Fuzzy name levels: u from random record pairs (`estimate_u_probabilities`' method) on two unrelated data
#   sets, cdp-synth and FEBRL3, which agreed: Jaro-Winkler >= 0.92 between different people's first names
#   ~0.001, 0.80-0.92 ~0.005, 0.70-0.80 ~0.02 (surnames ~0.001 / 0.003 / 0.015). The u here are set above
#   those (x1.5-2.5, real name lists are wider but a CRM is noisier), so a near-miss name counts for a little,
#   not for nothing (the old JW_80 u of 0.03 made it weigh 0). A 0.70 name is neutral: far more often a
#   garbled name (OCR, field truncation) than agreement, never counted as disagreement either.
# - TYPO levels (one slip in an address or number) sit below exact and near the shared levels: a slip is
#   strong evidence, but numbered namesake mailboxes and neighbouring numbers are one slip apart too.
#
#   field -> level -> (m, u), with the resulting weight log2(m/u) in bits beside each level.
_DEFAULT_LEVELS: dict[str, dict[str, tuple[float, float]]] = {
    "email": {
        EXACT_PERSONAL: (0.62, 1e-8),  # +25.89
        EXACT_SHARED: (0.03, 1.2e-4),  # +7.97
        # One edit apart ("gmial.com", "jsmtih@"): web forms and CRM data entry are typed by hand. Numbered
        # namesake addresses ("john.smith1@" and "john.smith2@") are one edit apart too, so far below exact.
        TYPO: (0.02, 2e-5),  # +9.97
        # "matthew.hughes@" at two domains; role and placeholder mailboxes never reach this level.
        LOCAL_PART: (0.08, 2e-4),  # +8.64: "firstname.lastname" collides for namesakes
        DIFFERENT: (0.37, 0.99988),  # -1.43
    },
    "phone": {
        EXACT_PERSONAL: (0.50, 5e-8),  # +23.25
        # One digit wrong or two swapped: a number typed by hand. Numbers are dense (a neighbour's number is one
        # digit away), so this is evidence like a shared number, not like an exact one.
        TYPO: (0.03, 1e-4),  # +8.23
        EXACT_SHARED: (0.05, 2e-4),  # +7.97
        DIFFERENT: (0.42, 0.9997),  # -1.25
    },
    "first_name": {
        EXACT: (0.80, 0.012),  # +6.06
        NICKNAME: (0.07, 0.004),  # +4.13
        JW_92: (0.04, 0.0025),  # +4.00
        JW_80: (0.03, 0.008),  # +1.91
        JW_70: (0.02, 0.025),  # -0.32: "ana" / "anaireo", "jndrea" / "andrea"; also "elena" / "clara"
        DIFFERENT: (0.04, 0.95),  # -4.57
    },
    "last_name": {
        EXACT: (0.83, 0.004),  # +7.70
        JW_92: (0.06, 0.002),  # +4.91
        JW_80: (0.03, 0.006),  # +2.32
        JW_70: (0.02, 0.02),  # 0.00
        DIFFERENT: (0.06, 0.97),  # -4.01
    },
    "company": {
        # u: P(two random contacts share an employer) is the sum of squared company shares; B2B contact bases are
        # long-tailed (many small accounts), ~0.005 rather than the 0.01 of a CRM dominated by a few accounts.
        EXACT: (0.60, 0.005),  # +6.91
        JW_90: (0.12, 0.01),  # +3.58
        DIFFERENT: (0.28, 0.98),  # -1.81
    },
    "city": {
        EXACT: (0.75, 0.04),  # +4.23
        JW_85: (0.05, 0.004),  # +3.64: "parramaxta", "gawler qest", "knvxville": city names typed by hand
        DIFFERENT: (0.20, 0.956),  # -2.26
    },
    "country": {
        EXACT: (0.96, 0.45),  # +1.09
        DIFFERENT: (0.04, 0.55),  # -3.78
    },
}


def log2_odds(probability: float) -> float:
    return math.log2(probability / (1.0 - probability))


def weight_to_probability(weight: float) -> float:
    # Branch so that 2**x never overflows for extreme weights.
    if weight >= 0:
        return 1.0 / (1.0 + math.exp2(-weight))
    odds = math.exp2(weight)
    return odds / (1.0 + odds)


# About one match per million random pairs: a store of ~300k records at ~1.3 records per person.
DEFAULT_PRIOR = log2_odds(1e-6)
DEFAULT_MERGE_THRESHOLD = log2_odds(0.8)
DEFAULT_REVIEW_THRESHOLD = log2_odds(0.05)


@dataclass(frozen=True, slots=True)
class MatchFields:
    """The normalized comparison view of one record or one profile.

    An address or number in `shared_emails` / `shared_phones` counts as shared whether or not it is also
    listed in `emails` / `phones`, and as shared for the pair if either side flags it.
    """

    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    first_name: str | None = None
    first_name_keys: frozenset[str] = frozenset()
    last_name: str | None = None
    company: str | None = None
    city: str | None = None
    country: str | None = None
    shared_emails: frozenset[str] = frozenset()
    shared_phones: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LevelProbabilities:
    m: float
    u: float

    @property
    def weight(self) -> float:
        return math.log2(self.m / self.u)


@dataclass(frozen=True, slots=True)
class ScoringModel:
    # prior and thresholds are match weights (log2 odds), like the level weights they are added to.
    levels: Mapping[str, Mapping[str, LevelProbabilities]]
    prior: float
    merge_threshold: float
    review_threshold: float
    weights: Mapping[str, Mapping[str, float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if set(self.levels) != set(FIELDS):
            raise ValueError(f"levels must cover exactly the fields {', '.join(FIELDS)}")
        frozen: dict[str, Mapping[str, LevelProbabilities]] = {}
        weights: dict[str, Mapping[str, float]] = {}
        for name in FIELDS:
            table = self.levels[name]
            if set(table) != set(FIELD_LEVELS[name]):
                raise ValueError(f"{name}: levels must be exactly {', '.join(FIELD_LEVELS[name])}")
            for level, probabilities in table.items():
                for label, value in (("m", probabilities.m), ("u", probabilities.u)):
                    if not 0.0 < value <= 1.0:
                        raise ValueError(f"{name}.{level}: {label} must be in (0, 1]")
            frozen[name] = MappingProxyType({level: table[level] for level in FIELD_LEVELS[name]})
            weights[name] = MappingProxyType({level: table[level].weight for level in FIELD_LEVELS[name]})
        for label, value in (
            ("prior", self.prior),
            ("merge_threshold", self.merge_threshold),
            ("review_threshold", self.review_threshold),
        ):
            if not math.isfinite(value):
                raise ValueError(f"{label} must be a finite number")
        if self.review_threshold > self.merge_threshold:
            raise ValueError("review_threshold must not exceed merge_threshold")
        object.__setattr__(self, "levels", MappingProxyType(frozen))
        object.__setattr__(self, "weights", MappingProxyType(weights))

    def weight(self, field_name: str, level: str) -> float:
        return 0.0 if level == MISSING else self.weights[field_name][level]

    def to_dict(self) -> dict[str, object]:
        return {
            "prior": self.prior,
            "merge_threshold": self.merge_threshold,
            "review_threshold": self.review_threshold,
            "levels": {
                name: {level: {"m": p.m, "u": p.u} for level, p in table.items()} for name, table in self.levels.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> "ScoringModel":
        """Build a model from plain data (as `to_dict` writes it, e.g. loaded from JSON or YAML).

        The table must be complete: a weights file that silently fell back to defaults for a forgotten level
        would score differently from what its author reviewed.
        """
        unknown = set(data) - {"prior", "merge_threshold", "review_threshold", "levels"}
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        raw_levels = data.get("levels")
        if not isinstance(raw_levels, Mapping):
            raise ValueError("levels must be a mapping of field -> level -> {m, u}")
        levels: dict[str, dict[str, LevelProbabilities]] = {}
        for name, table in raw_levels.items():
            if not isinstance(table, Mapping):
                raise ValueError(f"{name}: must be a mapping of level -> {{m, u}}")
            levels[str(name)] = {}
            for level, probabilities in table.items():
                if not isinstance(probabilities, Mapping) or set(probabilities) != {"m", "u"}:
                    raise ValueError(f"{name}.{level}: must be a mapping with exactly m and u")
                levels[str(name)][str(level)] = LevelProbabilities(
                    m=_number(probabilities["m"], f"{name}.{level}.m"),
                    u=_number(probabilities["u"], f"{name}.{level}.u"),
                )
        return cls(
            levels=levels,
            prior=_number(data.get("prior"), "prior"),
            merge_threshold=_number(data.get("merge_threshold"), "merge_threshold"),
            review_threshold=_number(data.get("review_threshold"), "review_threshold"),
        )


def _number(value: object, label: str) -> float:
    # bool is an int subclass; `true` in a weights file is a mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{label} must be a number")
    return float(value)


DEFAULT_MODEL = ScoringModel(
    levels={
        name: {level: LevelProbabilities(m, u) for level, (m, u) in table.items()}
        for name, table in _DEFAULT_LEVELS.items()
    },
    prior=DEFAULT_PRIOR,
    merge_threshold=DEFAULT_MERGE_THRESHOLD,
    review_threshold=DEFAULT_REVIEW_THRESHOLD,
)


@dataclass(frozen=True, slots=True)
class Score:
    weight: float
    probability: float
    decision: Decision
    levels: dict[str, str]
    contributions: dict[str, float]
    # The guard that lowered the decision below what the weight alone gives, if any.
    guard: str | None = None


# --- comparison -------------------------------------------------------------------------------------------


def _identifier_level(
    a_all: frozenset[str], a_shared: frozenset[str], b_all: frozenset[str], b_shared: frozenset[str]
) -> str:
    if a_shared:
        a_all = a_all | a_shared
    if b_shared:
        b_all = b_all | b_shared
    if not a_all or not b_all:
        return MISSING
    if a_all.isdisjoint(b_all):
        # A side whose only identifiers are shared (info@, a switchboard) says nothing about whose they are.
        if a_all <= a_shared or b_all <= b_shared:
            return MISSING
        return DIFFERENT
    if not a_shared and not b_shared:
        return EXACT_PERSONAL
    if (a_all & b_all) - a_shared - b_shared:
        return EXACT_PERSONAL
    return EXACT_SHARED


def _first_name_level(a: MatchFields, b: MatchFields) -> str:
    left, right = a.first_name, b.first_name
    if not left or not right:
        return MISSING
    if _same_name(left, right):
        return EXACT
    if not a.first_name_keys.isdisjoint(b.first_name_keys) or _abbreviates(left, right):
        return NICKNAME
    return _name_similarity_level(left, right)


def _name_similarity_level(left: str, right: str) -> str:
    similarity = JaroWinkler.similarity(left, right, score_cutoff=0.70)
    if similarity >= 0.92:
        return JW_92
    if similarity >= 0.80:
        return JW_80
    return JW_70 if similarity >= 0.70 else DIFFERENT


def _abbreviates(left: str, right: str) -> bool:
    """One name is a short form the other starts with: "chris"/"christopher", "alex"/"alexandra", "kat"/"katherine".

    People shorten their own first name on forms far more often than the nickname list knows; three letters at least,
    so "al" or "jo" (a dozen names each) stay a plain Jaro-Winkler comparison.
    """
    short, long = sorted((left, right), key=len)
    return len(short) >= 3 and long.startswith(short)


def _same_name(left: str, right: str) -> bool:
    """Equal up to spacing: "de la cruz" / "delacruz", "o day" (from O'Day) / "oday", "mc donald" / "mcdonald"."""
    return left == right or left.replace(" ", "") == right.replace(" ", "")


def _last_name_level(left: str | None, right: str | None) -> str:
    if not left or not right:
        return MISSING
    if _same_name(left, right):
        return EXACT
    return _name_similarity_level(left, right)


def _company_level(left: str | None, right: str | None) -> str:
    if not left or not right:
        return MISSING
    if left == right:
        return EXACT
    return JW_90 if JaroWinkler.similarity(left, right, score_cutoff=0.90) >= 0.90 else DIFFERENT


def _city_level(left: str | None, right: str | None) -> str:
    if not left or not right:
        return MISSING
    if left == right:
        return EXACT
    return JW_85 if JaroWinkler.similarity(left, right, score_cutoff=0.85) >= 0.85 else DIFFERENT


def _exact_level(left: str | None, right: str | None) -> str:
    if not left or not right:
        return MISSING
    return EXACT if left == right else DIFFERENT


def _swapped(a: MatchFields, b: MatchFields) -> bool:
    return bool(
        a.first_name
        and a.last_name
        and a.first_name == b.last_name
        and a.last_name == b.first_name
        and a.first_name != b.first_name
    )


def _crossed(a: MatchFields, b: MatchFields) -> bool:
    """Both names agree when compared crosswise: a swap with a typo on top ("grace futcher" and "futcher grce").

    Scored like an exact swap, at the Jaro-Winkler >= 0.92 level for both names.
    """
    first = _last_name_level(a.first_name, b.last_name)
    last = _last_name_level(a.last_name, b.first_name)
    return first in (EXACT, JW_92) and last in (EXACT, JW_92)


def _address_names_either(a: MatchFields, b: MatchFields) -> bool:
    """A personal address both sides hold spells out one side's first name: "madison.dixon@", "madisondixon11@",
    "dixon.madison@", or the initial-and-surname convention "mdixon@".

    Then the address is that person's own, and a different first-name field on the other side is more likely a
    middle name, a typo or a wrong field than a second person: the first name scores as a near match (JW_80)
    instead of a disagreement. Only used when the surnames agree; it never rescues a different surname.
    A family mailbox ("thenovaks@", "smithfamily@") names no one and keeps the disagreement.
    """
    common = (a.emails & b.emails) - a.shared_emails - b.shared_emails
    if not common:
        return False
    for email in common:
        local = _local(email)
        tokens = set(_LOCAL_SEPARATORS.split(local))
        for side in (a, b):
            first = (side.first_name or "").replace(" ", "")
            last = (side.last_name or "").replace(" ", "")
            if len(first) >= 3 and (local.startswith(first) or first in tokens):
                return True
            if first and len(last) >= 3 and local.startswith(first[0] + last):
                return True
    return False


_LOCAL_SEPARATORS = re.compile(r"[._+\-0-9]+")
_DIGITS = re.compile(r"[0-9]+")


def _local(email: str) -> str:
    return email.rpartition("@")[0]


def _one_slip(left: str, right: str) -> bool:
    """One substitution, insertion, deletion or swap of neighbours (optimal string alignment distance 1)."""
    return OSA.distance(left, right, score_cutoff=1) <= 1


def _email_level(a: MatchFields, b: MatchFields) -> str:
    level = _identifier_level(a.emails, a.shared_emails, b.emails, b.shared_emails)
    if level != DIFFERENT:
        return level
    # Personal mailboxes of some length (not "jo@", not "info@"): a typo, or the same name at another domain.
    personal_a = [e for e in a.emails - a.shared_emails if len(_local(e)) >= 6]
    personal_b = [e for e in b.emails - b.shared_emails if len(_local(e)) >= 6]
    if any(_email_typo(x, y) for x in personal_a for y in personal_b):
        return TYPO
    locals_a = {_local(e) for e in personal_a}
    locals_b = {_local(e) for e in personal_b}
    return LOCAL_PART if locals_a & locals_b else DIFFERENT


def _email_typo(left: str, right: str) -> bool:
    """One slip in the letters of the mailbox name at the same domain, or up to two in the domain under the same
    name ("gmial.com", "hotmial.co.uk"), but never a different top-level domain: ".com" vs ".co" is two companies.

    Digits must agree: providers and companies number colliding mailboxes ("john.smith1@", "john.smith2@"), so a
    different digit is another person's address far more often than a slip.
    """
    local_l, _, domain_l = left.rpartition("@")
    local_r, _, domain_r = right.rpartition("@")
    if domain_l == domain_r:
        return _DIGITS.findall(local_l) == _DIGITS.findall(local_r) and _one_slip(local_l, local_r)
    if local_l != local_r or domain_l.rpartition(".")[2] != domain_r.rpartition(".")[2]:
        return False
    return OSA.distance(domain_l, domain_r, score_cutoff=2) <= 2


def _phone_level(a: MatchFields, b: MatchFields) -> str:
    level = _identifier_level(a.phones, a.shared_phones, b.phones, b.shared_phones)
    if level != DIFFERENT:
        return level
    personal_a = a.phones - a.shared_phones
    personal_b = b.phones - b.shared_phones
    # E.164 strings: same country code and length, one digit wrong or two neighbours swapped.
    if any(len(x) == len(y) >= 9 and x[:3] == y[:3] and _one_slip(x, y) for x in personal_a for y in personal_b):
        return TYPO
    return DIFFERENT


def compare(a: MatchFields, b: MatchFields) -> dict[str, str]:
    """The comparison vector of a pair: field -> level name (MISSING when either side lacks the field).

    First and last name swapped between the two sides (exactly, or each within Jaro-Winkler 0.92 crosswise)
    score both name fields at the Jaro-Winkler >= 0.92 level: strong evidence, but less than two exact names,
    since a swap is also how two relatives can look.
    """
    if _swapped(a, b):
        first, last = JW_92, JW_92
    else:
        first, last = _first_name_level(a, b), _last_name_level(a.last_name, b.last_name)
        if first in (JW_70, DIFFERENT) and last in (JW_70, DIFFERENT) and _crossed(a, b):
            first, last = JW_92, JW_92
        elif first in (JW_70, DIFFERENT) and last in (EXACT, JW_92, JW_80) and _address_names_either(a, b):
            first = JW_80
    return {
        "email": _email_level(a, b),
        "phone": _phone_level(a, b),
        "first_name": first,
        "last_name": last,
        "company": _company_level(a.company, b.company),
        "city": _city_level(a.city, b.city),
        "country": _exact_level(a.country, b.country),
    }


# --- scoring ----------------------------------------------------------------------------------------------


def _guard(levels: Mapping[str, str]) -> tuple[str, Decision] | None:
    """The guard that applies to this comparison vector and the best decision it still allows."""
    email, phone = levels["email"], levels["phone"]
    first, last = levels["first_name"], levels["last_name"]
    personal = email == EXACT_PERSONAL or phone == EXACT_PERSONAL
    shared = email == EXACT_SHARED or phone == EXACT_SHARED
    if first in (JW_70, DIFFERENT) and last in (EXACT, JW_92) and (personal or shared):
        if phone in (EXACT_PERSONAL, EXACT_SHARED) and email != EXACT_PERSONAL:
            # A household landline: two people in one home. Sending every such pair to review would bury the queue.
            return GUARD_HOUSEHOLD, "distinct"
        if email in (EXACT_PERSONAL, EXACT_SHARED) and phone != EXACT_PERSONAL:
            # A family mailbox ("thenovaks@", one address for a couple): the same surname and two clearly
            # different first names on one address is how two people in one home look, not one person.
            return GUARD_HOUSEHOLD_EMAIL, "review"
    if (
        phone == EXACT_PERSONAL
        and email not in (EXACT_PERSONAL, TYPO)
        and first in (JW_70, DIFFERENT)
        and last in (JW_80, JW_70, DIFFERENT)
    ):
        # A number under two names that do not agree: company switchboards and shared lines are recorded as a
        # contact's phone all the time, and people rarely mistype both their names.
        return GUARD_PHONE_NAMES_DIFFER, "review"
    names_disagree = last in (JW_70, DIFFERENT) or first in (JW_80, JW_70, DIFFERENT)
    # No name on either side is treated like names that disagree: a role mailbox plus the same company and city
    # only shows the same organization, so two nameless web-form leads from info@ stay apart.
    nameless = first == MISSING and last == MISSING
    if shared and not personal and (names_disagree or nameless):
        return GUARD_SHARED_ONLY, "review"
    return None


_RANK: Mapping[Decision, int] = MappingProxyType({"distinct": 0, "review": 1, "merge": 2})


def _score(levels: dict[str, str], model: ScoringModel) -> Score:
    weights = model.weights
    contributions = {name: 0.0 if level == MISSING else weights[name][level] for name, level in levels.items()}
    weight = model.prior + sum(contributions.values())
    decision: Decision
    if weight >= model.merge_threshold:
        decision = "merge"
    elif weight >= model.review_threshold:
        decision = "review"
    else:
        decision = "distinct"
    applied: str | None = None
    if decision != "distinct":
        guard = _guard(levels)
        if guard is not None and _RANK[guard[1]] < _RANK[decision]:
            applied, decision = guard
    return Score(
        weight=weight,
        probability=weight_to_probability(weight),
        decision=decision,
        levels=levels,
        contributions=contributions,
        guard=applied,
    )


def score(a: MatchFields, b: MatchFields, model: ScoringModel = DEFAULT_MODEL) -> Score:
    return _score(compare(a, b), model)


def score_levels(levels: Mapping[str, str], model: ScoringModel = DEFAULT_MODEL) -> Score:
    """Score a stored comparison vector again, e.g. merge evidence under a retrained model."""
    _check_vector(levels)
    return _score({name: levels[name] for name in FIELDS}, model)


def _check_vector(levels: Mapping[str, str]) -> None:
    if set(levels) != set(FIELDS):
        raise ValueError(f"a comparison vector must have exactly the fields {', '.join(FIELDS)}")
    for name in FIELDS:
        if levels[name] != MISSING and levels[name] not in FIELD_LEVELS[name]:
            raise ValueError(f"{name}: unknown level")


# --- estimation -------------------------------------------------------------------------------------------


def sample_random_pairs(
    records: Sequence[MatchFields], max_pairs: int, seed: int = 0
) -> Iterator[tuple[MatchFields, MatchFields]]:
    """Pairs of distinct records drawn uniformly with replacement: almost all of them are non-matches."""
    if len(records) < 2:
        return
    rng = random.Random(seed)
    for _ in range(max_pairs):
        i, j = rng.sample(range(len(records)), 2)
        yield records[i], records[j]


def estimate_u_probabilities(
    pairs: Iterable[tuple[MatchFields, MatchFields]], model: ScoringModel = DEFAULT_MODEL
) -> ScoringModel:
    """u = share of each level among random pairs where the field is present on both sides.

    A level never seen in n pairs keeps the model's u if that is already below 1/n: unseen only says
    u < ~1/n, and a zero u would give an infinite weight. Fields never present on both sides keep their u.
    """
    counts = {name: Counter[str]() for name in FIELDS}
    for a, b in pairs:
        for name, level in compare(a, b).items():
            if level != MISSING:
                counts[name][level] += 1
    levels: dict[str, dict[str, LevelProbabilities]] = {}
    for name in FIELDS:
        total = sum(counts[name].values())
        levels[name] = {}
        for level, old in model.levels[name].items():
            if total == 0:
                u = old.u
            elif counts[name][level] == 0:
                u = min(old.u, 1.0 / total)
            else:
                u = counts[name][level] / total
            levels[name][level] = LevelProbabilities(m=old.m, u=u)
    return replace(model, levels=levels)


M_FLOOR = 1e-6


def train_m_probabilities(
    comparison_vectors: Iterable[Mapping[str, str]],
    model: ScoringModel = DEFAULT_MODEL,
    *,
    iterations: int = 25,
    fixed_fields: Collection[str] = (),
    tolerance: float = 1e-6,
) -> ScoringModel:
    """Expectation-maximisation for m with u held fixed, over blocked candidate pairs (Splink's approach).

    Fields in `fixed_fields` (those the blocking rule required to agree) keep their m and are left out of the
    likelihood: inside the block they agree by construction and carry no information. The in-block match
    rate is estimated along the way and then dropped: it is not the random-pair prior. A level that no
    pair reaches gets m = M_FLOOR rather than 0, so its weight stays finite.
    """
    unknown = set(fixed_fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown fixed fields: {', '.join(sorted(unknown))}")
    trained = [name for name in FIELDS if name not in fixed_fields]
    patterns: Counter[tuple[str, ...]] = Counter()
    for vector in comparison_vectors:
        _check_vector(vector)
        patterns[tuple(vector[name] for name in trained)] += 1
    if not patterns or not trained:
        return model
    log_u = [{level: math.log(p.u) for level, p in model.levels[name].items()} for name in trained]
    m = [{level: p.m for level, p in model.levels[name].items()} for name in trained]
    items = list(patterns.items())
    total = sum(count for _, count in items)
    # Start the in-block match rate from the pairs the starting model already leans towards.
    leaning = sum(
        count
        for pattern, count in items
        if sum(model.weight(name, level) for name, level in zip(trained, pattern, strict=True)) > 0
    )
    match_rate = min(max(leaning / total, 0.01), 0.99)
    for _ in range(iterations):
        log_m = [{level: math.log(value) for level, value in table.items()} for table in m]
        expected = [dict.fromkeys(table, 0.0) for table in m]
        present = [0.0 for _ in trained]
        matched = 0.0
        prior_log_ratio = math.log(1.0 - match_rate) - math.log(match_rate)
        for pattern, count in items:
            log_ratio = prior_log_ratio
            for index, level in enumerate(pattern):
                if level != MISSING:
                    log_ratio += log_u[index][level] - log_m[index][level]
            posterior = 1.0 / (1.0 + math.exp(log_ratio)) if log_ratio < 700 else 0.0
            weight = posterior * count
            matched += weight
            for index, level in enumerate(pattern):
                if level != MISSING:
                    expected[index][level] += weight
                    present[index] += weight
        change = 0.0
        for index, table in enumerate(m):
            if present[index] <= 0.0:
                continue
            for level in table:
                updated = max(expected[index][level] / present[index], M_FLOOR)
                change = max(change, abs(updated - table[level]))
                table[level] = updated
        match_rate = min(max(matched / total, 1e-9), 1.0 - 1e-9)
        if change < tolerance:
            break
    levels = {name: dict(model.levels[name]) for name in FIELDS}
    for index, name in enumerate(trained):
        for level, value in m[index].items():
            levels[name][level] = LevelProbabilities(m=value, u=model.levels[name][level].u)
    return replace(model, levels=levels)
