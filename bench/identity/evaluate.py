"""The one shared evaluator: (record_id -> cluster_id) and truth (record_id -> entity_id) in, metrics out.

Cluster metrics use the contingency-table formula of IDENTITY.md §6 (no pair is materialised):
pred_pairs = Σ_clusters C(n,2), true_pairs = Σ_entities C(n,2), TP = Σ_(cluster, entity) C(n,2).
A record missing from the engine's output (e.g. quarantined by cdp) counts as a singleton cluster.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float
    tp: int
    predicted: int
    true: int

    @classmethod
    def of(cls, tp: int, predicted: int, true: int) -> PRF:
        p = tp / predicted if predicted else 1.0
        r = tp / true if true else 1.0
        return cls(p, r, 2 * p * r / (p + r) if p + r else 0.0, tp, predicted, true)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def complete(pred: Mapping[str, str], truth: Mapping[str, str]) -> dict[str, str]:
    """Every truth record gets a cluster: the engine's, or a singleton of its own."""
    return {rid: pred.get(rid, f"\x00unresolved:{rid}") for rid in truth}


def cluster_metrics(pred: Mapping[str, str], truth: Mapping[str, str]) -> PRF:
    clusters = complete(pred, truth)
    pred_pairs = sum(_pairs(n) for n in Counter(clusters.values()).values())
    true_pairs = sum(_pairs(n) for n in Counter(truth.values()).values())
    tp = sum(_pairs(n) for n in Counter((clusters[r], truth[r]) for r in truth).values())
    return PRF.of(tp, pred_pairs, true_pairs)


def pairwise_metrics(pairs: Iterable[tuple[str, str]], truth: Mapping[str, str]) -> PRF:
    """Scored pairs above the engine's threshold against all true within-entity pairs."""
    seen = {(a, b) if a < b else (b, a) for a, b in pairs}
    tp = sum(1 for a, b in seen if truth.get(a) is not None and truth.get(a) == truth.get(b))
    true_pairs = sum(_pairs(n) for n in Counter(truth.values()).values())
    return PRF.of(tp, len(seen), true_pairs)


def trap_metrics(
    pred: Mapping[str, str], truth: Mapping[str, str], traps: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """False-merge rate on planted hard negatives, per kind and overall.

    A group's trap pairs are its cross-entity pairs; a false merge is such a pair in one predicted cluster.
    A `solo` group lists records that must not share a cluster with any other entity's record (one unit each).
    Groups of one kind are disjoint; a pair caught by two kinds counts once in each kind and in "all".
    """
    clusters = complete(pred, truth)
    members: dict[str, Counter[str]] = defaultdict(Counter)  # cluster -> entity -> size (for solo traps)
    for rid, cid in clusters.items():
        members[cid][truth[rid]] += 1
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for group in traps:
        ids = [r for r in group["records"] if r in truth]
        if group.get("solo"):
            total = len(ids)
            merged = sum(1 for r in ids if len(members[clusters[r]]) > 1)
        else:
            same_entity = sum(_pairs(n) for n in Counter(truth[r] for r in ids).values())
            total = _pairs(len(ids)) - same_entity
            same_cluster = sum(_pairs(n) for n in Counter(clusters[r] for r in ids).values())
            same_both = sum(_pairs(n) for n in Counter((clusters[r], truth[r]) for r in ids).values())
            merged = same_cluster - same_both
        per_kind[group["kind"]][0] += merged
        per_kind[group["kind"]][1] += total
    out = {k: {"merged": m, "pairs": t, "rate": m / t if t else None} for k, (m, t) in sorted(per_kind.items())}
    m_all = sum(v[0] for v in per_kind.values())
    t_all = sum(v[1] for v in per_kind.values())
    out["all"] = {"merged": m_all, "pairs": t_all, "rate": m_all / t_all if t_all else None}
    return out


def blocking_completeness(
    records: Iterable[Mapping[str, Any]],
    truth: Mapping[str, str],
    keys: Sequence[Callable[[Mapping[str, Any]], tuple[Any, ...] | None]],
) -> dict[str, Any]:
    """Share of true pairs that at least one blocking rule makes a candidate (a rule: equal, non-null key)."""
    by_entity: dict[str, list[list[tuple[Any, ...] | None]]] = defaultdict(list)
    for rec in records:
        entity = truth.get(rec["record_id"])
        if entity is not None:
            by_entity[entity].append([key(rec) for key in keys])
    covered = total = 0
    for rows in by_entity.values():
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                total += 1
                if any(a is not None and a == b for a, b in zip(rows[i], rows[j], strict=True)):
                    covered += 1
    return {"covered": covered, "true_pairs": total, "completeness": covered / total if total else None}
