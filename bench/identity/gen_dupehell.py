"""dupehell CRM contacts -> the bench data-set folder (runs in bench/.venv-data: dupehell + duckdb).

`master_id` is truth only and never reaches the matcher's input; `match_type = 'hard_neg'` records are planted
hard negatives (look-alikes of another person): a record-level trap, false-merged when its cluster holds another
entity's record.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path
from typing import Any

from bench.identity.common import Record, write_dataset

CONTACT_SHARE = 0.49  # contacts are ~50% of a crm run; generate a little more and keep the first `size`


def main(argv: list[str] | None = None) -> int:
    import duckdb
    from dupehell import generate

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--difficulty", default="medium")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = generate(domain="crm", size=int(args.size / CONTACT_SHARE) + 100, seed=args.seed,
                          difficulty=args.difficulty, output_dir=tmp)  # fmt: skip
        # keep whole people: masters in a hash order until `size` contacts (hard negatives and
        # duplicates sit at the end of dupehell's file, so a plain prefix would keep none of them)
        rows = duckdb.sql(f"""
            with c as (
                select d.*, g.match_type from read_parquet('{result.dataset}') d
                join read_parquet('{result.ground_truth}') g using (record_id) where d.entity_type = 'contact'),
            m as (select master_id, sum(count(*)) over (order by md5(master_id)) as upto from c group by master_id)
            select record_id, source_system, created_at, email, phone, first_name, last_name, company_name,
                   job_title, country_code, city, master_id, match_type
            from c join m using (master_id) where m.upto <= {args.size} order by record_id""").fetchall()
    records: list[Record] = []
    truth: dict[str, str] = {}
    hard_neg: list[str] = []
    for rid0, system, created, email, phone, first, last, company, title, country, city, master, kind in rows:
        source = re.sub(r"[^a-z0-9_]", "_", (system or "unknown").lower())
        rid = f"{source}-{rid0}"
        records.append(
            {
                "record_id": rid,
                "source": source,
                "observed_at": f"{created.replace(' ', 'T')}+00:00" if created else "2025-01-01T00:00:00+00:00",
                "email": email,
                "phone": phone,
                "first_name": first,
                "last_name": last,
                "company": company,
                "job_title": title,
                "country": country if country and len(country) == 2 else None,
                "city": city,
            }
        )
        truth[rid] = master
        if kind == "hard_neg":
            hard_neg.append(rid)
    traps = [{"kind": "hard_neg", "solo": True, "records": hard_neg}] if hard_neg else []
    meta: dict[str, Any] = {"dataset": "dupehell", "domain": "crm", "seed": args.seed, "difficulty": args.difficulty,
                            "size": args.size}  # fmt: skip
    write_dataset(args.out, records, truth, traps, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
