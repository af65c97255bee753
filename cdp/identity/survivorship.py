"""Golden-record survivorship: which source record's value wins each field, by the rule the policy names.

The golden record is always recomputed from the profile's source records, so merges, unmerges and
rebuilds cannot drift from what the sources said.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cdp.identity.normalize import NormalizationError, normalize_email, normalize_phone
from cdp.policies import GOLDEN_FIELDS, IdentityPolicy


@dataclass(frozen=True)
class Observation:
    source: str
    observed_at: dt.datetime
    payload: dict[str, Any]


def _value(payload: dict[str, Any], name: str) -> str | None:
    raw = payload.get(name)
    if raw in (None, ""):
        return None
    text = str(raw)
    try:
        if name == "email":
            return normalize_email(text)
        if name == "phone":
            return normalize_phone(text, payload.get("country"))
    except NormalizationError:
        return None
    return text.upper() if name == "country" else text


def compute_golden(
    observations: Sequence[Observation], policy: IdentityPolicy
) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """(golden fields, provenance, lifecycle stage) from every observation of one person."""
    golden: dict[str, Any] = {}
    provenance: dict[str, Any] = {}
    for name in GOLDEN_FIELDS:
        rule = policy.rule_for(name)
        candidates = [(o, v) for o in observations if (v := _value(o.payload, name)) is not None]
        if not candidates:
            continue

        def rank(item: tuple[Observation, str], rule: str = rule) -> tuple[Any, ...]:
            obs, value = item
            recency = obs.observed_at.timestamp()
            trust = -policy.trust_rank(obs.source)
            if rule == "most_trusted_source":
                return (trust, recency)
            if rule == "most_complete":
                # Equal length: prefer a value someone cased with care ("Orla") over a sloppy one ("orla").
                return (len(value), value != value.lower() and value != value.upper(), recency, trust)
            return (recency, trust)

        winner, value = max(candidates, key=rank)
        golden[name] = value
        provenance[name] = {"source": winner.source, "observed_at": winner.observed_at.isoformat(), "rule": rule}
    attributes: dict[str, Any] = {}
    stage: str | None = None
    for obs in sorted(observations, key=lambda o: o.observed_at):
        attributes.update(obs.payload.get("attributes") or {})
        stage = obs.payload.get("lifecycle_stage") or stage
    if attributes:
        golden["attributes"] = attributes
    return golden, provenance, stage
