"""Splink 5 on DuckDB with the frozen settings of splink_settings.py (runs in bench/.venv-splink).

Writes clusters.csv (connected components at 0.9), pairs.csv (scored pairs at >= 0.9, for the pairwise metrics)
and engine.json (phase times, versions, candidate-pair count from the prediction blocking rules).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from bench.identity import splink_settings as conf
from bench.identity.common import read_records, write_clusters


def main(argv: list[str] | None = None) -> int:
    import duckdb
    import pyarrow as pa
    import splink
    from splink import DuckDBAPI, Linker
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.getLogger("splink").setLevel(logging.WARNING)
    phases: dict[str, float] = {}

    t = time.perf_counter()
    rows = [conf.prepare(rec) for rec in read_records(args.data)]
    table = pa.Table.from_pylist(
        rows, schema=pa.schema([("unique_id", pa.string())] + [(c, pa.string()) for c in conf.COLUMNS])
    )
    con = duckdb.connect()
    db_api = DuckDBAPI(con)
    df = db_api.register(table, dataset_display_name="contacts")
    linker = Linker(df, conf.settings(), log_level=logging.WARNING)
    phases["load"] = time.perf_counter() - t

    t = time.perf_counter()
    conf.train(linker)
    phases["train"] = time.perf_counter() - t

    t = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=conf.THRESHOLD)
    phases["predict"] = time.perf_counter() - t

    t = time.perf_counter()
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, conf.THRESHOLD)
    clusters = {str(r): str(c) for r, c in clustered.as_duckdbpyrelation().select("unique_id, cluster_id").fetchall()}
    phases["cluster"] = time.perf_counter() - t

    pairs = predictions.as_duckdbpyrelation().select("unique_id_l, unique_id_r").fetchall()
    with (args.work / "pairs.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id_l", "id_r"])
        writer.writerows(pairs)
    write_clusters(args.work / "clusters.csv", clusters)

    t = time.perf_counter()  # not part of the engine's work: only explains the recall ceiling
    counts = count_comparisons_from_blocking_rules(
        df, blocking_rules=[splink.block_on(*r) for r in conf.BLOCKING_RULES], link_type="dedupe_only",
        record_sample_proportion=1.0,
    )  # fmt: skip
    candidates = int(counts[-1]["cumulative_comparison_count"]) if counts else 0
    info: dict[str, Any] = {
        "phases": phases,
        "phases_excluded": {"count_candidates": time.perf_counter() - t},
        "candidate_pairs": candidates,
        "threshold": conf.THRESHOLD,
        "duckdb_threads": con.sql("select current_setting('threads')").fetchall()[0][0],
        "cpu_count": os.cpu_count(),
        "versions": {"splink": splink.__version__, "duckdb": duckdb.__version__, "pyarrow": pa.__version__},
    }
    (args.work / "engine.json").write_text(json.dumps(info, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
