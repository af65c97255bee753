"""pseudopeople decennial census (bundled sample, all years, seed 0) -> CDP-shaped contacts.

Runs in bench/.venv-pseudopeople (pseudopeople installs pandas 3). Truth is `simulant_id`; `household_id` is
dropped from the input. Email and phone are added by the §4 rules: per-person identities from a hash of the
simulant id, a shared family mailbox and landline per household (the planted hard negatives), record-level
choices from a hash of the record's row key. Census records have no email tool: every record is source "census".
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.identity.common import Record, h, pick, trap_groups, u, write_dataset

PROVIDERS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com")
AREA = ("206", "253", "360", "425", "509")


def _alpha(value: object) -> str:
    return "".join(ch for ch in str(value or "").lower() if ch.isalpha())


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TQDM_DISABLE", "1")
    import pseudopeople as psp

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=0, help="keep the first N rows (0: all)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    df = psp.generate_decennial_census(seed=args.seed, year=None)
    df = df.astype(object).where(df.notna(), None)
    rows = df.to_dict("records")
    if args.size:
        rows = rows[: args.size]
    first_seen: dict[str, dict[str, Any]] = {}
    members: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        first_seen.setdefault(row["simulant_id"], row)
        members[row["household_id"]].add(row["simulant_id"])
    used: set[str] = set()

    def claim(local: str, domain: str, *parts: object) -> str:
        candidate, k = f"{local or 'me'}@{domain}", 0
        while candidate in used:
            k += 1
            candidate = f"{local}{h('sfx', k, *parts) % 90 + 10}@{domain}"
        used.add(candidate)
        return candidate

    email: dict[str, str] = {}
    for sid, row in sorted(first_seen.items()):
        fa, la = _alpha(row["first_name"]), _alpha(row["last_name"])
        local = (f"{fa}.{la}", f"{fa[:1]}{la}", f"{fa}{la}{h('yy', sid) % 90 + 10}")[h("pattern", sid) % 3]
        email[sid] = claim(local.strip("."), pick(PROVIDERS, "provider", sid), sid)
    family: dict[str, str] = {}
    landline: dict[str, str] = {}
    for hid, sids in sorted(members.items()):
        if first_seen[min(sids)].get("housing_type") != "Household" or len(sids) > 8:
            continue  # group quarters (dorms, prisons) share neither a mailbox nor a landline
        if len(sids) > 1 and u("family", hid) < 0.3:
            surname = _alpha(first_seen[min(sids)]["last_name"])
            family[hid] = claim(f"the{surname}s", pick(PROVIDERS, "fprovider", hid), hid)
        if u("landline", hid) < 0.5:
            landline[hid] = pick(AREA, "area", hid) + f"{h('landline', hid) % 10**7:07d}"
    records: list[Record] = []
    truth: dict[str, str] = {}
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i, row in enumerate(rows):
        sid, hid = row["simulant_id"], row["household_id"]
        rid = f"census-{row['year']}-{i}"
        key = rid
        adult = str(row["age"] or "99").isdigit() and int(str(row["age"] or "99")) >= 16
        mail: str | None = None
        if hid in family and u("family-use", key) < 0.4:
            mail = family[hid]
            groups[("family_mailbox", hid)].append(rid)
        elif adult and u("email", key) < 0.75:
            mail = email[sid]
            if u("typo", key) < 0.03 and len(mail.partition("@")[0]) > 2:
                mail = mail[0] + mail[2] + mail[1] + mail[3:]
            if u("case", key) < 0.2:
                mail = mail.upper()
        phone: str | None = None
        if hid in landline and u("landline-use", key) < 0.3:
            phone = landline[hid]
            groups[("household_phone", hid)].append(rid)
        elif adult and u("mobile", key) < 0.4:
            phone = pick(AREA, "marea", sid) + f"{h('mobile', sid) % 10**7:07d}"
        if phone and h("phone-style", key) % 2:
            phone = f"({phone[:3]}) {phone[3:6]}-{phone[6:]}"
        records.append(
            {
                "record_id": rid,
                "source": "census",
                "observed_at": f"{row['year']}-04-01T00:00:00+00:00",
                "email": mail,
                "phone": phone,
                "first_name": row["first_name"],
                "last_name": row["last_name"],
                "country": "US",
                "city": row["city"],
            }
        )
        truth[rid] = str(sid)
    meta: dict[str, Any] = {"dataset": "pseudopeople-census", "seed": args.seed, "pseudopeople": psp.__version__}
    write_dataset(args.out, records, truth, trap_groups(groups, truth), meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
