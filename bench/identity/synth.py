"""`cdp-synth`: seeded CDP-shaped contacts from three sources (crm, email_tool, webform) with ground truth.

Honesty rules (IDENTITY.md §4.2): entity attributes come from a hash of the entity id, record noise from a hash of
the record id; no field is a perfect key (email typos, missing values, shared mailboxes); hard negatives are planted
at fixed rates and listed in traps.jsonl:
- `family_mailbox`: a household shares one mailbox (the<surname>s@...); members use it on some records;
- `household_phone`: a household shares a landline;
- `role_address`: info@/sales@/contact@<company domain> typed in instead of a personal work email;
- `switchboard`: the company's main number instead of a mobile, on CRM records;
- `namesake`: a different person with the same first and last name (and often city).
Job changes give a person a second company and work email; personal email and mobile stay.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.identity.common import Record, h, pick, trap_groups, u, weighted, write_dataset

GENERATOR_VERSION = 1
SOURCES = (("crm", 0.4), ("email_tool", 0.3), ("webform", 0.3))

NICKNAMES: dict[str, list[str]] = {
    "William": ["Bill", "Will", "Billy"],
    "Robert": ["Bob", "Rob", "Bobby"],
    "Elizabeth": ["Liz", "Beth", "Lizzie"],
    "Katherine": ["Kate", "Kathy"],
    "Michael": ["Mike", "Mick"],
    "James": ["Jim", "Jimmy"],
    "Margaret": ["Peggy", "Maggie"],
    "Richard": ["Rick", "Dick", "Rich"],
    "Thomas": ["Tom", "Tommy"],
    "Jennifer": ["Jen", "Jenny"],
    "Christopher": ["Chris"],
    "Daniel": ["Dan", "Danny"],
    "Joseph": ["Joe"],
    "Alexander": ["Alex"],
    "Patricia": ["Pat", "Trish"],
    "Susan": ["Sue"],
    "Anthony": ["Tony"],
    "Matthew": ["Matt"],
    "Jonathan": ["Jon"],
    "Samuel": ["Sam"],
    "Victoria": ["Vicky", "Tori"],
    "Rebecca": ["Becky"],
    "Nicholas": ["Nick"],
    "Benjamin": ["Ben"],
    "Andrew": ["Andy", "Drew"],
    "Steven": ["Steve"],
    "Edward": ["Ed", "Ted"],
    "Timothy": ["Tim"],
    "Deborah": ["Debbie", "Deb"],
    "Catherine": ["Cathy", "Cat"],
}
PLAIN_FIRST = (
    "Anna", "Maria", "Laura", "Sophie", "Emma", "Olivia", "Lucas", "Noah", "Liam", "Mia", "Hannah", "Lea", "Paul",
    "Jan", "Lukas", "Felix", "Clara", "Julia", "Marie", "Chloe", "Hugo", "Louis", "Ines", "Camille", "Priya", "Arjun",
    "Wei", "Yuki", "Omar", "Fatima", "Aisha", "Mateo", "Sofia", "Diego", "Elena", "Ivan", "Olga", "Nora", "Erik",
    "Ingrid", "Sara", "Oscar", "Ella", "Grace", "Ruby", "Jack", "Harry", "George", "Oliver", "Charlie", "Isla",
)  # fmt: skip
SURNAMES = (
    "Smith", "Jones", "Williams", "Brown", "Taylor", "Davies", "Evans", "Wilson", "Thomas", "Johnson", "Roberts",
    "Walker", "Wright", "Robinson", "Thompson", "White", "Hughes", "Edwards", "Green", "Hall", "Wood", "Harris",
    "Lewis", "Martin", "Jackson", "Clarke", "Clark", "Turner", "Hill", "Scott", "Cooper", "Morris", "Ward", "Moore",
    "King", "Watson", "Baker", "Harrison", "Morgan", "Patel", "Young", "Allen", "Mitchell", "James", "Anderson",
    "Phillips", "Lee", "Bell", "Parker", "Davis", "Miller", "Garcia", "Rodriguez", "Martinez", "Hernandez", "Lopez",
    "Gonzalez", "Perez", "Sanchez", "Ramirez", "Torres", "Nguyen", "Kim", "Chen", "Wang", "Singh", "Kumar", "Shah",
    "Muller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Koch",
    "Richter", "Klein", "Wolf", "Schroeder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Hofmann", "Hartmann",
    "Dubois", "Durand", "Lefebvre", "Moreau", "Laurent", "Simon", "Michel", "Leroy", "Roux", "David", "Bertrand",
    "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller",
    "Nakamura", "Tanaka", "Suzuki", "Sato", "Ivanov", "Petrov", "Novak", "Kowalski", "Nowak", "Jensen", "Hansen",
    "Nielsen", "Larsen", "Andersen", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Olsen", "Berg", "Haugen",
    "O'Brien", "Murphy", "Kelly", "Byrne", "Ryan", "Walsh", "O'Connor", "McCarthy", "Doyle", "Gallagher", "Quinn",
    "Fitzgerald", "Castillo", "Ortiz", "Silva", "Santos", "Oliveira", "Costa", "Pereira", "Ferreira", "Almeida",
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno",
    "Gallo", "Conti", "DeLuca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti", "Barbieri",
)  # fmt: skip
COUNTRIES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # ISO-2: (calling code, cities, personal mail providers)
    "GB": ("44", ("London", "Manchester", "Leeds", "Bristol", "Glasgow", "Cardiff"), ("gmail.com", "outlook.com", "btinternet.com", "yahoo.co.uk")),  # noqa: E501
    "US": ("1", ("New York", "Chicago", "Austin", "Seattle", "Boston", "Denver"), ("gmail.com", "yahoo.com", "outlook.com", "icloud.com")),  # noqa: E501
    "DE": ("49", ("Berlin", "Hamburg", "Munich", "Cologne", "Frankfurt"), ("gmail.com", "gmx.de", "web.de", "t-online.de")),  # noqa: E501
    "FR": ("33", ("Paris", "Lyon", "Marseille", "Toulouse", "Lille"), ("gmail.com", "orange.fr", "free.fr", "laposte.net")),  # noqa: E501
    "IE": ("353", ("Dublin", "Cork", "Galway"), ("gmail.com", "eircom.net", "outlook.com")),
    "NL": ("31", ("Amsterdam", "Rotterdam", "Utrecht"), ("gmail.com", "ziggo.nl", "kpnmail.nl")),
}  # fmt: skip
COUNTRY_WEIGHTS = (("GB", 0.3), ("US", 0.3), ("DE", 0.15), ("FR", 0.12), ("IE", 0.07), ("NL", 0.06))
COMPANY_WORDS = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Vandelay", "Hooli", "Pied", "Soylent", "Tyrell",
    "Cyberdyne", "Wonka", "Gringotts", "Monarch", "Oscorp", "Aperture", "Black Mesa", "Nakatomi", "Massive",
    "Blue Sun", "Gekko", "Prestige", "Sterling", "Dunder", "Bluth", "Kramerica", "Vehement", "Duff", "Krusty",
    "Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Proseware", "Adatum", "Lamna", "Wingtip", "Woodgrove",
)  # fmt: skip
COMPANY_KINDS = (
    "Labs",
    "Systems",
    "Analytics",
    "Logistics",
    "Partners",
    "Foods",
    "Media",
    "Health",
    "Energy",
    "Capital",
)
LEGAL = {"GB": ("Ltd", "Limited", "plc"), "US": ("Inc", "Inc.", "LLC", "Corp"), "DE": ("GmbH", "AG"),
         "FR": ("SA", "SAS"), "IE": ("Ltd", "DAC"), "NL": ("BV", "B.V.")}  # fmt: skip
TITLES = (
    ("Marketing Manager", "Mktg Manager", "marketing manager"),
    ("Head of Sales", "Sales Director", "VP Sales"),
    ("Software Engineer", "Developer", "Senior Software Engineer"),
    ("CFO", "Chief Financial Officer", "Finance Director"),
    ("Office Manager", "Office Mgr", "Operations Manager"),
    ("Data Analyst", "Analyst", "Senior Data Analyst"),
    ("CEO", "Chief Executive Officer", "Founder & CEO"),
    ("Account Executive", "AE", "Senior Account Executive"),
    ("HR Business Partner", "HR Manager", "People Partner"),
    ("Product Manager", "PM", "Senior Product Manager"),
)
ROLE_LOCALS = ("info", "sales", "contact", "hello", "office")


@dataclass
class Company:
    cid: int
    name: str
    domain: str
    country: str
    city: str
    switchboard: str
    legal: tuple[str, ...]


@dataclass
class Entity:
    eid: int
    first: str
    last: str
    country: str
    city: str
    personal_email: str
    mobile: str
    jobs: list[tuple[Company, str, str]] = field(default_factory=list)  # (company, title family, work email)
    change_day: int = 0  # records observed from this day on use the last job
    household: int | None = None
    landline: str | None = None
    family_mailbox: str | None = None
    namesake_of: int | None = None
    n_records: int = 1


def _national(country: str, eid_part: object, kind: str) -> str:
    """A national significant number (no trunk prefix), plausible length per country."""
    digits = f"{h('phone', kind, eid_part):020d}"
    if country in ("US",):
        return str(pick(("212", "312", "415", "617", "303", "512"), "area", kind, eid_part)) + digits[:7]
    lead = {"GB": "7" if kind == "mobile" else "20", "DE": "151" if kind == "mobile" else "30",
            "FR": "6" if kind == "mobile" else "1", "IE": "87" if kind == "mobile" else "1",
            "NL": "6" if kind == "mobile" else "20"}[country]  # fmt: skip
    size = {"GB": 10, "DE": 11, "FR": 9, "IE": 9, "NL": 9}[country]
    return lead + digits[: size - len(lead)]


def _company(cid: int) -> Company:
    word = pick(COMPANY_WORDS, "cw", cid)
    kind = pick(COMPANY_KINDS, "ck", cid)
    name = f"{word} {kind}" if u("cn", cid) < 0.7 else f"{word} {kind} {cid}"
    slug = name.lower().replace(" ", "").replace("&", "")
    country = weighted(COUNTRY_WEIGHTS, "cc", cid)
    tld = {"GB": "co.uk", "US": "com", "DE": "de", "FR": "fr", "IE": "ie", "NL": "nl"}[country]
    city = pick(COUNTRIES[country][1], "ccity", cid)
    return Company(cid, name, f"{slug}.{tld}", country, city, _national(country, cid, "switchboard"), LEGAL[country])


def _ascii(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalpha())


class _Registry:
    """Mail providers enforce unique mailboxes: a pattern collision gets a digit suffix (§4.2 rule 4)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def claim(self, local: str, domain: str, *parts: object) -> str:
        candidate = f"{local}@{domain}"
        n = 0
        while candidate in self.used:
            n += 1
            candidate = f"{local}{(h('suffix', n, *parts) % 97) + n}@{domain}"
        self.used.add(candidate)
        return candidate


def _entities(n_records: int) -> list[Entity]:
    n_companies = max(5, n_records // 30)
    companies = [_company(c) for c in range(n_companies)]
    mailboxes = _Registry()
    entities: list[Entity] = []
    total = 0
    eid = 0
    household_left = 0
    household_id = -1
    while total < n_records:
        country = weighted(COUNTRY_WEIGHTS, "country", eid)
        first = pick((*NICKNAMES, *PLAIN_FIRST), "first", eid)
        last = pick(SURNAMES, "last", eid)
        city = pick(COUNTRIES[country][1], "city", eid)
        namesake_of = None
        in_household = household_left > 0
        if in_household:  # household member: same surname, city, country as the head
            head = entities[-1]
            last, city, country = head.last, head.city, head.country
            household_left -= 1
        elif eid > 10 and u("namesake", eid) < 0.04:  # a different person with a planted identical name
            twin = entities[h("twin", eid) % len(entities)]
            if twin.namesake_of is None and twin.household is None:
                first, last, namesake_of = twin.first, twin.last, twin.eid
                if u("namesake-city", eid) < 0.6:
                    city, country = twin.city, twin.country
        provider = pick(COUNTRIES[country][2], "provider", eid)
        pattern = weighted(((0, 0.4), (1, 0.25), (2, 0.2), (3, 0.15)), "pattern", eid)
        fa, la = _ascii(first), _ascii(last)
        local = (f"{fa}.{la}", f"{fa[0]}{la}", f"{fa}{la}{h('yy', eid) % 90 + 10}", f"{la}.{fa}")[pattern]
        ent = Entity(
            eid=eid,
            first=first,
            last=last,
            country=country,
            city=city,
            personal_email=mailboxes.claim(local, provider, eid),
            mobile=_national(country, eid, "mobile"),
            namesake_of=namesake_of,
        )
        if in_household:
            ent.household = household_id
            ent.landline, ent.family_mailbox = entities[-1].landline, entities[-1].family_mailbox
        elif u("household", eid) < 0.10:  # a household head: 1-3 more members follow
            household_id += 1
            household_left = 1 + h("hh-size", eid) % 3
            ent.household = household_id
            ent.landline = _national(country, f"hh{household_id}", "landline")
            ent.family_mailbox = mailboxes.claim(f"the{la}s", provider, "family", household_id)
        if u("employed", eid) < 0.7:
            jobs = 2 if u("job-change", eid) < 0.15 else 1
            for j in range(jobs):
                company = companies[h("company", eid, j) % n_companies]
                wlocal = (f"{fa}.{la}", f"{fa[0]}{la}", f"{fa}")[h("wpattern", eid, j) % 3]
                work = mailboxes.claim(wlocal, company.domain, eid, j)
                ent.jobs.append((company, str(h("title", eid, j) % len(TITLES)), work))
            ent.change_day = 200 + h("change-day", eid) % 400
        ent.n_records = weighted(((1, 0.42), (2, 0.3), (3, 0.15), (4, 0.08), (5, 0.03), (7, 0.02)), "nrec", eid)
        entities.append(ent)
        total += ent.n_records
        eid += 1
    return entities


def _case_noise(value: str, *parts: object) -> str:
    x = u("case", *parts)
    if x < 0.06:
        return value.upper()
    if x < 0.12:
        return value.lower()
    if x < 0.16:
        return f" {value} " if u("ws", *parts) < 0.5 else f"{value}  "
    return value


def _typo(value: str, *parts: object) -> str:
    """One transposition, drop or double inside the value (keeps the first character and any '@')."""
    at = value.find("@")
    end = at if at > 1 else len(value)
    if end < 3:
        return value
    i = 1 + h("typo-pos", *parts) % (end - 2)
    kind = h("typo-kind", *parts) % 3
    if kind == 0:
        return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    if kind == 1:
        return value[:i] + value[i + 1 :]
    return value[:i] + value[i] + value[i:]


def _render_phone(country: str, national: str, *parts: object, international: bool = False) -> str:
    code = COUNTRIES[country][0]
    style = h("phone-style", *parts) % (2 if international else 5)
    trunk = "" if country == "US" else "0"
    if style == 0:
        return f"+{code}{national}"
    if style == 1:
        return f"+{code} {national[:3]} {national[3:6]} {national[6:]}"
    if style == 2:
        return (
            f"{trunk}{national[:4]} {national[4:]}"
            if country != "US"
            else f"({national[:3]}) {national[3:6]}-{national[6:]}"
        )
    if style == 3:
        return f"00{code} {national}" if country != "US" else f"1-{national[:3]}-{national[3:6]}-{national[6:]}"
    return f"{trunk}{national[:3]}.{national[3:6]}.{national[6:]}"


def _record(ent: Entity, k: int, rid: str, source: str) -> tuple[Record, dict[str, str]]:
    """One observation of `ent`; returns the record and its trap keys (kind -> shared value)."""
    day = h("day", ent.eid, k) % 720
    observed = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=day, seconds=h("sec", rid) % 86400)
    job = None
    if ent.jobs:
        job = ent.jobs[-1] if day >= ent.change_day else ent.jobs[0]
    traps: dict[str, str] = {}
    # email: which address this source saw
    email_missing = {"crm": 0.12, "email_tool": 0.0, "webform": 0.03}[source]
    email: str | None = None
    x = u("email-choice", rid)
    if u("email-missing", rid) >= email_missing:
        work_share = {"crm": 0.7, "email_tool": 0.4, "webform": 0.35}[source]
        if ent.family_mailbox and x < 0.3 and source != "crm":
            email = ent.family_mailbox
            traps["family_mailbox"] = f"hh{ent.household}"
        elif job and source != "email_tool" and x < 0.07:
            email = f"{pick(ROLE_LOCALS, 'role', job[0].cid)}@{job[0].domain}"
            traps["role_address"] = job[0].domain
        elif job and u("work", rid) < work_share:
            email = job[2]
        else:
            email = ent.personal_email
        if u("email-typo", rid) < 0.03:
            email = _typo(email, rid)
        if u("email-case", rid) < 0.2:
            email = email.capitalize() if u("email-case-kind", rid) < 0.5 else email.upper()
        if u("email-ws", rid) < 0.05:
            email = f" {email} "
    # phone
    phone_present = {"crm": 0.7, "email_tool": 0.15, "webform": 0.45}[source]
    phone: str | None = None
    if u("phone-present", rid) < phone_present:
        y = u("phone-choice", rid)
        national, phone_country = ent.mobile, ent.country
        if ent.landline and y < 0.35:
            national = ent.landline
            traps["household_phone"] = f"hh{ent.household}"
        elif job and source == "crm" and y < 0.3:
            national, phone_country = job[0].switchboard, job[0].country
            traps["switchboard"] = job[0].domain
        if u("phone-typo", rid) < 0.02:
            i = h("phone-typo-pos", rid) % (len(national) - 1)
            national = national[:i] + national[i + 1] + national[i] + national[i + 2 :]
        phone = _render_phone(phone_country, national, rid, international=phone_country != ent.country)
    # names
    names_present = {"crm": 0.99, "email_tool": 0.6, "webform": 0.92}[source]
    first = last = None
    if u("names", rid) < names_present:
        first = ent.first
        if first in NICKNAMES and u("nick", rid) < 0.25:
            first = pick(NICKNAMES[first], "nick-pick", rid)
        if u("first-typo", rid) < 0.04:
            first = _typo(first, "f", rid)
        last = ent.last
        if u("last-typo", rid) < 0.04:
            last = _typo(last, "l", rid)
        first, last = _case_noise(first, "f", rid), _case_noise(last, "l", rid)
    company = title = None
    if job and u("company-present", rid) < {"crm": 0.95, "email_tool": 0.2, "webform": 0.5}[source]:
        legal = pick(job[0].legal, "legal", rid)
        company = weighted(((job[0].name, 0.5), (f"{job[0].name} {legal}", 0.3), (job[0].name.upper(), 0.2)), "co", rid)
        title = pick(TITLES[int(job[1])], "title", rid) if u("title", rid) < 0.8 else None
    city = (
        _case_noise(ent.city, "c", rid)
        if u("city", rid) < {"crm": 0.9, "email_tool": 0.3, "webform": 0.6}[source]
        else None
    )
    record: Record = {
        "record_id": rid,
        "source": source,
        "observed_at": observed.isoformat(),
        "email": email,
        "phone": phone,
        "first_name": first,
        "last_name": last,
        "company": company,
        "job_title": title,
        "country": ent.country,
        "city": city,
    }
    if ent.namesake_of is not None:
        traps["namesake"] = f"e{ent.namesake_of}"
    return record, traps


def generate(out: Path, size: int, seed: int = 0) -> None:
    """Write `size` records (and truth, traps, meta) to the folder `out`."""
    entities = _entities(size)
    slots = [(ent, k) for ent in entities for k in range(ent.n_records)][:size]
    slots.sort(key=lambda s: h("order", seed, s[0].eid, s[1]))  # interleave: an entity's records are not adjacent
    records: list[Record] = []
    truth: dict[str, str] = {}
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    counters: dict[str, int] = defaultdict(int)
    for ent, k in slots:
        source = weighted(SOURCES, "source", seed, ent.eid, k)
        counters[source] += 1
        rid = f"{source}-{counters[source]}"
        record, traps = _record(ent, k, rid, source)
        records.append(record)
        truth[rid] = f"e{ent.eid}"
        for kind, key in traps.items():
            groups[(kind, key)].append(rid)
    by_entity: dict[str, list[str]] = defaultdict(list)
    for rid, eid in truth.items():
        by_entity[eid].append(rid)
    for ent in entities:  # a namesake group holds both people's records
        if ent.namesake_of is not None:
            groups[("namesake", f"e{ent.namesake_of}")].extend(by_entity[f"e{ent.namesake_of}"])
    meta: dict[str, Any] = {"dataset": "cdp-synth", "generator_version": GENERATOR_VERSION, "size": size, "seed": seed}
    write_dataset(out, records, truth, trap_groups(groups, truth), meta)
