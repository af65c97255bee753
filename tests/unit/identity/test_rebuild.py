"""A rebuild replays every record through the resolver and must land on the clusters incremental ingestion built."""

from collections import defaultdict

import pytest

from cdp.audit.log import SYSTEM
from cdp.cli.demo_data import generate_demo_records
from cdp.identity.rebuild import rebuild_identities
from cdp.ingest.pipeline import ingest_batch
from cdp.profiles import store
from cdp.profiles.errors import ProfileMerged
from cdp.profiles.identity_map import iter_identity_map


def _clusters(session) -> set[frozenset[tuple[str, str]]]:
    groups: dict[object, set[tuple[str, str]]] = defaultdict(set)
    for source, external_id, profile_id in iter_identity_map(session):
        groups[profile_id].add((source, external_id))
    return {frozenset(g) for g in groups.values()}


def _ingest_demo(session, people: int) -> None:
    by_source: dict[str, list[dict[str, object]]] = defaultdict(list)
    for record in generate_demo_records(people=people, seed=11):
        by_source[str(record["source"])].append(record)
    for source in sorted(by_source):
        ingest_batch(session, source, by_source[source], actor=SYSTEM)


def test_rebuild_gives_the_same_clusters_as_incremental_ingestion(session):
    _ingest_demo(session, people=60)
    before = _clusters(session)
    assert any(len(c) > 1 for c in before), "the demo data has people in several sources"

    report = rebuild_identities(session, actor=SYSTEM)

    assert _clusters(session) == before
    assert report.profiles_after == len(before)


def test_old_profile_ids_redirect_after_a_rebuild(session):
    _ingest_demo(session, people=10)
    old_ids = {pid for _, _, pid in iter_identity_map(session)}
    rebuild_identities(session, actor=SYSTEM)
    new_ids = {pid for _, _, pid in iter_identity_map(session)}
    assert old_ids.isdisjoint(new_ids)
    for old in old_ids:
        with pytest.raises(ProfileMerged) as redirect:
            store.get_profile_or_raise(session, old)
        assert store.get_profile_or_raise(session, redirect.value.survivor_id).id in new_ids
