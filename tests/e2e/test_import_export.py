"""`cdp import`, `cdp export identity-map` and `cdp identity rebuild` as a user runs them."""

import csv
import json


def _write_csv(path, rows):
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


CSV_ROWS = [
    {
        "Id": "1",
        "Email Address": "nora.lindqvist@acme.example",
        "First Name": "Nora",
        "last_name": "Lindqvist",
        "country": "SE",
        "Plan": "gold",
    },
    {
        "Id": "2",
        "Email Address": "not-an-email",
        "First Name": "Bad",
        "last_name": "Rowson",
        "country": "GB",
        "Plan": "",
    },
    {
        "Id": "3",
        "Email Address": "NORA.LINDQVIST@acme.example",
        "First Name": "Nora",
        "last_name": "Lindqvist",
        "country": "SE",
        "Plan": "silver",
    },
]


def test_import_csv_with_a_column_map_quarantines_bad_rows_and_merges_duplicates(committed):
    path = committed.workdir / "contacts.csv"
    _write_csv(path, CSV_ROWS)
    committed.cli("db", "upgrade")
    out = committed.cli(
        "import",
        str(path),
        "--source",
        "crm",
        "--id-column",
        "Id",
        "--map",
        "email=Email Address",
        "--map",
        "first_name=First Name",
    ).stdout
    assert "imported 3 records" in out and "created 1" in out and "merged 1" in out and "quarantined 1" in out
    again = committed.cli(
        "import",
        str(path),
        "--source",
        "crm",
        "--id-column",
        "Id",
        "--map",
        "email=Email Address",
        "--map",
        "first_name=First Name",
    ).stdout
    assert "unchanged 2" in again


def test_dry_run_writes_nothing(committed):
    path = committed.workdir / "contacts.csv"
    _write_csv(path, CSV_ROWS)
    committed.cli("db", "upgrade")
    out = committed.cli(
        "import", str(path), "--source", "crm", "--id-column", "Id", "--map", "email=Email Address", "--dry-run"
    ).stdout
    assert "checked 3 records" in out and "invalid 1" in out and "valid 2" in out
    map_file = committed.workdir / "map.csv"
    committed.cli("export", "identity-map", "--out", str(map_file))
    assert map_file.read_text().strip().splitlines() == ["source,external_id,profile_id"]


def test_jsonl_import_then_identity_map_lists_every_source_record(committed):
    path = committed.workdir / "contacts.jsonl"
    rows = [
        {"record_id": "a1", "email": "tomas.herrera@acme.example", "first_name": "Tomás", "last_name": "Herrera"},
        {"record_id": "a2", "email": "other.person@acme.example", "first_name": "Olive", "last_name": "Otherton"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    committed.cli("db", "upgrade")
    committed.cli("import", str(path), "--source", "webform", "--id-column", "record_id")
    web = committed.workdir / "web.jsonl"
    web.write_text(
        json.dumps(
            {"record_id": "b1", "email": "Tomas.Herrera@acme.example", "first_name": "Tomas", "last_name": "Herrera"}
        )
        + "\n"
    )
    committed.cli("import", str(web), "--source", "email_tool", "--id-column", "record_id")
    map_file = committed.workdir / "map.csv"
    committed.cli("export", "identity-map", "--out", str(map_file))
    with map_file.open() as fh:
        mapping = {(r["source"], r["external_id"]): r["profile_id"] for r in csv.DictReader(fh)}
    assert set(mapping) == {("webform", "a1"), ("webform", "a2"), ("email_tool", "b1")}
    assert mapping[("webform", "a1")] == mapping[("email_tool", "b1")] != mapping[("webform", "a2")]

    preview = committed.cli("identity", "rebuild").stdout
    assert "would re-resolve" in preview
    done = committed.cli("identity", "rebuild", "--yes").stdout
    assert "re-resolved 3 records: 2 profiles before, 2 after" in done


def test_import_errors_are_one_line(committed):
    committed.cli("db", "upgrade")
    missing = committed.cli("import", "nope.csv", "--source", "crm", "--id-column", "Id", check=False)
    assert missing.returncode == 1 and missing.stderr.strip().splitlines()[-1] == "error: no such file: nope.csv"
    path = committed.workdir / "c.csv"
    _write_csv(path, CSV_ROWS)
    bad_map = committed.cli(
        "import", str(path), "--source", "crm", "--id-column", "Id", "--map", "shoe_size=Plan", check=False
    )
    assert (
        bad_map.returncode == 1 and "unknown field 'shoe_size'" in bad_map.stderr and "Traceback" not in bad_map.stderr
    )
    broken = committed.workdir / "broken.jsonl"
    broken.write_text('{"record_id": "x"}\n{not json\n')
    proc = committed.cli("import", str(broken), "--source", "crm", "--id-column", "record_id", check=False)
    assert proc.returncode == 1 and "broken.jsonl:2" in proc.stderr and "Traceback" not in proc.stderr


def test_import_with_a_wrong_column_map_is_refused_by_the_batch_gate_and_stores_nothing(committed):
    path = committed.workdir / "contacts.csv"
    rows = [{"Id": str(i), "Email Address": f"p{i}@acme.example", "First Name": f"P{i}"} for i in range(40)]
    _write_csv(path, rows)
    committed.cli("db", "upgrade")
    args = ("import", str(path), "--source", "crm", "--id-column", "Id")
    refused = committed.cli(*args, "--map", "email=First Name", check=False)
    assert refused.returncode == 1
    assert "refused before storing anything" in refused.stderr and "field mapping" in refused.stderr
    assert "@acme.example" not in refused.stderr + refused.stdout
    fixed = committed.cli(*args, "--map", "email=Email Address").stdout
    assert "imported 40 records" in fixed and "created 40" in fixed
