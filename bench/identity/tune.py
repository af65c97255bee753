"""Why does cdp miss true pairs? An in-memory replay of cdp's resolution on a bench data set, with diagnostics.

    PYTHONPATH=. .venv/bin/python -m bench.identity.tune bench/.data/cdp-synth-3000 [--show 20] [--kind blocked]

It mirrors `cdp.ingest.pipeline` + `cdp.identity.resolve.resolve` without a database: records are validated and
normalized by cdp's own `validate_row` / `record_fields`, sources are imported in the order the cdp engine uses
(sorted by source name, file order within a source), a record is scored against live profiles found through
shared email/phone or `blocking_keys` / `_probe_keys`, profile fields come from a most-recent golden record,
and merges follow `resolve`'s decision. It is an approximation (no candidate cap, no vetoes), fast enough to
iterate on scoring rules: seconds instead of minutes. The real benchmark stays `python -m bench.identity`.

For every record that did not join a profile already holding a record of its own entity, it says why:
`blocked` (that profile was never a candidate), `below` (scored under the merge threshold), `guard` (a guard
lowered the decision), `lost` (another profile scored higher and won). Tuning uses only the diagnostics; the
truth file is read to label misses, never to decide.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.identity import evaluate
from bench.identity.common import read_records, read_traps, read_truth
from cdp.identity.normalize import is_placeholder_email, is_role_email
from cdp.identity.resolve import _probe_keys, blocking_keys, fields_from_values
from cdp.identity.scoring import DEFAULT_MODEL, MatchFields, Score, score
from cdp.ingest.pipeline import record_fields
from cdp.ingest.validate import ValidRow, validate_row


@dataclass
class Prof:
    pid: int
    rows: list[tuple[str, ValidRow]] = field(default_factory=list)  # (record id, row)
    merged_into: int | None = None

    def fields(self, multi: set[tuple[str, str]]) -> MatchFields:
        emails = {r.email for _, r in self.rows if r.email}
        phones = {r.phone for _, r in self.rows if r.phone}
        golden: dict[str, Any] = dict.fromkeys(("first_name", "last_name", "company", "city", "country"))
        for name in ("first_name", "last_name", "company", "city", "country"):
            best: tuple[dt.datetime, Any] | None = None
            for _, r in self.rows:
                value = getattr(r.record, name)
                if value in (None, ""):
                    continue
                value = str(value).upper() if name == "country" else value
                if best is None or r.record.observed_at >= best[0]:
                    best = (r.record.observed_at, value)
            if best is not None:
                golden[name] = best[1]
        return fields_from_values(
            emails=emails,
            phones=phones,
            shared_emails={e for e in emails if ("email", e) in multi or is_role_email(e) or is_placeholder_email(e)},
            shared_phones={p for p in phones if ("phone", p) in multi},
            **golden,
        )


@dataclass
class Miss:
    record: str
    kind: str
    fields: MatchFields
    other: MatchFields | None = None
    score: Score | None = None
    winner: Score | None = None


def replay(folder: Path) -> tuple[dict[str, str], list[Miss], Counter[str]]:
    truth = read_truth(folder)
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in read_records(folder):
        by_source[rec.pop("source")].append(rec)
    profiles: dict[int, Prof] = {}
    identity_owner: dict[tuple[str, str], set[int]] = defaultdict(set)
    key_owner: dict[tuple[str, str], set[int]] = defaultdict(set)
    keys_of: dict[int, set[tuple[str, str]]] = {}
    record_profile: dict[str, int] = {}
    entity_profiles: dict[str, set[int]] = defaultdict(set)
    misses: list[Miss] = []
    counts: Counter[str] = Counter()
    ids = itertools.count(1)

    def live(pid: int) -> int:
        while profiles[pid].merged_into is not None:
            pid = profiles[pid].merged_into  # type: ignore[assignment]
        return pid

    def reindex(p: Prof) -> None:
        for k in keys_of.pop(p.pid, set()):
            key_owner[k].discard(p.pid)
        if p.merged_into is not None:
            return
        keys = blocking_keys(p.fields(set()))
        keys_of[p.pid] = keys
        for k in keys:
            key_owner[k].add(p.pid)

    for source, recs in sorted(by_source.items()):
        for raw in recs:
            rid = raw.pop("record_id")
            checked = validate_row(source, {**raw, "external_id": rid})
            if isinstance(checked, list):
                counts["quarantined"] += 1
                misses.append(Miss(rid, "quarantined", MatchFields()))
                continue
            fields = record_fields(checked)
            idents = [("email", e) for e in fields.emails] + [("phone", p) for p in fields.phones]
            hits = {k: {live(p) for p in identity_owner[k]} for k in idents if identity_owner.get(k)}
            multi = {k for k, owners in hits.items() if len(owners) > 1}
            cands: set[int] = set().union(*hits.values()) if hits else set()
            rows = 0
            for k in _probe_keys(fields):
                cands |= key_owner.get(k, set())
                rows += len(key_owner.get(k, ()))
            counts["probe_rows>100"] += rows > 100
            counts["candidates>25"] += len(cands) > 25
            shared_here = {v for (_, v) in multi}
            incoming = MatchFields(
                **{
                    **{s: getattr(fields, s) for s in MatchFields.__slots__},
                    "shared_emails": fields.shared_emails | (shared_here & fields.emails),
                    "shared_phones": fields.shared_phones | (shared_here & fields.phones),
                }
            )
            scored = sorted(
                ((score(incoming, profiles[p].fields(multi), DEFAULT_MODEL), p) for p in cands),
                key=lambda sp: (-sp[0].weight, sp[1]),
            )
            merges = [p for s, p in scored if s.decision == "merge"]
            entity = truth[rid]
            own = {live(p) for p in entity_profiles[entity]}
            if merges:
                target = profiles[merges[0]]
                for s_, p_ in scored:
                    prof_entities = {truth[r] for r, _ in profiles[p_].rows}
                    if s_.decision == "merge" and entity not in prof_entities:
                        misses.append(Miss(rid, "false", incoming, profiles[p_].fields(multi), s_))
                for other in merges[1:]:
                    profiles[other].merged_into = target.pid
                    target.rows += profiles[other].rows
                    reindex(profiles[other])
                counts["merged"] += 1
            else:
                target = Prof(next(ids))
                profiles[target.pid] = target
                counts["created"] += 1
            if own and target.pid not in own:
                best = {p: s for s, p in scored}
                owned = [(best[p], p) for p in own if p in best]
                if not owned:
                    o = next(iter(own))
                    misses.append(Miss(rid, "blocked", incoming, profiles[o].fields(multi)))
                else:
                    s, p = max(owned, key=lambda sp: sp[0].weight)
                    kind = "guard" if s.guard else ("lost" if s.decision == "merge" else "below")
                    misses.append(Miss(rid, kind, incoming, profiles[p].fields(multi), s, scored[0][0]))
            target.rows.append((rid, checked))
            record_profile[rid] = target.pid
            entity_profiles[entity].add(target.pid)
            for k in idents:
                identity_owner[k].add(target.pid)
            reindex(target)
    clusters = {rid: str(live(pid)) for rid, pid in record_profile.items()}
    return clusters, misses, counts


def _fmt(f: MatchFields | None) -> str:
    if f is None:
        return "-"
    sh = "/".join(sorted(f.shared_emails | f.shared_phones))
    return (
        f"{f.first_name}|{f.last_name}|{f.company}|{f.city}|{f.country}|{','.join(sorted(f.emails))}|"
        f"{','.join(sorted(f.phones))}{' shared:' + sh if sh else ''}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--show", type=int, default=0, help="print this many misses of each kind")
    parser.add_argument("--kind", default=None, help="only show misses of this kind")
    parser.add_argument("--json", type=Path, default=None, help="append the summary as one JSON line")
    args = parser.parse_args(argv)
    for folder in args.folders:
        clusters, misses, counts = replay(folder)
        truth = read_truth(folder)
        m = evaluate.cluster_metrics(evaluate.complete(clusters, truth), truth)
        traps = evaluate.trap_metrics(evaluate.complete(clusters, truth), truth, read_traps(folder))
        kinds = Counter(x.kind for x in misses)
        trap_s = " ".join(f"{k}={v['merged']}/{v['pairs']}" for k, v in traps.items())
        print(
            f"{folder.name}: P {m.precision:.3f} R {m.recall:.3f} F1 {m.f1:.3f}  "
            f"traps {trap_s}  "
            f"misses {dict(kinds)}  {dict(counts)}"
        )
        levels: Counter[tuple[str, ...]] = Counter()
        for x in misses:
            if x.score is not None and x.kind in ("below", "guard", "false"):
                levels[(x.kind, *(f"{k[:5]}={v}" for k, v in x.score.levels.items() if v != "missing"))] += 1
        for vec, n in levels.most_common(args.show and 15):
            print(f"  {n:4d} {' '.join(vec)}")
        if args.show:
            for kind in sorted(kinds):
                if args.kind and kind != args.kind:
                    continue
                print(f"-- {kind}")
                for x in [x for x in misses if x.kind == kind][: args.show]:
                    w = f" w={x.score.weight:.1f} guard={x.score.guard}" if x.score else ""
                    print(f"  {x.record}{w}\n    in:  {_fmt(x.fields)}\n    own: {_fmt(x.other)}")
                    if x.score:
                        print(f"    {x.score.levels}")
        if args.json:
            with args.json.open("a") as fh:
                fh.write(json.dumps({"dataset": folder.name, **m.as_dict(), "traps": traps, "misses": kinds}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
