"""apply_pins: a rectified field (GDPR Art. 16) outlives re-syncs of the old value, until its source changes it."""

import datetime as dt
import hashlib

from cdp.identity.survivorship import RECTIFICATION, Observation, apply_pins, pin_digests

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PINNED_AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def digest(name: str, value: str) -> str:
    return hashlib.sha256(f"{name}\x1f{value}".encode()).hexdigest()


def obs(source: str, when: dt.datetime, **payload: str) -> Observation:
    return Observation(source, when, payload)


def pin(observations: list[Observation]) -> dict[str, object]:
    return {
        "source": RECTIFICATION,
        "rule": RECTIFICATION,
        "request_id": "r-1",
        "observed_at": PINNED_AT.isoformat(),
        "pinned": pin_digests(observations, "last_name", digest),
    }


def run(observations: list[Observation], winner: str) -> tuple[dict[str, object], dict[str, object], object]:
    before = [obs("crm", T0, last_name="Smiht")]
    golden: dict[str, object] = {"last_name": winner}
    provenance: dict[str, object] = {"last_name": {"source": "crm", "rule": "most_recent"}}
    outcome = apply_pins({"last_name": "Smith"}, {"last_name": pin(before)}, golden, provenance, observations, digest)
    return golden, provenance, outcome


def test_the_old_value_synced_again_later_is_a_conflict_and_the_correction_stands():
    golden, provenance, outcome = run([obs("crm", PINNED_AT + dt.timedelta(days=1), last_name="Smiht")], "Smiht")
    assert golden["last_name"] == "Smith" and provenance["last_name"]["rule"] == RECTIFICATION  # type: ignore[index]
    assert (outcome.kept, outcome.conflicts, outcome.lifted) == (["last_name"], ["last_name"], [])


def test_an_observation_older_than_the_correction_never_lifts_it():
    golden, _, outcome = run([obs("import", T0, last_name="Smythe")], "Smythe")
    assert golden["last_name"] == "Smith" and outcome.lifted == []


def test_a_new_value_from_a_source_after_the_correction_lifts_the_pin():
    golden, provenance, outcome = run(
        [obs("crm", PINNED_AT + dt.timedelta(days=1), last_name="Smith-Jones")], "Smith-Jones"
    )
    assert golden["last_name"] == "Smith-Jones" and provenance["last_name"] == {"source": "crm", "rule": "most_recent"}
    assert outcome.lifted == ["last_name"]


def test_pin_digests_keep_each_sources_latest_value():
    observations = [
        obs("crm", T0, last_name="Old"),
        obs("crm", T0 + dt.timedelta(days=1), last_name="Newer"),
        obs("web", T0, first_name="X"),
    ]
    assert pin_digests(observations, "last_name", digest) == {"crm": digest("last_name", "Newer")}
