"""Naive baseline: union-find over exact normalised email (lowercased, trimmed) or digits-only phone."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from bench.identity.common import read_records, write_clusters

NON_DIGITS = re.compile(r"\D")


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = self.parent.setdefault(x, x)
        while root != self.parent[root]:
            root = self.parent[root]
        while x != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def resolve(records: list[dict[str, object]]) -> dict[str, str]:
    uf = UnionFind()
    first_with: dict[str, str] = {}
    for rec in records:
        rid = str(rec["record_id"])
        uf.find(rid)
        keys = []
        email, phone = rec.get("email"), rec.get("phone")
        if isinstance(email, str) and email.strip():
            keys.append("e:" + email.strip().lower())
        if isinstance(phone, str) and (digits := NON_DIGITS.sub("", phone)):
            keys.append("p:" + digits)
        for key in keys:
            if key in first_with:
                uf.union(rid, first_with[key])
            else:
                first_with[key] = rid
    return {rid: uf.find(rid) for rid in uf.parent}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    records = read_records(args.data)
    t1 = time.perf_counter()
    clusters = resolve(records)
    t2 = time.perf_counter()
    write_clusters(args.work / "clusters.csv", clusters)
    info = {"phases": {"load": t1 - t0, "resolve": t2 - t1}, "versions": {}}
    (args.work / "engine.json").write_text(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
