"""Golden-record survivorship: which source record's value wins each field, by the rule the policy names.

The golden record is always recomputed from the profile's source records, so merges, unmerges and
rebuilds cannot drift from what the sources said.
"""

import datetime as dt
from collections.abc import Callable, Sequence
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


RECTIFICATION = "rectification"


@dataclass(frozen=True)
class PinOutcome:
    kept: list[str]  # rectified fields that still stand
    lifted: list[str]  # a source changed the field after the rectification: survivorship decides again
    conflicts: list[str]  # a source still carries a value the rectification replaced: the correction stands


def apply_pins(
    previous_golden: dict[str, Any],
    previous_provenance: dict[str, Any],
    golden: dict[str, Any],
    provenance: dict[str, Any],
    observations: Sequence[Observation],
    digest: Callable[[str, str], str],
) -> PinOutcome:
    """Keep rectified fields (GDPR Art. 16) over the sources that were wrong, until one of them changes the field.

    A pin (provenance rule `rectification`) holds the digest of each source's value at the time of the correction.
    An observation made after the correction whose value differs from its source's pinned digest is a real change
    and lifts the pin; an older observation, or the same old value synced again, leaves the correction standing.
    `golden` and `provenance` are updated in place. `digest(field, value)` is a keyed hash.
    """
    kept: list[str] = []
    lifted: list[str] = []
    conflicts: list[str] = []
    for name, pin in previous_provenance.items():
        if not isinstance(pin, dict) or pin.get("rule") != RECTIFICATION or name not in previous_golden:
            continue
        pinned_at = dt.datetime.fromisoformat(str(pin["observed_at"]))
        pinned: dict[str, str] = pin.get("pinned") or {}
        changed = False
        for obs in observations:
            value = _value(obs.payload, name)
            if value is None or obs.observed_at <= pinned_at:
                continue
            if pinned.get(obs.source) != digest(name, value):
                changed = True
        if changed:
            lifted.append(name)
            continue
        if golden.get(name) != previous_golden[name]:
            conflicts.append(name)
        golden[name] = previous_golden[name]
        provenance[name] = pin
        kept.append(name)
    return PinOutcome(kept, lifted, conflicts)


def pin_digests(observations: Sequence[Observation], name: str, digest: Callable[[str, str], str]) -> dict[str, str]:
    """Each source's latest value of `name`, as digests: what a rectification overrides."""
    latest: dict[str, Observation] = {}
    for obs in sorted(observations, key=lambda o: o.observed_at):
        if _value(obs.payload, name) is not None:
            latest[obs.source] = obs
    return {source: digest(name, _value(obs.payload, name) or "") for source, obs in latest.items()}
