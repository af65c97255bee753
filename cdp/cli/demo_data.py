"""Deterministic, fictional demo contacts for `cdp demo`, each shaped like `ContactRecord`.

Only reserved identifiers are produced: e-mail domains under `.example` or example.com/.org/.net, phone
numbers from fiction ranges where a country has one (Ofcom 020 7946 0xxx, NANP 555-01xx, ...) and
documentation IP ranges (RFC 5737, RFC 3849).
"""

import datetime as dt
import hashlib
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DEFAULT_NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
MAX_PEOPLE = 2000
SOURCES = ("crm", "email_tool", "webform")


def _names(spec: str) -> tuple[list[str], list[str], list[str]]:
    female, male, surnames = (part.split() for part in spec.split("/"))
    return female, male, [surname.replace("_", " ") for surname in surnames]


# "female first names / male first names / surnames". Every surname is >= 6 characters long and no substring
# of an everyday English word or an SQL/JSON keyword, so a grep for it in a database file proves something.
_CULTURES = {
    "english": _names(
        "Olivia Charlotte Amelia Sophie Emily Grace Hannah Chloe Megan Lauren / James Oliver Harry Thomas "
        "William George Daniel Samuel Matthew Edward / Thompson Robertson Harrington Whitaker Pemberton "
        "Fairclough Ashworth Blackwood Henderson Sutherland Llewellyn Whitfield Holloway Prescott "
        "Rutherford Montgomery Abernathy"
    ),
    "irish": _names(
        "Aoife Siobhan Niamh Ciara Saoirse Orla / Cian Oisin Darragh Padraig Eoin Ronan / Gallagher "
        "Kavanagh Donnelly Brennan Fitzpatrick McCarthy Doherty Flanagan Mulcahy Hennessy"
    ),
    "german": _names(
        "Anna Lena Katharina Julia Marie Johanna Clara Franziska / Lukas Jonas Felix Maximilian Tobias "
        "Florian Matthias Sebastian / Schneider Schmidt Fischer Wagner Becker Hoffmann Zimmermann Krause "
        "Müller Schröder Köhler Neumann Hartmann Lehmann Vogelsang Kessler Lindner Baumann"
    ),
    "french": _names(
        "Camille Chloé Léa Manon Inès Juliette Élodie Margaux Céline Amélie / Lucas Hugo Louis Théo Antoine "
        "Mathieu Julien Baptiste Nicolas Étienne / Dubois Lefebvre Moreau Laurent Girard Mercier Rousseau "
        "Garnier Durand Gauthier Perrin Lefèvre Beaumont Marchand Giraud Bertrand"
    ),
    "spanish": _names(
        "Lucía Carmen María Sofía Paula Elena Marta Irene Nerea / Javier Alejandro Pablo Diego Sergio "
        "Álvaro Adrián Carlos Jorge / García Fernández González Rodríguez Martínez Sánchez Romero Navarro "
        "Delgado Castillo Herrera Jiménez Vázquez Iglesias Domínguez Guerrero"
    ),
    "polish": _names(
        "Agnieszka Katarzyna Małgorzata Zofia Joanna Magdalena Aleksandra Natalia Weronika / Piotr "
        "Krzysztof Tomasz Paweł Michał Jakub Marcin Łukasz Grzegorz Wojciech / Kowalski Wiśniewski Wójcik "
        "Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak Dąbrowski Kozłowski Jankowski Krawczyk "
        "Piotrowski Grabowski Pawlak Michalski"
    ),
    "indian": _names(
        "Priya Ananya Divya Kavya Lakshmi Meera Nisha Pooja Shreya Aishwarya / Arjun Rahul Vikram Rohan "
        "Aditya Karthik Sanjay Vivek Arvind Siddharth / Sharma Agarwal Krishnan Iyengar Banerjee Chatterjee "
        "Mukherjee Venkatesan Raghunathan Subramanian Choudhury Deshpande Kulkarni Malhotra Kapoor "
        "Srinivasan Natarajan"
    ),
    "chinese": _names(
        "Xiaoling Meiling Yuxin Jiayi Xinyi Wenjing Huiying / Zhiwei Yichen Haoran Jianguo Mingyu Junjie "
        "Tianyu / Zhuang Ouyang Shangguan Huangfu Dongfang Gongsun Zhangsun Cheung Chiang"
    ),
    "dutch": _names(
        "Sanne Femke Lotte Anouk Fleur Lieke Noor Marloes / Daan Bram Thijs Ruben Jeroen Maarten Pieter "
        "Joost / Jansen Bakker Visser Mulder de_Vries van_Dijk Hendriks Dekker Vermeulen van_den_Berg "
        "Verhoeven Kuipers Willems Brouwer Dijkstra"
    ),
}
# code: (weight, main culture, calling code, "city=national phone format|...", "company|...").
# UK, US/CA, DE and FR numbers come from ranges their regulators reserve for fiction; '#' is a digit.
_COUNTRIES = {
    "GB": (
        18,
        "english",
        "44",
        "London=020 7946 0###|Manchester=0161 496 0###|Leeds=0113 496 0###|"
        "Bristol=0117 496 0###|Edinburgh=0131 496 0###",
        "Harbourline Analytics Ltd|Kestrel & Finch Ltd|Thamesgate Retail Ltd",
    ),
    "US": (
        20,
        "english",
        "1",
        "San Francisco=(415) 555-01##|New York=212-555-01##|Chicago=312.555.01##|"
        "Seattle=(206) 555-01##|Austin=512-555-01##|Boston=(617) 555-01##|Denver=303-555-01##|"
        "Atlanta=(404) 555-01##",
        "Cobalt Peak Software Inc.|Redwood Ledger LLC|Prairie Signal Inc.",
    ),
    "CA": (
        5,
        "english",
        "1",
        "Toronto=(416) 555-01##|Vancouver=604-555-01##|Montréal=514.555.01##",
        "Maple Ridge Systems Inc.|Northern Loon Media Inc.",
    ),
    "IE": (
        4,
        "irish",
        "353",
        "Dublin=01 ### ####|Cork=(021) 4## ####|Galway=091 5## ###|Limerick=087 ### ####",
        "Liffey Labs Ltd|Shannon Freight Ltd",
    ),
    "DE": (
        12,
        "german",
        "49",
        "Berlin=030 23125###|München=089 99998###|Hamburg=040 66969###|"
        "Köln=0221 4710###|Frankfurt am Main=069 90009###",
        "Nordlicht Datentechnik GmbH|Elbufer Logistik GmbH|Isar Maschinenbau GmbH",
    ),
    "FR": (
        10,
        "french",
        "33",
        "Paris=01 99 00 ## ##|Lyon=04 65 71 ## ##|Toulouse=05 36 49 ## ##|Lille=03 53 01 ## ##|Nantes=02 61 91 ## ##",
        "Lumière Conseil SAS|Atelier Garonne SARL|Rhône Numérique SA",
    ),
    "ES": (
        8,
        "spanish",
        "34",
        "Madrid=91# ### ###|Barcelona=93# ### ###|Valencia=96# ### ###|Sevilla=6## ### ###",
        "Soluciones Alhambra S.L.|Brisa Mediterránea S.A.|Tajo Digital S.L.",
    ),
    "PL": (
        7,
        "polish",
        "48",
        "Warszawa=22 7## ## ##|Kraków=12 4## ## ##|Gdańsk=58 3## ## ##|Wrocław=5## ### ###",
        "Wisła Logistics Sp. z o.o.|Bursztyn Software S.A.|Tatry Data Sp. z o.o.",
    ),
    "IN": (
        10,
        "indian",
        "91",
        "Bengaluru=080 4### ####|Mumbai=022 6### ####|Pune=020 2### ####|Hyderabad=98### #####",
        "Sarvam Infotech Pvt Ltd|Kaveri Fintech Pvt Ltd|Indus Cloudworks Pvt Ltd",
    ),
    "NL": (
        6,
        "dutch",
        "31",
        "Amsterdam=020 ### ####|Rotterdam=010 ### ####|Utrecht=030 ### ####|Eindhoven=06 1#######",
        "Tulpveld Data B.V.|Grachten Commerce B.V.",
    ),
}
_LEGAL_SUFFIXES = (
    " Pvt Ltd",
    " Ltd",
    " Inc.",
    " LLC",
    " GmbH",
    " SAS",
    " SARL",
    " SA",
    " S.L.",
    " S.A.",
    " Sp. z o.o.",
    " B.V.",
)
_TITLES = (
    "Head of Marketing",
    "CRM Manager",
    "Data Engineer",
    "VP Sales",
    "Marketing Operations Lead",
    "Chief Technology Officer",
    "Account Executive",
    "Procurement Manager",
    "Growth Analyst",
    "Customer Success Manager",
    "Founder & CEO",
    "Product Manager",
    "Data Protection Officer",
)
_STAGES = ("lead", "marketing_qualified", "sales_qualified", "opportunity", "customer", "churned")
_LEAD_SOURCES = ("Organic search", "Trade show", "Referral", "Paid social", "Outbound", "Partner", "Webinar")
_FORMS = (
    ("contact-sales", "/contact-sales"),
    ("newsletter-signup", "/newsletter"),
    ("whitepaper-download", "/resources/whitepapers/first-party-data"),
    ("demo-request", "/demo"),
    ("webinar-registration", "/events/webinar-consent-by-design"),
)
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:132.0) Gecko/20100101 Firefox/132.0",
)
_FOLD = str.maketrans("áàâäãåçéèêëíìîïñóòôöõøúùûüýÿłśźżćńąę", "aaaaaaceeeeiiiinoooooouuuuyylszzcnae")


@dataclass(frozen=True)
class _Person:
    first: str
    last: str
    country: str
    city: str
    phone_formats: tuple[str, str]
    phone_digits: str
    company: str
    job_title: str
    email: str | None

    def phone(self, rng: random.Random) -> str:
        digits = iter(self.phone_digits)
        return "".join(next(digits) if ch == "#" else ch for ch in rng.choice(self.phone_formats))


def _slug(name: str) -> str:
    return "".join(ch for ch in name.lower().translate(_FOLD) if ch.isascii() and ch.isalnum())


def _short_company(name: str) -> str:
    return next((name.removesuffix(s) for s in _LEGAL_SUFFIXES if name.endswith(s)), name)


def _iso(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


def _ago(rng: random.Random, now: dt.datetime, min_days: int, max_days: int) -> dt.datetime:
    return now - dt.timedelta(seconds=rng.randint(min_days * 86400, max_days * 86400))


def _person(rng: random.Random, with_email: bool, emails: set[str], phones: set[tuple[str, str]]) -> _Person:
    country = rng.choices(list(_COUNTRIES), weights=[c[0] for c in _COUNTRIES.values()])[0]
    _, main_culture, calling_code, places, companies = _COUNTRIES[country]
    culture = main_culture if rng.random() < 0.7 else rng.choice(sorted(_CULTURES))
    female = rng.random() < 0.5
    firsts_f, firsts_m, surnames = _CULTURES[culture]
    first, last = rng.choice(firsts_f if female else firsts_m), rng.choice(surnames)
    if female and culture == "polish" and last.endswith(("ski", "cki")):
        last = last[:-1] + "a"
    company = rng.choice(companies.split("|"))
    while True:  # a phone number belongs to one person only
        city, national = rng.choice(places.split("|")).split("=")
        digits = "".join(str(rng.randrange(10)) for _ in range(national.count("#")))
        if (national, digits) not in phones:
            phones.add((national, digits))
            break
    international = f"+{calling_code} " + national.replace("(", "").replace(")", "").removeprefix("0")
    email = None
    if with_email:
        f, s = _slug(first), _slug(last)
        domain = "-".join(filter(None, map(_slug, _short_company(company).split()))) + ".example"
        if rng.random() < 0.3:
            domain = rng.choice(("example.com", "example.org", "example.net"))
        local = rng.choice((f"{f}.{s}", f"{f}.{s}", f"{f[0]}.{s}", f"{f}{s}", f"{f}_{s}", f"{s}.{f}"))
        if domain.startswith("example.") and rng.random() < 0.4:
            local += str(rng.randint(1, 99))
        email, n = f"{local}@{domain}", 2
        while email in emails:
            email, n = f"{local}{n}@{domain}", n + 1
        emails.add(email)
    title = rng.choice(_TITLES)
    return _Person(first, last, country, city, (national, international), digits, company, title, email)


def _variant(rng: random.Random, email: str, source: str) -> str:
    kind = rng.choice(("same", "same", "same", "title", "upper", "space"))
    if kind == "title" or (kind == "space" and source == "email_tool"):
        local, domain = email.split("@")
        return ".".join(part.capitalize() for part in local.split(".")) + "@" + domain
    if kind == "upper":
        return email.upper()
    return rng.choice((f" {email} ", f"{email}  ", f"  {email}")) if kind == "space" else email


class _Builder:
    def __init__(self, rng: random.Random, seed: int, now: dt.datetime) -> None:
        self.rng, self.seed, self.now = rng, seed, now
        self.crm_next, self.form_next = rng.randint(100, 900), rng.randint(1000, 5000)
        self.campaigns: list[tuple[str, dt.datetime, str]] = []
        moment, themes = now - dt.timedelta(days=700), ("Monthly newsletter", "Product update", "Webinars")
        while moment < now - dt.timedelta(days=3):
            sent = moment.replace(hour=rng.choice((8, 9, 10, 14)), minute=0, second=0, microsecond=0)
            cid = hashlib.md5(f"{seed}/campaign/{len(self.campaigns)}".encode()).hexdigest()[:10]
            self.campaigns.append((cid, sent, f"{rng.choice(themes)}: {sent:%B %Y}"))
            moment += dt.timedelta(days=rng.randint(14, 35))

    def _observed(self, moments: Iterable[dt.datetime], max_delay_s: int) -> str:
        return _iso(min(self.now, max(moments) + dt.timedelta(seconds=self.rng.randint(1, max_delay_s))))

    def crm(self, p: _Person, email: str | None) -> dict[str, object]:
        rng = self.rng
        self.crm_next += rng.randint(1, 12)
        created = _ago(rng, self.now, 10, 725)
        modified = created + dt.timedelta(seconds=rng.randint(0, int((self.now - created).total_seconds())))
        consents = []
        if rng.random() < 0.35 or email is None:
            consents.append(
                {
                    "purpose": "sales_outreach",
                    "status": "granted",
                    "occurred_at": _iso(created),
                    "channel": "email" if email else "phone",
                    "lawful_basis": "legitimate_interest",
                    "method": "crm",
                    "jurisdiction": p.country,
                }
            )
        return {
            "source": "crm",
            "external_id": f"crm-{self.crm_next:06d}",
            "observed_at": _iso(modified),
            "email": email,
            "phone": p.phone(rng) if email is None or rng.random() < 0.85 else None,
            "first_name": p.first,
            "last_name": p.last,
            "company": p.company,
            "job_title": p.job_title,
            "country": p.country,
            "city": p.city,
            "lifecycle_stage": rng.choices(_STAGES, weights=(30, 20, 15, 10, 20, 5))[0],
            "attributes": {
                "hubspot_owner_id": str(rng.choice((48213, 51877, 60342, 73105))),
                "lead_source": rng.choice(_LEAD_SOURCES),
            },
            "consents": consents,
            "events": [],
        }

    def email_tool(self, p: _Person, email: str) -> dict[str, object]:
        rng = self.rng
        member = hashlib.md5(email.strip().lower().encode()).hexdigest()
        joined = _ago(rng, self.now, 20, 715)
        consents = [
            {
                "purpose": "email_marketing",
                "status": "granted",
                "occurred_at": _iso(joined),
                "method": "email_tool",
                "jurisdiction": p.country,
            }
        ]
        received = [c for c in self.campaigns if c[1] > joined][-rng.randint(3, 10) :]
        leaves_at = rng.randrange(len(received)) if received and rng.random() < 0.15 else -1
        events: list[dict[str, object]] = []
        moments = [joined]

        def event(kind: str, at: dt.datetime, cid: str, name: str, **extra: str) -> None:
            key = hashlib.sha1(f"{self.seed}/{cid}/{member}/{kind}".encode()).hexdigest()[:24]
            events.append(
                {
                    "type": kind,
                    "occurred_at": _iso(at),
                    "external_id": key,
                    "properties": {"campaign_id": cid, "campaign": name, **extra},
                }
            )
            moments.append(at)

        for i, (cid, sent, name) in enumerate(received):
            at = sent + dt.timedelta(seconds=rng.randint(5, 900))
            event("email_delivered", at, cid, name)
            if rng.random() < 0.45 or i == leaves_at:
                at += dt.timedelta(minutes=rng.randint(3, 2000))
                event("email_opened", at, cid, name)
                if rng.random() < 0.35:
                    at += dt.timedelta(seconds=rng.randint(10, 600))
                    event("email_clicked", at, cid, name, url=f"https://www.example.com/blog/{cid}")
            if i == leaves_at:
                at += dt.timedelta(seconds=rng.randint(20, 300))
                event("email_unsubscribed", at, cid, name)
                consents.append(
                    {
                        "purpose": "email_marketing",
                        "status": "withdrawn",
                        "occurred_at": _iso(at),
                        "method": "email_tool",
                        "jurisdiction": p.country,
                    }
                )
                break
        named = rng.random() < 0.8
        return {
            "source": "email_tool",
            "external_id": member,
            "observed_at": self._observed(moments, 86400),
            "email": email,
            "phone": None,
            "first_name": p.first if named else None,
            "last_name": p.last if named else None,
            "company": None,
            "job_title": None,
            "country": p.country if rng.random() < 0.5 else None,
            "city": None,
            "lifecycle_stage": "subscriber",
            "attributes": {
                "list_id": hashlib.md5(f"{self.seed}/list".encode()).hexdigest()[:10],
                "member_rating": rng.randint(1, 5),
            },
            "consents": consents,
            "events": events,
        }

    def webform(self, p: _Person, email: str | None) -> dict[str, object]:
        rng = self.rng
        self.form_next += rng.randint(1, 9)
        submission, at = f"form-sub-{self.form_next}", _ago(rng, self.now, 1, 720)
        form, path = rng.choice(_FORMS)
        utm = rng.choice(("", "?utm_source=linkedin&utm_medium=social", "?utm_source=google&utm_medium=cpc"))
        page_url = f"https://www.example.com{path}{utm}"
        ip = rng.choice(
            (
                f"192.0.2.{rng.randint(1, 254)}",
                f"198.51.100.{rng.randint(1, 254)}",
                f"203.0.113.{rng.randint(1, 254)}",
                f"2001:db8::{rng.randint(1, 0xFFFF):x}",
            )
        )
        proof = {"ip": ip, "user_agent": rng.choice(_USER_AGENTS), "page_url": page_url}
        phone = p.phone(rng) if email is None or rng.random() < 0.4 else None
        if email is None:
            ticked = [("sales_outreach", "granted", "phone")]
        else:
            offered = (("email_marketing", 0.7), ("sales_outreach", 0.45))
            ticked = [(purpose, "granted", "email") for purpose, chance in offered if rng.random() < chance]
            ticked = ticked or [("email_marketing", "granted", "email")]
        if rng.random() < 0.6:
            ticked.append(("analytics", rng.choice(("granted", "granted", "denied")), "any"))
        consents = [
            {
                "purpose": purpose,
                "status": status,
                "occurred_at": _iso(at),
                "channel": channel,
                "method": "web_form",
                "jurisdiction": p.country,
                "proof": proof,
            }
            for purpose, status, channel in ticked
        ]
        sloppy = rng.random() < 0.1
        company = _short_company(p.company) if rng.random() < 0.5 else p.company
        return {
            "source": "webform",
            "external_id": submission,
            "observed_at": self._observed([at], 90),
            "email": email,
            "phone": phone,
            "first_name": p.first.lower() if sloppy else p.first,
            "last_name": p.last.lower() if sloppy else p.last,
            "company": company if rng.random() < 0.6 else None,
            "job_title": p.job_title if rng.random() < 0.35 else None,
            "country": p.country,
            "city": p.city if rng.random() < 0.3 else None,
            "lifecycle_stage": "subscriber" if form == "newsletter-signup" else "lead",
            "attributes": {"form_id": form},
            "consents": consents,
            "events": [
                {
                    "type": "form_submitted",
                    "occurred_at": _iso(at),
                    "external_id": submission,
                    "properties": {"form_id": form, "page_url": page_url},
                }
            ],
        }


def generate_demo_records(
    *, seed: int = 7, people: int = 240, now: dt.datetime | None = None
) -> list[dict[str, object]]:
    if not 0 <= people <= MAX_PEOPLE:
        raise ValueError(f"people must be between 0 and {MAX_PEOPLE}")
    now = DEFAULT_NOW if now is None else now.replace(tzinfo=now.tzinfo or dt.UTC).astimezone(dt.UTC)
    rng = random.Random(seed)
    builder = _Builder(rng, seed, now)
    phone_only = set(rng.sample(range(people), max(1, people // 40))) if people else set()
    emails: set[str] = set()
    phones: set[tuple[str, str]] = set()
    build = {"crm": builder.crm, "email_tool": builder.email_tool, "webform": builder.webform}
    records: list[dict[str, object]] = []
    for index in range(people):
        person = _person(rng, index not in phone_only, emails, phones)
        if person.email is None:  # only a CRM or a web form knows someone by phone alone
            records.append((builder.crm if rng.random() < 0.6 else builder.webform)(person, None))
            continue
        roll = rng.random()  # ~40% of people turn up in two or three sources
        count = 1 if roll < 0.57 else 2 if roll < 0.89 else 3
        sources = rng.sample(SOURCES, count) if count > 1 else rng.choices(SOURCES, weights=(35, 40, 25))
        for position, source in enumerate(sources):
            email = person.email if position == 0 else _variant(rng, person.email, source)
            records.append(build[source](person, email))
    records.sort(key=lambda r: (str(r["observed_at"]), str(r["source"]), str(r["external_id"])))
    return records


def demo_identifiers(records: Iterable[Mapping[str, object]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {"emails": set(), "phones": set(), "surnames": set()}
    for record in records:
        for field, key in (("email", "emails"), ("phone", "phones"), ("last_name", "surnames")):
            value = record.get(field)
            if isinstance(value, str) and value.strip():
                found[key].add(value.strip())
    return found
