"""The Splink 5 peer's frozen configuration: one settings file for every data set, never re-tuned per run.

Follows IDENTITY.md §3's lessons:
- no constant or household-level field (city, a shared landline) is used to block or to train EM: EM on a household
  key learns "same household" instead of "same person" (F1 0.53 vs 0.95 on the census);
- city and phone get term-frequency adjustments, so a constant city ("Anytown") or a switchboard number that many
  people share carries little weight;
- u by random sampling with a fixed seed; EM on two blocking rules (exact email, then exact first+last name) so
  every comparison gets its m estimated in one of them;
- threshold 0.9 for pairs and for `cluster_pairwise_predictions_at_threshold`.

`prepare` and `BLOCKING_KEYS` are plain Python (no Splink import) so the harness can compute blocking pair
completeness from the same rules without running Splink.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

THRESHOLD = 0.9
U_MAX_PAIRS = 2e6
U_SEED = 1
PRIOR_RECALL = 0.7

LEGAL_SUFFIX = re.compile(
    r"\b(ltd|limited|plc|inc|llc|corp|corporation|co|gmbh|ag|sa|sas|bv|b\.v|dac|pty|llp)\b\.?", re.IGNORECASE
)
EXTENSION = re.compile(r"(x|ext\.?|extension)\s*\d+\s*$", re.IGNORECASE)
NON_DIGITS = re.compile(r"\D")
NON_WORD = re.compile(r"[^\w ]+")
SPACES = re.compile(r"\s+")

# Columns the model reads; `prepare` derives them from a ContactRecord-shaped record.
COLUMNS = ("email_norm", "email_user", "phone_digits", "first_name_norm", "last_name_norm", "company_norm", "city_norm")
# Prediction blocking rules: each is an equality on these prepared columns (nulls never match).
BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("email_norm",),
    ("phone_digits",),
    ("first_name_norm", "last_name_norm"),
    ("email_user", "last_name_norm"),
    ("last_name_norm", "company_norm"),
)
PRIOR_RULES: tuple[tuple[str, ...], ...] = (
    ("email_norm", "first_name_norm"),
    ("phone_digits", "first_name_norm", "last_name_norm"),
)
EM_RULES: tuple[tuple[str, ...], ...] = (("email_norm",), ("first_name_norm", "last_name_norm"))


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = SPACES.sub(" ", value.strip().lower())
    return cleaned or None


def _name(value: Any) -> str | None:
    text = _text(value)
    return NON_WORD.sub("", text).strip() or None if text else None


def prepare(rec: Mapping[str, Any]) -> dict[str, Any]:
    email = _text(rec.get("email"))
    phone = rec.get("phone")
    digits = NON_DIGITS.sub("", EXTENSION.sub("", phone)) if isinstance(phone, str) else ""
    company = _text(rec.get("company"))
    if company:
        company = SPACES.sub(" ", NON_WORD.sub(" ", LEGAL_SUFFIX.sub(" ", company))).strip() or None
    return {
        "unique_id": rec["record_id"],
        "email_norm": email.replace(" ", "") if email else None,
        "email_user": email.partition("@")[0] if email and "@" in email else None,
        "phone_digits": digits[-9:] if len(digits) >= 7 else None,
        "first_name_norm": _name(rec.get("first_name")),
        "last_name_norm": _name(rec.get("last_name")),
        "company_norm": company,
        "city_norm": _name(rec.get("city")),
    }


def _key(columns: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...] | None]:
    def key(rec: Mapping[str, Any]) -> tuple[Any, ...] | None:
        prepared = prepare(rec)
        values = tuple(prepared[c] for c in columns)
        return None if any(v is None for v in values) else values

    return key


BLOCKING_KEYS = tuple(_key(rule) for rule in BLOCKING_RULES)


def settings() -> Any:
    """The SettingsCreator (imports Splink: call it only inside the Splink venv)."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.EmailComparison("email_norm"),
            cl.ExactMatch("phone_digits").configure(term_frequency_adjustments=True),
            cl.NameComparison("first_name_norm").configure(term_frequency_adjustments=True),
            cl.NameComparison("last_name_norm").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("company_norm", [0.92, 0.8]),
            cl.ExactMatch("city_norm").configure(term_frequency_adjustments=True),
        ],
        blocking_rules_to_generate_predictions=[block_on(*rule) for rule in BLOCKING_RULES],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def train(linker: Any) -> None:
    from splink import block_on

    linker.training.estimate_probability_two_random_records_match(
        [block_on(*rule) for rule in PRIOR_RULES], recall=PRIOR_RECALL
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=U_SEED)
    for rule in EM_RULES:
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*rule), estimate_without_term_frequencies=True
        )
